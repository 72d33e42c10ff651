"""Who may run a job's driver (policy.may_take_lease): a pure decision, read as a spec."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hoverboard.streaming.policy import Lease, may_take_lease

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
A, B = "host-a:/jobs", "host-b:/jobs"


def test_a_free_job_may_be_taken() -> None:
    assert may_take_lease(None, A, NOW)


def test_the_holder_renews_its_own_lease() -> None:
    assert may_take_lease(Lease(A, NOW + timedelta(seconds=1)), A, NOW)


def test_a_live_lease_of_another_supervisor_is_refused() -> None:
    assert not may_take_lease(Lease(A, NOW + timedelta(seconds=1)), B, NOW)


def test_a_lease_its_holder_stopped_renewing_is_taken_over_once_expired() -> None:
    assert may_take_lease(Lease(A, NOW), B, NOW)
    assert may_take_lease(Lease(A, NOW - timedelta(minutes=10)), B, NOW)
