"""Hook for the warehouse behind an Airflow connection id: Redshift in production,
PostgreSQL locally.

Which engine it is comes from the connection's type, so pointing the platform at Redshift
is a connection change (``AIRFLOW_CONN_WAREHOUSE_DEFAULT``, the warehouse's one setting:
see ``runtime.settings``), not a code change. The DB-API connections are the provider's own
hook's (``PostgresHook`` or ``RedshiftSQLHook``).
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from airflow.sdk import BaseHook

from runtime.settings import DEFAULT_PORTS, WAREHOUSE_CONN_ID, WarehouseConnection

DEFAULT_CONN_ID = WAREHOUSE_CONN_ID
ENGINES = tuple(DEFAULT_PORTS)


class WarehouseHook(BaseHook):
    """The warehouse connection resolved to its engine, its provider hook and its DSN.

    Nothing is read in ``__init__``: the connection is looked up on first use, so an
    operator creates the hook in a cached ``hook`` property and a DAG file never touches it.

    :param warehouse_conn_id: Airflow connection of the warehouse (type ``postgres`` or
        ``redshift``).
    """

    conn_name_attr = "warehouse_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = "postgres"
    hook_name = "Hoverboard warehouse (Redshift or PostgreSQL)"

    def __init__(self, warehouse_conn_id: str = DEFAULT_CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.warehouse_conn_id = warehouse_conn_id

    @cached_property
    def connection(self) -> Any:
        return self.get_connection(self.warehouse_conn_id)

    @cached_property
    def engine(self) -> str:
        conn_type = self.connection.conn_type
        if conn_type not in ENGINES:
            raise ValueError(
                f"connection {self.warehouse_conn_id!r} has type {conn_type!r}; the warehouse "
                f"must be one of {sorted(ENGINES)}")
        return conn_type

    @cached_property
    def db_hook(self) -> Any:
        """The provider's DB-API hook for this connection (PostgresHook, RedshiftSQLHook)."""
        return self.connection.get_hook()

    def get_conn(self) -> Any:
        """A new DB-API connection (not in autocommit mode); a connection factory for the
        migration runner, the backup service and the stream state."""
        return self.db_hook.get_conn()

    @property
    def uri(self) -> str:
        """The connection in Airflow's URI form: what a streaming job is handed, so it writes
        to exactly this warehouse."""
        return self.connection.get_uri()

    @property
    def dsn(self) -> str:
        """The libpq DSN of this connection, derived as the jobs derive theirs."""
        conn = self.connection
        return WarehouseConnection(
            conn_type=self.engine, host=conn.host or "", port=conn.port, login=conn.login or "",
            password=conn.password or "", schema=conn.schema or "").dsn()
