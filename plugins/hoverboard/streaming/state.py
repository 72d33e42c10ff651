"""The warehouse side of supervision: what the sinks report, and what the supervisor did.

* ``platform.stream_progress`` (written by every sink batch): the job's last batch time
  and the next offset per partition it will read, per run (Spark's query id: a new or lost
  checkpoint starts a new run, whose batch ids start again at 0);
* ``platform.stream_job_events`` (migration V0005): every start, stop, crash-loop and lag
  alert of a job, and the first round that saw a start healthy; the latest starts, and
  whether each made progress, are read from it (crash loops), and a crash loop already
  reported is remembered in it;
* ``platform.stream_leases`` (migration V0015): which supervisor runs each job's driver, so
  two supervisors that share no disk (two Airflow workers) never run two drivers of one
  query; the decision is ``policy.may_take_lease``, taken under a table lock.

Statements are shared by PostgreSQL and Redshift except where the JSON type differs; every
value is a parameter. The Redshift variants are parsed in the tests.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hoverboard.streaming.policy import Lease, may_take_lease

EVENTS = ("started", "stopped", "crash_loop", "lag", "healthy")
#: The reasons of a ``stopped`` event that end a start on purpose (``streaming_control``,
#: ``bin/stack down``), unlike the supervisor's own stop of a stalled job.
STOPPED_ON_PURPOSE = ("manual", "manual restart", "platform stopped")
#: How many of a job's latest starts a round looks at.
STARTS_SEEN = 12

INSERT_EVENT = {
    "postgres": (
        "INSERT INTO platform.stream_job_events (job, event, reason, pid, at, detail)"
        " VALUES (%s, %s, %s, %s, %s, %s::jsonb)"
    ),
    "redshift": (
        "INSERT INTO platform.stream_job_events (job, event, reason, pid, at, detail)"
        " VALUES (%s, %s, %s, %s, %s, JSON_PARSE(%s))"
    ),
}
LATEST_STARTS = (
    "SELECT event, reason, at FROM platform.stream_job_events WHERE job = %s"
    " AND event IN ('started', 'healthy', 'stopped') ORDER BY at DESC LIMIT %s"
)
COUNT_BATCHES_BETWEEN = (
    "SELECT COUNT(*) FROM platform.stream_progress WHERE query_name = %s"
    " AND batch_time > %s AND batch_time <= %s"
)
LATEST_EVENTS = (
    "SELECT event, reason, at FROM (SELECT event, reason, at, ROW_NUMBER() OVER"
    " (PARTITION BY event ORDER BY at DESC) AS n FROM platform.stream_job_events"
    " WHERE job = %s) latest WHERE n = 1"
)
# The latest batch of the latest run: by time, since a new run's batch ids start again at 0.
LATEST_PROGRESS = {
    "postgres": (
        "SELECT run_id, batch_id, batch_time, end_offsets FROM platform.stream_progress"
        " WHERE query_name = %s ORDER BY batch_time DESC, batch_id DESC LIMIT 1"
    ),
    "redshift": (
        "SELECT run_id, batch_id, batch_time, JSON_SERIALIZE(end_offsets)"
        " FROM platform.stream_progress"
        " WHERE query_name = %s ORDER BY batch_time DESC, batch_id DESC LIMIT 1"
    ),
}


# A lease changes under a lock of its table: the read, the decision and the write are one
# step for every supervisor (a missing row cannot be locked by itself).
LOCK_LEASES = {
    "postgres": "LOCK TABLE platform.stream_leases IN SHARE ROW EXCLUSIVE MODE",
    "redshift": "LOCK platform.stream_leases",
}
SELECT_LEASE = (
    "SELECT holder, expires_at FROM platform.stream_leases"
    " WHERE query_name = CAST(%s AS varchar(200))"
)
INSERT_LEASE = (
    "INSERT INTO platform.stream_leases (query_name, holder, acquired_at, expires_at)"
    " VALUES (CAST(%s AS varchar(200)), CAST(%s AS varchar(200)), CAST(%s AS timestamptz),"
    " CAST(%s AS timestamptz))"
)
UPDATE_LEASE = (
    "UPDATE platform.stream_leases SET acquired_at = CASE WHEN holder ="
    " CAST(%s AS varchar(200)) THEN acquired_at ELSE CAST(%s AS timestamptz) END,"
    " holder = CAST(%s AS varchar(200)), expires_at = CAST(%s AS timestamptz)"
    " WHERE query_name = CAST(%s AS varchar(200))"
)
RELEASE_LEASE = (
    "DELETE FROM platform.stream_leases WHERE query_name = CAST(%s AS varchar(200))"
    " AND holder = CAST(%s AS varchar(200))"
)
LEASE_STATEMENTS = (SELECT_LEASE, INSERT_LEASE, UPDATE_LEASE, RELEASE_LEASE)


@dataclass(frozen=True)
class Progress:
    """A sink's last recorded micro-batch."""

    run_id: str  # the streaming query's id: one per checkpoint
    batch_id: int
    batch_time: datetime
    end_offsets: dict[int, int]  # partition -> next offset to read


@dataclass(frozen=True)
class LatestEvent:
    reason: str | None
    at: datetime


@dataclass(frozen=True)
class StartRecord:
    """One start of a job, and what became of it until the next start (or now)."""

    reason: str | None
    at: datetime
    progressed: bool  # a batch was committed, or a round saw it healthy
    seen_healthy: bool  # a round saw it healthy (event "healthy")
    stopped_on_purpose: bool = False  # a "stopped" event of STOPPED_ON_PURPOSE followed it


@dataclass(frozen=True)
class JobHistory:
    """What the supervisor remembers of a job."""

    starts: tuple[StartRecord, ...]  # the latest, newest first
    latest: Mapping[str, LatestEvent]  # event -> its most recent occurrence

    @property
    def ever_started(self) -> bool:
        return "started" in self.latest

    @property
    def held(self) -> bool:
        """An operator stopped the job (streaming_control) and has not started it since."""
        stopped, started = self.latest.get("stopped"), self.latest.get("started")
        return (stopped is not None and stopped.reason == "manual"
                and (started is None or stopped.at >= started.at))


class StreamState:
    """Reads progress and history, records events, through one DB-API connection.

    :param connect: a factory of DB-API connections (``WarehouseHook(conn_id).get_conn``).
    :param engine: ``postgres`` or ``redshift``.
    """

    def __init__(self, connect: Callable[[], Any], engine: str) -> None:
        if engine not in INSERT_EVENT:
            raise ValueError(f"unknown warehouse engine {engine!r}")
        self._connect = connect
        self.engine = engine
        self._conn: Any = None

    @property
    def conn(self) -> Any:
        if self._conn is None:
            self._conn = self._connect()
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _query(self, statement: str, params: tuple) -> list[tuple]:
        cursor = self.conn.cursor()
        try:
            cursor.execute(statement, params)
            return cursor.fetchall()
        finally:
            cursor.close()
            # End the read transaction (or a failed one): no snapshot held between jobs,
            # and the next job's queries do not meet an aborted transaction.
            self.conn.rollback()

    def progress(self, job: str) -> Progress | None:
        rows = self._query(LATEST_PROGRESS[self.engine], (job,))
        if not rows:
            return None
        run_id, batch_id, batch_time, offsets = rows[0]
        value = offsets if isinstance(offsets, dict) else json.loads(offsets)
        return Progress(run_id, int(batch_id), batch_time,
                        {int(p): int(o) for p, o in value.items()})

    def history(self, job: str, now: datetime) -> JobHistory:
        latest = {event: LatestEvent(reason, at)
                  for event, reason, at in self._query(LATEST_EVENTS, (job,))}
        return JobHistory(self.starts(job, now), latest)

    def starts(self, job: str, now: datetime, limit: int = STARTS_SEEN
               ) -> tuple[StartRecord, ...]:
        """The job's latest starts, newest first; each made progress if a batch was
        committed, or a round saw the job healthy, before the next start (or now), and was
        stopped on purpose if such a stop came before the next start."""
        events = self._query(LATEST_STARTS, (job, 3 * limit))
        starts: list[StartRecord] = []
        until, healthy, on_purpose = now, False, False
        for event, reason, at in events:  # newest first
            if event == "healthy":
                healthy = True
                continue
            if event == "stopped":
                on_purpose = on_purpose or reason in STOPPED_ON_PURPOSE
                continue
            progressed = healthy or self._batches_between(job, at, until) > 0
            starts.append(StartRecord(reason, at, progressed, healthy, on_purpose))
            if len(starts) == limit:
                break
            until, healthy, on_purpose = at, False, False
        return tuple(starts)

    def _batches_between(self, job: str, after: datetime, until: datetime) -> int:
        [(count,)] = self._query(COUNT_BATCHES_BETWEEN, (job, after, until))
        return int(count)

    def record(self, job: str, event: str, *, at: datetime, reason: str | None = None,
               pid: int | None = None, detail: Mapping[str, Any] | None = None) -> None:
        if event not in EVENTS:
            raise ValueError(f"unknown job event {event!r}; one of {EVENTS}")
        self._write(INSERT_EVENT[self.engine], (
            job, event, reason, pid, at, json.dumps(dict(detail or {}), default=str)))

    def _write(self, statement: str, params: tuple) -> None:
        """One statement in a transaction of its own: committed, or rolled back and raised."""
        cursor = self.conn.cursor()
        try:
            cursor.execute(statement, params)
            self.conn.commit()
        except Exception:
            self.conn.rollback()
            raise
        finally:
            cursor.close()

    # -- leases ------------------------------------------------------------------------------
    def lease(self, job: str) -> Lease | None:
        rows = self._query(SELECT_LEASE, (job,))
        return Lease(rows[0][0], rows[0][1]) if rows else None

    def take_lease(self, job: str, holder: str, *, now: datetime, lease_s: float) -> Lease:
        """Take or renew ``job``'s lease for ``holder`` if :func:`may_take_lease` allows;
        the lease in force afterwards (someone else's when refused)."""
        cursor = self.conn.cursor()
        try:
            cursor.execute(LOCK_LEASES[self.engine])
            cursor.execute(SELECT_LEASE, (job,))
            row = cursor.fetchone()
            current = Lease(row[0], row[1]) if row else None
            if not may_take_lease(current, holder, now):
                self.conn.rollback()
                return current
            taken = Lease(holder, now + timedelta(seconds=lease_s))
            if current is None:
                cursor.execute(INSERT_LEASE, (job, holder, now, taken.expires_at))
            else:
                # A renewal keeps its acquisition time; a takeover starts a new one.
                cursor.execute(UPDATE_LEASE, (holder, now, holder, taken.expires_at, job))
            self.conn.commit()
            return taken
        except Exception:
            self.conn.rollback()
            raise
        finally:
            cursor.close()

    def release_lease(self, job: str, holder: str) -> None:
        self._write(RELEASE_LEASE, (job, holder))
