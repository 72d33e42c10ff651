"""Dead letters: how operators name and select them, what leaves the warehouse about them
(values masked), and the SQL Redshift would get."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hoverboard.dead_letters import letters
from hoverboard.dead_letters.letters import LetterId, Selection, parse_since, public_reason

from tests.support.redshift import parse_redshift


def test_a_letter_is_named_by_its_kafka_position() -> None:
    assert LetterId.parse(" trip.v2:3:1042 ") == LetterId("trip.v2", 3, 1042)
    assert str(LetterId("trip", 3, 1042)) == "trip:3:1042"
    for wrong in ("trip", "trip:3", "trip:x:1", "trip:3:-1", "a b:1:2"):
        with pytest.raises(ValueError, match="topic:partition:offset"):
            LetterId.parse(wrong)


def test_since_is_relative_or_a_time_in_utc() -> None:
    now = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    assert parse_since("24h", now) == datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    assert parse_since("7d", now) == datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    assert parse_since("2026-12-01") == datetime(2026, 12, 1, tzinfo=UTC)
    assert parse_since("2026-12-01T08:00+01:00") == datetime(2026, 12, 1, 7, tzinfo=UTC)
    with pytest.raises(ValueError, match="24h"):
        parse_since("yesterday")


@pytest.mark.parametrize(("reason", "public"), [
    ("/customer_email: 'marty@hillvalley' is not a 'email'",
     "/customer_email: <value> is not a 'email'"),
    ("/customer_name/first_name: 'Marty is too long' is too long",
     "/customer_name/first_name: <value> is too long"),
    ("/customer_location/latitude: 91.5 is greater than the maximum of 90",
     "/customer_location/latitude: <value> is greater than the maximum of 90"),
    ("/id: 'x' is not of type 'integer'; (record): 'id' is a required property",
     "/id: <value> is not of type 'integer'; (record): 'id' is a required property"),
    ("(record): Additional properties are not allowed ('nick' was unexpected)",
     "(record): Additional properties are not allowed ('nick' was unexpected)"),
    ("(record): not a JSON object (unexpected character: line 1 column 1 (char 0))",
     "(record): not a JSON object (unexpected character: line 1 column 1 (char 0))"),
    ("(record): not a JSON object (str is not valid UTF-8: surrogates not allowed: line 1"
     " column 1 (char 0))", "(record): not a JSON object (str is not valid UTF-8: surrogates"
     " not allowed: line 1 column 1 (char 0))"),
    ("/id: valid, but the sink could not convert it to column id",
     "/id: valid, but the sink could not convert it to column id"),
    ('warehouse refused it: invalid input syntax for type timestamp: "0000-12-31 19:00:00"',
     "warehouse refused it: invalid input syntax for type timestamp: <value>"),
])
def test_reasons_leave_without_the_records_values(reason: str, public: str) -> None:
    assert public_reason(reason) == public


def test_a_selection_filters_on_every_given_field() -> None:
    since = datetime(2026, 12, 1, tzinfo=UTC)
    query, params = Selection(letters=(LetterId("trip", 1, 2), LetterId("trip", 1, 3)),
                              query="trip_sink", topic="trip", since=since, error="50%_off",
                              status="pending", limit=10).statement()
    assert query.endswith(" LIMIT 10")
    assert params == ["trip", 1, 2, "trip", 1, 3, "trip_sink", "trip", "pending", since,
                      r"%50\%\_off%", r"%50\%\_off%"]
    assert Selection().statement()[1] == [] and not Selection(status="pending").narrowed
    with pytest.raises(ValueError, match="status"):
        Selection(status="done")


def test_statements_parse_as_redshift() -> None:
    everything = Selection(letters=(LetterId("trip", 1, 2),), query="q", topic="t",
                           since=datetime(2026, 12, 1, tzinfo=UTC), error="e", status="pending")
    for statement in (letters.MARK_REPLAYED, letters.MARK_FAILED, letters.MARK_DISCARDED,
                      everything.statement()[0], Selection().statement()[0]):
        parse_redshift(statement.replace("%s", "NULL"))


def test_both_engines_add_the_same_status_columns() -> None:
    import sqlglot
    from hoverboard.warehouse.migrations import discover
    from sqlglot import exp

    def added(engine: str) -> list[str]:
        [migration] = [m for m in discover(engine) if m.name == "dead_letter_status"]
        return [action.name for statement in migration.statements
                for parsed in [sqlglot.parse_one(statement, read=engine)]
                if isinstance(parsed, exp.Alter)
                for action in parsed.args.get("actions") or ()
                if isinstance(action, exp.ColumnDef)]

    assert added("postgres") == added("redshift")
    assert {"status", "attempts", "replay_error", "discard_reason", "corrected_value"} <= \
        set(added("postgres"))
