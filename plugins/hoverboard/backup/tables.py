"""Which tables are backed up, and how: event tables by day of their event time, the rest as
full snapshots. Every declared message type's table is backed up; its table, natural key,
merge rule and partitioning come from its declaration (``schemas/<type>/type.yaml``)."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql

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


def backup_tables() -> list[str]:
    """The tables backed up, by message type: every declared type (``schemas/<type>/``)."""
    from schemas.types import declared_types

    return declared_types()


def backup_table(name: str) -> BackupTable:
    from schemas.types import declaration

    if name not in backup_tables():
        raise ValueError(f"no backup configuration for table {name!r}; one of "
                         f"{', '.join(backup_tables())} (the declared message types)")
    declared = declaration(name)
    schema, table = declared.table.split(".")
    return BackupTable(name=name, schema=schema, table=table, key=declared.natural_key,
                       time_column=declared.backup_column,
                       version_by=declared.merge.version_by)
