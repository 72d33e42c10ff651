"""The scoring job waits through a warehouse restart as the sinks do: the same query goes on
reading and recording its progress, and one alert says why it paused.

Restarts the stack's PostgreSQL (fast shutdown), which the whole stack shares: serial.
"""

from __future__ import annotations

import psycopg
import pytest

from alerts.writer import AlertWriter
from loader.postgres import PostgresLoader
from ml.scoring_job import start
from ml.session import Warehouse
from schemas import latest
from stack.orchestrator import LocalStack
from stack.process import wait_until
from tests.support import alerts_with, fetch
from tests.support.kafka import end_offsets, scratch_topic
from tests.support.streaming import healthy_telemetry, produce, scoring_config

pytestmark = pytest.mark.serial


def _batches_at(dsn: str, query_name: str, offsets: dict[int, int]) -> int:
    """How many recorded batches ended at ``offsets`` (0 while the warehouse is away)."""
    try:
        rows = fetch(dsn, "SELECT end_offsets FROM platform.stream_progress"
                     " WHERE query_name = %s", (query_name,))
    except psycopg.OperationalError:
        return 0
    return sum({int(p): o for p, o in r[0].items()} == offsets for r in rows)


def test_the_scoring_job_waits_through_a_warehouse_restart(spark, stack: LocalStack, stack_env,
                                                          warehouse, tmp_path) -> None:
    bootstrap = stack_env["HOVER_KAFKA_BOOTSTRAP"]
    # No model is promoted: the job reads, closes windows and records its progress, which
    # is all the warehouse work a batch then does.
    telemetry = healthy_telemetry(boards=3, seed=5, seconds=6 * 60)
    half = len(telemetry) // 2
    loader = PostgresLoader(warehouse)
    with scratch_topic(bootstrap, "ml-outage", partitions=1) as topic:
        config = scoring_config(topic, tmp_path, warehouse_outage_s=240)
        sink = config.sink
        query = start(spark, config, bootstrap=bootstrap, schema=latest("hoverboard").schema,
                      wh=Warehouse.from_environment(warehouse), loader=loader,
                      alerts=AlertWriter.from_url(stack_env["HOVER_ELASTICSEARCH_URL"]))
        try:
            produce(bootstrap, topic, "hoverboard", telemetry[:half])
            first = end_offsets(bootstrap, topic)
            assert wait_until(lambda: _batches_at(warehouse, sink.query_name, first) >= 1
                              or query.exception() is not None, timeout=120, interval=1)
            assert query.exception() is None, query.exception()

            # The loader's pooled connections die with the server; the next batch meets that.
            stack.down(["postgres"], echo=lambda _: None)
            stack.up(["postgres"], echo=lambda _: None)
            produce(bootstrap, topic, "hoverboard", telemetry[half:])
            end = end_offsets(bootstrap, topic)
            assert wait_until(lambda: _batches_at(warehouse, sink.query_name, end) >= 1
                              or query.exception() is not None, timeout=300, interval=1)
            assert query.exception() is None, query.exception()
            assert query.isActive
        finally:
            query.stop()
            loader.close()

    [(first_batch, last_batch, rows, runs)] = fetch(
        warehouse, "SELECT min(batch_id), max(batch_id), count(*), count(DISTINCT run_id)"
        " FROM platform.stream_progress WHERE query_name = %s", (sink.query_name,))
    assert runs == 1  # the same query throughout
    assert rows == last_batch - first_batch + 1  # one progress row per batch, none twice
    es_url = stack_env["HOVER_ELASTICSEARCH_URL"]
    assert wait_until(lambda: any(a["event"]["action"] == "warehouse_unavailable"
                                  for a in alerts_with(es_url, sink.query_name)), 30)
