"""Apache Kafka Connect with Debezium's JDBC sink connector, the tool a user would pick for
Kafka -> database without Spark: what ``sink_bench --only connect`` compares our sink with.

Connect runs standalone (one worker), started by the benchmark and stopped after it: it is a
baseline of one measurement, not a part of the platform, so it is no stack service. Its jars
are ``connect-runtime`` and ``connect-json`` of the broker's Kafka version from Maven Central
(the stack's Kafka set is the broker alone, ``kafka_2.13``, which holds neither); the plugin
is Debezium's published archive ``io.debezium:debezium-connector-jdbc:tar.gz:plugin``,
unpacked into a ``plugin.path`` under the stack's cache. Both are fetched once, like every
other JVM artifact of the stack (``stack.artifacts``).

The pure parts (a row in ``JsonConverter``'s schema envelope, the connector's configuration)
are unit-tested; the process handling is exercised by the benchmark.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from runtime.processes import tail
from stack.artifacts import ArtifactSet, Coordinate
from stack.java import find_java
from stack.services.kafka import KAFKA_VERSION, LOG4J_VERSION

DEBEZIUM_VERSION = "3.6.0.Final"

CONNECT = ArtifactSet(
    name=f"kafka-connect-{KAFKA_VERSION}",
    coordinates=(
        Coordinate(f"org.apache.kafka:connect-runtime:{KAFKA_VERSION}"),
        Coordinate(f"org.apache.kafka:connect-json:{KAFKA_VERSION}"),
        # As for the broker (stack.services.kafka): slf4j 2 bound to log4j2, or no log at all.
        Coordinate("org.slf4j:slf4j-api:2.0.17"),
        Coordinate(f"org.apache.logging.log4j:log4j-slf4j2-impl:{LOG4J_VERSION}"),
        Coordinate(f"org.apache.logging.log4j:log4j-core:{LOG4J_VERSION}"),
    ),
)

DEBEZIUM_JDBC = ArtifactSet(
    name=f"debezium-connector-jdbc-{DEBEZIUM_VERSION}",
    coordinates=(Coordinate(
        f"io.debezium:debezium-connector-jdbc:{DEBEZIUM_VERSION}:tar.gz:plugin"),),
    transitive=False,
    unpack=True,
)

CONNECTOR_CLASS = "io.debezium.connector.jdbc.JdbcSinkConnector"

#: PostgreSQL column types -> (Connect schema type, logical name or None). Timestamps with a
#: zone travel as Debezium's ISO-8601 ``ZonedTimestamp``, which its sink writes to a
#: ``timestamptz`` column as that instant (Connect's own ``Timestamp`` has no zone).
_CONNECT_TYPES: dict[str, tuple[str, str | None]] = {
    "bigint": ("int64", None),
    "integer": ("int32", None),
    "smallint": ("int16", None),
    "double precision": ("double", None),
    "real": ("float", None),
    "boolean": ("boolean", None),
    "text": ("string", None),
    "character varying": ("string", None),
    "timestamp with time zone": ("string", "io.debezium.time.ZonedTimestamp"),
}


@dataclass(frozen=True)
class Column:
    """A column of the target table as ``information_schema.columns`` describes it."""

    name: str
    data_type: str
    nullable: bool


def envelope_schema(columns: Sequence[Column], name: str) -> dict:
    """``JsonConverter``'s schema (``schemas.enable=true``) of a record with these columns."""
    fields = []
    for column in columns:
        try:
            connect_type, logical = _CONNECT_TYPES[column.data_type]
        except KeyError:
            raise ValueError(f"column {column.name}: no Connect type for PostgreSQL "
                             f"{column.data_type!r}; add it to _CONNECT_TYPES") from None
        field = {"type": connect_type, "optional": column.nullable, "field": column.name}
        if logical is not None:
            field.update(name=logical, version=1)
        fields.append(field)
    return {"type": "struct", "fields": fields, "optional": False, "name": name}


def _connect_value(value):
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"timestamp {value} has no time zone")
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def envelope(schema: dict, row: Mapping[str, object]) -> dict:
    """One row as ``JsonConverter`` reads it: the schema beside the payload. Every field of
    the schema is in the payload (absent: null); a value the schema has no field for is an
    error, not silently dropped."""
    names = [f["field"] for f in schema["fields"]]
    extra = set(row) - set(names)
    if extra:
        raise ValueError(f"row has fields the schema lacks: {sorted(extra)}")
    return {"schema": schema, "payload": {n: _connect_value(row.get(n)) for n in names}}


#: Kafka record metadata our sink writes into every row, added to each Connect record by
#: Kafka's own ``InsertField`` transform, so both sides write the same columns.
METADATA_FIELDS = {"topic.field": "source_topic", "partition.field": "source_partition",
                   "offset.field": "source_offset"}


def connector_config(*, topic: str, table: str, key: Sequence[str], tasks: int,
                     batch_size: int, jdbc_url: str, user: str, password: str) -> dict[str, str]:
    """Debezium's JDBC sink in upsert mode on ``key`` (fields of the record's value) into an
    existing ``table`` (``schema.table``): no schema evolution, no deletes, one task per
    partition, ``batch_size`` rows per statement batch."""
    if tasks < 1 or batch_size < 1:
        raise ValueError("tasks and batch_size must be positive")
    config = {
        "connector.class": CONNECTOR_CLASS,
        "topics": topic,
        "tasks.max": str(tasks),
        "connection.url": jdbc_url,
        "connection.username": user,
        "connection.password": password,
        "insert.mode": "upsert",
        "primary.key.mode": "record_value",
        "primary.key.fields": ",".join(key),
        "collection.name.format": table,
        "schema.evolution": "none",
        "delete.enabled": "false",
        "batch.size": str(batch_size),
        # One poll feeds one batch: without this the consumer's 500 records cap the batch.
        "consumer.override.max.poll.records": str(batch_size),
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "true",
        "transforms": "kafkaMetadata",
        "transforms.kafkaMetadata.type": "org.apache.kafka.connect.transforms.InsertField$Value",
    }
    config.update({f"transforms.kafkaMetadata.{k}": v for k, v in METADATA_FIELDS.items()})
    return config


def masked(config: Mapping[str, str]) -> dict[str, str]:
    """The configuration as printed: every password replaced."""
    return {k: ("********" if "password" in k else v) for k, v in config.items()}


def jdbc_url(host: str, port: int, database: str) -> str:
    return f"jdbc:postgresql://{host}:{port}/{database}"


def worker_properties(*, bootstrap: str, port: int, plugin_path: Path,
                      offsets_file: Path) -> dict[str, str]:
    """A standalone worker: REST on 127.0.0.1:``port``, connectors created over REST."""
    return {
        "bootstrap.servers": bootstrap,
        "listeners": f"http://127.0.0.1:{port}",
        "plugin.path": str(plugin_path),
        "offset.storage.file.filename": str(offsets_file),
        "offset.flush.interval.ms": "10000",
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        # The connector's consumer settings may be overridden per connector (max.poll.records).
        "connector.client.config.override.policy": "All",
        # Plugins found by their ServiceLoader manifests (Debezium ships them), without the
        # reflective scan of every jar that took minutes on a busy 2-core machine.
        "plugin.discovery": "service_load",
    }


_LOG4J2 = """<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="WARN">
  <Appenders><Console name="stdout" target="SYSTEM_OUT">
    <PatternLayout pattern="[%d] %p %m (%c)%n"/></Console></Appenders>
  <Loggers>
    <Logger name="org.hibernate" level="WARN"/>
    <Logger name="org.reflections" level="ERROR"/>
    <Root level="INFO"><AppenderRef ref="stdout"/></Root>
  </Loggers>
</Configuration>
"""


class ConnectWorker:
    """A standalone Connect worker in its own JVM, its log in ``workdir/connect.log``."""

    def __init__(self, *, cache_dir: Path, workdir: Path, bootstrap: str, port: int,
                 heap: str = "1g") -> None:
        self.workdir = workdir
        self.port = port
        self.log_path = workdir / "connect.log"
        self.classpath = CONNECT.ensure(cache_dir)
        self.plugin_path = DEBEZIUM_JDBC.ensure(cache_dir)
        self.properties = worker_properties(bootstrap=bootstrap, port=port,
                                            plugin_path=self.plugin_path,
                                            offsets_file=workdir / "connect.offsets")
        self.heap = heap
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 300) -> float:
        """Start the worker and wait for its REST API to list the JDBC sink plugin;
        returns the seconds that took."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        props = self.workdir / "worker.properties"
        props.write_text("".join(f"{k}={v}\n" for k, v in self.properties.items()))
        (self.workdir / "log4j2.xml").write_text(_LOG4J2)
        java = find_java(17, purpose="Kafka Connect")
        cmd = [java, f"-Xmx{self.heap}", "-Duser.timezone=UTC",
               f"-Dlog4j2.configurationFile={self.workdir / 'log4j2.xml'}",
               "-cp", f"{self.classpath}/*", "org.apache.kafka.connect.cli.ConnectStandalone",
               str(props)]
        # A new worker: no offsets or log of an earlier run.
        (self.workdir / "connect.offsets").unlink(missing_ok=True)
        t0 = time.monotonic()
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Kafka Connect exited {self.proc.returncode} while "
                                   f"starting; see {self.log_path}:\n{self.log_tail()}")
            try:
                plugins = self._request("GET", "/connector-plugins")
                if any(p.get("class") == CONNECTOR_CLASS for p in plugins):
                    return time.monotonic() - t0
                raise RuntimeError(f"Kafka Connect started without {CONNECTOR_CLASS} "
                                   f"(plugin.path {self.plugin_path}); see {self.log_path}")
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"Kafka Connect did not answer on {self.url} within {timeout:g} s;"
                           f" see {self.log_path}:\n{self.log_tail()}")

    def _request(self, method: str, path: str, body: dict | None = None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            text = resp.read()
        return json.loads(text) if text else None

    def create(self, name: str, config: Mapping[str, str]) -> None:
        self._request("POST", "/connectors", {"name": name, "config": dict(config)})

    def status(self, name: str) -> dict:
        return self._request("GET", f"/connectors/{name}/status")

    def failures(self, name: str) -> list[str]:
        """Traces of failed tasks (or of the connector), empty while all run."""
        try:
            status = self.status(name)
        except urllib.error.HTTPError:
            return []  # not registered yet
        states = [status.get("connector", {}), *status.get("tasks", [])]
        return [s.get("trace", "")[:2000] for s in states if s.get("state") == "FAILED"]

    def delete(self, name: str) -> None:
        self._request("DELETE", f"/connectors/{name}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        return tail(self.log_path, lines)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
