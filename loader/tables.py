"""How each message type maps onto its warehouse table: ``loader/tables/<type>.conf``."""

from __future__ import annotations

import configparser
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pyarrow as pa

TABLES_DIR = Path(__file__).resolve().parent / "tables"
MODES = ("insert", "latest")

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
    value: Any = record
    for part in pointer.strip("/").split("/"):
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
        if column in spec.time_columns:
            columns[column] = pa.array(
                [None if v is None else parse_date_time(v) for v in values],
                pa.timestamp("us", tz="UTC"))
        else:
            columns[column] = pa.array(values)
    count = len(records)
    columns["source_topic"] = pa.nulls(count, pa.string())
    columns["source_partition"] = pa.nulls(count, pa.int32())
    columns["source_offset"] = pa.nulls(count, pa.int64())
    columns["received_at"] = pa.array(received_at, pa.timestamp("ms", tz="UTC"))
    return pa.table(columns)


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
        return datetime.fromisoformat(value).astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def _parse(path: Path) -> TableSpec:
    parser = configparser.ConfigParser()
    parser.optionxform = str  # column names are case-sensitive identifiers
    parser.read(path)
    [message_type] = parser.sections()
    section = parser[message_type]
    columns = []
    for line in section["columns"].strip().splitlines():
        column, _, pointer = line.partition("=")
        if not pointer.strip().startswith("/"):
            raise ValueError(f"{path}: column {column.strip()!r} needs a JSON pointer")
        columns.append((column.strip(), pointer.strip()))
    spec = TableSpec(
        message_type=message_type,
        table=section["table"],
        key=tuple(k.strip() for k in section["key"].split(",")),
        mode=section.get("mode", "insert"),
        columns=tuple(columns),
        version_by=section.get("version_by"),
        range_by=section.get("range_by"),
        time_columns=tuple(c.strip() for c in section.get("time_columns", "").split(",")
                           if c.strip()),
    )
    if spec.mode not in MODES:
        raise ValueError(f"{path}: mode must be one of {MODES}")
    if spec.mode == "latest" and spec.version_by not in spec.event_columns:
        raise ValueError(f"{path}: mode latest needs version_by naming one of the columns")
    missing = set(spec.key) - set(spec.event_columns)
    if missing:
        raise ValueError(f"{path}: key columns {sorted(missing)} are not mapped")
    if spec.range_by is None or spec.range_by not in spec.key:
        raise ValueError(f"{path}: range_by must name a key column (the table's leading sort"
                         " key), so merges scan only the batch's range of it")
    unmapped = set(spec.time_columns) - set(spec.event_columns)
    if unmapped:
        raise ValueError(f"{path}: time_columns {sorted(unmapped)} are not mapped")
    return spec


@cache
def table_spec(message_type: str) -> TableSpec:
    path = TABLES_DIR / f"{message_type}.conf"
    if not path.exists():
        raise LookupError(f"no table mapping for {message_type!r} ({path})")
    return _parse(path)
