"""What to do about a streaming job: a pure function of what was observed.

* not running -> start it (unless an operator stopped it on purpose);
* running but stalled (records waiting in Kafka, and no batch for longer than
  ``stall_after_s`` since its last batch or its start) -> stop it, then start it;
* a crash loop is ``max_failed_starts`` starts in a row that made no progress (no batch
  committed, and no round saw the job caught up, before the next start). A crash-looping job
  is not restarted every round but retried with a growing back-off (``retry_after_s``,
  doubled on each failed retry, at most ``retry_max_s``); an operator's start
  (``streaming_control``) is never held back. Starts that did make progress never count,
  however many there are: a job killed now and then is restarted every time; nor does a
  start that was stopped on purpose (an operator's stop, ``bin/stack down``) before it
  loaded: it ended, it did not fail;
* a job is *stuck* (the round fails, red in the Airflow UI) while it is in a crash loop, or
  when it was restarted for the same reason ``max_same_reason`` rounds in a row (no round
  saw it healthy in between): it is still restarted, but someone should look;
* lag above ``lag_alert_threshold`` records -> a lag alert, whatever else happens;
* every start -> an alert; a crash loop -> ONE alert per episode.

A job with nothing to read is never stalled, however long since its last batch: an idle
topic is not a failure. A lag that could not be measured (Kafka unreachable) decides nothing
but the not-running case.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

RESTART_ALERT = "job_restarted"
LAG_ALERT = "job_lag"
CRASH_LOOP_ALERT = "job_crash_loop"

#: Why the supervisor starts a job (``reason`` of its ``started`` event).
FIRST_START = "first start"
NOT_RUNNING = "not running"
STALLED = "stalled"
RETRY = "crash loop retry"
#: The reasons of unplanned restarts: the job died or hung.
UNPLANNED = (NOT_RUNNING, STALLED, RETRY)


@dataclass(frozen=True)
class Policy:
    """The supervisor's thresholds (the DAG's params).

    :param stall_after_s: a running job with lag and no batch for this long is stalled.
    :param lag_alert_threshold: alert when more records than this wait in Kafka.
    :param max_failed_starts: this many starts in a row without progress are a crash loop.
    :param max_same_reason: restarted for the same reason this many rounds in a row: stuck.
    :param retry_after_s: a crash-looping job is retried this long after its last start ...
    :param retry_max_s: ... doubling with every failed retry, up to this.
    """

    stall_after_s: float = 600.0
    lag_alert_threshold: int = 10_000
    max_failed_starts: int = 3
    max_same_reason: int = 3
    retry_after_s: float = 300.0
    retry_max_s: float = 1800.0

    def __post_init__(self) -> None:
        if self.stall_after_s <= 0:
            raise ValueError(f"stall_after_s must be > 0, got {self.stall_after_s}")
        if self.lag_alert_threshold < 0:
            raise ValueError(f"lag_alert_threshold must be >= 0, got {self.lag_alert_threshold}")
        for name in ("max_failed_starts", "max_same_reason"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 < self.retry_after_s <= self.retry_max_s:
            raise ValueError(f"need 0 < retry_after_s <= retry_max_s, got {self.retry_after_s}"
                             f" and {self.retry_max_s}")

    def retry_delay(self, failed_starts: int) -> float:
        """How long after its last start a job with this many failed starts is retried."""
        doublings = max(0, failed_starts - self.max_failed_starts)
        return min(self.retry_after_s * 2 ** min(doublings, 32), self.retry_max_s)


@dataclass(frozen=True)
class Start:
    """One start of the job (by the supervisor or an operator).

    :param reason: why it was started (``first start``, ``not running``, ``manual``, ...).
    :param age_s: seconds since the start.
    :param progressed: a batch was committed, or a round saw the job healthy, after this
        start and before the next one.
    :param seen_healthy: a round saw the job healthy after this start (before the next).
    :param stopped_on_purpose: it was stopped on purpose (an operator, ``bin/stack down``)
        before the next start.
    """

    reason: str
    age_s: float
    progressed: bool
    seen_healthy: bool = False
    stopped_on_purpose: bool = False


@dataclass(frozen=True)
class Observation:
    """One job as the supervisor saw it.

    :param running: its driver process (or cluster application) is alive.
    :param lag_total: records in Kafka it has not loaded yet; None if not measurable.
    :param idle_s: seconds since its last batch, or since it started if that is later;
        None if it never ran.
    :param starts: its latest starts, newest first (empty: never started).
    :param crash_loop_alert_age_s: seconds since its last crash-loop alert, None if never.
    :param held: an operator stopped it on purpose and has not started it since.
    """

    running: bool
    lag_total: int | None
    idle_s: float | None
    starts: tuple[Start, ...] = ()
    crash_loop_alert_age_s: float | None = None
    held: bool = False


@dataclass(frozen=True)
class Decision:
    state: str  # running | stalled | stopped | held | crash_loop
    stop: bool = False
    start: bool = False
    reason: str | None = None  # why it is (re)started: see FIRST_START ... RETRY
    alerts: tuple[str, ...] = ()
    stuck: str | None = None  # why an operator should look: the round fails with this
    failed_starts: int = 0
    retry_in_s: float | None = None  # a crash loop not retried this round: when it will be
    mark_healthy: bool = False  # remember that this start was seen healthy

    @property
    def action(self) -> str:
        if self.reason == RETRY:
            return "retried (crash loop)"
        if self.stop and self.start:
            return "restarted (stalled)"
        if self.start:
            return "started" if self.reason == FIRST_START else "restarted"
        if self.state == "crash_loop":
            return f"not restarted: crash loop, retry in {self.retry_in_s or 0:.0f} s"
        return "none"


def is_stalled(obs: Observation, policy: Policy) -> bool:
    return (obs.running and obs.lag_total is not None and obs.lag_total > 0
            and obs.idle_s is not None and obs.idle_s > policy.stall_after_s)


def failed_starts(obs: Observation, *, down: bool) -> int:
    """Starts in a row, latest first, that made no progress. The latest counts only when
    the job is ``down`` (dead or stalled): a running job may still be starting. A start
    stopped on purpose ends the row: whatever failed before it, someone has looked."""
    starts = obs.starts if down else obs.starts[1:]
    count = 0
    for start in starts:
        if start.progressed or start.stopped_on_purpose:
            break
        count += 1
    return count


def same_reason_rounds(obs: Observation, reason: str) -> int:
    """How many rounds in a row will have restarted the job for ``reason``, counting a
    restart for it now: earlier starts count while they had the same reason, no round saw
    the job healthy after them and nobody stopped it on purpose."""
    count = 1
    for start in obs.starts:
        if start.reason != reason or start.seen_healthy or start.stopped_on_purpose:
            break
        count += 1
    return count


def decide(obs: Observation, policy: Policy) -> Decision:
    alerts: list[str] = []
    if obs.lag_total is not None and obs.lag_total > policy.lag_alert_threshold:
        alerts.append(LAG_ALERT)
    stalled = is_stalled(obs, policy)
    if obs.running and not stalled:
        latest = obs.starts[0] if obs.starts else None
        # Healthy: it loaded a batch since its start, or has nothing to load.
        healthy = latest is not None and (latest.progressed or obs.lag_total == 0)
        return Decision("running", alerts=tuple(alerts),
                        mark_healthy=healthy and not latest.seen_healthy)
    if not obs.running and obs.held:
        return Decision("held", alerts=tuple(alerts))
    failed = failed_starts(obs, down=True)
    if failed >= policy.max_failed_starts:
        oldest_failed = obs.starts[failed - 1]
        if obs.crash_loop_alert_age_s is None or \
                obs.crash_loop_alert_age_s > oldest_failed.age_s:
            alerts.append(CRASH_LOOP_ALERT)  # one alert per episode
        stuck = (f"crash loop: its last {failed} starts made no progress (no batch committed"
                 " before the next start)")
        wait = policy.retry_delay(failed) - obs.starts[0].age_s
        if wait > 0:
            # A stalled job is left as it is: stopping it without a start would only lose
            # the chance that it recovers by itself.
            return Decision("crash_loop", alerts=tuple(alerts), stuck=stuck,
                            failed_starts=failed, retry_in_s=wait)
        return Decision("crash_loop", stop=stalled, start=True, reason=RETRY,
                        alerts=(*alerts, RESTART_ALERT), stuck=stuck, failed_starts=failed)
    reason = STALLED if stalled else (NOT_RUNNING if obs.starts else FIRST_START)
    rounds = same_reason_rounds(obs, reason)
    stuck = (f"restarted for the same reason ({reason}) {rounds} rounds in a row"
             if reason != FIRST_START and rounds >= policy.max_same_reason else None)
    return Decision(STALLED if stalled else "stopped", stop=stalled, start=True, reason=reason,
                    alerts=(*alerts, RESTART_ALERT), stuck=stuck, failed_starts=failed)


# -- who runs a job's driver -------------------------------------------------------------
#: How long a supervisor's lease on a job lasts unless renewed (each round renews it): a
#: lease not renewed this long belongs to a supervisor that died, and another takes over.
LEASE_S = 300.0


@dataclass(frozen=True)
class Lease:
    """Which supervisor (host and jobs directory) runs a job's driver, and until when."""

    holder: str
    expires_at: datetime


def may_take_lease(current: Lease | None, holder: str, now: datetime) -> bool:
    """Whether ``holder`` may run the job's driver: nobody holds the lease, it holds it itself
    (a renewal), or the holder let it expire (it died: a live holder renews every round)."""
    return current is None or current.holder == holder or current.expires_at <= now
