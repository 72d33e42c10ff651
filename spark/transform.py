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
    # try_*: under ANSI mode a missing or malformed header would otherwise fail the whole
    # batch, and a failed batch is replayed forever.
    matching = F.filter(kafka_headers, lambda h: h["key"] == F.lit(headers.RECEIVED_AT))
    millis = F.try_element_at(matching, F.lit(1))["value"].cast("string").try_cast("long")
    return F.timestamp_millis(millis)


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
