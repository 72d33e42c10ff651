"""Spark's Kafka connector for the pinned pyspark, cached so jobs never resolve at run time.

pyspark already ships Spark, Scala and Hadoop's client jars; the Kafka source needs only
four more, fetched without their dependency trees (everything else they would pull in is
in pyspark's own ``jars/``). Jobs get them through ``spark.jars`` (``HOVER_SPARK_JARS``),
never through ``spark.jars.packages``, which would resolve over the network on every start.
"""

from __future__ import annotations

from stack.artifacts import ArtifactSet, Coordinate
from stack.config import StackConfig

#: Must equal the pinned pyspark in requirements.txt (a test checks it does).
SPARK_VERSION = "4.2.0"
#: The kafka-clients version Spark itself is built against (its POM's dependency).
SPARK_KAFKA_CLIENTS = "3.9.2"

SPARK_KAFKA = ArtifactSet(
    name=f"spark-kafka-{SPARK_VERSION}",
    coordinates=(
        Coordinate(f"org.apache.spark:spark-sql-kafka-0-10_2.13:{SPARK_VERSION}"),
        Coordinate(f"org.apache.spark:spark-token-provider-kafka-0-10_2.13:{SPARK_VERSION}"),
        Coordinate(f"org.apache.kafka:kafka-clients:{SPARK_KAFKA_CLIENTS}"),
        Coordinate("org.apache.commons:commons-pool2:2.13.1"),
    ),
    transitive=False,
)


class SparkRuntime:
    """Not a server: the connector jars and the settings every Spark job of ours uses."""

    name = "spark"

    def __init__(self, config: StackConfig) -> None:
        self.config = config

    def fetch(self) -> None:
        SPARK_KAFKA.ensure(self.config.cache_dir, log=self.config.log_file("fetch"))

    def jars(self) -> list[str]:
        return [str(p) for p in SPARK_KAFKA.jars(self.config.cache_dir)]

    def environment(self) -> dict[str, str]:
        return {
            "HOVER_SPARK_JARS": ",".join(self.jars()),
            "HOVER_SPARK_MASTER": "local[2]",
            # Streaming checkpoints (offsets, state) of the sink jobs.
            "HOVER_SPARK_CHECKPOINTS": str(self.config.home / "spark" / "checkpoints"),
            # Spark binds the machine's other address unless told otherwise.
            "SPARK_LOCAL_IP": "127.0.0.1",
            "AIRFLOW_CONN_SPARK_DEFAULT": '{"conn_type": "spark", "host": "local[2]"}',
        }
