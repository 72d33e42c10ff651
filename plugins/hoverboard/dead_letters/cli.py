"""``bin/dead-letters``: list, show, replay or discard the records the sinks could not load.

    bin/dead-letters list                                   pending letters, oldest first
    bin/dead-letters list --query trip_sink --since 24h --error "maximum"
    bin/dead-letters show trip:3:1042                       the record and every reason
    bin/dead-letters replay trip:3:1042 trip:3:1043         after a fix, through the loader
    bin/dead-letters replay --query trip_sink --since 2026-12-01
    bin/dead-letters replay trip:3:1042 --value-file fixed.json   an operator's correction
    bin/dead-letters discard trip:3:1042 --reason "test record from the vendor"

Uses the same code and Airflow connection (``warehouse_default``) as the
``dead_letter_replay`` DAG; the connection comes from the environment, which bin/dead-letters
reads from the local stack's stack.env, or Airflow's metadata database. ``list`` masks the
records' values in the reasons; ``show`` is the one command that prints a record.

Exit status: 0 done (or nothing selected), 1 an error (nothing changed), 2 a usage error,
3 some selected letters were not replayed or discarded (failed again, not pending, not found).
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path

from hoverboard.dead_letters.letters import (
    STATUSES,
    DeadLetter,
    LetterId,
    Selection,
    parse_since,
    public_reason,
)
from hoverboard.hooks.warehouse import DEFAULT_CONN_ID

NOT_DONE = 3


def _since(text: str) -> datetime:
    try:
        return parse_since(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _version(text: str) -> int | str:
    if text == "latest" or (text.isdigit() and int(text) > 0):
        return text if text == "latest" else int(text)
    raise argparse.ArgumentTypeError(f"{text!r}: expected latest or a version number (1, 2, ...)")


def _letter(text: str) -> LetterId:
    try:
        return LetterId.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _time(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def _decoded(raw: bytes | None) -> str:
    if raw is None:
        return "(none)"
    try:
        return json.dumps(json.loads(raw), indent=2, ensure_ascii=False)
    except ValueError:
        return f"(not JSON) {raw!r}"


def print_list(letters: list[DeadLetter], limit: int) -> None:
    if not letters:
        print("no dead letters match")
        return
    width = max(len(str(letter.id)) for letter in letters)
    query_width = max(len(letter.query_name) for letter in letters)
    print(f"{'LETTER':<{width}}  {'QUERY':<{query_width}}  {'STATUS':<9}  TRIES  "
          f"{'DEAD SINCE (UTC)':<19}  REASON (values masked; show LETTER for all)")
    for letter in letters:
        reason = public_reason(letter.reason).replace("\n", " ")
        print(f"{letter.id!s:<{width}}  {letter.query_name:<{query_width}}  {letter.status:<9}  "
              f"{letter.attempts:>5}  {_time(letter.loaded_at):<19}  "
              f"{reason[:160]}{'…' if len(reason) > 160 else ''}")
    more = " (the limit: there may be more, see --limit)" if len(letters) >= limit else ""
    print(f"{len(letters)} letter(s){more}")


def print_letter(letter: DeadLetter) -> None:
    rows = [("letter", str(letter.id)), ("query", letter.query_name),
            ("status", letter.status), ("replays tried", str(letter.attempts)),
            ("received (UTC)", _time(letter.received_at)),
            ("dead since (UTC)", _time(letter.loaded_at))]
    if letter.last_attempt_at:
        rows.append(("last replay (UTC)", _time(letter.last_attempt_at)))
    if letter.replayed_at:
        rows.append(("replayed (UTC)", _time(letter.replayed_at)))
    if letter.discarded_at:
        rows += [("discarded (UTC)", _time(letter.discarded_at)),
                 ("discard reason", letter.discard_reason or "")]
    if letter.handled_by:
        rows.append(("handled by", letter.handled_by))
    key = letter.raw_key.decode("utf-8", "backslashreplace") if letter.raw_key else "(none)"
    rows.append(("key", key))
    for name, value in rows:
        print(f"{name + ':':<19} {value}")
    print("why the sink refused it:")
    for reason in letter.error.split("; "):
        print(f"  {reason}")
    if letter.replay_error:
        print("why the last replay failed:")
        for reason in letter.replay_error.split("; "):
            print(f"  {reason}")
    print("value (as received):")
    print(_decoded(letter.raw_value))
    if letter.corrected_value is not None:
        print("corrected value (what a replay loads):")
        print(_decoded(letter.corrected_value))


def print_outcomes(outcomes) -> int:
    for outcome in outcomes:
        line = f"{outcome.result:<10} {outcome.letter}"
        if outcome.table:
            line += f" -> {outcome.table}"
        if outcome.result == "replayed":
            line += f" ({outcome.rows_written} row written)"
        elif outcome.result == "unchanged":
            line += " (the table already has this row or a newer version: nothing written)"
        if outcome.reason and outcome.result != "discarded":
            line += f": {public_reason(outcome.reason)}"
        print(line)
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.result] = counts.get(outcome.result, 0) + 1
    if not outcomes:
        print("no dead letters match: nothing done")
        return 0
    print(f"{len(outcomes)} selected: " + ", ".join(f"{n} {r}" for r, n in counts.items()))
    if all(outcome.ok for outcome in outcomes):
        return 0
    if any(outcome.result == "failed" for outcome in outcomes):
        print("bin/dead-letters show LETTER gives the full reason; fix it (a new schema version,"
              " a corrected value with --value-file) and replay again", file=sys.stderr)
    return NOT_DONE


def _selection_arguments(parser: argparse.ArgumentParser, *, with_letters: bool) -> None:
    if with_letters:
        parser.add_argument("letters", nargs="*", type=_letter, metavar="LETTER",
                            help="topic:partition:offset, as list prints it")
    parser.add_argument("--query", help="the sink's query_name, e.g. trip_sink")
    parser.add_argument("--topic", help="the Kafka topic")
    parser.add_argument("--since", type=_since, help="dead-lettered since: 24h, 7d, "
                        "or a date/time (UTC unless it has an offset)")
    parser.add_argument("--error", help="text the reason contains (case-insensitive)")
    parser.add_argument("--limit", type=int, default=1000, help="at most this many (oldest first)")


def _selection(args, *, status: str | None) -> Selection:
    return Selection(letters=tuple(getattr(args, "letters", ()) or ()), query=args.query,
                     topic=args.topic, since=args.since, error=args.error, status=status,
                     limit=args.limit)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bin/dead-letters",
                                     description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[1:]))
    parser.add_argument("--conn-id", default=DEFAULT_CONN_ID,
                        help="Airflow connection of the warehouse (default: %(default)s)")
    commands = parser.add_subparsers(dest="command", required=True)

    listing = commands.add_parser("list", help="list dead letters (values masked)")
    _selection_arguments(listing, with_letters=False)
    listing.add_argument("--status", choices=(*STATUSES, "all"), default="pending",
                         help="default: %(default)s")

    show = commands.add_parser("show", help="one letter: its record, decoded, and reasons")
    show.add_argument("letter", type=_letter, metavar="LETTER")

    replay = commands.add_parser("replay", help="load selected letters after a fix")
    _selection_arguments(replay, with_letters=True)
    replay.add_argument("--all", action="store_true", help="every pending letter")
    replay.add_argument("--value-file", type=Path, metavar="FILE",
                        help="a corrected record (JSON) for the one letter named; '-': stdin. "
                             "The original stays on record")
    replay.add_argument("--schema-version", type=_version, default="latest",
                        help="validate with this version of the type's schema (default: latest)")
    replay.add_argument("--type", dest="message_type",
                        help="the letters' message type, if their sink config is gone")

    discard = commands.add_parser("discard", help="give up on selected letters, with a reason")
    _selection_arguments(discard, with_letters=True)
    discard.add_argument("--all", action="store_true", help="every pending letter")
    discard.add_argument("--reason", required=True, help="why (kept with each letter)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in ("replay", "discard"):
        selection = _selection(args, status=None)
        if not selection.narrowed and not args.all:
            parser.error(f"{args.command}: name letters, filter them (--query, --topic, --since,"
                         f" --error) or say --all")
    import psycopg

    from hoverboard.hooks.dead_letters import DeadLetterHook
    from schemas.registry import RegistryError

    # After Airflow's import, which logs to stdout: stdout is the command's output (piped,
    # compared), warnings such as a registry fallback go to stderr.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr, force=True)

    hook = DeadLetterHook(args.conn_id)
    try:
        service = hook.service(handled_by=f"cli:{getpass.getuser()}",
                               message_type=getattr(args, "message_type", None))
        if args.command == "list":
            status = None if args.status == "all" else args.status
            print_list(service.list(_selection(args, status=status)), args.limit)
            return 0
        if args.command == "show":
            print_letter(service.get(args.letter))
            return 0
        if args.command == "replay":
            value = None
            if args.value_file is not None:
                value = (sys.stdin.buffer.read() if str(args.value_file) == "-"
                         else args.value_file.read_bytes())
            return print_outcomes(service.replay(selection, value=value,
                                                 schema_version=args.schema_version))
        return print_outcomes(service.discard(selection, reason=args.reason))
    except (ValueError, LookupError, OSError, psycopg.Error, RegistryError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        hook.close()


if __name__ == "__main__":
    sys.exit(main())
