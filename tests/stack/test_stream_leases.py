"""Job leases in the warehouse (StreamState.take_lease) on a real PostgreSQL: one holder at
a time, even when two supervisors ask at the same moment."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from hoverboard.streaming.state import StreamState

from runtime.settings import warehouse_dsn
from tests.support import scratch_database

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
A, B = "host-a:/jobs-a", "host-b:/jobs-b"


@pytest.fixture
def warehouse(stack_env):
    with scratch_database(warehouse_dsn(stack_env), "leases") as dsn:
        yield dsn


def test_a_lease_has_one_holder_until_it_expires(warehouse) -> None:
    a, b = (StreamState(lambda: psycopg.connect(warehouse), "postgres") for _ in "ab")
    try:
        assert a.take_lease("job", A, now=NOW, lease_s=60).holder == A
        refused = b.take_lease("job", B, now=NOW + timedelta(seconds=30), lease_s=60)
        assert (refused.holder, refused.expires_at) == (A, NOW + timedelta(seconds=60))
        # A renews while its driver lives ...
        assert a.take_lease("job", A, now=NOW + timedelta(seconds=50), lease_s=60).holder == A
        assert b.take_lease("job", B, now=NOW + timedelta(seconds=100), lease_s=60).holder == A
        # ... and once it stops renewing, B takes over after the lease ran out.
        assert b.take_lease("job", B, now=NOW + timedelta(seconds=111), lease_s=60).holder == B
        assert a.take_lease("job", A, now=NOW + timedelta(seconds=112), lease_s=60).holder == B
        b.release_lease("job", B)
        assert a.lease("job") is None
    finally:
        a.close()
        b.close()


def test_two_supervisors_asking_at_once_get_one_lease(warehouse) -> None:
    holders = [f"host-{n}:/jobs" for n in range(4)]
    states = [StreamState(lambda: psycopg.connect(warehouse), "postgres") for _ in holders]
    start, results = threading.Barrier(len(holders)), {}

    def take(state: StreamState, holder: str) -> None:
        start.wait()
        results[holder] = state.take_lease("job", holder, now=NOW, lease_s=60).holder

    threads = [threading.Thread(target=take, args=pair)
               for pair in zip(states, holders, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for state in states:
        state.close()
    assert len(set(results.values())) == 1 and len(results) == len(holders)
