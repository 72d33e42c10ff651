"""What a warehouse column can hold, as its catalog describes it: the checks a loader runs
before the COPY, so one value never fails a batch (loader/limits.py)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from loader.limits import limits_from_catalog, row_problems, violations

TABLE = "fleet.example"


def table(*columns: tuple) -> object:
    """Limits as information_schema.columns would list them: (name, data_type,
    character_maximum_length, numeric_precision, numeric_scale, is_nullable)."""
    return limits_from_catalog(TABLE, [(*c, *(None,) * (5 - len(c)), "YES") for c in columns])


def problems(limits, engine="postgres", **values) -> list[str | None]:
    return row_problems(pa.table(values), limits, engine=engine)


def test_a_nul_character_is_refused_on_both_engines() -> None:
    limits = table(("name", "character varying", 100))
    for engine in ("postgres", "redshift"):
        ok, bad = problems(limits, engine, name=["Ada", "Ada\x00"])
        assert ok is None
        assert bad == ("name: contains the NUL character (U+0000), which column "
                       "fleet.example.name (varchar(100)) cannot store: remove it")


def test_varchar_counts_characters_on_postgres_and_bytes_on_redshift() -> None:
    limits = table(("name", "character varying", 100))
    names = ["a" * 100, "é" * 50, "é" * 100, "a" * 101]
    assert problems(limits, "postgres", name=names) == [
        None, None, None,
        "name: 101 characters, more than the 100 that column fleet.example.name "
        "(varchar(100)) holds on PostgreSQL"]
    assert problems(limits, "redshift", name=names) == [
        None, None,
        "name: 200 bytes in UTF-8, more than the 100 that column fleet.example.name "
        "(varchar(100)) holds on Redshift",
        "name: 101 bytes in UTF-8, more than the 100 that column fleet.example.name "
        "(varchar(100)) holds on Redshift"]


def test_text_without_a_length_has_no_length_limit() -> None:
    limits = table(("note", "text"))
    assert problems(limits, "postgres", note=["x" * 100_000]) == [None]


@pytest.mark.parametrize(("data_type", "low", "high"), [
    ("smallint", -(2**15), 2**15 - 1), ("integer", -(2**31), 2**31 - 1),
    ("bigint", -(2**63), 2**63 - 1)])
def test_integers_must_fit_the_columns_integer_type(data_type, low, high) -> None:
    limits = table(("n", data_type))
    rule = f"n: outside {low}..{high}, the range of column fleet.example.n ({data_type})"
    # Arrow's int64 cannot go past bigint; a double can (an integer column fed a number).
    assert problems(limits, n=pa.array([low, high], pa.int64())) == [None, None]
    assert problems(limits, n=[float(low) * 2, float(high) * 2, 1.0]) == [rule, rule, None]


def test_floating_point_must_be_finite_and_fit_real() -> None:
    limits = table(("d", "double precision"), ("r", "real"))
    found = problems(limits, d=[1e308, math.inf, math.nan, 1.0],
                     r=[3.4e38, 1.0, 1.0, 3.5e38])
    assert found[0] is None
    assert found[1] == found[2] == ("d: not a finite number (NaN or infinity), which column "
                                    "fleet.example.d (double precision) does not hold")
    assert found[3] == "r: beyond ±3.402823e+38, the range of column fleet.example.r (real)"


def test_numeric_precision_bounds_the_digits_before_the_point() -> None:
    limits = table(("m", "numeric", None, 5, 2))
    assert problems(limits, m=[999.99, -999.0, 1000.0]) == [
        None, None, "m: 3 digit(s) at most before the point fit column fleet.example.m "
                    "(numeric(5, 2))"]


def test_timestamps_must_fall_within_years_1_to_9999_in_utc() -> None:
    limits = table(("t", "timestamp with time zone"))
    us = pa.timestamp("us", tz="UTC")
    first = int(datetime(1, 1, 1, tzinfo=UTC).timestamp() * 10**6)
    last = int(datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp()) * 10**6 + 999_999
    rule = ("t: outside 0001-01-01T00:00:00Z..9999-12-31T23:59:59.999999Z in UTC, the times "
            "column fleet.example.t (timestamp with time zone) holds")
    # What Spark's parse gives the sink: year 0 and year 10000 are representable there.
    assert problems(limits, t=pa.array([first, last, first - 1, last + 1], us)) == [
        None, None, rule, rule]
    # What an ingest instance loads: the RFC 3339 text as it came.
    assert problems(limits, t=["0001-01-01T00:00:00-05:00", "2026-11-27T09:00:00Z",
                               "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"]) == [
        None, None, rule, rule]


def test_null_in_a_not_null_column_is_refused() -> None:
    limits = limits_from_catalog(TABLE, [("id", "bigint", None, 64, 0, "NO"),
                                         ("note", "text", None, None, None, "YES")])
    assert problems(limits, id=pa.array([1, None], pa.int64()), note=[None, None]) == [
        None, "id: missing, but column fleet.example.id (bigint) is NOT NULL"]


def test_a_violation_names_the_events_pointer_column_and_rule() -> None:
    limits = table(("first_name", "character varying", 3), ("source_topic", "character varying",
                                                            5))
    [found] = violations(pa.table({"first_name": ["Marty"], "source_topic": ["customer"]}),
                         limits, engine="postgres",
                         pointers={"first_name": "/customer_name/first_name"})
    assert [(v.column, v.pointer) for v in found] == [
        ("first_name", "/customer_name/first_name"), ("source_topic", None)]
    assert str(found[0]).startswith("/customer_name/first_name: 5 characters, more than the 3")
    assert str(found[1]).startswith("source_topic: 8 characters")


def test_columns_the_batch_does_not_carry_are_not_checked_and_a_missing_table_is_an_error(
        ) -> None:
    limits = limits_from_catalog(TABLE, [("loaded_at", "timestamp with time zone", None, None,
                                          None, "NO")])
    assert problems(limits, other=[1]) == [None]
    with pytest.raises(LookupError, match="bin/migrate"):
        limits_from_catalog("fleet.nothing", [])
    with pytest.raises(ValueError, match="engine"):
        row_problems(pa.table({"x": [1]}), limits, engine="mysql")
