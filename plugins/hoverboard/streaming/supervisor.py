"""One supervision round over every streaming job: observe, decide, act, alert, report.

For each job (:mod:`.registry`): is its driver alive (:mod:`.launcher`), when was its last
batch and which offsets did it reach (``platform.stream_progress``), where does its topic end
(Kafka, through the ``kafka_default`` connection), hence its lag per partition; what the
supervisor did to it before (``platform.stream_job_events``). :func:`.policy.decide` says
what to do; this module does it, records it, and sends the alerts (``AlertHook``) with the
supervising task's Airflow fields. The result is one status row per job, for the task's
XCom and log.

A problem with one job (its topic missing, Kafka unreachable) does not keep the others from
being supervised: it is reported in the job's row and makes the round fail at the end, so
the task's own failure alert names it. So does a *stuck* job (a crash loop, or restarted for
the same reason round after round, see :mod:`.policy`): the round fails with the job, the
reason and the tail of its driver log, after doing what it could for every job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from hoverboard.streaming.lag import compute_lag, watermarks
from hoverboard.streaming.launcher import JobHandle, JobLauncher, LocalProcessLauncher
from hoverboard.streaming.policy import (
    CRASH_LOOP_ALERT,
    LAG_ALERT,
    LEASE_S,
    NOT_RUNNING,
    RESTART_ALERT,
    UNPLANNED,
    Decision,
    Observation,
    Policy,
    Start,
    decide,
    may_take_lease,
)
from hoverboard.streaming.registry import Job, discover_jobs, find_job
from hoverboard.streaming.state import JobHistory, StreamState

log = logging.getLogger(__name__)

#: The Airflow fields an alert may carry (the alert index maps exactly these).
AIRFLOW_FIELDS = ("dag_id", "task_id", "run_id", "map_index", "try_number", "max_tries",
                  "log_url")


class SupervisionError(RuntimeError):
    """Some jobs could not be supervised, or are stuck; the message names them and why."""


@dataclass
class JobStatus:
    """One job's state as one round saw it (and what the round did about it)."""

    job: str
    topic: str
    running: bool
    pid: int | None
    started_at: datetime | None
    last_batch_at: datetime | None
    idle_s: float | None
    committed: dict[int, int]
    end_offsets: dict[int, int] | None
    lag: dict[int, int] | None
    run_id: str | None = None  # the run (Spark query id) of the last batch
    failed_starts: int = 0  # starts in a row without progress
    state: str = "unknown"
    stalled: bool = False
    action: str = "none"
    alerts: list[str] = field(default_factory=list)
    error: str | None = None
    stuck: str | None = None  # why an operator should look (the round fails)
    last_error: str | None = None  # a stuck job's driver log tail

    def stuck_report(self) -> str:
        """What the failed round's log says about a stuck job."""
        return (f"streaming job {self.job} is stuck: {self.stuck}; {self.action}. Start it "
                "by hand once fixed (DAG streaming_control, action start). Last lines of its "
                f"driver log:\n{self.last_error or '(empty)'}")

    @property
    def lag_total(self) -> int | None:
        return None if self.lag is None else sum(self.lag.values())

    def row(self) -> dict[str, Any]:
        """JSON-serialisable (XCom): times as ISO strings, partitions as string keys."""
        def parts(value: Mapping[int, int] | None) -> dict[str, int] | None:
            return None if value is None else {str(p): v for p, v in sorted(value.items())}

        def iso(value: datetime | None) -> str | None:
            return None if value is None else value.isoformat()

        return {
            "job": self.job, "topic": self.topic, "state": self.state,
            "running": self.running, "pid": self.pid, "started_at": iso(self.started_at),
            "last_batch_at": iso(self.last_batch_at),
            "idle_s": None if self.idle_s is None else round(self.idle_s, 1),
            "lag_total": self.lag_total, "lag": parts(self.lag),
            "end_offsets": parts(self.end_offsets), "committed": parts(self.committed),
            "run_id": self.run_id, "stalled": self.stalled,
            "failed_starts": self.failed_starts, "action": self.action,
            "alerts": list(self.alerts), "error": self.error, "stuck": self.stuck,
        }


def format_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """The status rows as a fixed-width table for the task log."""
    headers = ("job", "state", "pid", "last batch (UTC)", "idle s", "lag", "worst partition",
               "failed starts", "action")
    lines = []
    for r in rows:
        lag = r["lag"] or {}
        worst = max(lag.items(), key=lambda item: item[1], default=None)
        lines.append((
            r["job"], r["state"] + (" (error)" if r["error"] else "")
            + (" (STUCK)" if r["stuck"] else ""),
            "-" if r["pid"] is None else str(r["pid"]),
            (r["last_batch_at"] or "never")[:19].replace("T", " "),
            "-" if r["idle_s"] is None else f"{r['idle_s']:.0f}",
            "?" if r["lag_total"] is None else str(r["lag_total"]),
            "-" if not worst or not worst[1] else f"p{worst[0]}: {worst[1]}",
            str(r["failed_starts"]), r["action"],
        ))
    widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h)
              for i, h in enumerate(headers)]

    def fmt(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    out = [fmt(headers), fmt(["-" * w for w in widths]), *(fmt(line) for line in lines)]
    out += [f"{r['job']}: ERROR {r['error']}" for r in rows if r["error"]]
    return "\n".join(out)


class StreamingSupervisor:
    """Supervises the streaming jobs through Airflow connections.

    :param policy: thresholds (stall, lag alert, crash loop, back-off).
    :param jobs: glob of the sink configs to supervise (default: see ``registry``).
    :param warehouse_conn_id: the warehouse (``platform.stream_progress``, job events).
    :param kafka_config_id: the Kafka cluster (end offsets).
    :param spark_conn_id: the Spark connection the jobs are submitted with.
    :param elasticsearch_conn_id: where alerts go.
    :param launcher: how jobs are started and probed (default: detached local processes).
    :param airflow_fields: the supervising task's dag_id, task_id, run_id, try_number, ...
        for its alerts.
    :param clock: the current time (tests).
    :param lease_s: how long this supervisor's lease on a job lasts unless renewed (every
        round renews it); another supervisor takes over a lease not renewed for this long.
    :param holder: this supervisor's name in the leases (default: host and jobs directory).
    """

    def __init__(self, *, policy: Policy | None = None, jobs: str | None = None,
                 warehouse_conn_id: str = "warehouse_default",
                 kafka_config_id: str = "kafka_default",
                 spark_conn_id: str = "spark_default",
                 elasticsearch_conn_id: str = "elasticsearch_default",
                 launcher: JobLauncher | None = None,
                 airflow_fields: Mapping[str, Any] | None = None,
                 clock: Callable[[], datetime] | None = None, lease_s: float = LEASE_S,
                 holder: str | None = None) -> None:
        self.policy = policy or Policy()
        self.jobs_pattern = jobs
        self.warehouse_conn_id = warehouse_conn_id
        self.kafka_config_id = kafka_config_id
        self.elasticsearch_conn_id = elasticsearch_conn_id
        self.launcher = launcher or LocalProcessLauncher(spark_conn_id=spark_conn_id)
        self.airflow_fields = {k: v for k, v in (airflow_fields or {}).items()
                               if k in AIRFLOW_FIELDS and v is not None}
        self.clock = clock or (lambda: datetime.now(UTC))
        self.lease_s = lease_s
        self.holder = holder or _default_holder(self.launcher)

    # -- connections, made when first needed -------------------------------------------------
    @cached_property
    def warehouse(self) -> Any:
        """The warehouse hook: the jobs' progress is read through it, and the jobs are
        started writing to its connection."""
        from hoverboard.hooks.warehouse import WarehouseHook

        return WarehouseHook(self.warehouse_conn_id)

    @cached_property
    def state(self) -> StreamState:
        return StreamState(self.warehouse.get_conn, self.warehouse.engine)

    @cached_property
    def kafka_admin(self) -> Any:
        from airflow.providers.apache.kafka.hooks.client import KafkaAdminClientHook

        return KafkaAdminClientHook(kafka_config_id=self.kafka_config_id).get_conn

    @cached_property
    def alerts(self) -> Any:
        from hoverboard.hooks.alerts import AlertHook

        return AlertHook(self.elasticsearch_conn_id)

    def close(self) -> None:
        if "state" in self.__dict__:
            self.state.close()

    # -- observing -----------------------------------------------------------------------
    def jobs(self) -> dict[str, Job]:
        return discover_jobs(self.jobs_pattern)

    def observe(self, job: Job, now: datetime) -> tuple[JobStatus, JobHistory]:
        handle = self.launcher.running(job)
        progress = self.state.progress(job.name)
        history = self.state.history(job.name, now)
        last_batch = progress.batch_time if progress else None
        marks = [t for t in (last_batch, handle.started_at if handle else None) if t]
        status = JobStatus(
            job=job.name, topic=job.topic, running=handle is not None,
            pid=handle.pid if handle else None, started_at=handle.started_at if handle else None,
            last_batch_at=last_batch,
            idle_s=(now - max(marks)).total_seconds() if marks else None,
            committed=progress.end_offsets if progress else {}, end_offsets=None, lag=None,
            run_id=progress.run_id if progress else None,
        )
        try:
            earliest, end = watermarks(self.kafka_admin, job.topic)
        except Exception as exc:  # noqa: BLE001 - reported; the rest is still supervised
            status.error = f"lag unknown: Kafka end offsets of {job.topic!r}: {exc}"
        else:
            status.end_offsets = end
            status.lag = compute_lag(status.committed, earliest, end)
        return status, history

    @staticmethod
    def observation(status: JobStatus, history: JobHistory, now: datetime) -> Observation:
        alerted = history.latest.get("crash_loop")
        return Observation(
            running=status.running, lag_total=status.lag_total, idle_s=status.idle_s,
            starts=tuple(Start(s.reason or "", (now - s.at).total_seconds(), s.progressed,
                               s.seen_healthy, s.stopped_on_purpose) for s in history.starts),
            crash_loop_alert_age_s=(now - alerted.at).total_seconds() if alerted else None,
            held=history.held)

    # -- one round -------------------------------------------------------------------------
    def supervise(self) -> list[JobStatus]:
        """Supervise every job once; the statuses, in job order. Per-job errors are in
        the statuses (``error``); :meth:`raise_for_errors` turns them into a failure."""
        statuses = []
        for job in self.jobs().values():
            now = self.clock()
            status: JobStatus | None = None
            try:
                status = self._leased_elsewhere(job, now)
                if status is not None:  # another supervisor runs it: nothing to decide here
                    statuses.append(status)
                    continue
                self.launcher.rotate_log(job)
                status, history = self.observe(job, now)
                decision = decide(self.observation(status, history, now), self.policy)
                self._act(job, status, history, decision, now)
            except Exception as exc:  # noqa: BLE001 - one broken job must not stop the rest
                log.exception("supervising %s failed", job.name)
                if status is None:
                    status = JobStatus(job.name, job.topic, False, None, None, None, None, {},
                                       None, None)
                status.error = f"{type(exc).__name__}: {exc}"
            statuses.append(status)
        # Alerts raised while Elasticsearch was down (a driver's, a task's) wait in the spool
        # until some alert gets through; a quiet platform would keep them there, so every
        # round delivers them.
        self.alerts.deliver_spooled()
        return statuses

    @staticmethod
    def raise_for_errors(statuses: Sequence[JobStatus]) -> None:
        """Fail for jobs that could not be supervised, and for stuck jobs."""
        problems = [f"{s.job}: {s.error}" for s in statuses if s.error]
        problems += [f"{s.job} is stuck: {s.stuck}" for s in statuses if s.stuck]
        if problems:
            raise SupervisionError("; ".join(problems))

    def _act(self, job: Job, status: JobStatus, history: JobHistory, decision: Decision,
             now: datetime) -> None:
        status.state = decision.state
        status.stalled = decision.state == "stalled"
        status.action = decision.action
        status.alerts = list(decision.alerts)
        status.failed_starts = decision.failed_starts
        status.stuck = decision.stuck
        if decision.mark_healthy:
            self.state.record(job.name, "healthy", at=now, pid=status.pid,
                              detail={"lag_total": status.lag_total, **self._run_detail()})
        if LAG_ALERT in decision.alerts:
            self._alert_lag(job, status, now)
            self.state.record(job.name, "lag", at=now, pid=status.pid,
                              detail={"lag_total": status.lag_total,
                                      "lag": {str(p): n for p, n in (status.lag or {}).items()},
                                      **self._run_detail()})
        previous_log = self.launcher.log_tail(job) if decision.start or decision.stuck \
            else None
        if decision.stuck:
            status.last_error = previous_log
        if decision.stop:
            stopped = self.launcher.stop(job)
            self.state.record(job.name, "stopped", at=self.clock(), reason=decision.reason,
                              pid=stopped.pid if stopped else None,
                              detail={"idle_s": status.idle_s, "lag_total": status.lag_total,
                                      **self._run_detail()})
        if CRASH_LOOP_ALERT in decision.alerts:
            self._alert_crash_loop(job, status, decision, history, previous_log)
            self.state.record(job.name, "crash_loop", at=now, pid=status.pid,
                              detail={"failed_starts": decision.failed_starts,
                                      **self._run_detail()})
        if decision.start:
            reason = decision.reason or NOT_RUNNING
            handle = self._start(job, reason)
            self._alert_start(job, handle, reason, status=status, previous_log=previous_log)
            status.running, status.pid, status.started_at = True, handle.pid, handle.started_at

    def _leased_elsewhere(self, job: Job, now: datetime) -> JobStatus | None:
        """The job's status when another supervisor holds its lease (None: this one may run
        it). A driver of ours whose lease went to another supervisor (ours expired) stops."""
        lease = self.state.lease(job.name)
        if may_take_lease(lease, self.holder, now):
            if self.launcher.running(job) is not None:
                self._take_lease(job)  # renew while our driver lives
            return None
        stopped = self.launcher.stop(job) if self.launcher.running(job) is not None else None
        status = JobStatus(job.name, job.topic, False, None, None, None, None, {}, None, None)
        status.action = (f"none: leased to {lease.holder} until {lease.expires_at.isoformat()}"
                         + ("; stopped our driver" if stopped else ""))
        return status

    def _take_lease(self, job: Job) -> None:
        lease = self.state.take_lease(job.name, self.holder, now=self.clock(),
                                      lease_s=self.lease_s)
        if lease.holder != self.holder:
            raise SupervisionError(f"{job.name} runs under {lease.holder}'s lease until "
                                   f"{lease.expires_at.isoformat()}; not starting a second "
                                   "driver")

    def _start(self, job: Job, reason: str) -> JobHandle:
        self._take_lease(job)
        handle = self.launcher.start(job, warehouse=self.warehouse.uri)
        self.state.record(job.name, "started", at=self.clock(), reason=reason, pid=handle.pid,
                          detail={**handle.as_detail(), **self._run_detail()})
        return handle

    # -- what operators do by hand (streaming_control) ---------------------------------------
    def status(self, name: str) -> JobStatus:
        """Observe one job and say what the supervisor would decide; change nothing."""
        job = find_job(name, self.jobs_pattern)
        now = self.clock()
        status, history = self.observe(job, now)
        decision = decide(self.observation(status, history, now), self.policy)
        status.state, status.stalled = decision.state, decision.state == "stalled"
        status.action = "none (status only)"
        return status

    def start(self, name: str, *, reason: str = "manual") -> JobStatus:
        """Start a job now, whatever its crash-loop count (an operator's decision)."""
        job = find_job(name, self.jobs_pattern)
        if self.launcher.running(job) is not None:
            status = self.status(name)
            status.action = "none: already running"
            return status
        status = self.status(name)
        previous_log = self.launcher.log_tail(job)
        handle = self._start(job, reason)
        self._alert_start(job, handle, reason, status=status, previous_log=previous_log)
        status.running, status.pid, status.started_at = True, handle.pid, handle.started_at
        status.action = "started"
        return status

    def stop(self, name: str, *, reason: str = "manual") -> JobStatus:
        """Stop a job; with ``reason="manual"`` the supervisor leaves it stopped until it is
        started by hand again."""
        job = find_job(name, self.jobs_pattern)
        stopped = self.launcher.stop(job)
        if stopped is not None:
            self.state.release_lease(job.name, self.holder)
        self.state.record(job.name, "stopped", at=self.clock(), reason=reason,
                          pid=stopped.pid if stopped else None, detail=self._run_detail())
        status = self.status(name)
        status.action = "stopped" if stopped else "none: was not running"
        return status

    def restart(self, name: str) -> JobStatus:
        self.stop(name, reason="manual restart")
        status = self.start(name, reason="manual restart")
        status.action = "restarted"
        return status

    # -- alerts --------------------------------------------------------------------------
    def _run_detail(self) -> dict[str, Any]:
        return {"airflow_run": self.airflow_fields.get("run_id"),
                "airflow_dag": self.airflow_fields.get("dag_id")} if self.airflow_fields else {}

    def _send(self, *, job: Job, action: str, message: str, severity: Any,
              details: Mapping[str, Any], dedup_key: str) -> None:
        from alerts.document import alert_document

        doc = alert_document(
            component="airflow", action=action, message=message, severity=severity,
            details=details, labels={"job": job.name, "topic": job.topic},
            airflow=self.airflow_fields or None, dedup_key=dedup_key)
        self.alerts.send(doc)

    def _alert_start(self, job: Job, handle: JobHandle, reason: str, *, status: JobStatus,
                     previous_log: str | None) -> None:
        from alerts.document import Severity

        unplanned = reason in UNPLANNED  # it died or hung: say why
        verb = "started" if reason in ("first start", "manual") else "restarted"
        where = f"pid {handle.pid}" if handle.pid else f"application {handle.application_id}"
        self._send(
            job=job, action=RESTART_ALERT,
            message=f"streaming job {job.name} {verb} ({reason}): {where}",
            severity=Severity.WARNING if unplanned else Severity.INFO,
            details={"job": job.name, "reason": reason, "previous_pid": status.pid,
                     **handle.as_detail(), "lag_total": status.lag_total,
                     "idle_s": status.idle_s, "failed_starts": status.failed_starts,
                     "previous_log_tail": previous_log if unplanned else None},
            dedup_key=f"{job.name}/{RESTART_ALERT}/{handle.pid}/{handle.start_ticks}/"
                      f"{handle.application_id}")

    def _alert_crash_loop(self, job: Job, status: JobStatus, decision: Decision,
                          history: JobHistory, log_tail: str | None) -> None:
        from alerts.document import Severity

        # The episode began with the oldest of the failed starts.
        first = history.starts[decision.failed_starts - 1]
        self._send(
            job=job, action=CRASH_LOOP_ALERT,
            message=(f"streaming job {job.name} is crash-looping: its last "
                     f"{decision.failed_starts} starts made no progress; retried with a "
                     f"back-off from {self.policy.retry_after_s:.0f} s up to "
                     f"{self.policy.retry_max_s:.0f} s, or start it by hand once fixed "
                     "(DAG streaming_control)"),
            severity=Severity.ERROR,
            details={"job": job.name, "failed_starts": decision.failed_starts,
                     "max_failed_starts": self.policy.max_failed_starts,
                     "first_failed_start": first.at.isoformat(),
                     "last_start": history.starts[0].at.isoformat(),
                     "log_tail": log_tail},
            # One alert per episode, even if recording it failed and a later round re-sends.
            dedup_key=f"{job.name}/{CRASH_LOOP_ALERT}/{first.at.isoformat()}")

    def _alert_lag(self, job: Job, status: JobStatus, now: datetime) -> None:
        from alerts.document import Severity

        run = self.airflow_fields
        self._send(
            job=job, action=LAG_ALERT,
            message=(f"streaming job {job.name} is {status.lag_total} records behind topic "
                     f"{job.topic} (threshold {self.policy.lag_alert_threshold})"),
            severity=Severity.WARNING,
            details={"job": job.name, "topic": job.topic, "lag_total": status.lag_total,
                     "lag": {str(p): n for p, n in sorted((status.lag or {}).items())},
                     "end_offsets": {str(p): n for p, n in
                                     sorted((status.end_offsets or {}).items())},
                     "committed": {str(p): n for p, n in sorted(status.committed.items())},
                     "threshold": self.policy.lag_alert_threshold, "state": status.state,
                     "running": status.running, "idle_s": status.idle_s,
                     "last_batch_at": status.last_batch_at.isoformat()
                     if status.last_batch_at else None},
            dedup_key=(f"{job.name}/{LAG_ALERT}/{run['run_id']}/{run.get('try_number')}"
                       if run.get("run_id") else f"{job.name}/{LAG_ALERT}/{now.isoformat()}"))


def _default_holder(launcher: JobLauncher) -> str:
    """Host and jobs directory: two supervisors that share no disk are two holders."""
    import socket

    return f"{socket.gethostname()}:{getattr(launcher, 'jobs_dir', type(launcher).__name__)}"
