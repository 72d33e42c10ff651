"""The Spark type derived from the JSON Schema, so nothing is copied by hand.

:func:`spark_type` turns a JSON Schema into the ``StructType`` that ``from_json`` parses
with. Date-times stay strings and integers are parsed as decimals (JSON Schema counts
``1.0`` as an integer; Spark's long parser would not); :func:`typed` converts both to their
warehouse types. Whether a record is valid is not decided here but by the ingest API's own
validator (``spark.checks``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql import types as T

_INTEGER = T.DecimalType(38, 6)
_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1


def spark_type(node: Mapping[str, Any]) -> T.DataType:
    kind = node.get("type")
    if kind == "object":
        return T.StructType([
            T.StructField(name, spark_type(child), nullable=True)
            for name, child in node.get("properties", {}).items()
        ])
    if kind == "array":
        return T.ArrayType(spark_type(node.get("items", {})))
    return {
        "integer": _INTEGER,
        "number": T.DoubleType(),
        "boolean": T.BooleanType(),
        "string": T.StringType(),
    }.get(kind, T.StringType())


def typed(node: Mapping[str, Any], value: Column) -> Column:
    """A validated value in its warehouse type: integers as long, date-times as timestamps."""
    kind = node.get("type")
    if kind == "integer":
        # Out-of-range values of invalid rows become null, not a failed batch.
        return value.try_cast(T.LongType())
    if kind == "string" and node.get("format") == "date-time":
        return F.try_to_timestamp(value)
    return value


def node_at(schema: Mapping[str, Any], pointer: str) -> Mapping[str, Any]:
    node = schema
    for part in pointer.strip("/").split("/"):
        node = node["properties"][part]
    return node


def column_at(parsed: Column, pointer: str) -> Column:
    value = parsed
    for part in pointer.strip("/").split("/"):
        value = value[part]
    return value
