"""Command line of the fleet simulator: ``bin/simulate [options]`` (see ``--help``)."""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import secrets
import sys
from datetime import datetime

import orjson

from simulator.display import Progress, format_summary
from simulator.runner import Options, execute, new_run, summary

DEFAULT_URL = "http://127.0.0.1:18000"


def _positive(kind):
    def parse(text: str):
        value = kind(text)
        if not value > 0 or (isinstance(value, float) and math.isnan(value)):
            raise argparse.ArgumentTypeError(f"must be positive, not {text}")
        return value
    parse.__name__ = kind.__name__
    return parse


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"cannot be negative: {text}")
    return value


def _share(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a fraction between 0 and 1, not {text}")
    return value


def _instant(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an RFC 3339 time: {text}") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"needs an offset, e.g. {text}Z")
    return value


def first_api_key(value: str | None) -> str | None:
    keys = [k.strip() for k in (value or "").split(",") if k.strip()]
    return keys[0] if keys else None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bin/simulate",
        description="Simulate a hoverboard fleet pushing telemetry, customer profiles and "
        "trips to the ingest API (or its NGINX balancer). Runs until --duration or --events "
        "is reached, or until Ctrl-C (once: deliver what is on its way; twice: abandon it).",
        epilog="Exit status: 0 when every valid event was accepted, 1 when one was not "
        "(failed after retries, rejected, or abandoned), 2 for bad arguments.",
    )
    fleet = parser.add_argument_group("fleet")
    fleet.add_argument("--boards", type=_count, default=10,
                       help="hoverboards, each sending telemetry about every 5 s (default 10)")
    fleet.add_argument("--customers", type=_count, default=10,
                       help="customers, each sending their profile about every 30 s "
                       "(default 10); trips are posted when they end")
    fleet.add_argument("--invalid-share", type=_share, default=0.0, metavar="FRACTION",
                       help="fraction of events broken on purpose (expected to get 422)")
    fleet.add_argument("--faulty-share", type=_share, default=0.0, metavar="FRACTION",
                       help="fraction of boards that develop a fault (at least one if > 0)")
    fleet.add_argument("--fault-onset-within", type=_positive(float), default=300.0,
                       metavar="SECONDS", help="faults start between 30 s and this many "
                       "simulated seconds after the start (default 300)")
    fleet.add_argument("--labels", metavar="FILE",
                       help="write the run's ground truth (board, fault, onset; JSON lines) "
                       "to FILE for evaluation: never sent with the events")
    fleet.add_argument("--seed", type=int, default=None,
                       help="random seed; the same seed and --start give the same events "
                       "(default: random, printed in the summary)")
    fleet.add_argument("--start", type=_instant, default=None, metavar="RFC3339",
                       help="simulated start time (default: now)")
    pace = parser.add_argument_group("pace and end")
    pace.add_argument("--duration", type=_positive(float), metavar="SECONDS",
                      help="stop generating after this many seconds (then deliver the rest)")
    pace.add_argument("--events", type=_positive(int), metavar="N",
                      help="stop after N events")
    pace.add_argument("--speedup", type=_positive(float), default=1.0, metavar="FACTOR",
                      help="simulated time runs this much faster: 60 turns 5 s into 83 ms; "
                      "'inf' sends as fast as the API takes them (default 1)")
    pace.add_argument("--rate", type=_positive(float), metavar="EVENTS_PER_S",
                      help="target events per second for load; overrides --speedup (event "
                      "times keep their natural spacing)")
    http = parser.add_argument_group("delivery")
    http.add_argument("--url", default=os.environ.get("HOVER_INGEST_URL") or DEFAULT_URL,
                      help="base URL of the ingest API or of its NGINX balancer "
                      f"(default: $HOVER_INGEST_URL, else {DEFAULT_URL})")
    http.add_argument("--api-key", default=None,
                      help="API key (default: the first of $HOVER_INGEST_API_KEYS)")
    http.add_argument("--batch", type=_positive(int), default=1, metavar="K",
                      help="send up to K events of one type per request (default 1: one "
                      "event per request)")
    http.add_argument("--batch-format", choices=("ndjson", "json"), default="ndjson",
                      help="body of a batch: NDJSON lines or a JSON array (default ndjson)")
    http.add_argument("--concurrency", type=_positive(int), default=32,
                      help="parallel requests, one ordered lane each (default 32)")
    http.add_argument("--timeout", type=_positive(float), default=30.0, metavar="SECONDS",
                      help="per request (default 30)")
    http.add_argument("--give-up-after", type=_positive(float), default=120.0,
                      metavar="SECONDS",
                      help="stop retrying an event this long after its first try (default 120)")
    out = parser.add_argument_group("output")
    out.add_argument("--json", action="store_true",
                     help="print the summary as one JSON object on stdout (text on stderr)")
    out.add_argument("--progress-interval", type=_positive(float), default=5.0,
                     metavar="SECONDS", help="seconds between progress lines when stderr is "
                     "not a terminal (default 5)")
    out.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    return parser


def options_from(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Options:
    api_key = args.api_key or first_api_key(os.environ.get("HOVER_INGEST_API_KEYS"))
    if not api_key:
        parser.error("no API key: pass --api-key or set HOVER_INGEST_API_KEYS "
                     "(set -a; . \"$(bin/stack env)\"; set +a)")
    if args.boards + args.customers == 0:
        parser.error("nothing to simulate: give --boards or --customers")
    return Options(
        url=args.url, api_key=api_key, boards=args.boards, customers=args.customers,
        duration=args.duration, events=args.events, speedup=args.speedup, rate=args.rate,
        invalid_share=args.invalid_share, faulty_share=args.faulty_share,
        fault_onset_within_s=args.fault_onset_within,
        seed=args.seed if args.seed is not None else secrets.randbelow(2**31),
        start=args.start, batch=args.batch, batch_format=args.batch_format,
        concurrency=args.concurrency, timeout=args.timeout, give_up_after=args.give_up_after,
    )


async def _main(options: Options, args: argparse.Namespace) -> dict:
    run = new_run(options)
    if args.labels:
        # Written before the run: the ground truth is known up front, and stays if it stops.
        with open(args.labels, "wb") as out:
            out.writelines(orjson.dumps(label) + b"\n" for label in run.fleet.labels())
    progress = Progress(run.stats, stream=sys.stderr, interval=args.progress_interval,
                        enabled=not args.quiet)
    progress.start()
    try:
        await execute(run)
    finally:
        progress.stop()
    return summary(run)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    options = options_from(args, parser)
    result = asyncio.run(_main(options, args))
    text = format_summary(result)
    if args.json:
        print(text, file=sys.stderr)
        sys.stdout.buffer.write(orjson.dumps(result) + b"\n")
        sys.stdout.flush()
    else:
        print(text)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
