"""The hot-path validator (jsonschema-rs) agrees with the reference (jsonschema) on a
corpus of valid and invalid events, and both enforce our formats."""

from __future__ import annotations

import copy

import pytest

from schemas import latest, message_types, versions
from schemas.validation import (
    NUL_MESSAGE,
    EventValidator,
    FieldError,
    date_time_out_of_range,
    is_date_time,
)
from tests.support import mutations, sample


@pytest.mark.parametrize("message_type", message_types())
def test_fast_and_reference_validators_agree(message_type: str) -> None:
    validator = EventValidator(latest(message_type).schema)
    corpus = [sample(message_type), *mutations(sample(message_type))]
    assert len(corpus) > 100
    disagreements = [
        record for record in corpus
        if validator.is_valid_fast(record) != validator.is_valid_reference(record)
    ]
    assert not disagreements
    # The corpus exercises both answers, and rejected records are explained.
    verdicts = [validator.is_valid_reference(r) for r in corpus]
    assert True in verdicts and False in verdicts
    assert all(validator.errors(r) for r, ok in zip(corpus, verdicts, strict=True) if not ok)


@pytest.mark.parametrize(("value", "valid"), [
    ("2026-11-27T09:00:00Z", True), ("2026-11-27T09:00:00.123+05:30", True),
    ("2026-11-27T09:00:00", False), ("2026-11-27", False), ("yesterday", False),
    ("2028-02-29T00:00:00Z", True), ("2026-02-29T00:00:00Z", False),
    ("2026-04-31T00:00:00Z", False), ("0000-01-01T00:00:00Z", False),
    ("2026-11-27T09:00:00Z\n", False), ("2026-11-27T23:59:60Z", False),
    ("2026-11-27T09:00:00+24:00", False), ("2026-11-27T09:00:00.Z", False),
])
def test_date_time_needs_an_offset(value: str, valid: bool) -> None:
    validator = EventValidator(latest("trip").schema)
    assert (validator.errors(sample("trip", start_time_and_date=value)) == []) is valid


def test_date_time_check_agrees_with_jsonschemas_own() -> None:
    """Ours is a faster rewrite of rfc3339-validator's (jsonschema's date-time check): the two
    agree on every day of a leap and a common year around the turn of each month, on the
    ends of every time field and on broken strings; only a trailing newline, which that
    package lets through, is refused here."""
    from rfc3339_validator import validate_rfc3339

    days = [f"{year}-{month:02}-{day:02}" for year in ("0000", "0001", "1900", "2000", "2026",
                                                       "2028", "9999")
            for month in range(0, 14) for day in (0, 1, 9, 10, 28, 29, 30, 31, 32)]
    times = ["T00:00:00Z", "T23:59:59.999999+14:00", "T24:00:00Z", "T12:60:00Z",
             "T12:00:61Z", "T12:00:00-23:59", "T12:00:00+01", "T12:00:00.Z", "t12:00:00z",
             " 12:00:00Z", "T12:00:00", ""]
    corpus = [d + t for d in days for t in times]
    corpus += ["", "2026-1-1T00:00:00Z", "20260-01-01T00:00:00Z", "2026-01-01T00:00:00Zjunk"]
    corpus.append("2026-01-01T00:00:00Z\n")
    assert sum(map(validate_rfc3339, corpus)) > 100
    assert [v for v in corpus if is_date_time(v) != validate_rfc3339(v)] == [
        "2026-01-01T00:00:00Z\n"]
    # jsonschema-rs runs the same rule as a pattern plus its own calendar (fast_schema);
    # both then refuse the instants the warehouse cannot hold.
    validator = EventValidator(latest("trip").schema)
    trips = [sample("trip", start_time_and_date=v) for v in corpus]
    assert [v for v, trip in zip(corpus, trips, strict=True)
            if validator.is_valid_fast(trip) != (is_date_time(v) and not
                                                 date_time_out_of_range(v))] == []


def test_a_batch_is_all_valid_only_when_each_record_is() -> None:
    validator = EventValidator(latest("hoverboard").schema)
    batch = [sample("hoverboard", id=i) for i in range(1, 50)]
    assert validator.all_valid(batch)
    batch[17]["event_time"] = "2026-02-30T00:00:00Z"
    assert not validator.all_valid(batch)
    assert not validator.all_valid([*batch[:17], "not an object"])


@pytest.mark.parametrize(("value", "valid"), [
    ("marty@hillvalley.example", True), ("a.b+c@x.co", True),
    ("no-at-sign", False), ("a@b", False), ("two@@x.com", False), ("sp ace@x.com", False),
    ("a@b.c\n", False), ("x" * 65 + "@x.com", False), ("é@ü.example", True),
])
def test_email_format(value: str, valid: bool) -> None:
    validator = EventValidator(latest("customer").schema)
    customer = sample("customer", customer_email=value)
    assert (validator.errors(customer) == []) is valid
    assert validator.is_valid_fast(customer) is validator.is_valid_reference(customer) is valid


def test_validation_never_mutates_the_record() -> None:
    validator = EventValidator(latest("hoverboard").schema)
    event = sample("hoverboard")
    before = copy.deepcopy(event)
    validator.errors(event)
    assert event == before


@pytest.mark.parametrize("message_type", message_types())
def test_every_version_is_a_valid_schema_with_an_event_time(message_type: str) -> None:
    time_fields = {"hoverboard": "event_time", "customer": "updated_at",
                   "trip": "start_time_and_date"}
    for version in versions(message_type):
        EventValidator(version.schema)  # raises on an invalid schema
        assert version.schema["additionalProperties"] is False
        assert time_fields[message_type] in version.schema["required"]


def test_the_fast_schema_rewrites_formats_only_where_they_are_formats() -> None:
    """A property named "format", an enum value, a format neither validator knows and a
    format next to the schema's own pattern: both validators still agree."""
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {
            "format": {"type": "string", "enum": [{"format": "email"}, "csv"]},
            "site": {"type": "string", "format": "uri"},
            "seen": {"type": "string", "format": "date-time", "pattern": "^2026-"},
        },
    }
    validator = EventValidator(schema)
    cases = [
        ({"format": "csv"}, True),
        ({"format": "tsv"}, False),
        ({"site": "not a uri"}, True),  # unknown formats are annotations for both
        ({"seen": "2026-11-27T09:00:00Z"}, True),
        ({"seen": "2025-11-27T09:00:00Z"}, False),  # the schema's own pattern still applies
        ({"seen": "2026-02-30T09:00:00Z"}, False),  # and so does the format
    ]
    for record, valid in cases:
        assert validator.is_valid_fast(record) is validator.is_valid_reference(record) is valid


@pytest.mark.parametrize(("value", "valid"), [
    # An offset moves the instant by less than a day: only years 1 and 9999 can leave the
    # range the warehouse holds, in UTC [0001-01-01T00:00:00Z, 9999-12-31T23:59:59.999999Z].
    ("0001-01-01T00:00:00Z", True), ("0001-01-01T00:00:00-05:00", True),
    ("0001-01-01T05:00:00+05:00", True), ("0001-01-01T04:59:59.999+05:00", False),
    ("0001-01-01T00:00:00+05:00", False), ("0001-01-02T00:00:00+14:00", True),
    ("9999-12-31T23:59:59.999999Z", True), ("9999-12-31T18:59:59.999999-05:00", True),
    ("9999-12-31T23:59:59-05:00", False), ("9999-12-31T19:00:00-05:00", False),
    # PostgreSQL rounds digits past the microsecond: this one would be year 10000.
    ("9999-12-31T23:59:59.9999995Z", False), ("9999-12-31T23:59:59.9999990Z", True),
])
def test_a_date_time_must_fall_within_years_1_to_9999_in_utc(value: str, valid: bool) -> None:
    validator = EventValidator(latest("trip").schema)
    trip = sample("trip", start_time_and_date=value)
    assert validator.is_valid_fast(trip) is validator.is_valid_reference(trip) is valid
    assert validator.all_valid([sample("trip"), trip]) is valid
    if not valid:
        [error] = validator.errors(trip)
        assert error.pointer == "/start_time_and_date"
        assert "between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z" in error.detail


def test_a_nul_character_is_refused_anywhere_with_its_pointer() -> None:
    validator = EventValidator(latest("customer").schema)
    ada = sample("customer", customer_name={"first_name": "Ada\x00", "last_name": "L"})
    assert validator.errors(ada) == [FieldError("/customer_name/first_name", NUL_MESSAGE)]
    assert not validator.all_valid([sample("customer"), ada])
    assert not validator.is_valid_fast(ada) and not validator.is_valid_reference(ada)
    # Reported alongside the schema's own errors, sorted by pointer.
    both = sample("customer", customer_name={"first_name": "Ada\x00", "last_name": 5})
    assert [e.pointer for e in validator.errors(both)] == ["/customer_name/first_name",
                                                           "/customer_name/last_name"]
    # Other non-ASCII text is fine: "é" * 100 is 100 characters, within maxLength.
    assert validator.errors(sample("customer", customer_name={
        "first_name": "é" * 100, "last_name": "\u2603"})) == []


def test_the_nul_rule_covers_strings_the_schema_does_not_name() -> None:
    """An open schema (extra properties, arrays): every string is looked at."""
    schema = {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
              "properties": {"tags": {"type": "array", "items": {"type": "string"}}}}
    validator = EventValidator(schema)
    for record, pointer in [({"tags": ["a", "b\x00"]}, "/tags/1"), ({"x": {"y": "\x00"}}, "/x/y")]:
        assert [e.pointer for e in validator.errors(record)] == [pointer]
        assert not validator.is_valid_fast(record) and not validator.is_valid_reference(record)
    assert validator.errors({"tags": ["a"], "x": "é"}) == []
