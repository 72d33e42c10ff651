"""Which tables are backed up, and how: event tables by day of their event time, the rest as
full snapshots. Table names and natural keys come from the loader's table mappings
(``loader/tables/<type>.conf``), the one place they are defined."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql

#: Event tables and the column whose day a backup covers; every other table: snapshots.
TIME_COLUMNS = {"hoverboard": "event_time", "trip": "start_time"}
TABLES = ("hoverboard", "trip", "customer")

#: The load-time column of every fleet table: rows loaded (or updated) at or after a
#: backup's ``settled_before`` are left out of its comparison with the source.
LOADED_AT = "loaded_at"


@dataclass(frozen=True)
class BackupTable:
    name: str  # the message type and the folder name: hoverboard
    schema: str  # fleet
    table: str  # hoverboard
    key: tuple[str, ...]
    time_column: str | None  # None: backed up as snapshots
    #: Tables where the latest version of a key wins (customer: ``updated_at``, ties by
    #: ``source_offset``), as in the loader's merge; None: the first write wins (events).
    version_by: str | None = None

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.table}"

    @property
    def kind(self) -> str:
        return "day" if self.time_column else "snapshot"

    @property
    def identifier(self) -> sql.Identifier:
        return sql.Identifier(self.schema, self.table)


def backup_table(name: str) -> BackupTable:
    from loader.tables import table_spec

    if name not in TABLES:
        raise ValueError(f"no backup configuration for table {name!r}; one of {TABLES}")
    spec = table_spec(name)
    return BackupTable(name=name, schema=spec.schema_name, table=spec.table_name,
                       key=spec.key, time_column=TIME_COLUMNS.get(name),
                       version_by=spec.version_by if spec.mode == "latest" else None)
