"""The ingest API (``ingest_api/``), served by gunicorn: N instances behind NGINX.

Each instance is its own service, ``ingest_1`` ... ``ingest_N`` (``HOVER_INGEST_INSTANCES``,
default 2), on consecutive ports from ``HOVER_INGEST_BASE_PORT`` (default 18001), with the
gunicorn settings of ``ingest_api/gunicorn.conf.py`` but one worker each
(``HOVER_INGEST_WORKERS`` overrides): the instances together already use the machine's
cores. Clients use the balancer (the ``nginx`` service); the instances' own ports are for
probes and for tests that pick one.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from stack.config import REPO_ROOT, StackConfig, ingest_port_key
from stack.process import StackError, http_status
from stack.secrets import Secrets
from stack.services.base import Launch, Service
from stack.services.elasticsearch import Elasticsearch
from stack.services.kafka import Kafka
from stack.services.kafka import node_names as kafka_nodes
from stack.services.schema_registry import SchemaRegistry

GUNICORN_CONF = REPO_ROOT / "ingest_api" / "gunicorn.conf.py"
WSGI_APP = "ingest_api.wsgi:app"


class IngestInstance(Service):
    """One gunicorn process serving the ingest API on its own port."""

    def __init__(self, config: StackConfig, secrets: Secrets, number: int) -> None:
        super().__init__(config, secrets)
        self.depends_on = (*kafka_nodes(config), "schema_registry")
        self.number = number
        self.name = ingest_port_key(number)  # ingest_1, ingest_2, ...
        self.port_keys = (self.name,)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def address(self) -> str:
        """host:port, as the balancer's upstream lists it."""
        return f"127.0.0.1:{self.port}"

    def _gunicorn(self) -> Path:
        # The virtual environment this stack runs from (.venv/ built by bin/setup).
        gunicorn = Path(sys.executable).parent / "gunicorn"
        if not gunicorn.exists():
            raise StackError(
                f"gunicorn not found beside {sys.executable}; run bin/setup (builds .venv from "
                "requirements.txt) and run the stack with .venv/bin/python (bin/stack does)"
            )
        return gunicorn

    def launch(self) -> Launch:
        kafka = Kafka(self.config, self.secrets)
        # prometheus_client's multiprocess files must not outlive the processes of a run.
        metrics_dir = self.data_dir / "prometheus"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        env = {
            **os.environ,
            "HOVER_KAFKA_BOOTSTRAP": kafka.bootstrap_servers,
            "HOVER_SCHEMA_REGISTRY_URL": SchemaRegistry(self.config, self.secrets).url,
            "HOVER_ELASTICSEARCH_URL": Elasticsearch(self.config, self.secrets).url,
            "HOVER_INGEST_API_KEYS": self.secrets.ingest_api_key,
            "HOVER_INGEST_BIND": self.address,
            "HOVER_INGEST_NAME": self.name,
            "HOVER_INGEST_INSTANCE_NAME": self.name,
            "HOVER_INGEST_WORKERS": os.environ.get("HOVER_INGEST_WORKERS", "1"),
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        }
        argv = [str(self._gunicorn()), "-c", str(GUNICORN_CONF), WSGI_APP]
        return Launch(argv=argv, env=env, cwd=REPO_ROOT)

    def is_ready(self) -> bool:
        # /ready answers 200 only when the sink reaches Kafka and every topic exists.
        return http_status(f"{self.url}/ready") == 200

    def describe(self) -> str:
        return f"{self.url} (ingest API instance, behind nginx)"
