"""The warehouse behind an Airflow connection id: Redshift in production, PostgreSQL locally.

Which engine it is comes from the connection's type, so pointing the platform at Redshift
is a connection change (``AIRFLOW_CONN_WAREHOUSE_DEFAULT``), not a code change. The
connection itself is handled by the provider's own hook (``PostgresHook`` or
``RedshiftSQLHook``).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from functools import cached_property
from typing import Any

ENGINES = {"postgres": "postgres", "redshift": "redshift"}
DEFAULT_CONN_ID = "warehouse_default"
DEFAULT_PORTS = {"postgres": 5432, "redshift": 5439}


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

    @property
    def address(self) -> tuple[str, int, str]:
        """(host, port, database) of the connection."""
        conn = self.connection
        return (conn.host or "", int(conn.port or DEFAULT_PORTS[self.engine]),
                conn.schema or conn.login or "")


def dsn_address(dsn: str) -> tuple[str, int, str]:
    """(host, port, database) of a libpq connection string (URI or key=value), as libpq
    fills in what it leaves out."""
    from psycopg.conninfo import conninfo_to_dict

    params = conninfo_to_dict(dsn)
    return (str(params.get("host") or ""), int(params.get("port") or 5432),
            str(params.get("dbname") or params.get("user") or ""))


def same_database(a: tuple[str, int, str], b: tuple[str, int, str]) -> bool:
    """Whether two (host, port, database) name one database: the hosts are equal or resolve
    to a common address (``localhost`` and ``127.0.0.1`` are one server)."""
    if a[1:] != b[1:]:
        return False
    if a[0] == b[0]:
        return True
    if not a[0] or not b[0] or a[0].startswith("/") or b[0].startswith("/"):
        return False  # a Unix socket directory (or libpq's default) is only itself
    try:
        return bool(_addresses(a[0]) & _addresses(b[0]))
    except OSError:  # unresolvable: only the same name is the same host
        return False


def _addresses(host: str) -> set[str]:
    return {info[4][0] for info in socket.getaddrinfo(host, None)}
