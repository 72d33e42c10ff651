"""The lock order and the retry of serialization failures (loader.concurrency), as a spec."""

from __future__ import annotations

import psycopg
import pytest
from redshift_connector import ProgrammingError

from loader.concurrency import (
    RetryCounter,
    RetryPolicy,
    is_serialization_failure,
    lock_order,
    lock_statement,
    run_with_retry,
)

# What redshift_connector raises for Redshift's error 1023 (the server's fields as a dict).
REDSHIFT_1023 = ProgrammingError({
    "S": "ERROR", "C": "XX000", "M": "1023",
    "D": "Serializable isolation violation on table - 123456, transactions forming the "
         "cycle are: 1, 2 (pid:3);"})


def test_every_writer_locks_in_one_global_order() -> None:
    assert lock_order(["platform.stream_progress", "fleet.trip", "platform.dead_letters",
                       "fleet.trip"]) == (
        "fleet.trip", "platform.dead_letters", "platform.stream_progress")
    # Whatever order a caller lists them in, the statement is the same.
    assert lock_statement(["platform.dead_letters", "fleet.hoverboard"]) == lock_statement(
        ["fleet.hoverboard", "platform.dead_letters"]) == (
        'LOCK "fleet"."hoverboard", "platform"."dead_letters"')


@pytest.mark.parametrize("bad", [[], ["hoverboard"], ["a.b.c"], [".x"]])
def test_lock_needs_schema_qualified_tables(bad) -> None:
    with pytest.raises(ValueError):
        lock_statement(bad)


def test_serialization_failures_are_recognised_on_both_engines() -> None:
    assert is_serialization_failure(REDSHIFT_1023)
    assert is_serialization_failure(psycopg.errors.SerializationFailure("could not serialize"))
    assert not is_serialization_failure(psycopg.errors.UniqueViolation("duplicate key"))
    assert not is_serialization_failure(ProgrammingError({"S": "ERROR", "C": "42P01",
                                                          "M": "relation does not exist"}))
    assert not is_serialization_failure(RuntimeError("row 1023 is bad"))


class Flaky:
    """A transaction failing with ``errors`` first, then returning "done"."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"


def test_a_serialization_failure_is_retried_with_growing_pauses_and_counted(caplog) -> None:
    pauses: list[float] = []
    counter = RetryCounter()
    flaky = Flaky(REDSHIFT_1023, psycopg.errors.SerializationFailure("x"), REDSHIFT_1023)
    result = run_with_retry(flaky, policy=RetryPolicy(attempts=5, base_delay_s=0.1,
                                                      max_delay_s=0.3),
                            counter=counter, what="load into fleet.trip",
                            sleep=pauses.append, jitter=lambda: 1.0)
    assert result == "done" and flaky.calls == 4
    assert pauses == [0.1, 0.2, 0.3]  # doubled each time, capped at max_delay_s
    assert (counter.retried, counter.exhausted) == (3, 0)
    assert "load into fleet.trip: serialization failure on attempt 1 of 5" in caplog.text


def test_retries_are_bounded_and_the_last_failure_is_raised() -> None:
    counter = RetryCounter()
    hooks: list[int] = []
    counter.on_retry = lambda: hooks.append(1)
    flaky = Flaky(*[REDSHIFT_1023] * 5)
    with pytest.raises(ProgrammingError):
        run_with_retry(flaky, policy=RetryPolicy(attempts=3), counter=counter,
                       sleep=lambda s: None)
    assert flaky.calls == 3
    assert (counter.retried, counter.exhausted, len(hooks)) == (2, 1, 2)


def test_other_errors_are_not_retried() -> None:
    flaky = Flaky(psycopg.errors.UniqueViolation("duplicate key"))
    with pytest.raises(psycopg.errors.UniqueViolation):
        run_with_retry(flaky, sleep=lambda s: pytest.fail("must not pause"))
    assert flaky.calls == 1


def test_jitter_spreads_pauses_over_the_upper_half() -> None:
    policy = RetryPolicy(attempts=6, base_delay_s=0.1, max_delay_s=5.0)
    assert policy.delay(1, 0.0) == pytest.approx(0.05)
    assert policy.delay(4, 0.0) == pytest.approx(0.4)
    assert policy.delay(20, 0.999) <= 5.0
    # The default keeps the whole retry budget short next to a 2 s micro-batch trigger.
    default = RetryPolicy()
    assert sum(default.delay(n, 1.0) for n in range(1, default.attempts)) < 4.0
    with pytest.raises(ValueError):
        RetryPolicy(attempts=0)
