"""What the loaders share: the interface, and the CSV form of a batch."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.csv as pacsv

from loader.tables import TableSpec

#: Runs inside the load's transaction with its cursor and the number of rows written:
#: bookkeeping that must commit (or roll back) together with the rows, such as dead
#: letters and streaming progress.
InTransaction = Callable[[Any, int], None]


class Loader(Protocol):
    engine: str

    def load(self, spec: TableSpec, rows: pa.Table, *,
             in_transaction: InTransaction | None = None) -> int:
        """Load ``rows`` (columns ``spec.load_columns``); returns rows inserted or updated."""
        ...

    def run(self, work: Callable[[Any], Any]) -> Any:
        """Run ``work(cursor)`` in a transaction of its own and return its result."""
        ...

    def close(self) -> None: ...


def to_csv(spec: TableSpec, rows: pa.Table) -> bytes:
    """The batch as CSV without header, columns in ``spec.load_columns`` order.

    Null is an empty unquoted field and an empty string is ``""``, which is how both
    PostgreSQL's and Redshift's CSV ``COPY`` tell them apart.
    """
    ordered = rows.select(list(spec.load_columns))
    buffer = io.BytesIO()
    pacsv.write_csv(ordered, buffer, pacsv.WriteOptions(include_header=False,
                                                         quoting_style="needed"))
    return buffer.getvalue()


def csv_chunks(spec: TableSpec, rows: pa.Table, chunk_rows: int = 10_000) -> Iterator[bytes]:
    """``to_csv`` in pieces of ``chunk_rows`` rows, for a COPY that starts parsing the first
    piece while the next is written. In ``benchmarks.sink_bench`` (``phases_s``,
    ``load_csv_copy_merge``) the sink's load of 200k rows went from 2.1 to 1.7 s this way;
    pieces of 2,000 to 10,000 rows did equally well when timed once against one piece."""
    for batch in rows.to_batches(max_chunksize=chunk_rows):
        yield to_csv(spec, pa.Table.from_batches([batch]))
