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
from stack.services.customer_web import CustomerNginx, CustomerWeb
from stack.services.elasticsearch import Elasticsearch
from stack.services.ingest import IngestInstance
from stack.services.kafka import Kafka
from stack.services.nginx import Nginx
from stack.services.postgres import Postgres
from stack.services.s3 import S3Store
from stack.services.schema_registry import SchemaRegistry
from stack.services.smtp import SmtpCatcher
from stack.services.spark_cluster import WORKERS, SparkMaster, SparkWorker
from stack.services.superset import Superset


def build_services(config: StackConfig, secrets: Secrets) -> list[Service]:
    kafka = [Kafka(config, secrets, node) for node in range(1, config.kafka_brokers + 1)]
    services = [Postgres(config, secrets), *kafka,
                *(cls(config, secrets) for cls in (S3Store, Elasticsearch, SchemaRegistry))]
    # The ingest API instances after the broker and the registry they need, NGINX after them.
    instances = [IngestInstance(config, secrets, n) for n in range(1, config.ingest_instances + 1)]
    airflow = [cls(config, secrets) for cls in (AirflowApiServer, AirflowScheduler,
                                                AirflowDagProcessor, AirflowTriggerer)]
    # The customer web app after the warehouse and the SMTP catcher, its NGINX after it.
    customer = [cls(config, secrets) for cls in (SmtpCatcher, CustomerWeb, CustomerNginx)]
    # The Spark standalone cluster last: started only when named (on_demand).
    spark = [SparkMaster(config, secrets),
             *(SparkWorker(config, secrets, n) for n in range(1, WORKERS + 1))]
    return [*services, *instances, Nginx(config, secrets, instances), *customer, *airflow,
            Superset(config, secrets), *spark]
