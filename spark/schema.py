"""Spark types and checks derived from the JSON Schema, so nothing is copied by hand.

* :func:`spark_type` turns a JSON Schema into the ``StructType`` that ``from_json`` parses
  with. Date-times stay strings (Spark would silently accept a time without offset) and
  integers are parsed as decimals (JSON Schema counts ``1.0`` as an integer; Spark's long
  parser would not) and converted after they are checked.
* :func:`violations` builds one column: the list of reasons a record breaks its schema
  (required fields, types, ranges, lengths, formats, unknown fields), empty for a valid
  record, using only Spark's built-in functions. It matches the API's validator
  (``schemas.validation``) on the test corpus.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql import types as T

from schemas.validation import EMAIL_PATTERN

# RFC 3339 date-time with a mandatory offset. Calendar validity (no 30 February) is
# checked separately by parsing it.
RFC3339_PATTERN = (
    r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[Tt]([01]\d|2[0-3]):[0-5]\d:[0-5]\d"
    r"(\.\d+)?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)$"
)
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


def _pointer(path: tuple[str, ...]) -> str:
    return "".join("/" + p for p in path)


def _checks(node: Mapping[str, Any], value: Column, raw_json: Column,
            path: tuple[str, ...], variant: Column) -> Iterator[Column]:
    """Columns that are a message when the check fails and null when it passes."""
    where = _pointer(path) or "(record)"
    properties = node.get("properties", {})
    if node.get("additionalProperties") is False:
        unknown = F.array_except(F.json_object_keys(raw_json),
                                 F.array(*[F.lit(p) for p in properties]))
        yield F.when(F.size(unknown) > 0,
                     F.concat(F.lit(f"{where}: unknown field(s) "),
                              F.array_join(unknown, ", ")))
    required = set(node.get("required", ()))
    for name, child in properties.items():
        child_path = path + (name,)
        child_value = value[name]
        child_where = _pointer(child_path)
        if name in required:
            yield F.when(child_value.isNull(),
                         F.lit(f"{child_where}: required, missing or not {child.get('type')}"))
        else:
            # An optional field that is present but does not parse has the wrong type.
            present = F.get_json_object(raw_json, f"$.{name}").isNotNull()
            yield F.when(present & child_value.isNull(),
                         F.lit(f"{child_where}: not {child.get('type')}"))
        if child.get("type") == "string":
            # from_json turns any scalar into a string (true -> "true"): ask the parsed
            # JSON (a VARIANT) what the value really is.
            json_type = F.schema_of_variant(
                F.try_variant_get(variant, "$." + ".".join(child_path), "variant"))
            yield F.when(child_value.isNotNull() & (json_type != "STRING"),
                         F.lit(f"{child_where}: not string"))
        yield from _value_checks(child, child_value, child_where)
        if child.get("type") == "object":
            yield from _checks(child, child_value, F.get_json_object(raw_json, f"$.{name}"),
                               child_path, variant)


def _value_checks(node: Mapping[str, Any], value: Column, where: str) -> Iterator[Column]:
    kind = node.get("type")
    if kind == "integer":
        yield F.when(value != F.floor(value), F.lit(f"{where}: not an integer"))
        low = max(node.get("minimum", _LONG_MIN), _LONG_MIN)
        high = min(node.get("maximum", _LONG_MAX), _LONG_MAX)
        yield F.when(value < F.lit(low).cast(_INTEGER), F.lit(f"{where}: below {low}"))
        yield F.when(value > F.lit(high).cast(_INTEGER), F.lit(f"{where}: above {high}"))
    if kind == "number":
        if "minimum" in node:
            yield F.when(value < node["minimum"], F.lit(f"{where}: below {node['minimum']}"))
        if "maximum" in node:
            yield F.when(value > node["maximum"], F.lit(f"{where}: above {node['maximum']}"))
    if kind == "string":
        if "minLength" in node:
            yield F.when(F.char_length(value) < node["minLength"],
                         F.lit(f"{where}: shorter than {node['minLength']}"))
        if "maxLength" in node:
            yield F.when(F.char_length(value) > node["maxLength"],
                         F.lit(f"{where}: longer than {node['maxLength']}"))
        fmt = node.get("format")
        if fmt == "date-time":
            bad = ~value.rlike(RFC3339_PATTERN) | F.try_to_timestamp(value).isNull()
            yield F.when(bad, F.lit(f"{where}: not an RFC 3339 date-time with offset"))
        elif fmt == "email":
            yield F.when(~value.rlike(EMAIL_PATTERN), F.lit(f"{where}: not an email address"))


def violations(schema: Mapping[str, Any], parsed: Column, raw_json: Column) -> Column:
    """array<string> of every reason the record breaks ``schema``; empty when valid."""
    variant = F.try_parse_json(raw_json)
    field_checks = F.filter(F.array(*_checks(schema, parsed, raw_json, (), variant)),
                            lambda message: message.isNotNull())
    # A value that is not a JSON object (or not JSON at all) has no fields to check.
    return F.when(F.json_object_keys(raw_json).isNull(),
                  F.array(F.lit("(record): not a JSON object"))).otherwise(field_checks)


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
