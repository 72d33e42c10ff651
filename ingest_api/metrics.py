"""Prometheus metrics. Under gunicorn, every worker writes to PROMETHEUS_MULTIPROC_DIR
(set by gunicorn.conf.py) and /metrics aggregates all workers."""

from __future__ import annotations

import os
from functools import cache

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

ACCEPTED = Counter("ingest_records_accepted_total", "Records durably stored", ["message_type"])
REJECTED = Counter("ingest_records_rejected_total", "Records refused",
                   ["message_type", "reason"])
FAILED = Counter("ingest_records_failed_total", "Valid records the sink did not confirm (503)",
                 ["message_type"])
LATENCY = Histogram(
    "ingest_request_seconds", "Request latency", ["message_type"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
WAREHOUSE_RETRIES = Counter(
    "ingest_warehouse_serialization_retries_total",
    "Warehouse loads run again after a serialization failure (Redshift error 1023)")
QUEUE_DEPTH = Gauge("ingest_producer_queue_depth", "Records waiting in the Kafka producer",
                    multiprocess_mode="livesum")


def render() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST


@cache
def for_type(message_type: str) -> tuple:
    """The per-type children (accepted, rejected by schema, failed, latency), looked up once
    rather than on every request."""
    return (ACCEPTED.labels(message_type), REJECTED.labels(message_type, "schema"),
            FAILED.labels(message_type), LATENCY.labels(message_type))
