"""Apache Kafka in KRaft mode from Maven Central jars: one node, or three (HOVER_KAFKA_BROKERS).

``kafka_2.13`` with its runtime dependencies is the whole broker (``kafka.Kafka`` and
``kafka.tools.StorageTool`` are in it); log4j2 is added as the logging binding. Topics for
the three message types are created with ``HOVER_N_PART`` partitions.

Three nodes are services ``kafka``, ``kafka_2`` and ``kafka_3``, each broker *and* controller
in one process (combined mode). Separate controllers would be three more JVMs on a machine
that runs the whole platform; combined, a node lost takes one broker and one of three voters,
and the other two still form a quorum, which is what the faults we test need. Topics then
have replication factor 3 and ``min.insync.replicas=2``: with ``acks=all`` one broker may be
down and every acknowledged record is still on two of them; with two down the producer
gets no acknowledgement and the API answers 503, never a 2xx it could not honour.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

from schemas.types import declaration, declared_types
from stack.artifacts import ArtifactSet, Coordinate
from stack.config import StackConfig
from stack.java import find_java
from stack.process import StackError, tcp_open, wait_until
from stack.secrets import Secrets
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


def node_name(node: int) -> str:
    """Service name (and port key) of Kafka node ``node`` (1-based): kafka, kafka_2, kafka_3."""
    return "kafka" if node == 1 else f"kafka_{node}"


def node_names(config: StackConfig) -> tuple[str, ...]:
    return tuple(node_name(n) for n in range(1, config.kafka_brokers + 1))


def replication(config: StackConfig) -> tuple[int, int]:
    """(replication factor, min.insync.replicas) of every topic: (1, 1) on one broker, else
    (3, 2): an acknowledged record is on two brokers at least, one may be lost."""
    factor = min(3, config.kafka_brokers)
    return factor, max(1, factor - 1)


def bootstrap_servers(config: StackConfig) -> str:
    """Every node, so a client finds the cluster whichever node is down."""
    return ",".join(f"127.0.0.1:{config.ports[name]}" for name in node_names(config))


class Kafka(Service):
    artifact_sets = (KAFKA,)

    def __init__(self, config: StackConfig, secrets: Secrets, node: int = 1) -> None:
        super().__init__(config, secrets)
        self.node = node
        self.name = node_name(node)
        self.port_keys = (self.name, f"{self.name}_controller")
        # The nodes of a cluster start together (a quorum needs two of three voters):
        # 'bin/stack up kafka' brings the others along.
        self.companions = tuple(n for n in node_names(config) if n != self.name)

    @property
    def bootstrap_servers(self) -> str:
        return bootstrap_servers(self.config)

    @property
    def _shape_file(self) -> Path:
        # Beside node 1's data: the cluster id all nodes are formatted with, and their number.
        return self.config.data_dir(node_name(1)) / "cluster.json"

    def _cluster_id(self) -> str:
        """The cluster's id, chosen once; a stack formatted for another number of brokers
        is refused (its metadata log has other voters)."""
        path = self._shape_file
        brokers = self.config.kafka_brokers
        if path.exists():
            shape = json.loads(path.read_text())
        elif (self.config.data_dir(node_name(1)) / "kraft-logs" / "meta.properties").exists():
            shape = {"brokers": 1}  # formatted before the file existed: one node
        else:
            shape = {"id": cluster_id(), "brokers": brokers}
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(shape))
        if shape["brokers"] != brokers:
            raise StackError(
                f"this stack's Kafka was formatted for {shape['brokers']} broker(s) but "
                f"HOVER_KAFKA_BROKERS={brokers}; set HOVER_KAFKA_BROKERS={shape['brokers']}, or "
                "start over with 'bin/stack reset' (deletes all stack state)"
            )
        return shape.get("id", "")

    def _java(self) -> str:
        return find_java(17, purpose="Kafka")

    def _classpath(self) -> str:
        return f"{KAFKA.path(self.config.cache_dir)}/*"

    def _write_config(self) -> None:
        ports = self.config.ports
        controller = ports[f"{self.name}_controller"]
        voters = ",".join(f"{n}@127.0.0.1:{ports[node_name(n) + '_controller']}"
                          for n in range(1, self.config.kafka_brokers + 1))
        factor, min_isr = (str(v) for v in replication(self.config))
        props = {
            "process.roles": "broker,controller",
            "node.id": str(self.node),
            "controller.quorum.voters": voters,
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{controller}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "log.dirs": str(self.data_dir / "kraft-logs"),
            "num.partitions": str(self.config.n_part),
            # Internal topics (consumer offsets, transactions) replicated like ours; on a
            # single node they cannot have more replicas than brokers.
            "default.replication.factor": factor,
            "min.insync.replicas": min_isr,
            "offsets.topic.replication.factor": factor,
            "transaction.state.log.replication.factor": factor,
            "transaction.state.log.min.isr": min_isr,
            "share.coordinator.state.topic.replication.factor": factor,
            "share.coordinator.state.topic.min.isr": min_isr,
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
            self._cluster_id()  # refuses a stack formatted for another number of brokers
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            [
                self._java(),
                f"-Dlog4j2.configurationFile={self.conf_dir / 'log4j2.xml'}",
                "-cp", self._classpath(),
                "kafka.tools.StorageTool", "format",
                "--config", str(self.conf_dir / "server.properties"),
                "--cluster-id", self._cluster_id(),
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
            f"-Xlog:gc:file={self.log_file.with_name(f'{self.name}-gc.log')}:time,uptime,level,tags"
            ":filecount=5,filesize=10m",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.conf_dir / 'log4j2.xml'}",
            "-cp", self._classpath(),
            "kafka.Kafka",
            str(self.conf_dir / "server.properties"),
        ]
        return Launch(argv=argv, env=dict(os.environ), cwd=self.data_dir)

    def _admin(self, bootstrap: str | None = None):
        from confluent_kafka.admin import AdminClient

        # log_level 0: connection retries while the broker starts are expected, not news.
        return AdminClient({"bootstrap.servers": bootstrap or self.bootstrap_servers,
                            "socket.timeout.ms": 2000, "log_level": 0})

    def is_ready(self) -> bool:
        """This node answers on its own port and is a registered broker of a cluster that
        has an active controller."""
        if not tcp_open(self.port):
            return False
        try:
            metadata = self._admin(f"127.0.0.1:{self.port}").list_topics(timeout=2)
        except Exception:  # noqa: BLE001 - any failure means "not yet"
            return False
        return self.node in metadata.brokers and metadata.controller_id >= 0

    def bootstrap(self) -> None:
        from confluent_kafka.admin import NewTopic

        admin = self._admin()
        factor, min_isr = replication(self.config)
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
            # Replication factor 3 needs all three brokers registered; they start together.
            # (Only here: a node restarted alone must not wait for itself in a peer's bootstrap.)
            brokers = self.config.kafka_brokers
            if not wait_until(lambda: len(admin.list_topics(timeout=5).brokers) >= brokers,
                              self.config.ready_timeout, interval=0.5):
                raise StackError(f"Kafka: fewer than {brokers} brokers registered after "
                                 f"{self.config.ready_timeout:.0f}s; see 'bin/stack status'")
            futures = admin.create_topics(
                [NewTopic(t, num_partitions=self.config.n_part, replication_factor=factor,
                          config={"min.insync.replicas": str(min_isr)})
                 for t in missing],
                # Not the admin's 2 s socket timeout: three replicas each take a moment.
                request_timeout=30,
            )
            for topic, future in futures.items():
                try:
                    future.result(timeout=60)
                except Exception as exc:  # noqa: BLE001
                    # A busy controller may create the topic after the request timed out.
                    if "TOPIC_ALREADY_EXISTS" not in str(exc) and "TIMED_OUT" not in str(exc):
                        raise StackError(f"creating Kafka topic {topic!r} failed: {exc}") from exc

            def created() -> bool:
                topics = admin.list_topics(timeout=5).topics
                return all(t in topics and topics[t].partitions for t in missing)

            if not wait_until(created, self.config.ready_timeout, interval=0.5):
                raise StackError(f"Kafka topics {', '.join(missing)} not created within "
                                 f"{self.config.ready_timeout:.0f}s; log: {self.log_file}")

    def environment(self) -> dict[str, str]:
        if self.node != 1:
            return {}  # node 1 speaks for the cluster
        return {
            "HOVER_KAFKA_BOOTSTRAP": self.bootstrap_servers,
            "HOVER_KAFKA_CLASSPATH": self._classpath(),
            "AIRFLOW_CONN_KAFKA_DEFAULT": json.dumps(
                {"conn_type": "kafka", "extra": {"bootstrap.servers": self.bootstrap_servers}}
            ),
        }

    def describe(self) -> str:
        if self.config.kafka_brokers == 1:
            topics = ", ".join(TOPICS)
            return f"{self.bootstrap_servers} (topics {topics}, {self.config.n_part} partitions)"
        factor, min_isr = replication(self.config)
        return (f"127.0.0.1:{self.port} (node {self.node} of {self.config.kafka_brokers}; topics "
                f"{self.config.n_part} partitions, replication {factor}, min ISR {min_isr})")


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
