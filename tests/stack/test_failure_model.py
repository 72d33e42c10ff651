"""Failure detection end to end on the real stack: a model trained on a short simulated
stretch in the warehouse, promoted by the gate while the scoring query already runs idle,
stored in S3 through s3a, and scored on a telemetry stream with one injected thermal fault:
exactly one detection row and one board_failure_risk alert."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from elasticsearch import Elasticsearch

from loader.postgres import PostgresLoader
from ml import simulated
from ml.scoring_job import start
from ml.session import Warehouse, configure_s3a
from ml.train import TrainingConfig, train
from runtime.settings import warehouse_dsn
from schemas import latest
from stack.process import wait_until
from tests.support.kafka import end_offsets, scratch_topic
from tests.support.streaming import healthy_telemetry, produce, scoring_config
from tests.support.warehouse import fetch, scratch_database


@pytest.fixture()
def warehouse(stack_env):
    with scratch_database(warehouse_dsn(stack_env), "ml") as dsn:
        yield dsn


def progress_rows(dsn: str, query_name: str) -> list[dict[int, int]]:
    """The end offsets of every batch the scoring query recorded."""
    return [{int(p): o for p, o in r[0].items()} for r in fetch(
        dsn, "SELECT end_offsets FROM platform.stream_progress WHERE query_name = %s",
        (query_name,))]


def test_a_promoted_model_flags_the_injected_fault_once(spark, stack_env, warehouse, tmp_path):
    """Before a model is promoted the job reads the stream and scores nothing (no failure);
    the model promoted while it runs is picked up by the same query."""
    from alerts.writer import AlertWriter

    configure_s3a(spark)
    # A day of its own per run: alert ids derive from board and window.
    day = datetime(2031, 1, 1, tzinfo=UTC) + timedelta(days=random.randrange(20_000))
    wh = Warehouse.from_environment(warehouse)
    bootstrap = stack_env["HOVER_KAFKA_BOOTSTRAP"]
    # Live: 15 minutes of 4 boards the day after the training stretch; board 3 gets a thermal
    # fault at 3 min 17 s.
    live = simulated.fleet(boards=4, seed=3, start=day + timedelta(days=1), faulty_share=0.25,
                           fault_onset_within_s=600)
    assert [(f["id"], f["fault"]) for f in live.faults] == [(3, "thermal")]
    onset = datetime.fromisoformat(live.faults[0]["onset"])
    events = list(simulated.events_until(live, 15 * 60))
    telemetry = [e for e in events if e.type == "hoverboard"]
    idle_ms = 180_000  # read before a model exists: 3 min, the onset comes after
    before_model = [e.record for e in telemetry if e.sim_ms <= idle_ms]
    loader = PostgresLoader(warehouse)
    # One partition: the records are produced in event-time order, so however a micro-batch
    # cuts the topic no reading arrives behind the watermark. Over several partitions a
    # batch may read one partition minutes further than another; the watermark then drops
    # the rest of the slower one's window as late (a window scored on a few readings was
    # seen flagged, a healthy board, once in CI; such a window is no longer scored:
    # ``ml.features.MIN_READINGS``), and the expected detection could lose its windows.
    with scratch_topic(bootstrap, "ml-telemetry", partitions=1) as topic:
        config = scoring_config(topic, tmp_path)
        sink = config.sink
        query = start(spark, config, bootstrap=bootstrap, schema=latest("hoverboard").schema,
                      wh=wh, loader=loader,
                      alerts=AlertWriter.from_url(stack_env["HOVER_ELASTICSEARCH_URL"]))
        try:
            # No promoted model: the job reads, records its progress, and stays up; the
            # batch after the one that read the records gets the windows they closed.
            produce(bootstrap, topic, "hoverboard", before_model)
            first = end_offsets(bootstrap, topic)
            assert wait_until(lambda: progress_rows(warehouse, sink.query_name).count(first) >= 2
                              or query.exception() is not None, timeout=120, interval=1), \
                query.lastProgress
            assert query.exception() is None and query.isActive
            [(windows_read,)] = fetch(warehouse, "SELECT sum(input_rows) FROM"
                                      " platform.stream_progress WHERE query_name = %s",
                                      (sink.query_name,))
            assert windows_read > 0  # closed windows came, unscored

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

            # Score the rest with the model the running query picks up.
            simulated.load(warehouse, events)  # what the sinks load: trips and telemetry
            produce(bootstrap, topic, "hoverboard",
                    [e.record for e in telemetry if e.sim_ms > idle_ms])
            end = end_offsets(bootstrap, topic)
            # The batch that reads the last record only moves the watermark; the windows it
            # closed are scored by the batch after it (same offsets, no new data).
            assert wait_until(lambda: progress_rows(warehouse, sink.query_name).count(end) >= 2,
                              timeout=240, interval=1), query.lastProgress
            assert query.exception() is None
        finally:
            query.stop()
            loader.close()

    detections = fetch(warehouse, "SELECT board_id, window_start, model_version, alerted_at,"
                       " last_window_end, score FROM ml.detections ORDER BY window_start")
    assert len(detections) == 1, [(d[0], str(d[1]), str(d[4]), d[5]) for d in detections]
    board, window_start, version, alerted_at, _, _ = detections[0]
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


def test_a_detection_whose_alert_went_to_the_spool_stays_unalerted(stack_env, warehouse,
                                                                    tmp_path):
    """Elasticsearch away: the alert waits in the spool (the supervisor delivers it) and the
    detection is not marked alerted; once a send is indexed, it is."""
    from alerts.writer import AlertWriter
    from ml.scoring_job import INSERT, Scorer

    day = datetime(2031, 1, 1, tzinfo=UTC) + timedelta(days=random.randrange(20_000))
    config = scoring_config(f"unused-{uuid.uuid4().hex[:6]}", tmp_path)
    sink = config.sink
    loader = PostgresLoader(warehouse)
    try:
        loader.run(lambda c: c.execute(INSERT, (7, day, day + timedelta(minutes=2),
                                                day + timedelta(minutes=2), 0.9,
                                                "board_failure", 1, sink.query_name, day)))
        spool = tmp_path / "spool"
        away = AlertWriter.from_url("http://127.0.0.1:9", spool_dir=spool)  # nothing listens
        Scorer(config, None, loader, away)._alert()
        assert fetch(warehouse, "SELECT alerted_at FROM ml.detections") == [(None,)]
        assert away.spooled() == 1

        back = AlertWriter.from_url(stack_env["HOVER_ELASTICSEARCH_URL"], spool_dir=spool)
        Scorer(config, None, loader, back)._alert()
        [(alerted_at,)] = fetch(warehouse, "SELECT alerted_at FROM ml.detections")
        assert alerted_at is not None and back.spooled() == 0
    finally:
        loader.close()


def test_a_changed_feature_definition_starts_a_new_state_instead_of_failing(
        spark, stack_env, warehouse, tmp_path, monkeypatch):
    """Deploying a change of the features: the checkpointed state has another shape, which
    Spark refuses on every start. The job keeps its state under the features' fingerprint,
    so it starts a new run there and goes on scoring."""
    from pyspark.sql import functions as F

    from ml import features

    bootstrap = stack_env["HOVER_KAFKA_BOOTSTRAP"]
    telemetry = healthy_telemetry(boards=2, seed=11, seconds=4 * 60)
    loader = PostgresLoader(warehouse)
    current = features.window_aggregates
    half = len(telemetry) // 2
    with scratch_topic(bootstrap, "ml-features", partitions=1) as topic:
        produce(bootstrap, topic, "hoverboard", telemetry[:half])
        config = scoring_config(topic, tmp_path)
        sink = config.sink

        def run_to_the_end():
            query = start(spark, config, bootstrap=bootstrap,
                          schema=latest("hoverboard").schema, wh=Warehouse.from_environment(
                              warehouse), loader=loader, alerts=None, available_now=True)
            try:
                query.awaitTermination(300)
            except Exception:  # noqa: BLE001 - the query's own failure, read below
                pass
            finally:
                query.stop()
            return query.exception()

        try:
            # The release before: one more aggregate in the state.
            with monkeypatch.context() as patch:
                patch.setattr(features, "window_aggregates",
                              lambda: [*current(), F.min("speed").alias("speed_min")])
                assert run_to_the_end() is None
            # The release after, on the same configuration, with readings to score.
            produce(bootstrap, topic, "hoverboard", telemetry[half:])
            failure = run_to_the_end()
        finally:
            loader.close()
    assert failure is None, str(failure).splitlines()[0]
    runs = fetch(warehouse, "SELECT run_id, count(*) FROM platform.stream_progress"
                 " WHERE query_name = %s GROUP BY run_id", (sink.query_name,))
    assert len(runs) == 2 and all(batches > 0 for _, batches in runs), runs
