"""Alerts carry no record values: every text an alert is built from is redacted, whoever
wrote it (the validator's messages, PostgreSQL's errors, an exception), and what an operator
needs to act (pointers, limits, offsets, the names the schema defines) stays."""

from __future__ import annotations

import copy
import json

import pytest

from alerts.document import Severity, alert_document
from alerts.redaction import REDACTED, redact
from schemas import latest
from spark.checks import record_problem
from tests.support import sample

NAME, EMAIL = "Ada Lovelace", "ada.lovelace@example.org"
#: What a customer record may hold in any field, as the client sent it (right or wrong type).
PERSONAL = [NAME, EMAIL, "ada@", "Ada" * 40, 95.5123, -181.25, 51.5072,
            {"first_name": "Adelaide", "city": "Marylebone"}, ["Lovelace", 12.3456]]


def leaves(value) -> list[str]:
    """The values as they could show up in a text (strings, and numbers as Python writes them)."""
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in leaves(item)]
    if isinstance(value, list):
        return [leaf for item in value for leaf in leaves(item)]
    return [str(value)]


def customers_with_personal_values():
    """A customer record with each field (nested ones too) replaced by each personal value,
    plus one with a field the schema does not know."""
    base = sample("customer")
    for key, value in base.items():
        targets = [(key, None)] + ([(key, inner) for inner in value] if isinstance(value, dict)
                                   else [])
        for outer, inner in targets:
            for bad in PERSONAL:
                record = copy.deepcopy(base)
                if inner is None:
                    record[outer] = bad
                else:
                    record[outer][inner] = bad
                yield record, bad
    yield {**base, "nickname": NAME}, NAME


def test_dead_letter_reasons_keep_pointers_and_lose_every_value() -> None:
    from schemas.validation import EventValidator

    validator = EventValidator(latest("customer").schema)
    checked = 0
    for record, value in customers_with_personal_values():
        reasons = record_problem(json.dumps(record).encode(), validator)
        if reasons is None:  # the value was valid there (a latitude in range)
            continue
        redacted = redact(reasons)
        for leaf in leaves(value):
            assert leaf not in redacted, (reasons, redacted)
        # Where and why survive: each reason keeps its pointer and its explanation.
        assert [r.split(": ", 1)[0] for r in redacted.split("; ")] == \
            [r.split(": ", 1)[0] for r in reasons.split("; ")]
        # A sender that shortens the text to fit (the sink keeps 500 characters) may cut a
        # value in half: what is left of it goes too.
        for cut in range(1, len(reasons), 3):
            shortened = redact(reasons[:cut])
            for leaf in leaves(value):
                assert leaf[:5] not in shortened or len(leaf) < 5, (reasons[:cut], shortened)
        checked += 1
    assert checked > 50


@pytest.mark.parametrize(("reasons", "expected"), [
    ("/customer_name/first_name: 'Ada Lovelace' is too long",
     f"/customer_name/first_name: {REDACTED} is too long"),
    ("/customer_email: 'ada@' is not a 'email'", f"/customer_email: {REDACTED} is not a 'email'"),
    ("/customer_location/latitude: 95.5 is greater than the maximum of 90",
     f"/customer_location/latitude: {REDACTED} is greater than the maximum of 90"),
    ("/customer_name: {'first_name': 'Ada', 'x': 1.5} is not of type 'object'",
     f"/customer_name: {REDACTED} is not of type 'object'"),
    ("/customer_name: 'last_name' is a required property",
     "/customer_name: 'last_name' is a required property"),
    ("(record): Additional properties are not allowed ('Ada' was unexpected)",
     f"(record): Additional properties are not allowed ({REDACTED} was unexpected)"),
    ("/id: valid, but the sink could not convert it to column id",
     "/id: valid, but the sink could not convert it to column id"),
    ("/customer_email: 'x' is not a 'email'; /customer_name/first_name: 'Ada Lov",
     f"/customer_email: {REDACTED} is not a 'email'; /customer_name/first_name: {REDACTED}"),
    ("/customer_location: {'latitude': 51.5, 'longi",
     f"/customer_location: {REDACTED}"),
])
def test_validator_messages_name_the_field_and_the_rule_not_the_value(reasons, expected) -> None:
    assert redact(reasons) == expected


def test_postgresql_errors_keep_the_statement_and_lose_the_row() -> None:
    error = (
        'new row for relation "customer" violates check constraint "customer_email_check"\n'
        "DETAIL:  Failing row contains (7, Ada, Lovelace (née Byron), ada@example.org).\n"
        'duplicate key value violates unique constraint "customer_pkey"\n'
        "DETAIL:  Key (id, email)=(7, ada@example.org) already exists.\n"
        "invalid byte sequence for encoding \"UTF8\": 0x00\n"
        'CONTEXT:  COPY customer, line 1, column first_name: "Ada Lovelace"\n'
        'CONTEXT:  COPY customer, line 2: "7\tAda\tLovelace"\n'
        'invalid input syntax for type integer: "Ada"'
    )
    assert redact(error) == (
        'new row for relation "customer" violates check constraint "customer_email_check"\n'
        f"DETAIL:  Failing row contains ({REDACTED}).\n"
        'duplicate key value violates unique constraint "customer_pkey"\n'
        f"DETAIL:  Key (id, email)=({REDACTED}) already exists.\n"
        "invalid byte sequence for encoding \"UTF8\": 0x00\n"
        f"CONTEXT:  COPY customer, line 1, column first_name: {REDACTED}\n"
        f"CONTEXT:  COPY customer, line 2: {REDACTED}\n"
        f"invalid input syntax for type integer: {REDACTED}"
    )


def test_text_that_quotes_no_record_is_unchanged() -> None:
    text = ("customer_sink: 2 record(s) of batch 14 could not be loaded; the job's last "
            "offset is 4711\n"
            '  File "spark/sink_job.py", line 151, in __call__\n'
            "data-quality check hoverboard.ranges failed on fleet.hoverboard: observed 1.0")
    assert redact(text) == text


def test_an_address_goes_even_unquoted() -> None:
    assert redact(f"mail to {EMAIL} bounced") == f"mail to {REDACTED} bounced"


def test_every_text_of_an_alert_is_redacted_whoever_builds_it() -> None:
    doc = alert_document(
        component="spark_sink", action="query_failed", severity=Severity.ERROR,
        message=f"customer_sink failed: 'Ada Lovelace' is too long, {EMAIL}",
        error=ValueError("Failing row contains (7, Ada Lovelace)"),
        details={"query": "customer_sink", "offset": 12,
                 "first": {"partition": 1, "error": "/customer_name/first_name: 'Ada' is too long"},
                 "tail": ["'Lovelace'"]})
    text = json.dumps(doc)
    assert "Ada" not in text and "Lovelace" not in text and EMAIL not in text
    assert doc["message"].startswith("customer_sink failed: ")
    assert doc["details"]["offset"] == 12 and doc["details"]["first"]["partition"] == 1
    assert doc["details"]["first"]["error"].startswith("/customer_name/first_name: ")
