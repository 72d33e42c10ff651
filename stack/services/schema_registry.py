"""Apicurio Registry, the schema registry, serving the Confluent-compatible REST API.

Maven Central publishes its ready-to-run Quarkus build (``apicurio-registry-app:…:tar.gz:all``),
so no build step is needed. Schemas are kept in an H2 database file under the stack's state
(``WRITE_DELAY=0`` so a registration survives even a ``kill -9``). Production points
``HOVER_SCHEMA_REGISTRY_URL`` at any Confluent-API registry instead.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from stack.artifacts import ArtifactSet, Coordinate
from stack.java import find_java
from stack.process import StackError, http_status
from stack.services.base import Launch, Service

APICURIO = ArtifactSet(
    name="apicurio-registry",
    coordinates=(Coordinate("io.apicurio:apicurio-registry-app:3.3.3:tar.gz:all"),),
    transitive=False,
    unpack=True,
)

CCOMPAT_PATH = "/apis/ccompat/v7"


class SchemaRegistry(Service):
    name = "schema_registry"
    port_keys = ("schema_registry", "schema_registry_management")
    artifact_sets = (APICURIO,)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{CCOMPAT_PATH}"

    def _runner(self) -> Path:
        return APICURIO.locate(self.config.cache_dir, "**/quarkus-run.jar")

    def launch(self) -> Launch:
        # Quarkus 3 is compiled for Java 21.
        java = find_java(21, purpose="the schema registry (Apicurio)",
                         env_var="HOVER_REGISTRY_JAVA_HOME", prefer_newest=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        management_port = self.config.ports[self.port_keys[1]]
        props = {
            # Both listeners on loopback: Quarkus binds 0.0.0.0 by default.
            "quarkus.http.host": "127.0.0.1",
            "quarkus.http.port": self.port,
            "quarkus.management.host": "127.0.0.1",
            "quarkus.management.port": management_port,
            "quarkus.http.access-log.enabled": "false",
            "apicurio.storage.kind": "sql",
            "apicurio.storage.sql.kind": "h2",
            "apicurio.datasource.url": f"jdbc:h2:file:{self.data_dir / 'registry'};WRITE_DELAY=0",
            "apicurio.datasource.jdbc.initial-size": 2,
            "apicurio.datasource.jdbc.min-size": 2,
            "apicurio.datasource.jdbc.max-size": 10,
        }
        argv = [
            java,
            "-Xmx256m",
            # A small registry starts twice as fast with the C1 compiler and the serial GC.
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            *(f"-D{key}={value}" for key, value in props.items()),
            "-jar",
            str(self._runner()),
        ]
        return Launch(argv=argv, env=dict(os.environ), cwd=self.data_dir)

    def is_ready(self) -> bool:
        return http_status(f"{self.url}/subjects") == 200

    def bootstrap(self) -> None:
        # schemas/ is the registry of record: every version is registered on every up
        # (idempotent), so services never fall back to files on a working stack.
        from schemas.registry import RegistryError, SchemaRegistryClient, register_all

        try:
            register_all(SchemaRegistryClient(self.url))
        except RegistryError as exc:
            raise StackError(f"registering schemas/ into {self.url} failed: {exc}") from exc

    def environment(self) -> dict[str, str]:
        return {
            "HOVER_SCHEMA_REGISTRY_URL": self.url,
            "AIRFLOW_CONN_SCHEMA_REGISTRY_DEFAULT": json.dumps(
                {"conn_type": "http", "host": f"http://127.0.0.1:{self.port}/",
                 "extra": {"path": CCOMPAT_PATH}}
            ),
        }

    def describe(self) -> str:
        return self.url
