"""The warehouse going away and coming back: a restart, a failover, a network cut.

A sink's micro-batch that meets such an outage used to fail its streaming query; the
supervisor then restarted the driver, whose first batches failed again while the warehouse
was still starting, and a few of those made a crash loop that held the sink until an
operator came. Here the sink waits instead:

* :func:`is_connection_loss` tells a lost or refused connection (worth waiting for) from
  every other error (a bug or bad SQL, which waiting does not mend);
* :class:`WarehouseUnreachable` is what an executor raises when its staging connection is
  lost, so the driver recognises the loss in the text of Spark's task failure (only the
  text of an executor's exception reaches the driver);
* :func:`run_through_outage` runs the whole batch again after growing pauses until it
  succeeds or the outage outlasts :attr:`OutagePolicy.budget_s`; then the last error is
  raised as it was and supervision takes over as before.

The whole batch, not the failed statement: the staging tables are unlogged (emptied by
PostgreSQL's crash recovery) and a task's COPY dies with its connection, so only a batch
staged from the start is known complete. Running it again is what Spark does when it
replays a batch after a restart: the driver drops what the failed attempt staged, and a
batch whose commit reached the warehouse before the connection broke is skipped
(``loader.staged.StagedLoad.begin``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from loader.concurrency import first_line

log = logging.getLogger(__name__)

T = TypeVar("T")

#: SQLSTATEs of a server that is going away or not there yet: class 08 (connection
#: exception) and admin_shutdown, crash_shutdown, cannot_connect_now.
LOST_CONNECTION_STATES = ("57P01", "57P02", "57P03")


#: What PostgreSQL's JDBC driver (Spark's warehouse reads, ``ml.session.Warehouse``) says
#: when the server refused or lost the connection; only its text reaches Python.
JDBC_LOSS_MARKERS = (
    "PSQLException: Connection to ",  # ... refused. Check that the hostname and port ...
    "PSQLException: FATAL: the database system is",  # starting up / shutting down
    "PSQLException: FATAL: terminating connection due to administrator command",
    "PSQLException: An I/O error occurred while sending to the backend",
)


class WarehouseUnreachable(RuntimeError):
    """Raised on an executor whose warehouse connection was refused or lost. Its class name
    is the marker the driver finds in Spark's text of the failed task."""


def is_connection_loss(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it was raised from) is a lost or refused warehouse connection.

    * psycopg: an ``OperationalError`` without a server SQLSTATE (the client could not
      connect, or the server closed the connection), one of class 08, or a shutdown or
      start-up state; a pool that found no connection in time (``PoolTimeout``); an
      ``InterfaceError`` (a connection already closed under it).
    * redshift_connector: its ``InterfaceError`` (socket errors while connecting or
      reading).
    * Spark: a task failure whose text names :class:`WarehouseUnreachable`, or a JDBC read
      whose text carries one of :data:`JDBC_LOSS_MARKERS`.
    A serialization failure is not a loss (``loader.concurrency`` retries it); neither is
    any other error the server reports.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _is_loss(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def _is_loss(exc: BaseException) -> bool:
    text = str(exc)
    if isinstance(exc, WarehouseUnreachable) or WarehouseUnreachable.__name__ in text \
            or any(marker in text for marker in JDBC_LOSS_MARKERS):
        return True
    module = type(exc).__module__ or ""
    if module.startswith("psycopg"):
        import psycopg

        if isinstance(exc, psycopg.InterfaceError):
            return True
        if isinstance(exc, psycopg.OperationalError):
            state = getattr(exc, "sqlstate", None)
            return state is None or state.startswith("08") or state in LOST_CONNECTION_STATES
        return False
    return module.startswith("redshift_connector") and type(exc).__name__ == "InterfaceError"


@dataclass(frozen=True)
class OutagePolicy:
    """How long a sink waits for its warehouse, and how often it tries again meanwhile.

    :param budget_s: give up (raise the last error) once this long has passed since the
        first failure; 0 never waits. Below the supervisor's stall limit, so a driver that
        waits is not mistaken for a stalled one.
    :param first_pause_s: the pause after the first failure; doubled after each further one.
    :param max_pause_s: the cap on one pause.
    """

    budget_s: float = 300.0
    first_pause_s: float = 1.0
    max_pause_s: float = 15.0

    def __post_init__(self) -> None:
        if self.budget_s < 0:
            raise ValueError(f"budget_s must be >= 0, got {self.budget_s}")
        if not 0 < self.first_pause_s <= self.max_pause_s:
            raise ValueError("need 0 < first_pause_s <= max_pause_s")

    def pause(self, failures: int) -> float:
        """The pause after failure number ``failures`` (1, 2, ...)."""
        return min(self.max_pause_s, self.first_pause_s * 2 ** (failures - 1))


def run_through_outage(work: Callable[[], T], policy: OutagePolicy, *, what: str,
                       on_outage: Callable[[BaseException], None] | None = None,
                       sleep: Callable[[float], None] = time.sleep,
                       clock: Callable[[], float] = time.monotonic) -> T:
    """``work()`` again after each connection loss until it succeeds or the outage has
    lasted ``policy.budget_s``. ``on_outage`` is told of the outage's first failure (an
    alert, say); every other error is raised at once."""
    first_failure: float | None = None
    failures = 0
    while True:
        try:
            result = work()
        except Exception as exc:
            if not is_connection_loss(exc):
                raise
            now = clock()
            if first_failure is None:
                first_failure = now
                if on_outage is not None:
                    on_outage(exc)
            failures += 1
            waited = now - first_failure
            pause = policy.pause(failures)
            if waited + pause > policy.budget_s:
                log.error("%s: warehouse unreachable for %.0f s (%d attempts), giving up: %s",
                          what, waited, failures, first_line(exc))
                raise
            log.warning("%s: warehouse unreachable (attempt %d, %.0f s so far), trying again"
                        " in %.0f s: %s", what, failures, waited, pause, first_line(exc))
            sleep(pause)
            continue
        if failures:
            log.warning("%s: warehouse reachable again after %.0f s and %d failed attempts",
                        what, clock() - first_failure, failures)
        return result
