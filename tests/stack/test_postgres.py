"""PostgreSQL of the local stack: a real server with the warehouse and Airflow databases."""

from __future__ import annotations

import uuid

import psycopg

from runtime.settings import warehouse_dsn


def test_sql_round_trip_in_warehouse(stack_env: dict[str, str]) -> None:
    table = f"roundtrip_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(warehouse_dsn(stack_env), autocommit=True) as conn:
        conn.execute(f"CREATE TEMP TABLE {table} (id int PRIMARY KEY, note text)")
        conn.execute(f"INSERT INTO {table} VALUES (%s, %s), (%s, %s)", (1, "a", 2, "ü"))
        rows = conn.execute(f"SELECT id, note FROM {table} ORDER BY id").fetchall()
        server = conn.execute("SHOW server_version").fetchone()[0]
    assert rows == [(1, "a"), (2, "ü")]
    assert server.split(".")[0].isdigit()


def test_airflow_metadata_database_exists(stack_env: dict[str, str]) -> None:
    with psycopg.connect(stack_env["HOVER_AIRFLOW_DB_DSN"]) as conn:
        assert conn.execute("SELECT current_database()").fetchone()[0] == "airflow"


def test_server_listens_on_loopback_only(stack_env: dict[str, str]) -> None:
    with psycopg.connect(warehouse_dsn(stack_env)) as conn:
        assert conn.execute("SHOW listen_addresses").fetchone()[0] == "127.0.0.1"
        # The Unix socket is off so our cluster never collides with a system PostgreSQL.
        assert conn.execute("SHOW unix_socket_directories").fetchone()[0] == ""
