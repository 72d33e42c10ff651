"""The platform's settings (``runtime.settings``): the warehouse is configured once, as
Airflow's connection, and everything else derives its DSN from it; plugins and jobs find
their assets under one home, and the plugins deploy without the local stack."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from runtime.settings import WAREHOUSE_CONN_ENV, WarehouseConnection, warehouse_dsn

REPO = Path(__file__).resolve().parents[2]

CONNECTIONS = [
    # Airflow's URI form, with what must be quoted, and libpq's scheme spelling.
    "postgresql://ho%40ver:p%2Fw%3Ax@db.example:5433/ware%20house?sslmode=require",
    "postgres://hover@127.0.0.1/warehouse",
    # Its JSON form, as the local stack writes it; Redshift's default port.
    json.dumps({"conn_type": "postgres", "host": "127.0.0.1", "port": 15432,
                "login": "hover", "password": "s3cr#t", "schema": "warehouse"}),
    json.dumps({"conn_type": "redshift", "host": "cluster.example", "login": "loader",
                "password": "pw", "schema": "dev", "extra": json.dumps({"iam": False})}),
]


@pytest.mark.parametrize("value", CONNECTIONS)
def test_the_dsn_names_what_airflow_reads_from_the_same_setting(value) -> None:
    from airflow.sdk.definitions.connection import Connection

    airflow = (Connection.from_json(value, conn_id="warehouse_default") if value.startswith("{")
               else Connection.from_uri(value, conn_id="warehouse_default"))
    dsn = psycopg.conninfo.conninfo_to_dict(warehouse_dsn({WAREHOUSE_CONN_ENV: value}))
    default_port = {"postgres": 5432, "redshift": 5439}[airflow.conn_type]
    assert dsn == {"host": airflow.host, "port": str(airflow.port or default_port),
                   "user": airflow.login, "dbname": airflow.schema,
                   **({"password": airflow.password} if airflow.password else {})}


def test_a_missing_or_unreadable_setting_says_which_and_how_to_fix_it() -> None:
    with pytest.raises(RuntimeError, match=f"{WAREHOUSE_CONN_ENV} is not set.*bin/stack up"):
        warehouse_dsn({})
    with pytest.raises(RuntimeError, match="cannot be read: expected Airflow's URI form"):
        warehouse_dsn({WAREHOUSE_CONN_ENV: "host=db dbname=warehouse"})
    with pytest.raises(ValueError, match="type 'mysql'.*must be one of"):
        WarehouseConnection.parse("mysql://u@h/db").dsn()


def test_the_local_stack_configures_the_warehouse_once(tmp_path, monkeypatch) -> None:
    from stack.orchestrator import LocalStack

    monkeypatch.setenv("HOVER_STACK_HOME", str(tmp_path))
    monkeypatch.setenv("HOVER_POSTGRES_PORT", "25432")
    env = LocalStack().environment()
    # Roles other than the platform's own log in with credentials of their own (the customer
    # web app reads as its row-level-secured role): those are other connections, not copies.
    other_roles = {"HOVER_CUSTOMER_WEB_DSN"}
    naming_it = sorted(k for k, v in env.items() if k not in other_roles and (
        "WAREHOUSE" in k or "/warehouse" in v or '"warehouse"' in v))
    assert naming_it == [WAREHOUSE_CONN_ENV]
    assert warehouse_dsn(env).startswith("postgresql://hover:")
    assert warehouse_dsn(env).endswith("@127.0.0.1:25432/warehouse")


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def test_no_plugin_module_imports_the_local_stack() -> None:
    modules = sorted((REPO / "plugins").rglob("*.py"))
    assert modules
    offenders = {str(p.relative_to(REPO)): sorted(m for m in _imports(p)
                                                  if m == "stack" or m.startswith("stack."))
                 for p in modules}
    assert {p: m for p, m in offenders.items() if m} == {}


def test_plugins_and_jobs_find_their_assets_under_hover_home(tmp_path) -> None:
    """Every asset a plugin or job reads follows ``HOVER_HOME`` (a deployment that keeps
    them apart from the code); the driver's program is code, found where its package is."""
    probe = """
from hoverboard.quality.checks import CONFIG_PATH
from hoverboard.streaming.launcher import LocalProcessLauncher, SINK_APPLICATION
from hoverboard.streaming.registry import DEFAULT_PATTERN
from hoverboard.warehouse.migrations import MIGRATIONS_DIR
from spark.config import CONF_DIR
import json
env = LocalProcessLauncher.environment("postgres://h/db")
print(json.dumps([str(CONFIG_PATH), str(SINK_APPLICATION), DEFAULT_PATTERN,
                  str(MIGRATIONS_DIR), str(CONF_DIR), env["PYTHONPATH"].split(":")[0]]))
"""
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOVER_HOME": str(tmp_path),
             "PYTHONPATH": f"{REPO}:{REPO / 'plugins'}"})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        str(tmp_path / "dags" / "config" / "data_quality.yaml"),
        str(REPO / "spark" / "sink_job.py"),
        str(tmp_path / "spark" / "conf" / "*.conf"),
        str(tmp_path / "sql" / "migrations"),
        str(tmp_path / "spark" / "conf"),
        str(REPO),
    ]
