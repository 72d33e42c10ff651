"""A sink whose warehouse restarts under it waits for it: no failed query, no crash loop,
every record once, and one alert saying why the sink paused.

Restarts the stack's PostgreSQL (fast shutdown, as an operator's restart or a failover
does), which every other part of the stack shares: a serial test.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from stack.orchestrator import LocalStack
from stack.process import wait_until
from tests.support import alerts_with, fetch, produce, telemetry, warehouse_connection

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.serial


def _count(dsn: str, query: str) -> int | None:
    """A count, or None while the warehouse is away."""
    try:
        return fetch(dsn, query)[0][0]
    except psycopg.OperationalError:
        return None


def test_a_sink_waits_through_a_warehouse_restart_and_loads_every_record_once(
        stack: LocalStack, stack_env, warehouse, topic, tmp_path) -> None:
    bootstrap = stack_env["HOVER_KAFKA_BOOTSTRAP"]
    events = telemetry(6000, boards=25)
    produce(bootstrap, topic, "hoverboard", events)
    query_name = f"outage_{topic}"
    conf = tmp_path / "sink.conf"
    conf.write_text(
        "[sink]\n"
        f"query_name = {query_name}\nmessage_type = hoverboard\ntopic = {topic}\n"
        "schema_subject = hoverboard-value\nschema_version = latest\n"
        "trigger_seconds = 0.5\nmax_offsets_per_trigger = 150\nstarting_offsets = earliest\n"
        "warehouse_outage_seconds = 240\n"
        f"checkpoint_location = {tmp_path / 'checkpoint'}\n")
    env = {**os.environ, **stack_env,
           "AIRFLOW_CONN_WAREHOUSE_DEFAULT": warehouse_connection(stack_env, warehouse)}
    log_path = tmp_path / "driver.log"
    driver = subprocess.Popen([sys.executable, "-m", "spark.sink_job", "--config", str(conf)],
                              cwd=REPO, env=env, stdout=log_path.open("w"),
                              stderr=subprocess.STDOUT, start_new_session=True)
    batches = "SELECT count(*) FROM platform.stream_progress"
    loaded = "SELECT count(*) FROM fleet.hoverboard"
    try:
        assert wait_until(lambda: (_count(warehouse, batches) or 0) >= 2
                          or driver.poll() is not None, 180)
        assert driver.poll() is None, log_path.read_text()[-3000:]

        stack.down(["postgres"], echo=lambda _: None)  # SIGINT: fast shutdown, mid-stream
        stack.up(["postgres"], echo=lambda _: None)

        assert wait_until(lambda: _count(warehouse, loaded) == len(events)
                          or driver.poll() is not None, 300)
        log_text = log_path.read_text()
        # The query never failed: the same driver loaded the rest after the restart.
        assert driver.poll() is None, log_text[-3000:]
        assert "warehouse reachable again" in log_text, log_text[-3000:]
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
            driver.wait(30)

    rows = fetch(warehouse, "SELECT id, to_char(event_time AT TIME ZONE 'UTC',"
                 " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM fleet.hoverboard")
    assert len(rows) == len(events)
    assert set(rows) == {(e["id"], e["event_time"]) for e in events}
    [(first, last, count)] = fetch(warehouse, "SELECT min(batch_id), max(batch_id), count(*)"
                                   " FROM platform.stream_progress WHERE query_name = %s",
                                   (query_name,))
    assert (first, count) == (0, last + 1)  # one progress row per batch: no batch twice
    assert fetch(warehouse, "SELECT count(*) FROM pg_tables WHERE schemaname = 'staging'"
                 " AND starts_with(tablename, 'stage_')") == [(0,)]  # no staging left behind

    es_url = stack_env["HOVER_ELASTICSEARCH_URL"]
    assert wait_until(lambda: any(a["event"]["action"] == "warehouse_unavailable"
                                  for a in alerts_with(es_url, query_name)), 30)
    [alert] = [a for a in alerts_with(es_url, query_name)
               if a["event"]["action"] == "warehouse_unavailable"]
    assert alert["labels"]["query"] == query_name
    assert not [a for a in alerts_with(es_url, query_name)
                if a["event"]["action"] == "query_failed"]
