"""What the loaders share: the interface, and the CSV form of a batch."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from loader.tables import TableSpec

#: Runs inside the load's transaction with its cursor and the number of rows written:
#: bookkeeping that must commit (or roll back) together with the rows, such as dead
#: letters and streaming progress.
InTransaction = Callable[[Any, int], None]

#: How a null is written in the CSV a loader stages, and declared to COPY on both engines
#: (``NULL AS`` on Redshift, ``NULL`` on PostgreSQL). Redshift's CSV COPY reads an empty
#: field into a VARCHAR column as an empty string unless told otherwise, so a null cannot
#: be "nothing between two commas" as it can for PostgreSQL. Every other value is written
#: quoted, so a real string equal to the marker stays a string where quotes count.
CSV_NULL = "<null>"

#: The one text form of a timestamp in the CSV: UTC, ISO 8601 with six fractional digits and
#: ``Z``, the "ISO 8601" form Redshift's ``TIMEFORMAT 'auto'`` documents (its example:
#: ``2019-02-11T05:09:12.195Z``) and one PostgreSQL reads as is. Microseconds, because event
#: times are part of natural keys and Spark keeps them.
CSV_TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # %S carries the fraction for sub-second units


class Loader(Protocol):
    engine: str

    def load(self, spec: TableSpec, rows: pa.Table, *,
             in_transaction: InTransaction | None = None,
             also_lock: Sequence[str] = ()) -> int:
        """Load ``rows`` (columns ``spec.load_columns``); returns rows inserted or updated.
        ``also_lock``: the tables ``in_transaction`` writes (``schema.table``), locked with
        the target at the start of the transaction where the engine needs locks (Redshift).
        A serialization failure runs the whole transaction again (bounded)."""
        ...

    def run(self, work: Callable[[Any], Any]) -> Any:
        """Run ``work(cursor)`` in a transaction of its own and return its result."""
        ...

    def close(self) -> None: ...


def _pinned_timestamps(table: pa.Table) -> pa.Table:
    """Timestamp columns as text in ``CSV_TIMESTAMP_FORMAT`` (a column without a time zone
    is taken as UTC, which is what Spark's session and the ingest API use).

    Built from Arrow's cast of the UTC instant, as a zone-less timestamp, to text
    (``2026-11-27 09:05:07.123456``), with the ``T`` and ``Z`` put in: the same text as
    ``strftime`` with ``CSV_TIMESTAMP_FORMAT`` for every instant from year 0001 to 9999
    (``tests/unit/test_loader_formats.py`` compares them), but ``strftime`` goes through the
    time zone database for each value, a large share of the executors' Python time."""
    for index, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type):
            utc = table.column(index).cast(pa.timestamp("us", tz="UTC")).cast(
                pa.timestamp("us"))
            text = pc.replace_substring(pc.cast(utc, pa.string()), " ", "T",
                                        max_replacements=1)
            table = table.set_column(index, field.name,
                                     pc.binary_join_element_wise(text, pa.scalar("Z"), ""))
    return table


def to_csv(spec: TableSpec, rows: pa.Table) -> bytes:
    """The batch as CSV without header, columns in ``spec.load_columns`` order: nulls as the
    unquoted ``CSV_NULL``, every other value quoted (an empty string is ``""``), timestamps
    in ``CSV_TIMESTAMP_FORMAT``. Loaders declare ``CSV_NULL`` to their COPY."""
    ordered = _pinned_timestamps(rows.select(list(spec.load_columns)))
    buffer = io.BytesIO()
    pacsv.write_csv(ordered, buffer, pacsv.WriteOptions(
        include_header=False, quoting_style="all_valid", null_string=CSV_NULL))
    return buffer.getvalue()


def csv_chunks(spec: TableSpec, rows: pa.Table, chunk_rows: int = 10_000) -> Iterator[bytes]:
    """``to_csv`` in pieces of ``chunk_rows`` rows, for a COPY that starts parsing the first
    piece while the next is written. In ``benchmarks.sink_bench`` (``phases_s``,
    ``load_csv_copy_merge``) the sink's load of 200k rows went from 2.1 to 1.7 s this way;
    pieces of 2,000 to 10,000 rows did equally well when timed once against one piece."""
    for batch in rows.to_batches(max_chunksize=chunk_rows):
        yield to_csv(spec, pa.Table.from_batches([batch]))
