"""The services of the local stack, in start order."""

from __future__ import annotations

from stack.config import StackConfig
from stack.secrets import Secrets
from stack.services.airflow import (
    AirflowApiServer,
    AirflowDagProcessor,
    AirflowScheduler,
    AirflowTriggerer,
)
from stack.services.base import Service
from stack.services.elasticsearch import Elasticsearch
from stack.services.ingest import IngestInstance
from stack.services.kafka import Kafka
from stack.services.nginx import Nginx
from stack.services.postgres import Postgres
from stack.services.s3 import S3Store
from stack.services.schema_registry import SchemaRegistry
from stack.services.superset import Superset


def build_services(config: StackConfig, secrets: Secrets) -> list[Service]:
    classes: list[type[Service]] = [Postgres, Kafka, S3Store, Elasticsearch, SchemaRegistry]
    services = [cls(config, secrets) for cls in classes]
    # The ingest API instances after the broker and the registry they need, NGINX after them.
    instances = [IngestInstance(config, secrets, n) for n in range(1, config.ingest_instances + 1)]
    airflow = [cls(config, secrets) for cls in (AirflowApiServer, AirflowScheduler,
                                                AirflowDagProcessor, AirflowTriggerer)]
    return [*services, *instances, Nginx(config, secrets, instances), *airflow,
            Superset(config, secrets)]
