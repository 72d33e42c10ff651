"""Failure detection end to end on the real stack: a model trained on a short simulated
stretch in the warehouse, promoted by the gate, stored in S3 through s3a, and scored on a
telemetry stream with one injected thermal fault: exactly one detection row and one
board_failure_risk alert."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from elasticsearch import Elasticsearch

from loader.postgres import PostgresLoader
from ml import simulated
from ml.scoring_job import ScoringConfig, start
from ml.session import Warehouse, configure_s3a
from ml.train import TrainingConfig, train
from runtime.settings import warehouse_dsn
from schemas import latest
from spark.config import SinkConfig
from stack.process import wait_until
from tests.support.kafka import end_offsets, scratch_topic
from tests.support.streaming import produce
from tests.support.warehouse import fetch, scratch_database


@pytest.fixture()
def warehouse(stack_env):
    with scratch_database(warehouse_dsn(stack_env), "ml") as dsn:
        yield dsn


def test_a_promoted_model_flags_the_injected_fault_once(spark, stack_env, warehouse, tmp_path):
    configure_s3a(spark)
    # A day of its own per run: alert ids derive from board and window.
    day = datetime(2031, 1, 1, tzinfo=UTC) + timedelta(days=random.randrange(20_000))
    wh = Warehouse.from_environment(warehouse)

    # Train: 90 simulated minutes of 20 boards, 6 of them faulty.
    history = simulated.fleet(boards=20, seed=3, start=day, faulty_share=0.3,
                              fault_onset_within_s=3600)
    simulated.load(warehouse, list(simulated.events_until(history, 90 * 60)))
    simulated.store_ground_truth(warehouse, history, "test")
    bucket = stack_env["HOVER_BACKUP_BUCKET"]
    result = train(spark, wh, TrainingConfig(
        model_root=f"s3a://{bucket}/tests/ml-{uuid.uuid4().hex[:8]}"))
    assert result.decision.promote, result.decision.reason
    assert result.candidate.quality > result.baseline.quality
    [(status, uri)] = fetch(warehouse, "SELECT status, model_uri FROM ml.models")
    assert status == "promoted" and uri.startswith("s3a://")

    # Score: 15 minutes of 4 boards the next day; board 3 gets a thermal fault at 3 min 17 s.
    live = simulated.fleet(boards=4, seed=3, start=day + timedelta(days=1), faulty_share=0.25,
                           fault_onset_within_s=600)
    assert [(f["id"], f["fault"]) for f in live.faults] == [(3, "thermal")]
    events = list(simulated.events_until(live, 15 * 60))
    simulated.load(warehouse, events)  # what the sinks load: trips and telemetry
    bootstrap = stack_env["HOVER_KAFKA_BOOTSTRAP"]
    with scratch_topic(bootstrap, "ml-telemetry") as topic:
        produce(bootstrap, topic, "hoverboard",
                [e.record for e in events if e.type == "hoverboard"])
        sink = SinkConfig(query_name=f"failure_test_{uuid.uuid4().hex[:6]}",
                          message_type="hoverboard", topic=topic,
                          schema_subject="hoverboard-value", schema_version="latest",
                          trigger_seconds=1, max_offsets_per_trigger=100_000,
                          starting_offsets="earliest",
                          checkpoint_location=str(tmp_path / "checkpoint"))
        config = ScoringConfig(sink, "board_failure", watermark_seconds=30, threshold=0.5,
                               realert_after_minutes=30)
        from alerts.writer import AlertWriter

        loader = PostgresLoader(warehouse)
        query = start(spark, config, bootstrap=bootstrap, schema=latest("hoverboard").schema,
                      wh=wh, loader=loader,
                      alerts=AlertWriter.from_url(stack_env["HOVER_ELASTICSEARCH_URL"]))
        end = end_offsets(bootstrap, topic)

        def caught_up() -> bool:
            # The batch that reads the last record only moves the watermark; the windows it
            # closed are scored by the batch after it (same offsets, no new data).
            rows = fetch(warehouse, "SELECT end_offsets FROM platform.stream_progress"
                         " WHERE query_name = %s", (sink.query_name,))
            return sum({int(p): o for p, o in r[0].items()} == end for r in rows) >= 2
        try:
            assert wait_until(caught_up, timeout=240, interval=1), query.lastProgress
        finally:
            query.stop()
            loader.close()

    detections = fetch(warehouse, "SELECT board_id, window_start, model_version, alerted_at"
                       " FROM ml.detections")
    assert len(detections) == 1, detections
    board, window_start, version, alerted_at = detections[0]
    onset = datetime.fromisoformat(live.faults[0]["onset"])
    assert board == 3 and version == result.version and alerted_at is not None
    assert onset - timedelta(minutes=2) <= window_start <= onset + timedelta(minutes=5)
    es = Elasticsearch(stack_env["HOVER_ELASTICSEARCH_URL"])
    es.indices.refresh(index="hoverboard-alerts-*")
    hits = es.search(index="hoverboard-alerts-*", size=10, query={"bool": {"filter": [
        {"term": {"event.action": "board_failure_risk"}},
        {"range": {"@timestamp": {"gte": (day + timedelta(days=1)).isoformat(),
                                  "lt": (day + timedelta(days=2)).isoformat()}}}]}}
    )["hits"]["hits"]
    assert [h["_source"]["details"]["board_id"] for h in hits] == [3]
