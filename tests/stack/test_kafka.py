"""Kafka of the local stack: a real KRaft broker, keyed records land where Java puts them."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from stack.services.kafka import TOPICS
from tests.support import java_partitions, scratch_topic


@pytest.fixture
def keys_topic(stack_env: dict[str, str]):
    with scratch_topic(stack_env["HOVER_KAFKA_BOOTSTRAP"], "test-keys", partitions=7) as name:
        yield name, 7


def test_platform_topics_exist_with_configured_partitions(stack_env: dict[str, str]) -> None:
    admin = AdminClient({"bootstrap.servers": stack_env["HOVER_KAFKA_BOOTSTRAP"]})
    topics = admin.list_topics(timeout=10).topics
    for topic in TOPICS:
        assert len(topics[topic].partitions) == int(stack_env["HOVER_N_PART"])


def test_keyed_records_land_in_the_java_default_partition(stack_env, keys_topic) -> None:
    topic, partitions = keys_topic
    keys = ["1", "42", "4711", "board-17", "17|230", "été", str(2**62)]
    producer = Producer({
        "bootstrap.servers": stack_env["HOVER_KAFKA_BOOTSTRAP"],
        "acks": "all",
        "enable.idempotence": True,
        # librdkafka's default (consistent_random) is CRC32: not what Java producers use.
        "partitioner": "murmur2_random",
    })
    for key in keys:
        producer.produce(topic, key=key.encode(), value=f"value-{key}".encode())
    assert producer.flush(30) == 0

    consumer = Consumer({
        "bootstrap.servers": stack_env["HOVER_KAFKA_BOOTSTRAP"],
        "group.id": f"test-{uuid.uuid4().hex}",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    })
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    landed: dict[str, tuple[int, bytes]] = {}
    try:
        while len(landed) < len(keys):
            msg = consumer.poll(10)
            assert msg is not None, f"only {len(landed)} of {len(keys)} records came back"
            assert msg.error() is None, msg.error()
            landed[msg.key().decode()] = (msg.partition(), msg.value())
    finally:
        consumer.close()

    expected = java_partitions(stack_env["HOVER_KAFKA_CLASSPATH"], partitions, keys)
    assert [landed[k][0] for k in keys] == expected
    assert all(landed[k][1] == f"value-{k}".encode() for k in keys)
    # Seven keys over seven partitions: if they all hashed alike the check would prove little.
    assert len(set(expected)) > 1
