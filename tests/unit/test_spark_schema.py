"""The Spark sink's schema, flattening and checks, derived from the JSON Schema, on small
DataFrames."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest
from pyspark.sql import functions as F
from pyspark.sql import types as T

from loader.tables import table_spec
from schemas import latest, message_types
from schemas.validation import EventValidator
from spark.checks import batch_problems, required_pointers, unconverted, valid_mask
from spark.schema import spark_type
from spark.transform import flatten
from tests.support import mutations, sample


def test_struct_type_follows_the_json_schema() -> None:
    struct = spark_type(latest("hoverboard").schema)
    assert struct["id"].dataType == T.DecimalType(38, 6)  # checked, then cast to long
    assert struct["event_time"].dataType == T.StringType()  # checked, then parsed
    assert struct["location"].dataType == T.StructType([
        T.StructField("latitude", T.DoubleType()), T.StructField("longitude", T.DoubleType())])
    assert struct["isdocked"].dataType == T.BooleanType()


def _checked(spark, message_type: str, raw: list[str]):
    """What the sink's BatchWriter does to a batch: flatten in Spark, check on the driver."""
    schema = latest(message_type).schema
    spec = table_spec(message_type)
    decoded = spark.createDataFrame(
        [(v.encode(), v, "t", 0, i, None) for i, v in enumerate(raw)],
        "raw_value binary, json string, source_topic string, source_partition int, "
        "source_offset long, received_at timestamp",
    ).withColumn("raw_key", F.lit(None).cast("binary"))
    rows = flatten(decoded, schema, spec).toArrow()
    problems = batch_problems(rows["raw_value"].to_pylist(), EventValidator(schema))
    return rows, problems, unconverted(rows, spec, schema, problems)


@pytest.mark.parametrize("message_type", message_types())
def test_valid_records_are_loadable_and_invalid_ones_explained(spark, message_type) -> None:
    schema = latest(message_type).schema
    validator = EventValidator(schema)
    corpus = [sample(message_type), *mutations(sample(message_type)),
              {**sample(message_type), next(iter(schema["required"])): None}]
    raw = [json.dumps(record) for record in corpus] + ["not json", "", "[1, 2]", "42"]
    rows, problems, final = _checked(spark, message_type, raw)
    verdicts = [validator.is_valid_reference(record) for record in corpus]
    assert True in verdicts and False in verdicts
    for index, ok in enumerate(verdicts):
        assert (problems[index] is None) == ok, (corpus[index], problems[index])
    # Spark's parse of every valid record fills every required column: nothing valid is
    # turned away (or would break a NOT NULL) because two parsers disagree.
    assert final == problems
    assert rows.filter(valid_mask(final)).num_rows == verdicts.count(True)
    for index in range(len(corpus), len(raw)):
        assert problems[index].startswith("(record): "), raw[index]
    assert "not a JSON object" in problems[len(corpus)]


def test_a_problem_names_the_field(spark) -> None:
    event = sample("hoverboard", charge=140, location={"latitude": 95, "longitude": 0})
    _, problems, _ = _checked(spark, "hoverboard", [json.dumps(event)])
    assert problems[0].startswith("/charge: ")
    assert "; /location/latitude: " in problems[0]


def test_a_valid_record_spark_cannot_convert_goes_to_the_dead_letters(spark) -> None:
    schema = latest("hoverboard").schema
    spec = table_spec("hoverboard")
    rows, problems, _ = _checked(spark, "hoverboard", [json.dumps(sample("hoverboard"))])
    assert problems == [None]
    # As if Spark had parsed the required event time as null.
    column = rows.schema.get_field_index("event_time")
    broken = rows.set_column(column, "event_time", pa.nulls(1, rows["event_time"].type))
    [problem] = unconverted(broken, spec, schema, problems)
    assert problem.startswith("/event_time: valid, but the sink could not convert it")
    assert "/location/latitude" in set(required_pointers(schema))


def test_the_receive_time_comes_from_its_header_wherever_it_is(spark) -> None:
    """Kafka headers as the source gives them: the receive time is read from its header in
    any position; absent, garbled or without headers at all it is null, never an error."""
    from schemas import headers
    from spark.transform import received_at

    other = ("hover-request-id", b"r1")
    cases = [
        [(headers.RECEIVED_AT, b"1795800000123"), other],
        [other, ("x", None), (headers.RECEIVED_AT, b"1795800000456")],
        [other],
        [(headers.RECEIVED_AT, b"soon")],
        [(headers.RECEIVED_AT, None)],
        [],
        None,
        [(headers.RECEIVED_AT, b"1795800000789"), (headers.RECEIVED_AT, b"1")],  # first wins
    ]
    frame = spark.createDataFrame(
        [(i, h) for i, h in enumerate(cases)],
        "i int, headers array<struct<key: string, value: binary>>")
    millis = [r["t"] for r in frame.select(
        "i", F.unix_millis(received_at(F.col("headers"))).alias("t")).orderBy("i").collect()]
    assert millis == [1795800000123, 1795800000456, None, None, None, None, None, 1795800000789]


def test_what_sparks_parse_turns_into_infinity_or_null_is_refused_before_the_load(spark) -> None:
    """A schema without bounds: Spark parses 1e309 as infinity and an integer beyond
    bigint as null. The table's limits (loader.limits, here as the catalog would list
    them) refuse both, so they become dead letters, not a failed COPY."""
    from loader.limits import limits_from_catalog, row_problems
    from loader.tables import TableSpec

    schema = {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
              "required": ["id", "reading"],
              "properties": {"id": {"type": "integer"}, "reading": {"type": "number"}}}
    spec = TableSpec("probe", "fleet.probe", key=("id",), mode="insert",
                     columns=(("id", "/id"), ("reading", "/reading")))
    decoded = spark.createDataFrame(
        [(v.encode(), v, "t", 0, i, None) for i, v in enumerate(
            ['{"id": 1, "reading": 1e308}', '{"id": 2, "reading": 1e309}',
             '{"id": 18446744073709551616, "reading": 1}'])],
        "raw_value binary, json string, source_topic string, source_partition int, "
        "source_offset long, received_at timestamp",
    ).withColumn("raw_key", F.lit(None).cast("binary"))
    rows = flatten(decoded, schema, spec).toArrow()
    assert rows["reading"].to_pylist()[1] == float("inf")
    assert rows["id"].to_pylist()[2] is None
    limits = limits_from_catalog("fleet.probe", [
        ("id", "bigint", None, 64, 0, "NO"), ("reading", "double precision", None, 53, None, "NO")])
    assert row_problems(rows.select(list(spec.load_columns)), limits, engine="postgres",
                        pointers=dict(spec.columns)) == [
        None,
        "/reading: not a finite number (NaN or infinity), which column fleet.probe.reading "
        "(double precision) does not hold",
        "/id: missing, but column fleet.probe.id (bigint) is NOT NULL"]
