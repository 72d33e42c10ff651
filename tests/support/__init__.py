"""Helpers shared by tests and benchmarks, one module per subject; the names most tests use
are importable from ``tests.support`` directly. Test modules import helpers from here, never
from one another."""

from tests.support.alerts import alerts_with
from tests.support.events import BAD_VALUES, mutations, sample
from tests.support.kafka import (
                                 JAVA_PARTITIONER,
                                 end_offsets,
                                 java_partitions,
                                 read_from,
                                 scratch_topic,
)
from tests.support.streaming import produce, telemetry
from tests.support.warehouse import fetch, scratch_database, warehouse_connection

__all__ = ["BAD_VALUES", "JAVA_PARTITIONER", "alerts_with", "end_offsets", "fetch",
           "java_partitions", "mutations", "produce", "read_from", "sample", "scratch_database",
           "scratch_topic", "telemetry", "warehouse_connection"]
