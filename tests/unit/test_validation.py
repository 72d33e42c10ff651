"""The hot-path validator (jsonschema-rs) agrees with the reference (jsonschema) on a
corpus of valid and invalid events, and both enforce our formats."""

from __future__ import annotations

import copy

import pytest

from schemas import latest, message_types, versions
from schemas.validation import EventValidator
from tests.support import sample

# Values that are wrong somewhere: other types, out-of-range numbers, bad formats.
BAD_VALUES = [None, True, "text", "", -1, 10**20, -1e9, 1e9, 3.5, [], {}, "2026-13-45T99:00:00Z",
              "2026-11-27 09:00:00", "2026-11-27T09:00:00", "a@b", "no-at-sign", "x@y.z"]


def mutations(event: dict):
    """The event with each field, nested ones included, removed or replaced by bad values."""
    def walk(node: dict, path: tuple):
        for key, value in node.items():
            yield path + (key,), value
            if isinstance(value, dict):
                yield from walk(value, path + (key,))

    for path, _ in list(walk(event, ())):
        parent_path, key = path[:-1], path[-1]
        removed = copy.deepcopy(event)
        parent = removed
        for p in parent_path:
            parent = parent[p]
        del parent[key]
        yield removed
        for bad in BAD_VALUES:
            changed = copy.deepcopy(event)
            parent = changed
            for p in parent_path:
                parent = parent[p]
            parent[key] = bad
            yield changed
    yield {**event, "unexpected": 1}
    yield [event]
    yield "not an object"


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
])
def test_date_time_needs_an_offset(value: str, valid: bool) -> None:
    validator = EventValidator(latest("trip").schema)
    assert (validator.errors(sample("trip", start_time_and_date=value)) == []) is valid


@pytest.mark.parametrize(("value", "valid"), [
    ("marty@hillvalley.example", True), ("a.b+c@x.co", True),
    ("no-at-sign", False), ("a@b", False), ("two@@x.com", False), ("sp ace@x.com", False),
])
def test_email_format(value: str, valid: bool) -> None:
    validator = EventValidator(latest("customer").schema)
    assert (validator.errors(sample("customer", customer_email=value)) == []) is valid


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
