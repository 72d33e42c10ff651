"""The warehouse side of supervision: what the sinks report, and what the supervisor did.

* ``platform.stream_progress`` (written by every sink batch): the job's last batch time
  and the next offset per partition it will read;
* ``platform.stream_job_events`` (migration V0005): every start, stop, crash-loop and lag
  alert of a job; starts of the last hour are counted from it, and a crash loop already
  reported is remembered in it.

Statements are shared by PostgreSQL and Redshift except where the JSON type differs; every
value is a parameter. The Redshift variants are parsed in the tests.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

EVENTS = ("started", "stopped", "crash_loop", "lag")

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
COUNT_EVENTS_SINCE = (
    "SELECT COUNT(*) FROM platform.stream_job_events WHERE job = %s AND event = %s AND at >= %s"
)
LATEST_EVENTS = (
    "SELECT event, reason, at FROM (SELECT event, reason, at, ROW_NUMBER() OVER"
    " (PARTITION BY event ORDER BY at DESC) AS n FROM platform.stream_job_events"
    " WHERE job = %s) latest WHERE n = 1"
)
LATEST_PROGRESS = {
    "postgres": (
        "SELECT batch_id, batch_time, end_offsets FROM platform.stream_progress"
        " WHERE query_name = %s ORDER BY batch_id DESC LIMIT 1"
    ),
    "redshift": (
        "SELECT batch_id, batch_time, JSON_SERIALIZE(end_offsets) FROM platform.stream_progress"
        " WHERE query_name = %s ORDER BY batch_id DESC LIMIT 1"
    ),
}


@dataclass(frozen=True)
class Progress:
    """A sink's last recorded micro-batch."""

    batch_id: int
    batch_time: datetime
    end_offsets: dict[int, int]  # partition -> next offset to read


@dataclass(frozen=True)
class LatestEvent:
    reason: str | None
    at: datetime


@dataclass(frozen=True)
class JobHistory:
    """What the supervisor remembers of a job."""

    starts_last_hour: int
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

    @property
    def crash_loop_reported(self) -> bool:
        """The current crash loop (since the latest start) was already alerted."""
        reported, started = self.latest.get("crash_loop"), self.latest.get("started")
        return reported is not None and (started is None or reported.at >= started.at)


class StreamState:
    """Reads progress and history, records events, through one DB-API connection.

    :param connect: a factory of DB-API connections (``Warehouse(conn_id).connect``).
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
        batch_id, batch_time, offsets = rows[0]
        value = offsets if isinstance(offsets, dict) else json.loads(offsets)
        return Progress(int(batch_id), batch_time, {int(p): int(o) for p, o in value.items()})

    def history(self, job: str, now: datetime) -> JobHistory:
        [(starts,)] = self._query(COUNT_EVENTS_SINCE, (job, "started", now - timedelta(hours=1)))
        latest = {event: LatestEvent(reason, at)
                  for event, reason, at in self._query(LATEST_EVENTS, (job,))}
        return JobHistory(int(starts), latest)

    def record(self, job: str, event: str, *, at: datetime, reason: str | None = None,
               pid: int | None = None, detail: Mapping[str, Any] | None = None) -> None:
        if event not in EVENTS:
            raise ValueError(f"unknown job event {event!r}; one of {EVENTS}")
        cursor = self.conn.cursor()
        try:
            cursor.execute(INSERT_EVENT[self.engine], (
                job, event, reason, pid, at, json.dumps(dict(detail or {}), default=str)))
            self.conn.commit()
        except Exception:
            self.conn.rollback()
            raise
        finally:
            cursor.close()
