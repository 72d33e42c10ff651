"""What a warehouse column can hold, read from the table's own definition, and which rows of
a batch it would refuse.

A loader's COPY fails the whole batch on one value the column cannot take, and a failed
streaming batch is replayed forever. So, before the load, each row is checked against its
table's columns as the warehouse catalog describes them (``information_schema.columns``:
type, length, precision, nullability), never against a hand-kept list: a resized column
changes the check with it. A refused row becomes a dead letter (sinks) or a 422 (ingest
instances writing straight to the warehouse) naming the column, the event's JSON pointer
and the rule. The rules (``schemas/README.md``, "What the warehouse can hold"):

* text: no U+0000 (neither engine stores it); ``varchar(n)``/``char(n)`` hold n characters
  on PostgreSQL but n *bytes* of UTF-8 on Redshift (100 x "é" is 200 bytes);
* integers within the column's type (smallint, integer, bigint);
* floating point finite (no NaN or infinity: Spark turns an overflowing number into
  infinity), and within ``real``'s range for a ``real`` column;
* ``numeric(p, s)``: fewer than p - s digits before the point;
* timestamps within 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999Z;
* no null in a NOT NULL column.

Everything here is pure (catalog rows in, limits out; an Arrow table in, problems out) but
:func:`read_limits`, which runs the one catalog query.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from schemas.validation import EARLIEST, LATEST, date_time_out_of_range

ENGINES = ("postgres", "redshift")

#: One query per loader and table; both engines answer it (Redshift for its local tables).
COLUMNS_QUERY = (
    "SELECT column_name, data_type, character_maximum_length, numeric_precision,"
    " numeric_scale, is_nullable FROM information_schema.columns"
    " WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position"
)

_INTEGER_BITS = {"smallint": 16, "integer": 32, "bigint": 64}
_FLOAT_MAX = {"real": 3.4028234663852886e38, "double precision": math.inf}
_TEXT = ("character varying", "character", "text")
TIMESTAMP_TYPES = ("timestamp with time zone", "timestamp without time zone")


@dataclass(frozen=True)
class ColumnLimit:
    """One column as the warehouse defines it."""

    name: str
    data_type: str  # information_schema's name: "bigint", "character varying", ...
    max_length: int | None = None  # varchar(n) / char(n)
    precision: int | None = None  # numeric(p, s)
    scale: int | None = None
    nullable: bool = True

    @property
    def declared(self) -> str:
        """The type as DDL spells it, for messages."""
        if self.data_type in _TEXT and self.max_length is not None:
            return f"{'varchar' if self.data_type == 'character varying' else 'char'}" \
                   f"({self.max_length})"
        if self.data_type == "numeric" and self.precision is not None:
            return f"numeric({self.precision}, {self.scale or 0})"
        return self.data_type


@dataclass(frozen=True)
class TableLimits:
    table: str  # schema.table
    columns: tuple[ColumnLimit, ...]

    def column(self, name: str) -> ColumnLimit | None:
        return next((c for c in self.columns if c.name == name), None)


@dataclass(frozen=True)
class Violation:
    """Why one value of one row cannot be loaded."""

    column: str
    pointer: str | None  # into the event; None for load metadata (Kafka position...)
    rule: str

    def __str__(self) -> str:
        return f"{self.pointer or self.column}: {self.rule}"


def limits_from_catalog(table: str, rows: Sequence[Sequence]) -> TableLimits:
    """``COLUMNS_QUERY``'s rows as limits. No rows means no such table: an error, as a load
    into it would fail anyway and a check against nothing would pass everything."""
    if not rows:
        raise LookupError(f"{table}: no columns in information_schema.columns; is the table "
                          f"there (bin/migrate) and visible to the loader's user?")
    return TableLimits(table, tuple(
        ColumnLimit(name=name, data_type=data_type, max_length=max_length,
                    precision=precision, scale=scale, nullable=nullable != "NO")
        for name, data_type, max_length, precision, scale, nullable in rows))


def read_limits(cursor, table: str) -> TableLimits:
    schema_name, table_name = table.split(".", 1)
    cursor.execute(COLUMNS_QUERY, (schema_name, table_name))
    return limits_from_catalog(table, cursor.fetchall())


def violations(rows: pa.Table, limits: TableLimits, *, engine: str,
               pointers: Mapping[str, str] | None = None) -> list[tuple[Violation, ...]]:
    """For each row of ``rows``, what its table's columns would refuse (empty: loadable).

    ``pointers`` maps a column to the JSON pointer of the event's value (``TableSpec``);
    columns of ``rows`` the table does not have are not checked (the load names them).
    """
    if engine not in ENGINES:
        raise ValueError(f"engine {engine!r}: expected one of {ENGINES}")
    pointers = pointers or {}
    found: list[list[Violation]] = [[] for _ in range(rows.num_rows)]
    for column in limits.columns:
        if column.name not in rows.column_names:
            continue
        values = rows[column.name]
        for index, rule in _column_problems(values, column, engine, limits.table):
            found[index].append(Violation(column.name, pointers.get(column.name), rule))
    return [tuple(v) for v in found]


def row_problems(rows: pa.Table, limits: TableLimits, *, engine: str,
                 pointers: Mapping[str, str] | None = None) -> list[str | None]:
    """:func:`violations` as one message per row (None: loadable), for dead letters."""
    return [describe(v) for v in violations(rows, limits, engine=engine, pointers=pointers)]


def describe(found: Sequence[Violation]) -> str | None:
    return "; ".join(map(str, found)) or None


def _where(mask: pa.ChunkedArray | pa.Array) -> list[int]:
    return pc.indices_nonzero(pc.fill_null(mask, False)).to_pylist()


def _column_problems(values: pa.ChunkedArray, column: ColumnLimit, engine: str, table: str):
    """(row index, rule) for each value ``column`` would refuse."""
    where = f"column {table}.{column.name} ({column.declared})"
    if not column.nullable:
        for index in _where(pc.is_null(values)):
            yield index, f"missing, but {where} is NOT NULL"
    kind = values.type
    if column.data_type in _TEXT and (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        yield from _text_problems(values, column, engine, where)
    elif column.data_type in _INTEGER_BITS and (pa.types.is_integer(kind)
                                                or pa.types.is_floating(kind)):
        bits = _INTEGER_BITS[column.data_type]
        low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
        if pa.types.is_floating(kind):
            yield from _not_finite(values, where)
            # In doubles: 2**63 - 1 is not one, and rounds up to 2**63, which is outside.
            outside = pc.or_(pc.less(values, float(low)), pc.greater_equal(values, -float(low)))
        else:
            outside = pc.or_(pc.less(values, low), pc.greater(values, high))
        for index in _where(outside):
            yield index, f"outside {low}..{high}, the range of {where}"
    elif column.data_type in _FLOAT_MAX and pa.types.is_floating(kind):
        yield from _not_finite(values, where)
        largest = _FLOAT_MAX[column.data_type]
        if largest != math.inf:
            beyond = pc.and_(pc.is_finite(values), pc.greater(pc.abs(values), largest))
            for index in _where(beyond):
                yield index, f"beyond ±{largest:.7g}, the range of {where}"
    elif column.data_type == "numeric" and (pa.types.is_floating(kind)
                                            or pa.types.is_integer(kind)
                                            or pa.types.is_decimal(kind)):
        if pa.types.is_floating(kind):
            yield from _not_finite(values, where)
        if column.precision is not None:
            digits = column.precision - (column.scale or 0)
            magnitude = pc.abs(pc.cast(values, pa.float64()))
            for index in _where(pc.greater_equal(magnitude, 10.0 ** digits)):
                yield index, f"{digits} digit(s) at most before the point fit {where}"
    elif column.data_type in TIMESTAMP_TYPES:
        yield from _timestamp_problems(values, where)


def _not_finite(values, where: str):
    for index in _where(pc.invert(pc.is_finite(values))):
        yield index, f"not a finite number (NaN or infinity), which {where} does not hold"


def _text_problems(values, column: ColumnLimit, engine: str, where: str):
    for index in _where(pc.match_substring(values, "\x00")):
        yield index, (f"contains the NUL character (U+0000), which {where} cannot store: "
                      f"remove it")
    if column.max_length is None:
        return
    if engine == "redshift":  # Redshift's varchar(n) is n bytes of UTF-8
        lengths, unit = pc.binary_length(values), "bytes in UTF-8"
    else:
        lengths, unit = pc.utf8_length(values), "characters"
    too_long = pc.greater(lengths, column.max_length)
    for index in _where(too_long):
        yield index, (f"{lengths[index].as_py()} {unit}, more than the {column.max_length} "
                      f"that {where} holds on {_ENGINE_NAMES[engine]}")


_ENGINE_NAMES = {"postgres": "PostgreSQL", "redshift": "Redshift"}
_RANGE = "0001-01-01T00:00:00Z..9999-12-31T23:59:59.999999Z"


def _timestamp_problems(values, where: str):
    kind = values.type
    if pa.types.is_timestamp(kind):
        if kind.unit == "ns":  # holds years 1677 to 2262 only: always within
            return
        earliest = pa.scalar(EARLIEST.replace(tzinfo=None) if kind.tz is None else EARLIEST,
                             kind)
        latest = pa.scalar(LATEST.replace(tzinfo=None) if kind.tz is None else LATEST, kind)
        outside = pc.or_(pc.less(values, earliest), pc.greater(values, latest))
        for index in _where(outside):
            yield index, f"outside {_RANGE} in UTC, the times {where} holds"
    elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
        # RFC 3339 text (ingest instances load events as they came): only years 0001 and
        # 9999 can leave the range once the offset is applied.
        edge = pc.match_substring_regex(values, r"^(?:0001|9999)-")
        for index in _where(edge):
            if date_time_out_of_range(values[index].as_py()):
                yield index, f"outside {_RANGE} in UTC, the times {where} holds"

