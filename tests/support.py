"""Helpers shared by tests: sample events, reading topics back, the Java partitioner."""

from __future__ import annotations

import copy
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

from stack.java import find_java

JAVA_PARTITIONER = Path(__file__).resolve().parent / "java" / "DefaultPartitioner.java"

_SAMPLES = {
    "hoverboard": {
        "id": 17, "event_time": "2026-11-27T09:00:00Z", "elevation": 41.5,
        "temperature": 21.3, "location": {"latitude": 52.52, "longitude": 13.405},
        "humidity": 55.0, "charge": 87.5, "speed": 12.3, "isdocked": False, "weight": 81.2,
        "acceleration": 0.4, "magneticfield": 48.1,
    },
    "customer": {
        "id": 230, "updated_at": "2026-11-27T09:00:00+01:00",
        "customer_name": {"first_name": "Marty", "last_name": "McFly"},
        "customer_location": {"latitude": 34.14, "longitude": -118.35},
        "customer_email": "marty@hillvalley.example",
    },
    "trip": {
        "hoverboard_id": 17, "customer_id": 230, "trip_duration": 600,
        "start_location": {"latitude": 52.52, "longitude": 13.405},
        "end_location": {"latitude": 52.53, "longitude": 13.41},
        "start_time_and_date": "2026-11-27T09:00:00Z", "end_time_and_date": "2026-11-27T09:10:00Z",
    },
}


def sample(message_type: str, **changes) -> dict:
    event = copy.deepcopy(_SAMPLES[message_type])
    event.update(changes)
    return event


def java_partitions(classpath: str, partitions: int, keys: list[str]) -> list[int]:
    """Partitions the real kafka-clients jar picks for these keys (UTF-8 bytes)."""
    out = subprocess.run(
        [find_java(17, purpose="the partitioner check"), "-cp", classpath,
         str(JAVA_PARTITIONER), str(partitions), *keys],
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout
    return [int(line) for line in out.split()]


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"probe-{uuid.uuid4().hex}"})
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in meta.partitions}
    finally:
        consumer.close()


def read_from(bootstrap: str, topic: str, start: dict[int, int]) -> list:
    """Every message of ``topic`` from the given per-partition offsets to the current end."""
    end = end_offsets(bootstrap, topic)
    want = {p: end[p] - start.get(p, 0) for p in end}
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"read-{uuid.uuid4().hex}",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, p, start.get(p, 0)) for p in end if want[p] > 0])
    messages = []
    try:
        while sum(want.values()) > 0:
            msg = consumer.poll(10)
            assert msg is not None, f"{sum(want.values())} messages of {topic} did not come back"
            assert msg.error() is None, msg.error()
            if msg.offset() < end[msg.partition()]:
                messages.append(msg)
                want[msg.partition()] -= 1
    finally:
        consumer.close()
    return messages


@contextmanager
def scratch_database(admin_dsn: str, prefix: str, *, migrate: bool = True) -> Iterator[str]:
    """A new database on the stack's server (all migrations applied unless ``migrate`` is
    False), dropped afterwards; yields its DSN."""
    import psycopg
    from hoverboard.warehouse.migrations import MigrationRunner
    from psycopg import sql

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    dsn = admin_dsn.rsplit("/", 1)[0] + "/" + name
    try:
        if migrate:
            MigrationRunner(lambda: psycopg.connect(dsn), "postgres").migrate()
        yield dsn
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@contextmanager
def scratch_topic(bootstrap: str, prefix: str, partitions: int = 3) -> Iterator[str]:
    """A new topic on the stack's broker, deleted afterwards; yields its name."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})  # must outlive its futures
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    admin.create_topics([NewTopic(name, num_partitions=partitions,
                                  replication_factor=1)])[name].result(30)
    try:
        yield name
    finally:
        admin.delete_topics([name])[name].result(30)


def warehouse_connection(stack_env: dict[str, str], dsn: str) -> str:
    """The stack's warehouse_default connection (JSON) pointed at the database of ``dsn``."""
    import json

    connection = json.loads(stack_env["AIRFLOW_CONN_WAREHOUSE_DEFAULT"])
    return json.dumps({**connection, "schema": dsn.rsplit("/", 1)[1]})
