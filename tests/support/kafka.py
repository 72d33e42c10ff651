"""Kafka helpers: scratch topics, reading a topic back, the partition Java would pick."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

from stack.java import find_java

JAVA_PARTITIONER = Path(__file__).resolve().parents[1] / "java" / "DefaultPartitioner.java"


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
def scratch_topic(bootstrap: str, prefix: str, partitions: int = 3) -> Iterator[str]:
    """A new topic on the stack's broker, every partition with a leader, deleted
    afterwards; yields its name."""
    from confluent_kafka.admin import AdminClient, NewTopic

    from stack.process import wait_until

    admin = AdminClient({"bootstrap.servers": bootstrap})  # must outlive its futures
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    admin.create_topics([NewTopic(name, num_partitions=partitions,
                                  replication_factor=1)])[name].result(30)

    def led() -> bool:
        meta = admin.list_topics(name, timeout=10).topics.get(name)
        return (meta is not None and meta.error is None and len(meta.partitions) == partitions
                and all(p.leader >= 0 for p in meta.partitions.values()))

    try:
        assert wait_until(led, timeout=30, interval=0.2), f"topic {name} has no leaders after 30 s"
        yield name
    finally:
        admin.delete_topics([name])[name].result(30)
