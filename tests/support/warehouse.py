"""Warehouse helpers: scratch databases and connections pointed at them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg


@contextmanager
def scratch_database(admin_dsn: str, prefix: str, *, migrate: bool = True,
                     copy_of: str | None = None) -> Iterator[str]:
    """A new database on the stack's server (all migrations applied unless ``migrate`` is
    False, or a copy of the database of the DSN ``copy_of``, which must have no open
    connection), dropped afterwards; yields its DSN."""
    from hoverboard.warehouse.migrations import MigrationRunner
    from psycopg import sql

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if copy_of is not None:
        create += sql.SQL(" TEMPLATE {}").format(sql.Identifier(copy_of.rsplit("/", 1)[1]))
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(create)
    dsn = admin_dsn.rsplit("/", 1)[0] + "/" + name
    try:
        if migrate and copy_of is None:
            MigrationRunner(lambda: psycopg.connect(dsn), "postgres").migrate()
        yield dsn
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def warehouse_connection(stack_env: dict[str, str], dsn: str) -> str:
    """The stack's warehouse_default connection (JSON) pointed at the database of ``dsn``."""
    connection = json.loads(stack_env["AIRFLOW_CONN_WAREHOUSE_DEFAULT"])
    return json.dumps({**connection, "schema": dsn.rsplit("/", 1)[1]})


def fetch(dsn: str, query: str, params=()) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(query, params).fetchall()
