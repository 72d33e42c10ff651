"""Alerts from Airflow tasks into the real Elasticsearch, and what happens while it is down."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from alerts import AlertWriter, Severity, alert_document
from stack.orchestrator import LocalStack
from stack.process import wait_until
from tests.support import alerts_with

REPO = Path(__file__).resolve().parents[2]


def run_probe(env: dict[str, str], token: str) -> subprocess.CompletedProcess[str]:
    airflow = str(Path(sys.executable).with_name("airflow"))
    return subprocess.run(
        [airflow, "dags", "test", "alert_probe", "-c", json.dumps({"token": token})],
        env={**env, "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "tests" / "dags")},
        capture_output=True, text=True, timeout=300)


@pytest.fixture
def spool(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("HOVER_ALERT_SPOOL", str(tmp_path / "spool"))
    return tmp_path / "spool"


def test_failed_task_gives_exactly_one_error_alert(airflow_env, stack_env, spool) -> None:
    token = uuid.uuid4().hex
    result = run_probe({**airflow_env, "HOVER_ALERT_SPOOL": str(spool)}, token)
    assert result.returncode != 0  # the run failed, as the task meant it to
    [alert] = alerts_with(stack_env["HOVER_ELASTICSEARCH_URL"], token)
    assert alert["log"]["level"] == "error"
    assert alert["event"]["action"] == "task_failed"
    assert alert["service"]["name"] == "airflow"
    assert alert["airflow"]["dag_id"] == "alert_probe"
    assert alert["airflow"]["task_id"] == "fail_on_purpose"
    assert alert["airflow"]["run_id"].startswith("manual__")
    assert alert["airflow"]["try_number"] == 1
    assert alert["airflow"]["log_url"].startswith("http")
    assert alert["error"]["type"] == "RuntimeError"
    # Findable by an operator's search, as bin/alerts does it.
    found = AlertWriter.from_url(stack_env["HOVER_ELASTICSEARCH_URL"]).search(
        since="now-1h", severity="error", text=token)
    assert [a["event"]["id"] for a in found] == [alert["event"]["id"]]


@pytest.mark.serial  # stops a service the other tests share
def test_alert_survives_an_elasticsearch_outage(stack: LocalStack, airflow_env, stack_env,
                                                spool) -> None:
    token = uuid.uuid4().hex
    stack.down(["elasticsearch"], echo=lambda _: None)
    try:
        result = run_probe({**airflow_env, "HOVER_ALERT_SPOOL": str(spool)}, token)
        # The task's own outcome is unchanged: it failed because it raised, nothing else.
        assert result.returncode != 0
        assert "probe failure" in result.stdout + result.stderr
        assert AlertWriter(client=None, spool_dir=spool).spooled() == 1
    finally:
        stack.up(["elasticsearch"], echo=lambda _: None)
    writer = AlertWriter.from_url(stack_env["HOVER_ELASTICSEARCH_URL"], spool_dir=spool)
    assert writer.flush() == 1
    assert writer.flush() == 0
    assert wait_until(lambda: len(alerts_with(stack_env["HOVER_ELASTICSEARCH_URL"], token)) == 1,
                      30)


def test_components_share_the_format_and_resending_is_idempotent(stack_env, spool) -> None:
    writer = AlertWriter.from_url(stack_env["HOVER_ELASTICSEARCH_URL"], spool_dir=spool)
    token = uuid.uuid4().hex
    doc = alert_document(component="spark_sink", action="dead_letters",
                         message=f"3 dead letters {token}", severity=Severity.WARNING,
                         details={"count": 3, "topic": "trip"}, labels={"query": "trip_sink"})
    assert writer.send(doc) and writer.send(doc)
    [stored] = alerts_with(stack_env["HOVER_ELASTICSEARCH_URL"], token)
    assert stored["details"] == {"count": 3, "topic": "trip"}
    assert stored["labels"]["query"] == "trip_sink"
