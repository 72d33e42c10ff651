"""Every DAG file loads, fast, without touching the database or a connection, and is
documented for the operators (doc_md, tags, owner, retries, a time limit)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"
MIN_RETRIES = 1
MAX_PARSE_SECONDS = 0.5


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update({
        "AIRFLOW_HOME": str(tmp_path_factory.mktemp("airflow-home")),
        # Nothing listens there: any database access while loading fails the load.
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql+psycopg://nobody:x@127.0.0.1:9/none",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "PYTHONPATH": f"{REPO}:{REPO / 'plugins'}",
    })
    result = subprocess.run([sys.executable, str(REPO / "tests" / "dag_report.py"), str(DAGS)],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_every_dag_file_loads(report) -> None:
    assert report, "no DAG files found"
    errors = {name: r["errors"] for name, r in report.items() if r["errors"]}
    assert not errors
    assert all(r["dags"] for r in report.values()), "a DAG file defines no DAG"


def test_dag_files_parse_fast(report) -> None:
    slow = {name: round(r["seconds"], 3) for name, r in report.items()
            if r["seconds"] > MAX_PARSE_SECONDS}
    assert not slow, f"over {MAX_PARSE_SECONDS}s to parse: {slow}"


def test_dags_are_documented_for_operators(report) -> None:
    for name, r in report.items():
        for dag in r["dags"]:
            where = f"{name}:{dag['dag_id']}"
            assert dag["tags"], f"{where} has no tags"
            assert dag["doc_md"], f"{where} has no doc_md"
            assert dag["owner"] and dag["owner"] != "airflow", f"{where} has no owner"
            assert dag["min_retries"] >= MIN_RETRIES, f"{where} has a task without retries"
            assert dag["max_execution_timeout"] > 0, f"{where} has a task without a time limit"
            assert dag["alerting"], f"{where} has a task without the alert notifier"


def test_dag_ids_are_unique(report) -> None:
    ids = [d["dag_id"] for r in report.values() for d in r["dags"]]
    assert len(ids) == len(set(ids))
