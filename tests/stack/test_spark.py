"""pyspark reads a Kafka topic of the local stack through the cached connector jars."""

from __future__ import annotations

from pathlib import Path

import pyspark
from confluent_kafka import Producer

from stack.services.spark import SPARK_VERSION
from tests.support import scratch_topic


def test_connector_matches_the_installed_pyspark() -> None:
    assert pyspark.__version__ == SPARK_VERSION


def test_connector_jars_come_from_the_cache(stack_env) -> None:
    jars = stack_env["HOVER_SPARK_JARS"].split(",")
    assert len(jars) == 4 and all(Path(j).is_file() for j in jars)


def test_spark_reads_a_kafka_topic(stack_env, spark) -> None:
    bootstrap = stack_env["HOVER_KAFKA_BOOTSTRAP"]
    with scratch_topic(bootstrap, "test-spark") as topic:
        read_back_through_spark(spark, bootstrap, topic)


def read_back_through_spark(spark, bootstrap: str, topic: str) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                         "partitioner": "murmur2_random"})
    sent = {f"board-{i}": f'{{"id": {i}}}' for i in range(20)}
    for key, value in sent.items():
        producer.produce(topic, key=key, value=value)
    assert producer.flush(30) == 0

    rows = (
        spark.read.format("kafka")
        .option("kafka.bootstrap.servers", bootstrap)
        .option("subscribe", topic)
        .option("startingOffsets", "earliest")
        .option("endingOffsets", "latest")
        .load()
        .selectExpr("CAST(key AS STRING) AS key", "CAST(value AS STRING) AS value", "partition")
        .collect()
    )
    assert {r["key"]: r["value"] for r in rows} == sent
    assert len({r["partition"] for r in rows}) > 1
