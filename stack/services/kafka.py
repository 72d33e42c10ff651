"""Apache Kafka: one KRaft node (broker and controller in one process), from Maven Central jars.

``kafka_2.13`` with its runtime dependencies is the whole broker (``kafka.Kafka`` and
``kafka.tools.StorageTool`` are in it); log4j2 is added as the logging binding. Topics for
the three message types are created with ``HOVER_N_PART`` partitions.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid

from schemas.types import declaration, declared_types
from stack.artifacts import ArtifactSet, Coordinate
from stack.java import find_java
from stack.process import StackError, tcp_open
from stack.services.base import Launch, Service

KAFKA_VERSION = "4.2.1"
LOG4J_VERSION = "2.25.3"

KAFKA = ArtifactSet(
    name=f"kafka-{KAFKA_VERSION}",
    coordinates=(
        Coordinate(f"org.apache.kafka:kafka_2.13:{KAFKA_VERSION}"),
        # kafka_2.13 brings slf4j-api 1.7, which cannot bind to log4j2's slf4j2 binding:
        # without 2.x the broker would log nothing at all.
        Coordinate("org.slf4j:slf4j-api:2.0.17"),
        Coordinate(f"org.apache.logging.log4j:log4j-slf4j2-impl:{LOG4J_VERSION}"),
        Coordinate(f"org.apache.logging.log4j:log4j-core:{LOG4J_VERSION}"),
    ),
)

#: The topics of the platform, one per declared message type (schemas/<type>/type.yaml).
TOPICS = tuple(declaration(name).topic for name in declared_types())

_LOG4J2 = """<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="WARN">
  <Appenders>
    <Console name="stdout" target="SYSTEM_OUT">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </Console>
  </Appenders>
  <Loggers>
    <Logger name="kafka.request.logger" level="WARN"/>
    <Logger name="state.change.logger" level="WARN"/>
    <Root level="INFO"><AppenderRef ref="stdout"/></Root>
  </Loggers>
</Configuration>
"""


class Kafka(Service):
    name = "kafka"
    port_keys = ("kafka", "kafka_controller")
    artifact_sets = (KAFKA,)

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _java(self) -> str:
        return find_java(17, purpose="Kafka")

    def _classpath(self) -> str:
        return f"{KAFKA.path(self.config.cache_dir)}/*"

    def _write_config(self) -> None:
        controller = self.config.ports["kafka_controller"]
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{controller}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{controller}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "log.dirs": str(self.data_dir / "kraft-logs"),
            "num.partitions": str(self.config.n_part),
            # A single node: internal topics cannot have more replicas than brokers.
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            # Topics are created by bootstrap with the configured partition count; a typo'd
            # topic name in a client must fail, not silently create a 1-partition topic.
            "auto.create.topics.enable": "false",
        }
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        (self.conf_dir / "server.properties").write_text(
            "".join(f"{k}={v}\n" for k, v in props.items())
        )
        (self.conf_dir / "log4j2.xml").write_text(_LOG4J2)

    def prepare(self) -> None:
        self._write_config()
        if (self.data_dir / "kraft-logs" / "meta.properties").exists():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            [
                self._java(),
                f"-Dlog4j2.configurationFile={self.conf_dir / 'log4j2.xml'}",
                "-cp", self._classpath(),
                "kafka.tools.StorageTool", "format",
                "--config", str(self.conf_dir / "server.properties"),
                "--cluster-id", cluster_id(),
                "--ignore-formatted",
            ],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise StackError(
                f"formatting Kafka storage in {self.data_dir} failed:\n"
                f"{(result.stdout + result.stderr)[-2000:]}"
            )

    def launch(self) -> Launch:
        argv = [
            self._java(),
            # G1 and the full JIT, as Kafka ships: with the serial GC and C1 only (quicker to
            # start) a Python producer at 1,000 msg/s saw its acknowledgements' p99 at
            # 12.4 ms and p99.9 at 35 ms; with these, 8.5 ms and 20-28 ms once warm (a
            # one-off measurement, not one of the repository's benchmarks). The
            # ingest API's p99 goal (20 ms) rests on that tail. A fixed heap: no resizing.
            "-Xms512m",
            "-Xmx512m",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            # Each collection with its pause, as Kafka's own start script logs them: the
            # first thing to look at when the API's tail latency rises.
            f"-Xlog:gc:file={self.log_file.with_name('kafka-gc.log')}:time,uptime,level,tags"
            ":filecount=5,filesize=10m",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.conf_dir / 'log4j2.xml'}",
            "-cp", self._classpath(),
            "kafka.Kafka",
            str(self.conf_dir / "server.properties"),
        ]
        return Launch(argv=argv, env=dict(os.environ), cwd=self.data_dir)

    def _admin(self):
        from confluent_kafka.admin import AdminClient

        # log_level 0: connection retries while the broker starts are expected, not news.
        return AdminClient({"bootstrap.servers": self.bootstrap_servers,
                            "socket.timeout.ms": 2000, "log_level": 0})

    def is_ready(self) -> bool:
        if not tcp_open(self.port):
            return False
        try:
            metadata = self._admin().list_topics(timeout=2)
        except Exception:  # noqa: BLE001 - any failure means "not yet"
            return False
        return bool(metadata.brokers) and metadata.controller_id >= 0

    def bootstrap(self) -> None:
        from confluent_kafka.admin import NewTopic

        admin = self._admin()
        existing = admin.list_topics(timeout=10).topics
        for topic in TOPICS:
            if topic in existing:
                count = len(existing[topic].partitions)
                if count != self.config.n_part:
                    raise StackError(
                        f"topic {topic!r} has {count} partitions but HOVER_N_PART="
                        f"{self.config.n_part}; changing the count moves keys to other partitions "
                        f"(breaking per-key order), so it is never done implicitly. Set "
                        f"HOVER_N_PART={count}, or 'bin/stack reset' to start over"
                    )
        missing = [t for t in TOPICS if t not in existing]
        if missing:
            futures = admin.create_topics(
                [NewTopic(t, num_partitions=self.config.n_part, replication_factor=1)
                 for t in missing]
            )
            for topic, future in futures.items():
                try:
                    future.result(timeout=30)
                except Exception as exc:  # noqa: BLE001
                    if "TOPIC_ALREADY_EXISTS" not in str(exc):
                        raise StackError(f"creating Kafka topic {topic!r} failed: {exc}") from exc

    def environment(self) -> dict[str, str]:
        return {
            "HOVER_KAFKA_BOOTSTRAP": self.bootstrap_servers,
            "HOVER_KAFKA_CLASSPATH": self._classpath(),
            "AIRFLOW_CONN_KAFKA_DEFAULT": json.dumps(
                {"conn_type": "kafka", "extra": {"bootstrap.servers": self.bootstrap_servers}}
            ),
        }

    def describe(self) -> str:
        topics = ", ".join(TOPICS)
        return f"{self.bootstrap_servers} (topics {topics}, {self.config.n_part} partitions)"


def cluster_id() -> str:
    """A new Kafka cluster id: 16 random bytes in URL-safe base64 without padding.

    URL-safe base64 may begin with ``-``, which ``kafka-storage format`` reads as an option
    ("argument --cluster-id: expected one argument"), one fresh stack in 64. Kafka's own
    ``Uuid.randomUuid()`` draws again in that case, and so does this.
    """
    import base64

    while True:
        candidate = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not candidate.startswith("-"):
            return candidate
