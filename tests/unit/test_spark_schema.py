"""The Spark sink's schema and checks, derived from the JSON Schema, on small DataFrames."""

from __future__ import annotations

import json

import pytest
from pyspark.sql import functions as F
from pyspark.sql import types as T

from schemas import latest, message_types
from schemas.validation import EventValidator
from spark.schema import spark_type, violations
from tests.support import sample
from tests.unit.test_validation import mutations


def test_struct_type_follows_the_json_schema() -> None:
    struct = spark_type(latest("hoverboard").schema)
    assert struct["id"].dataType == T.DecimalType(38, 6)  # checked, then cast to long
    assert struct["event_time"].dataType == T.StringType()  # checked, then parsed
    assert struct["location"].dataType == T.StructType([
        T.StructField("latitude", T.DoubleType()), T.StructField("longitude", T.DoubleType())])
    assert struct["isdocked"].dataType == T.BooleanType()


@pytest.mark.parametrize("message_type", message_types())
def test_spark_checks_agree_with_the_api_validator(spark, message_type) -> None:
    schema = latest(message_type).schema
    validator = EventValidator(schema)
    corpus = [sample(message_type), *mutations(sample(message_type)),
              {**sample(message_type), next(iter(schema["required"])): None}]
    raw = [json.dumps(record) for record in corpus] + ["not json", "", "[1, 2]", "42"]
    df = spark.createDataFrame([(i, v) for i, v in enumerate(raw)], ["i", "value"])
    checked = df.select(
        "i", violations(schema, F.from_json("value", spark_type(schema)), F.col("value"))
        .alias("problems"))
    verdicts = {row.i: list(row.problems) for row in checked.collect()}
    for i, record in enumerate(corpus):
        api_ok = validator.is_valid_reference(record)
        assert (verdicts[i] == []) == api_ok, (record, verdicts[i], validator.errors(record))
    for i in range(len(corpus), len(raw)):
        assert verdicts[i] == ["(record): not a JSON object"], raw[i]


def test_a_violation_names_the_field(spark) -> None:
    schema = latest("hoverboard").schema
    event = sample("hoverboard", charge=140, location={"latitude": 95, "longitude": 0})
    df = spark.createDataFrame([(json.dumps(event),)], ["value"])
    [row] = df.select(violations(schema, F.from_json("value", spark_type(schema)),
                                 F.col("value")).alias("p")).collect()
    assert sorted(row.p) == ["/charge: above 100", "/location/latitude: above 90"]
