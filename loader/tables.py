"""How each message type maps onto its warehouse table, as its declaration says
(``schemas/<type>/type.yaml``, read by :mod:`schemas.types`)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

import pyarrow as pa

from schemas.types import Declaration, declaration, declared_types

#: Load metadata every table carries after the event's own columns (NULL where the event
#: did not come through Kafka, as with ingest instances writing straight to the warehouse).
METADATA_COLUMNS = ("source_topic", "source_partition", "source_offset", "received_at")


@dataclass(frozen=True)
class TableSpec:
    message_type: str
    table: str  # schema.table
    key: tuple[str, ...]
    mode: str  # "insert": first write wins; "latest": highest version_by wins
    columns: tuple[tuple[str, str], ...]  # (column, JSON pointer into the event)
    version_by: str | None = None
    #: The key column the table is sorted by first: a merge compares the batch with the
    #: table's rows only within the batch's minimum and maximum of it (a range-restricted
    #: scan on Redshift). Part of the key, so no matching row can lie outside that range.
    range_by: str | None = None
    #: Columns holding RFC 3339 date-times in the event (loaded as timestamps).
    time_columns: tuple[str, ...] = ()

    @property
    def schema_name(self) -> str:
        return self.table.split(".", 1)[0]

    @property
    def table_name(self) -> str:
        return self.table.split(".", 1)[1]

    @property
    def event_columns(self) -> tuple[str, ...]:
        return tuple(column for column, _ in self.columns)

    @property
    def load_columns(self) -> tuple[str, ...]:
        """Columns a loader writes, in this order: the event's, then the metadata."""
        return self.event_columns + METADATA_COLUMNS


def _resolve(record: Mapping[str, Any], pointer: str) -> Any:
    """The value at ``pointer``; None where an optional field is absent (a record of an
    earlier schema version, without a field a later one added)."""
    value: Any = record
    for part in pointer.strip("/").split("/"):
        if part not in value:
            return None
        value = value[part]
    return value


_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_date_time(text: str) -> datetime:
    """A validated RFC 3339 date-time (``schemas.validation``) as an aware UTC datetime.
    Digits beyond microseconds are dropped: neither warehouse stores them."""
    return datetime.fromisoformat(_FRACTION.sub(r"\1", text)).astimezone(UTC)


def rows_from_events(spec: TableSpec, records: Sequence[Mapping[str, Any]], *,
                     received_at: Sequence[datetime | None]) -> pa.Table:
    """Validated events as a batch for a loader (no Kafka metadata: they did not come
    through Kafka). Date-times become UTC timestamps, so the loader writes them in its one
    pinned text form whatever offset the client used."""
    columns: dict[str, pa.Array] = {}
    for column, pointer in spec.columns:
        values = [_resolve(r, pointer) for r in records]
        # A column no record has (a field of a later schema version) is still typed.
        columns[column] = pa.array(values, pa.string() if column in spec.time_columns or all(
            v is None for v in values) else None)
    count = len(records)
    columns["source_topic"] = pa.nulls(count, pa.string())
    columns["source_partition"] = pa.nulls(count, pa.int32())
    columns["source_offset"] = pa.nulls(count, pa.int64())
    columns["received_at"] = pa.array(received_at, pa.timestamp("ms", tz="UTC"))
    return utc_timestamps(pa.table(columns), spec.time_columns)


def utc_timestamps(rows: pa.Table, columns: Sequence[str]) -> pa.Table:
    """``rows`` with the RFC 3339 text of ``columns`` as UTC timestamps (microseconds), as
    the sink's Spark parse gives them, so no warehouse parses an offset itself: PostgreSQL
    refuses offsets beyond ±15:59, which RFC 3339 allows. A value that does not convert
    (out of range: the validator refuses those first) becomes null."""
    for name in columns:
        index = rows.schema.get_field_index(name)
        if index < 0 or not pa.types.is_string(rows.schema.field(index).type):
            continue
        rows = rows.set_column(index, name, pa.array(
            [_utc(value) for value in rows[name].to_pylist()], pa.timestamp("us", tz="UTC")))
    return rows


def _utc(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_date_time(value)
    except (ValueError, OverflowError):
        return None


@cache
def _spec(declaration: Declaration) -> TableSpec:
    return TableSpec(
        message_type=declaration.name,
        table=declaration.table,
        key=declaration.natural_key,
        mode=declaration.merge.rule,
        columns=declaration.columns,
        version_by=declaration.merge.version_by,
        range_by=declaration.range_by,
        time_columns=declaration.time_columns,
    )


def table_spec(message_type: str) -> TableSpec:
    """The type's table mapping, from its declaration (``schemas/<type>/type.yaml``)."""
    if message_type not in declared_types():
        raise LookupError(f"no table mapping for {message_type!r}: no schemas/{message_type}/ "
                          f"(declared: {', '.join(declared_types())})")
    return _spec(declaration(message_type))
