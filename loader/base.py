"""What the loaders share: the interface, and the CSV form of a batch."""

from __future__ import annotations

import io
from collections.abc import Callable
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
