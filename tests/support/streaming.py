"""Producing to a topic exactly as the ingest API does, and telemetry to produce."""

from __future__ import annotations

import json
import os
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
from confluent_kafka import Producer

from loader.tables import rows_from_events, table_spec
from schemas import headers
from schemas.keys import JAVA_COMPATIBLE_PARTITIONER, key_bytes
from schemas.types import declaration
from tests.support.events import sample


def produce(bootstrap: str, topic: str, message_type: str, records: list, *,
            raw: list[bytes] = ()) -> None:
    """What the ingest API does: key bytes, JSON value, the receive-time header."""
    key_fields = declaration(message_type).key_fields
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                         "enable.idempotence": True, "partitioner": JAVA_COMPATIBLE_PARTITIONER})
    now = str(time.time_ns() // 10**6).encode()
    for record in records:
        producer.produce(topic, key=key_bytes(record, key_fields), value=json.dumps(record),
                         headers=[(headers.RECEIVED_AT, now)])
    for value in raw:
        producer.produce(topic, key=b"poison", value=value)
    assert producer.flush(30) == 0


def telemetry(n: int, boards: int = 10) -> list[dict]:
    return [sample("hoverboard", id=1 + i % boards,
                   event_time=f"2026-11-27T{8 + i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z")
            for i in range(n)]


def sink_batch(spec, messages: list) -> pa.Table:
    """Kafka messages (as read back from a topic) as the sink hands a batch to
    ``loader.batch.BatchLoad``: the table's columns, the Kafka metadata, the raw record."""
    from loader.tables import rows_from_events

    received = [datetime.fromtimestamp(int(dict(m.headers())[headers.RECEIVED_AT]) / 1000, UTC)
                for m in messages]
    rows = rows_from_events(spec, [json.loads(m.value()) for m in messages], received_at=received)
    kafka = {"source_topic": pa.array([m.topic() for m in messages], pa.string()),
             "source_partition": pa.array([m.partition() for m in messages], pa.int32()),
             "source_offset": pa.array([m.offset() for m in messages], pa.int64())}
    for name, values in kafka.items():
        rows = rows.set_column(rows.schema.get_field_index(name), name, values)
    return (rows.append_column("raw_key", pa.array([m.key() for m in messages], pa.binary()))
            .append_column("raw_value", pa.array([m.value() for m in messages], pa.binary())))


def batch_rows(message_type: str, events: list[dict], first_offset: int, *,
               topic: str | None = None) -> pa.Table:
    """The events as the sink hands a batch to loader.batch: table columns, Kafka metadata
    (one offset each) and the raw record."""
    spec = table_spec(message_type)
    rows = rows_from_events(spec, events, received_at=[None] * len(events))
    count = len(events)
    topic = topic or f"properties-{message_type}"
    rows = rows.set_column(rows.schema.get_field_index("source_topic"), "source_topic",
                           pa.array([topic] * count, pa.string()))
    rows = rows.set_column(rows.schema.get_field_index("source_partition"), "source_partition",
                           pa.array([0] * count, pa.int32()))
    rows = rows.set_column(rows.schema.get_field_index("source_offset"), "source_offset",
                           pa.array(range(first_offset, first_offset + count), pa.int64()))
    return (rows.append_column("raw_key", pa.array([b"k"] * count, pa.binary()))
            .append_column("raw_value", pa.array([json.dumps(e).encode() for e in events],
                                                 pa.binary())))


def sink_config(message_type: str, topic: str, tmp_path: Path, **changes):
    """The platform's sink config of ``message_type``, on a test's topic and checkpoint."""
    from spark.config import SINK_CONF, SinkConfig

    os.environ.setdefault("HOVER_SPARK_CHECKPOINTS", str(tmp_path))
    base = SinkConfig.load(SINK_CONF, message_type)
    return replace(base, topic=topic, query_name=f"{message_type}_{topic}",
                   checkpoint_location=str(tmp_path / "checkpoint"), **changes)


def scoring_config(topic: str, tmp_path: Path, **changes):
    """The platform's failure detection (``spark/conf/failure_detection.conf``) on a test's
    topic and checkpoint, from the topic's start, with a 1 s trigger and a 30 s watermark
    (the tests' few minutes of telemetry close windows sooner); ``changes`` go to its sink."""
    from ml.scoring_job import ScoringConfig
    from spark.config import CONF_DIR

    os.environ.setdefault("HOVER_SPARK_CHECKPOINTS", str(tmp_path))
    base = ScoringConfig.load(CONF_DIR / "failure_detection.conf")
    sink = replace(base.sink, topic=topic, query_name=f"scoring_{topic}",
                   checkpoint_location=str(tmp_path / "checkpoint"), trigger_seconds=1,
                   starting_offsets="earliest", **changes)
    return replace(base, sink=sink, watermark_seconds=30)


def healthy_telemetry(boards: int, seed: int, seconds: float) -> list[dict]:
    """``seconds`` of a healthy simulated fleet's telemetry records, at a start of their own
    (another test's windows in a shared topic or table are never these)."""
    import uuid
    from datetime import timedelta

    from ml import simulated

    start = datetime(2032, 1, 1, tzinfo=UTC) + timedelta(minutes=uuid.uuid4().int % 1_000_000)
    fleet = simulated.fleet(boards=boards, seed=seed, start=start, faulty_share=0.0,
                            fault_onset_within_s=0)
    return [e.record for e in simulated.events_until(fleet, seconds) if e.type == "hoverboard"]


def run_until_caught_up(spark, config, dsn: str, bootstrap: str, alerts=None) -> None:
    """Run the sink on what the topic holds now (available-now), into ``dsn``."""
    from loader.postgres import PostgresLoader
    from schemas import latest
    from spark.sink_job import start

    loader = PostgresLoader(dsn)
    try:
        query = start(spark, config, bootstrap=bootstrap, loader=loader,
                      schema=latest(config.message_type).schema, available_now=True,
                      alerts=alerts)
        query.awaitTermination(300)
        assert query.exception() is None, query.exception()
    finally:
        loader.close()
