"""Concurrent writers on a serializable warehouse: one lock order, and bounded retries.

Redshift runs every transaction serializably. Two transactions that read and write the same
tables in a cycle end with ``ERROR: 1023 ... Serializable isolation violation``; its
documentation advises taking the locks a transaction needs at its start (``LOCK``) and
retrying the transaction that failed. Both live here, as small decisions tested on their own:

* :func:`lock_order` / :func:`lock_statement`: every write path locks its tables with ONE
  ``LOCK`` statement, first in its transaction, in one global order (sorted names), so two
  writers can wait for each other but never deadlock;
* :func:`run_with_retry`: a transaction failing with a serialization error (Redshift's 1023,
  or SQLSTATE 40001, PostgreSQL's, which the tests at SERIALIZABLE isolation meet) is run
  again after a growing, jittered pause, a bounded number of times; each retry is logged and
  counted (:class:`RetryCounter`), and the last failure is raised as it was.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from psycopg import sql

log = logging.getLogger(__name__)

T = TypeVar("T")

#: PostgreSQL's SQLSTATE for serialization_failure (also what Redshift reports for some).
SERIALIZATION_FAILURE = "40001"


def lock_order(tables: Iterable[str]) -> tuple[str, ...]:
    """The tables (``schema.table``) in the one global order every writer locks them in."""
    names = {t.strip() for t in tables}
    bad = sorted(n for n in names if n.count(".") != 1 or not all(n.split(".")))
    if bad:
        raise ValueError(f"lock tables must be schema.table names, got {bad}")
    return tuple(sorted(names))


def lock_statement(tables: Iterable[str]) -> str:
    """``LOCK a.x, b.y``: the first statement of a write transaction (identifiers quoted).

    On Redshift ``LOCK`` takes an exclusive table lock; on PostgreSQL the same statement
    takes ACCESS EXCLUSIVE mode. Either way writers queue instead of failing.
    """
    ordered = lock_order(tables)
    if not ordered:
        raise ValueError("nothing to lock")
    return sql.SQL("LOCK {}").format(sql.SQL(", ").join(
        sql.Identifier(*name.split(".")) for name in ordered)).as_string(None)


def is_serialization_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is a serialization failure worth running the transaction again for.

    PostgreSQL (psycopg) sets ``sqlstate`` to 40001. redshift_connector raises a
    ``ProgrammingError`` whose text carries Redshift's error 1023 and its detail; both the
    code and the words are required, so an unrelated error mentioning 1023 is not retried.
    """
    if getattr(exc, "sqlstate", None) == SERIALIZATION_FAILURE:
        return True
    text = str(exc)
    return ("1023" in text and "serializable isolation violation" in text.lower()) or (
        f"'C': '{SERIALIZATION_FAILURE}'" in text)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a failed transaction is run again.

    :param attempts: runs in all (the first included); the last failure is raised.
    :param base_delay_s: pause before the first retry; doubled for each further one.
    :param max_delay_s: the cap on one pause.
    """

    attempts: int = 6
    base_delay_s: float = 0.1
    max_delay_s: float = 5.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be >= 1, got {self.attempts}")
        if self.base_delay_s < 0 or self.max_delay_s < self.base_delay_s:
            raise ValueError("need 0 <= base_delay_s <= max_delay_s")

    def delay(self, retry: int, jitter: float) -> float:
        """The pause before retry number ``retry`` (1, 2, ...); ``jitter`` in [0, 1) spreads
        writers that failed together over the second half of the interval, so they do not
        collide again in lockstep."""
        ceiling = min(self.max_delay_s, self.base_delay_s * 2 ** (retry - 1))
        return ceiling * (0.5 + jitter / 2)


class RetryCounter:
    """Serialization retries seen by one writer (a loader): what a sink or ingest exposes
    as metrics. ``on_retry`` is called once per retry, for a Prometheus counter say."""

    def __init__(self, on_retry: Callable[[], None] | None = None) -> None:
        self._lock = threading.Lock()
        self.retried = 0  # transactions run again after a serialization failure
        self.exhausted = 0  # transactions that still failed after the last attempt
        self.on_retry = on_retry

    def _count(self, field: str) -> None:
        with self._lock:
            setattr(self, field, getattr(self, field) + 1)
        if field == "retried" and self.on_retry is not None:
            self.on_retry()


#: The default: up to 6 runs, pauses of about 0.1, 0.2, 0.4, 0.8, 1.6 s (under 4 s in all,
#: well inside a 2 s-trigger micro-batch's tolerance and an ingest request's timeout).
DEFAULT_RETRY = RetryPolicy()


def run_with_retry(transaction: Callable[[], T], *, policy: RetryPolicy = DEFAULT_RETRY,
                   counter: RetryCounter | None = None, what: str = "transaction",
                   sleep: Callable[[float], None] = time.sleep,
                   jitter: Callable[[], float] = random.random) -> T:
    """``transaction()`` (which must open, commit or roll back its own transaction), run
    again on a serialization failure up to ``policy.attempts`` times in all."""
    for attempt in range(1, policy.attempts + 1):
        try:
            return transaction()
        except Exception as exc:
            if not is_serialization_failure(exc):
                raise
            if attempt == policy.attempts:
                if counter is not None:
                    counter._count("exhausted")
                log.error("%s: serialization failure on attempt %d of %d, giving up: %s",
                          what, attempt, policy.attempts, first_line(exc))
                raise
            pause = policy.delay(attempt, jitter())
            if counter is not None:
                counter._count("retried")
            log.warning("%s: serialization failure on attempt %d of %d, retrying in %.2fs: %s",
                        what, attempt, policy.attempts, pause, first_line(exc))
            sleep(pause)
    raise AssertionError("unreachable")  # the loop returns or raises


def first_line(exc: BaseException) -> str:
    """The first line of an error's text (its type when it has none), for a log line."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
