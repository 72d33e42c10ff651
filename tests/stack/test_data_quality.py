"""The data_quality DAG on the stack's PostgreSQL: clean data passes; exactly the broken
checks fail, each with its result row and its alert in Elasticsearch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from hoverboard.quality.checks import build_checks, load_config

from tests.support import alerts_with, scratch_database, warehouse_connection
from tests.support.quality import SEED

BREAK = """
-- a range violation
UPDATE fleet.hoverboard SET charge = 150 WHERE id = 1 AND event_time = (
    SELECT max(event_time) FROM fleet.hoverboard WHERE id = 1);
-- an orphan trip: board 99 never sent telemetry
INSERT INTO fleet.trip (hoverboard_id, customer_id, start_time, end_time, trip_duration,
    start_latitude, start_longitude, end_latitude, end_longitude)
VALUES (99, 1, now() - interval '30 minutes', now() - interval '20 minutes', 600, 1, 1, 1, 1);
-- a stale table: customers last loaded a day ago
UPDATE fleet.customer SET loaded_at = now() - interval '1 day';
"""


@pytest.fixture
def warehouse(stack_env):
    with scratch_database(stack_env["HOVER_WAREHOUSE_DSN"], "dqtest") as dsn:
        with psycopg.connect(dsn) as conn:
            conn.execute(SEED)
        yield dsn, warehouse_connection(stack_env, dsn)


def run_dag(airflow_env, connection: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name("airflow")), "dags", "test", "data_quality"],
        env={**airflow_env, "AIRFLOW_CONN_WAREHOUSE_DEFAULT": connection},
        capture_output=True, text=True, timeout=600)


def results(dsn: str) -> dict[str, tuple]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT check_name, passed, observed, min_allowed, max_allowed,"
                            " run_id FROM platform.dq_results").fetchall()
    return {r[0]: r[1:] for r in rows}


def test_clean_data_passes_every_check(airflow_env, warehouse) -> None:
    dsn, connection = warehouse
    run = run_dag(airflow_env, connection)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    stored = results(dsn)
    assert set(stored) == {c.name for c in build_checks(load_config())}
    assert all(passed for passed, *_ in stored.values())
    assert stored["hoverboard.volume"][1] == 100.0  # observed values are stored too


def test_bad_data_fails_exactly_those_checks_each_with_an_alert(airflow_env, stack_env,
                                                                warehouse) -> None:
    dsn, connection = warehouse
    with psycopg.connect(dsn) as conn:
        conn.execute(BREAK)
    run = run_dag(airflow_env, connection)
    assert run.returncode != 0
    stored = results(dsn)
    failed = {name for name, (passed, *_) in stored.items() if not passed}
    assert failed == {"hoverboard.ranges", "trip.unknown_board", "customer.freshness"}
    assert stored["hoverboard.ranges"][1:4] == (1.0, None, 0.0)
    run_id = stored["hoverboard.ranges"][4]
    for check in failed:
        alerts = [a for a in alerts_with(stack_env["HOVER_ELASTICSEARCH_URL"], check)
                  if a["airflow"]["run_id"] == run_id and a["log"]["level"] == "error"]
        assert len(alerts) == 1, (check, alerts)
        details = alerts[0]["details"]
        assert details["check"] == check
        assert details["observed"] == stored[check][1]
        assert (details["min_allowed"], details["max_allowed"]) == stored[check][2:4]
