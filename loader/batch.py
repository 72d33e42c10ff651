"""One batch of Kafka records into its table: validate -> limits -> load -> dead letters and
progress, in one transaction. No Spark in here.

The streaming sink (``spark/sink_job.py``) hands over each micro-batch as an Arrow table
(the table's columns as Spark flattened them, ``raw_key``/``raw_value`` and the Kafka
metadata); anything else that loads Kafka records (replaying dead letters) goes through the
same path, so one record is judged the same way wherever it comes from:

1. the platform's validator (``schemas.validation``, the API's) on the raw value, and the
   sink's own conversion (``spark.checks.unconverted``: a required value left null);
2. the target table's limits, read from the warehouse catalog once (``loader.limits``):
   NUL, lengths, ranges, NaN/infinity, whatever that column cannot hold;
3. rows that pass are loaded and merged on the natural key; the others become
   ``platform.dead_letters`` naming pointer, column and rule; the batch's progress goes to
   ``platform.stream_progress``. All in the load's transaction: a replayed batch (after a
   crash, before Spark checkpointed it) changes nothing, and no record's content can fail
   the batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from loader.base import Loader
from loader.bookkeeping import (
    TABLES,
    BatchProgress,
    latest_offsets,
    record_dead_letters,
    record_progress,
)
from loader.limits import TIMESTAMP_TYPES, TableLimits, read_limits, violations
from loader.tables import TableSpec, utc_timestamps
from schemas.validation import EventValidator
from spark.checks import batch_problems, unconverted, valid_mask

#: Columns a batch carries besides the table's: where each record came from, and its bytes.
BATCH_COLUMNS = ("source_topic", "source_partition", "source_offset", "received_at", "raw_key",
                 "raw_value")
#: platform.dead_letters.error is varchar(4000).
MAX_ERROR = 4000


@dataclass(frozen=True)
class BatchResult:
    input_rows: int
    written: int
    #: Dead letters written, in ``loader.bookkeeping.DEAD_LETTER_COLUMNS`` order.
    letters: tuple[tuple, ...]
    #: Next offset to read per partition after this batch (cumulative over the query).
    end_offsets: Mapping[int, int]


def problems(rows: pa.Table, spec: TableSpec, schema: Mapping[str, Any],
             validator: EventValidator, limits: TableLimits, engine: str) -> list[str | None]:
    """Why each row cannot be loaded (None: it can), first rule that refuses it wins: the
    schema (the message a client gets in a 422), then the table's limits. Pure: the same on
    the driver and on an executor (``loader.staged``)."""
    found = unconverted(rows, spec, schema,
                        batch_problems(rows["raw_value"].to_pylist(), validator))
    pointers = dict(spec.columns)
    checked = rows.select(list(spec.load_columns))
    for index, refused in enumerate(violations(checked, limits, engine=engine,
                                               pointers=pointers)):
        if refused and found[index] is None:
            found[index] = "; ".join(map(str, refused))
    return found


def split(rows: pa.Table, found: list[str | None], spec: TableSpec, limits: TableLimits,
          query_name: str) -> tuple[pa.Table, tuple[tuple, ...]]:
    """(the rows to load, in ``spec.load_columns``; the dead letters, in
    ``DEAD_LETTER_COLUMNS`` order) given each row's problem from :func:`problems`."""
    valid = valid_mask(found)
    # Date-times that came as text (not through Spark's parse) go to the warehouse in
    # UTC: no engine parses an offset itself (PostgreSQL refuses beyond ±15:59).
    good = utc_timestamps(rows.filter(valid).select(list(spec.load_columns)),
                          [c.name for c in limits.columns if c.data_type in TIMESTAMP_TYPES])
    bad = rows.append_column("problems", pa.array(found, pa.string())).filter(pc.invert(valid))
    letters = tuple(
        (r["source_topic"], r["source_partition"], r["source_offset"], query_name,
         r["raw_key"], r["raw_value"], r["problems"][:MAX_ERROR], r["received_at"])
        for r in bad.select(["source_topic", "source_partition", "source_offset", "raw_key",
                             "raw_value", "problems", "received_at"]).to_pylist()
    )
    return good, letters


class BatchLoad:
    """The per-batch path of one query into one table (one instance per query)."""

    def __init__(self, *, spec: TableSpec, schema: Mapping[str, Any], loader: Loader,
                 query_name: str, validator: EventValidator | None = None,
                 run_id: Callable[[], str] = lambda: "") -> None:
        """:param run_id: the streaming query's run (``platform.stream_progress.run_id``),
            asked for when a batch needs it: a query knows its id only once it started."""
        self.spec = spec
        self.run_id = run_id
        self.schema = schema
        self.loader = loader
        self.query_name = query_name
        self.validator = validator or EventValidator(schema)
        self._limits: TableLimits | None = None
        self._offsets: dict[int, int] | None = None

    @property
    def limits(self) -> TableLimits:
        """The table's columns from the catalog, read once per loader and table: a column
        resized by a migration is seen when the job (or its loader) restarts."""
        if self._limits is None:
            self._limits = self.loader.run(lambda cursor: read_limits(cursor, self.spec.table))
        return self._limits

    def problems(self, rows: pa.Table) -> list[str | None]:
        """Why each row cannot be loaded (None: it can): :func:`problems`."""
        return problems(rows, self.spec, self.schema, self.validator, self.limits,
                        self.loader.engine)

    def _known_offsets(self) -> dict[int, int]:
        if self._offsets is None:
            # Resume the cumulative per-partition offsets from this run's last batch (never
            # another run's: a new checkpoint re-reads from its starting offsets).
            run_id = self.run_id()
            self._offsets = self.loader.run(
                lambda cursor: latest_offsets(cursor, self.query_name, run_id))
        return self._offsets

    def __call__(self, rows: pa.Table, batch_id: int, *,
                 started: float | None = None) -> BatchResult:
        """Load one batch: ``rows`` has the spec's load columns plus ``BATCH_COLUMNS``."""
        started = time.monotonic() if started is None else started
        good, letters = split(rows, self.problems(rows), self.spec, self.limits,
                              self.query_name)
        offsets = dict(self._known_offsets())
        per_partition = rows.group_by("source_partition").aggregate([("source_offset", "max")])
        for partition, last in zip(per_partition["source_partition"].to_pylist(),
                                   per_partition["source_offset_max"].to_pylist(), strict=True):
            offsets[partition] = max(offsets.get(partition, 0), last + 1)

        run_id = self.run_id()

        def bookkeeping(cursor, written: int) -> None:
            record_dead_letters(cursor, self.loader.engine, letters)
            elapsed = time.monotonic() - started
            record_progress(cursor, self.loader.engine, BatchProgress(
                query_name=self.query_name, run_id=run_id, batch_id=batch_id,
                input_rows=rows.num_rows, rows_written=written, dead_letters=len(letters),
                rows_per_second=rows.num_rows / elapsed if elapsed > 0 else None,
                end_offsets=offsets, batch_time=datetime.now(UTC)))

        written = self.loader.load(self.spec, good, in_transaction=bookkeeping, also_lock=TABLES)
        self._offsets = offsets
        return BatchResult(rows.num_rows, written, letters, offsets)
