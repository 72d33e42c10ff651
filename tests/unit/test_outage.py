"""What a sink waits for when its warehouse goes away, and for how long (loader.outage)."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import errors
from psycopg_pool import PoolTimeout

from loader.outage import (
    OutagePolicy,
    WarehouseUnreachable,
    is_connection_loss,
    run_through_outage,
)

pytestmark = pytest.mark.unit


class Clock:
    """Time that passes only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.pauses: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds

    def __call__(self) -> float:
        return self.now


def _raised_from(cause: BaseException) -> RuntimeError:
    try:
        raise cause
    except BaseException as exc:
        try:
            raise RuntimeError("batch failed") from exc
        except RuntimeError as outer:
            return outer


@pytest.mark.parametrize("error", [
    psycopg.OperationalError("connection failed: Connection refused"),
    psycopg.OperationalError("server closed the connection unexpectedly"),
    errors.AdminShutdown("terminating connection due to administrator command"),
    errors.CannotConnectNow("the database system is starting up"),
    errors.ConnectionFailure("connection failure"),
    psycopg.InterfaceError("the connection is closed"),
    PoolTimeout("couldn't get a connection after 30.00 sec"),
    WarehouseUnreachable("staging stage_x_b3: connection failed"),
    # What the driver gets from Spark when an executor's staging connection broke.
    Exception("PythonException: An exception was thrown from the Python worker ... "
              "loader.outage.WarehouseUnreachable: staging stage_x_b3: server closed"),
    _raised_from(errors.AdminShutdown("terminating connection")),
    # A Spark JDBC read of the warehouse (the scoring job's trips) while it restarts.
    Exception("An error occurred while calling o412.load.\n: org.postgresql.util."
              "PSQLException: Connection to 127.0.0.1:15432 refused. Check that the hostname"
              " and port are correct and that the postmaster is accepting TCP/IP connections."),
    Exception("py4j.protocol.Py4JJavaError: ... org.postgresql.util.PSQLException: FATAL: "
              "the database system is starting up"),
], ids=repr)
def test_a_lost_or_refused_connection_is_worth_waiting_for(error) -> None:
    assert is_connection_loss(error)


@pytest.mark.parametrize("error", [
    errors.SerializationFailure("could not serialize access"),  # retried by its own rule
    errors.QueryCanceled("canceling statement due to statement timeout"),
    errors.UndefinedTable('relation "fleet.x" does not exist'),
    errors.UniqueViolation("duplicate key"),
    ValueError("a bug"),
    Exception("PythonException: ValueError: a bug on an executor"),
    Exception("org.postgresql.util.PSQLException: ERROR: relation \"fleet.trip\" does not"
              " exist"),
], ids=repr)
def test_any_other_error_is_not(error) -> None:
    assert not is_connection_loss(error)


def test_the_batch_runs_again_after_growing_pauses_until_the_warehouse_is_back() -> None:
    clock = Clock()
    outcomes = [errors.AdminShutdown("shutting down"),
                psycopg.OperationalError("connection refused"),
                psycopg.OperationalError("connection refused"), "committed"]
    told: list[BaseException] = []

    def work():
        outcome = outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    result = run_through_outage(work, OutagePolicy(budget_s=60), what="batch 3",
                                on_outage=told.append, sleep=clock.sleep, clock=clock)
    assert result == "committed"
    assert clock.pauses == [1.0, 2.0, 4.0]
    assert [type(e) for e in told] == [errors.AdminShutdown]  # one notice per outage


def test_pauses_stop_growing_at_the_cap() -> None:
    policy = OutagePolicy(budget_s=300, first_pause_s=1, max_pause_s=15)
    assert [policy.pause(n) for n in range(1, 7)] == [1, 2, 4, 8, 15, 15]


def test_an_outage_longer_than_the_budget_fails_the_batch_with_the_last_error() -> None:
    clock = Clock()
    attempts: list[int] = []

    def work():
        attempts.append(1)
        raise psycopg.OperationalError(f"connection refused #{len(attempts)}")

    with pytest.raises(psycopg.OperationalError, match="#6"):
        run_through_outage(work, OutagePolicy(budget_s=30, max_pause_s=15), what="batch",
                           sleep=clock.sleep, clock=clock)
    # The sixth failure comes 30 s into the outage: one more pause would end past the budget.
    assert clock.pauses == [1, 2, 4, 8, 15]
    assert clock.now <= 30


def test_no_budget_fails_at_once() -> None:
    clock = Clock()

    def work():
        raise psycopg.OperationalError("connection refused")

    with pytest.raises(psycopg.OperationalError):
        run_through_outage(work, OutagePolicy(budget_s=0), what="batch",
                           sleep=clock.sleep, clock=clock)
    assert clock.pauses == []


def test_another_error_is_raised_at_once_without_a_pause() -> None:
    clock = Clock()

    def work():
        raise errors.UndefinedTable('relation "fleet.x" does not exist')

    with pytest.raises(errors.UndefinedTable):
        run_through_outage(work, OutagePolicy(), what="batch", sleep=clock.sleep, clock=clock)
    assert clock.pauses == []


def test_a_policy_that_cannot_pause_is_refused() -> None:
    with pytest.raises(ValueError):
        OutagePolicy(first_pause_s=0)
    with pytest.raises(ValueError):
        OutagePolicy(budget_s=-1)
