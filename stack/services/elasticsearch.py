"""Elasticsearch: the integ-test distribution from Maven Central, one node on loopback.

That distribution ships no JDK (it needs Java 21+: the machine's Java 25 is used) and only
the core modules: index, bulk, search, aggregations, mappings and index templates work, which
is what alerting needs; ``GET /`` (the client's ``ping``/``info``), delete-by-query and
scripting do not. Security is off: the node listens on 127.0.0.1 only. Production uses a
real cluster through ``HOVER_ELASTICSEARCH_URL``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from stack.artifacts import ArtifactSet, Coordinate
from stack.java import find_java
from stack.process import http_status
from stack.services.base import Launch, Service

ES_VERSION = "9.5.4"

ELASTICSEARCH = ArtifactSet(
    name=f"elasticsearch-{ES_VERSION}",
    coordinates=(
        Coordinate(f"org.elasticsearch.distribution.integ-test-zip:elasticsearch:{ES_VERSION}:zip"),
    ),
    transitive=False,
    unpack=True,
)


class Elasticsearch(Service):
    name = "elasticsearch"
    port_keys = ("elasticsearch", "elasticsearch_transport")
    artifact_sets = (ELASTICSEARCH,)
    needs_unprivileged_user = True  # Elasticsearch refuses to run as root, with no override
    # The launcher script runs a CLI JVM that runs the server JVM: signal the whole group.
    signal_group = True
    stop_timeout = 60.0
    # Two JVMs, one after the other: on a busy 2-core machine a restart was seen to take
    # more than the stack's default two minutes.
    ready_timeout = 300.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _home(self) -> Path:
        launcher = ELASTICSEARCH.locate(self.config.cache_dir, "*/bin/elasticsearch")
        return launcher.parent.parent

    def prepare(self) -> None:
        home = self._home()
        conf = self.conf_dir
        conf.mkdir(parents=True, exist_ok=True)
        # The distribution stays a read-only cache: config (and the keystore ES writes
        # beside it) lives under the stack's state.
        for name in ("jvm.options", "log4j2.properties"):
            shutil.copyfile(home / "config" / name, conf / name)
        settings = {
            "cluster.name": "hoverboard-local",
            "node.name": "local-1",
            "discovery.type": "single-node",
            "network.host": "127.0.0.1",
            "http.port": self.port,
            "transport.port": self.config.ports["elasticsearch_transport"],
            "path.data": str(self.data_dir / "data"),
            "path.logs": str(self.data_dir / "logs"),
            "xpack.security.enabled": False,
            # A developer's nearly full disk must not turn every index read-only.
            "cluster.routing.allocation.disk.threshold_enabled": False,
            "action.destructive_requires_name": False,
        }
        (conf / "elasticsearch.yml").write_text(
            "".join(f"{k}: {json.dumps(v)}\n" for k, v in settings.items())
        )
        (conf / "jvm.options.d").mkdir(exist_ok=True)
        (conf / "jvm.options.d" / "local.options").write_text(
            # Not pre-touching the heap saves ~180 MB of resident memory at rest.
            "-Xms512m\n-Xmx512m\n-XX:-AlwaysPreTouch\n"
        )
        for sub in ("data", "logs", "tmp"):
            (self.data_dir / sub).mkdir(parents=True, exist_ok=True)
        self.own(self.conf_dir, self.data_dir)

    def launch(self) -> Launch:
        java = Path(find_java(21, purpose="Elasticsearch", env_var="HOVER_ES_JAVA_HOME",
                              prefer_newest=True))
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.data_dir),
            "ES_JAVA_HOME": str(java.parent.parent),
            "ES_PATH_CONF": str(self.conf_dir),
            "ES_TMPDIR": str(self.data_dir / "tmp"),
        }
        return Launch(argv=[str(self._home() / "bin" / "elasticsearch")], env=env,
                      cwd=self.data_dir)

    def is_ready(self) -> bool:
        # GET / is not in this distribution; cluster health is.
        return http_status(f"{self.url}/_cluster/health?wait_for_status=yellow&timeout=1s") == 200

    def environment(self) -> dict[str, str]:
        return {
            "HOVER_ELASTICSEARCH_URL": self.url,
            "AIRFLOW_CONN_ELASTICSEARCH_DEFAULT": json.dumps(
                {"conn_type": "elasticsearch", "host": "127.0.0.1", "port": self.port,
                 "schema": "http"}
            ),
        }

    def describe(self) -> str:
        return self.url
