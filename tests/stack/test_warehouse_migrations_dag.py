"""The warehouse_migrations DAG, run by Airflow against the stack's PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from hoverboard.warehouse.migrations import discover

from runtime.settings import warehouse_dsn
from tests.support import scratch_database, warehouse_connection


@pytest.fixture
def scratch_warehouse(stack_env):
    """An empty database and the Airflow connection JSON that points at it."""
    with scratch_database(warehouse_dsn(stack_env), "dagtest", migrate=False) as dsn:
        yield dsn, warehouse_connection(stack_env, dsn)


def airflow(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(Path(sys.executable).with_name("airflow")), *args], env=env,
                          capture_output=True, text=True, timeout=600)


def test_dag_applies_migrations_through_the_connection(airflow_env, scratch_warehouse) -> None:
    dsn, connection = scratch_warehouse
    env = {**airflow_env, "AIRFLOW_CONN_WAREHOUSE_DEFAULT": connection}
    result = airflow(env, "dags", "test", "warehouse_migrations")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT version, applied_by FROM platform.schema_migrations"
                            " ORDER BY version").fetchall()
        tables = {r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'fleet'")}
    assert [r[0] for r in rows] == [m.version for m in discover("postgres")]
    assert all(r[1].startswith("airflow:warehouse_migrations/") for r in rows)
    assert {"hoverboard", "customer", "trip"} <= tables

    # A second run is green and applies nothing.
    again = airflow(env, "dags", "test", "warehouse_migrations")
    assert again.returncode == 0, again.stderr[-3000:]
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT count(*) FROM platform.schema_migrations").fetchone()[0] \
            == len(rows)
