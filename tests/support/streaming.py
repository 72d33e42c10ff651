"""Producing to a topic exactly as the ingest API does, and telemetry to produce."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

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
