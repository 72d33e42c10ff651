"""Producing to a topic exactly as the ingest API does, and telemetry to produce."""

from __future__ import annotations

import json
import time

from confluent_kafka import Producer

from schemas import headers
from schemas.keys import JAVA_COMPATIBLE_PARTITIONER, key_bytes
from tests.support.events import sample


def produce(bootstrap: str, topic: str, message_type: str, records: list, *,
            raw: list[bytes] = ()) -> None:
    """What the ingest API does: key bytes, JSON value, the receive-time header."""
    key_fields = {"hoverboard": ["id"], "customer": ["id"],
                  "trip": ["hoverboard_id", "customer_id"]}[message_type]
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
