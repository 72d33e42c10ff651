"""The warehouse behind an Airflow connection id: Redshift in production, PostgreSQL locally.

Which engine it is comes from the connection's type, so pointing the platform at Redshift
is a connection change (``AIRFLOW_CONN_WAREHOUSE_DEFAULT``), not a code change. The
connection itself is handled by the provider's own hook (``PostgresHook`` or
``RedshiftSQLHook``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

ENGINES = {"postgres": "postgres", "redshift": "redshift"}
DEFAULT_CONN_ID = "warehouse_default"


@dataclass
class Warehouse:
    """A warehouse connection id resolved to its engine and provider hook."""

    conn_id: str = DEFAULT_CONN_ID

    @cached_property
    def connection(self):
        from airflow.sdk import BaseHook

        return BaseHook.get_connection(self.conn_id)

    @cached_property
    def engine(self) -> str:
        conn_type = self.connection.conn_type
        if conn_type not in ENGINES:
            raise ValueError(
                f"connection {self.conn_id!r} has type {conn_type!r}; the warehouse must be "
                f"one of {sorted(ENGINES)}"
            )
        return ENGINES[conn_type]

    @cached_property
    def hook(self) -> Any:
        """The provider's DB-API hook for this connection (PostgresHook, RedshiftSQLHook)."""
        return self.connection.get_hook()

    def connect(self):
        """A new DB-API connection (not in autocommit mode)."""
        return self.hook.get_conn()
