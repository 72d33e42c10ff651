"""Pure DataFrame transformations of the sink: Kafka records in, table rows (with the raw
record, for the checks and dead letters) out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from loader.tables import METADATA_COLUMNS, TableSpec
from schemas import headers
from spark.schema import column_at, node_at, spark_type, typed


def received_at(kafka_headers: Column) -> Column:
    """The ingest API's receive time from the record's headers (null if absent)."""
    # array_position and an index compile to Java with the rest of the projection. The
    # higher-order filter used before is interpreted, and each header field it read looked
    # up the SQL configuration: a fifth of the JVM's samples reading a topic in a one-off
    # JFR profile (not part of the benchmarks).
    position = F.array_position(kafka_headers["key"], headers.RECEIVED_AT)  # 1-based, 0: none
    value = F.when(position > 0, kafka_headers["value"][position - 1])
    # try_cast: under ANSI mode a malformed header would otherwise fail the whole batch, and
    # a failed batch is replayed forever.
    return F.timestamp_millis(value.cast("string").try_cast("long"))


def decode(kafka: DataFrame) -> DataFrame:
    """Kafka source rows -> raw bytes, JSON text and where the record came from."""
    return kafka.select(
        F.col("key").alias("raw_key"),
        F.col("value").alias("raw_value"),
        F.col("value").cast("string").alias("json"),
        F.col("topic").alias("source_topic"),
        F.col("partition").alias("source_partition"),
        F.col("offset").alias("source_offset"),
        received_at(F.col("headers")).alias("received_at"),
    )


def flatten(decoded: DataFrame, schema: Mapping[str, Any], spec: TableSpec) -> DataFrame:
    """One row per record: the table's columns parsed with the schema's Spark type (null
    where a record does not fit it), the load metadata and the raw record, which
    ``spark.checks`` validates and dead letters keep."""
    event = F.from_json(F.col("json"), spark_type(schema))
    with_event = decoded.withColumn("event", event)
    table_columns = [
        typed(node_at(schema, pointer), column_at(F.col("event"), pointer)).alias(column)
        for column, pointer in spec.columns
    ]
    return with_event.select(*table_columns, *METADATA_COLUMNS, "raw_key", "raw_value")
