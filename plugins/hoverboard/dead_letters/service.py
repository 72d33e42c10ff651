"""Listing, replaying and discarding dead letters, on any loader (PostgreSQL, Redshift).

A replay takes the path a record takes in the streaming sink: the raw value (or an
operator's corrected one) is checked by :func:`load_problem`, the sink's decision; a
loadable record is flattened with the table mapping (``loader.tables``) and loaded by the
loader, whose merge on the natural key makes a letter that is already a row change
nothing. The letter's status changes in the load's own transaction (``in_transaction``),
so a row and a "replayed" mark are committed together or not at all. The original Kafka
position and receive time go into the row, as if the sink had loaded it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import orjson
import pyarrow as pa

from hoverboard.dead_letters.letters import (
    MARK_DISCARDED,
    MARK_FAILED,
    MARK_REPLAYED,
    DeadLetter,
    LetterId,
    Selection,
    public_reason,
)
from loader.base import Loader
from loader.limits import TableLimits, read_limits, violations
from loader.tables import TableSpec, rows_from_events, table_spec
from schemas import message_types, subject_for
from schemas.registry import SchemaSource
from schemas.validation import EventValidator
from spark.checks import record_problem

log = logging.getLogger(__name__)

REASON_LIMIT = 4000  # the reason columns' varchar(4000)


def load_problem(spec: TableSpec, validator: EventValidator, raw: bytes | None) -> str | None:
    """Why ``raw`` is not a valid event for ``spec``'s table (None: it is), decided as the
    streaming sink decides it (``spark.checks.record_problem``: JSON, then the schema). What
    the table's columns cannot hold is checked on the row, as the sink does
    (``loader.limits``, in :meth:`DeadLetterService._table_problem`)."""
    return record_problem(raw, validator)


@dataclass(frozen=True)
class Outcome:
    """What happened to one selected letter.

    :param result: ``replayed`` (a row was written), ``unchanged`` (replayed; the table
        already had this row, or a newer version of it), ``failed`` (still pending, with
        ``reason``), ``discarded``, ``skipped`` (not pending: ``reason`` says why) or
        ``not found``.
    """

    letter: LetterId
    result: str
    table: str | None = None
    rows_written: int = 0
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.result in ("replayed", "unchanged", "discarded")

    def as_dict(self, *, redact: bool = True) -> dict[str, Any]:
        reason = self.reason
        if reason and redact:
            reason = public_reason(reason)
        return {"letter": str(self.letter), "result": self.result, "table": self.table,
                "rows_written": self.rows_written, "reason": reason}


class LostRace(RuntimeError):
    """The letter was replayed or discarded by someone else during this replay."""


class DeadLetterService:
    """Dead letters in the warehouse behind ``loader``.

    :param loader: the platform's loader for the warehouse (``loader.factory``, or the
        hook's for an Airflow connection); its transactions carry every change.
    :param schemas: where schemas come from (the registry, ``schemas/`` as fallback).
    :param handled_by: recorded on each letter replayed or discarded (``cli:<user>``,
        ``airflow:<dag>/<run>``).
    :param message_type: the letters' message type; None: from the sink config whose
        query or topic wrote the letter.
    :param jobs: glob of sink configs to find that in (``hoverboard.streaming.registry``).
    """

    def __init__(self, loader: Loader, schemas: SchemaSource, *, handled_by: str,
                 message_type: str | None = None, jobs: str | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.loader = loader
        self.schemas = schemas
        self.handled_by = handled_by
        self.message_type = message_type
        self.jobs = jobs
        self.clock = clock
        self._validators: dict[tuple[str, str], tuple[int, EventValidator]] = {}
        self._limits: dict[str, TableLimits] = {}

    # -- reading ---------------------------------------------------------------------------
    def list(self, selection: Selection) -> list[DeadLetter]:
        query, params = selection.statement()

        def work(cursor) -> list[DeadLetter]:
            cursor.execute(query, params)
            return [DeadLetter.from_row(row) for row in cursor.fetchall()]

        return self.loader.run(work)

    def get(self, letter: LetterId) -> DeadLetter:
        found = self.list(Selection(letters=(letter,), limit=1))
        if not found:
            raise LookupError(f"no dead letter {letter} (see bin/dead-letters list)")
        return found[0]

    # -- which type, which schema ----------------------------------------------------------
    @cached_property
    def _sink_types(self) -> tuple[dict[str, str], dict[str, str]]:
        """(message type by sink query name, by topic) from the sink configs."""
        from hoverboard.streaming.registry import discover_jobs

        try:
            jobs = discover_jobs(self.jobs)
        except (ValueError, OSError) as exc:  # no configs here: topics named as types still work
            log.warning("sink configurations not read (%s); message types from topic names", exc)
            return {}, {}
        return ({j.name: j.message_type for j in jobs.values()},
                {j.topic: j.message_type for j in jobs.values()})

    def message_type_of(self, letter: DeadLetter) -> str:
        if self.message_type:
            return self.message_type
        by_query, by_topic = self._sink_types
        found = (by_query.get(letter.query_name) or by_topic.get(letter.id.topic)
                 or (letter.id.topic if letter.id.topic in message_types() else None))
        if found is None:
            raise ValueError(
                f"{letter.id}: no sink configuration has query {letter.query_name!r} or topic "
                f"{letter.id.topic!r}, so its message type is unknown; name it (--type, or the "
                f"DAG's message_type param: one of {', '.join(message_types())})")
        return found

    def validator(self, message_type: str, version: int | str) -> tuple[int, EventValidator]:
        key = (message_type, str(version))
        if key not in self._validators:
            resolved = self.schemas.resolve(message_type, subject_for(message_type), version)
            self._validators[key] = (resolved.version, EventValidator(resolved.schema))
        return self._validators[key]

    # -- changing --------------------------------------------------------------------------
    def _targets(self, selection: Selection) -> tuple[list[DeadLetter], list[Outcome]]:
        """The selected letters, and an outcome for each named letter that does not exist.
        Filters without named letters select pending ones unless a status is given."""
        if not selection.letters and selection.status is None:
            selection = replace(selection, status="pending")
        found = self.list(selection)
        present = {letter.id for letter in found}
        missing = [Outcome(letter, "not found", reason="no such dead letter")
                   for letter in selection.letters if letter not in present]
        return found, missing

    @staticmethod
    def _skip(letter: DeadLetter) -> Outcome | None:
        if letter.status == "replayed":
            return Outcome(letter.id, "skipped",
                           reason=f"already replayed at {_utc(letter.replayed_at)}")
        if letter.status == "discarded":
            return Outcome(letter.id, "skipped",
                           reason=f"discarded at {_utc(letter.discarded_at)}: "
                                  f"{letter.discard_reason}")
        return None

    def replay(self, selection: Selection, *, value: bytes | None = None,
               schema_version: int | str = "latest") -> list[Outcome]:
        """Replay the selected letters, each in a transaction of its own (one letter that
        fails again does not hold back the others).

        :param value: a corrected record for the one letter selected by name; it is kept
            beside the original (``corrected_value``), which stays as it arrived.
        :param schema_version: validate with this version of the type's schema.
        """
        if value is not None and len(selection.letters) != 1:
            raise ValueError("a corrected value is for one letter: name exactly one "
                             "(topic:partition:offset)")
        letters, outcomes = self._targets(selection)
        for letter in letters:
            outcome = self._skip(letter) or self._replay_one(letter, value, schema_version)
            log.info("%s %s%s", outcome.letter, outcome.result,
                     f": {public_reason(outcome.reason)}" if outcome.reason else "")
            outcomes.append(outcome)
        return outcomes

    def _replay_one(self, letter: DeadLetter, value: bytes | None,
                    schema_version: int | str) -> Outcome:
        raw = value if value is not None else letter.value
        try:
            message_type = self.message_type_of(letter)
            spec = table_spec(message_type)
            version, validator = self.validator(message_type, schema_version)
        except (LookupError, ValueError) as exc:
            return self._failed(letter, value, str(exc), None)
        problem = load_problem(spec, validator, raw)
        if problem is not None:
            return self._failed(letter, value, f"{problem} (schema {message_type} v{version})",
                                spec.table)
        now = self.clock()

        def mark_replayed(cursor, written: int) -> None:
            cursor.execute(MARK_REPLAYED, (now, now, value, self.handled_by, *letter.id.params))
            if cursor.rowcount != 1:
                raise LostRace(f"{letter.id} was replayed or discarded meanwhile; nothing "
                               f"loaded by this replay")

        try:
            rows = rows_for(spec, orjson.loads(raw), letter)
            refused = self._table_problem(spec, rows)
            if refused is not None:
                return self._failed(letter, value, refused, spec.table)
            written = self.loader.load(spec, rows, in_transaction=mark_replayed)
        except LostRace as exc:
            return Outcome(letter.id, "skipped", spec.table, reason=str(exc))
        except Exception as exc:  # whatever the warehouse refuses, the letter keeps the reason
            # The first line only: the rest (COPY's context) quotes the record's values.
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            return self._failed(letter, value, f"warehouse refused it: {first}", spec.table)
        return Outcome(letter.id, "replayed" if written else "unchanged", spec.table, written)

    def _table_problem(self, spec: TableSpec, rows: pa.Table) -> str | None:
        """What the table's columns cannot hold in the one row (``loader.limits``, read from
        the warehouse catalog once per table), as the sink refuses it; None: loadable."""
        limits = self._limits.get(spec.table)
        if limits is None:
            limits = self._limits[spec.table] = self.loader.run(
                lambda cursor: read_limits(cursor, spec.table))
        [refused] = violations(rows, limits, engine=self.loader.engine,
                               pointers=dict(spec.columns))
        return "; ".join(map(str, refused)) if refused else None

    def _failed(self, letter: DeadLetter, value: bytes | None, reason: str,
                table: str | None) -> Outcome:
        reason = reason[:REASON_LIMIT]
        now = self.clock()

        def work(cursor) -> int:
            cursor.execute(MARK_FAILED, (now, reason, value, self.handled_by, *letter.id.params))
            return cursor.rowcount

        if self.loader.run(work) != 1:
            return Outcome(letter.id, "skipped", table,
                           reason="replayed or discarded meanwhile")
        return Outcome(letter.id, "failed", table, reason=reason)

    def discard(self, selection: Selection, *, reason: str) -> list[Outcome]:
        """Mark the selected pending letters discarded, keeping ``reason`` (required)."""
        reason = (reason or "").strip()
        if not reason:
            raise ValueError("a discard needs a reason (kept with the letter): --reason TEXT")
        if len(reason) > REASON_LIMIT:
            raise ValueError(f"the reason is {len(reason)} characters; at most {REASON_LIMIT}")
        letters, outcomes = self._targets(selection)
        now = self.clock()
        pending = [letter for letter in letters if self._skip(letter) is None]
        outcomes.extend(self._skip(letter) for letter in letters if letter not in pending)

        def work(cursor) -> list[Outcome]:
            done = []
            for letter in pending:
                cursor.execute(MARK_DISCARDED, (now, reason, self.handled_by,
                                                *letter.id.params))
                done.append(Outcome(letter.id, "discarded", reason=reason)
                            if cursor.rowcount == 1 else
                            Outcome(letter.id, "skipped", reason="replayed or discarded meanwhile"))
            return done

        outcomes.extend(self.loader.run(work))
        return outcomes


def _utc(when: datetime | None) -> str:
    return f"{when.astimezone(UTC):%Y-%m-%d %H:%M:%S}Z" if when else "an unknown time"


def rows_for(spec: TableSpec, event: Any, letter: DeadLetter) -> pa.Table:
    """The event as the table's row, with the letter's Kafka position and receive time:
    the row the sink would have written."""
    rows = rows_from_events(spec, [event], received_at=[letter.received_at])
    for name, value, type_ in (("source_topic", letter.id.topic, pa.string()),
                               ("source_partition", letter.id.partition, pa.int32()),
                               ("source_offset", letter.id.offset, pa.int64())):
        rows = rows.set_column(rows.schema.get_field_index(name), name,
                               pa.array([value], type_))
    return rows
