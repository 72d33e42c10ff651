"""What to do about a streaming job: a pure function of what was observed.

* not running -> start it (unless an operator stopped it on purpose);
* running but stalled (records waiting in Kafka, and no batch for longer than
  ``stall_after_s`` since its last batch or its start) -> stop it, then start it;
* a start is refused once the job was started ``max_restarts_per_hour`` times in the last
  hour: a crash loop, reported by ONE alert per episode (the supervisor remembers it);
* lag above ``lag_alert_threshold`` records -> a lag alert, whatever else happens;
* every start -> an alert.

A job with nothing to read is never stalled, however long since its last batch: an idle
topic is not a failure. A lag that could not be measured (Kafka unreachable) decides nothing
but the not-running case.
"""

from __future__ import annotations

from dataclasses import dataclass

RESTART_ALERT = "job_restarted"
LAG_ALERT = "job_lag"
CRASH_LOOP_ALERT = "job_crash_loop"


@dataclass(frozen=True)
class Policy:
    """The supervisor's thresholds (the DAG's params).

    :param stall_after_s: a running job with lag and no batch for this long is stalled.
    :param lag_alert_threshold: alert when more records than this wait in Kafka.
    :param max_restarts_per_hour: starts allowed in any hour; more means a crash loop.
    """

    stall_after_s: float = 600.0
    lag_alert_threshold: int = 10_000
    max_restarts_per_hour: int = 3

    def __post_init__(self) -> None:
        if self.stall_after_s <= 0:
            raise ValueError(f"stall_after_s must be > 0, got {self.stall_after_s}")
        if self.lag_alert_threshold < 0:
            raise ValueError(f"lag_alert_threshold must be >= 0, got {self.lag_alert_threshold}")
        if self.max_restarts_per_hour < 1:
            raise ValueError(
                f"max_restarts_per_hour must be >= 1, got {self.max_restarts_per_hour}")


@dataclass(frozen=True)
class Observation:
    """One job as the supervisor saw it.

    :param running: its driver process (or cluster application) is alive.
    :param lag_total: records in Kafka it has not loaded yet; None if not measurable.
    :param idle_s: seconds since its last batch, or since it started if that is later;
        None if it never ran.
    :param starts_last_hour: how often it was started in the last hour.
    :param ever_started: it was started at least once before.
    :param crash_loop_reported: the current crash loop was already alerted.
    :param held: an operator stopped it on purpose and has not started it since.
    """

    running: bool
    lag_total: int | None
    idle_s: float | None
    starts_last_hour: int
    ever_started: bool = True
    crash_loop_reported: bool = False
    held: bool = False


@dataclass(frozen=True)
class Decision:
    state: str  # running | stalled | stopped | held | crash_loop
    stop: bool = False
    start: bool = False
    reason: str | None = None  # why it is (re)started: first start | not running | stalled
    alerts: tuple[str, ...] = ()

    @property
    def action(self) -> str:
        if self.stop and self.start:
            return "restarted (stalled)"
        if self.start:
            return "started" if self.reason == "first start" else "restarted"
        if CRASH_LOOP_ALERT in self.alerts:
            return "not restarted: crash loop alerted"
        if self.state == "crash_loop":
            return "not restarted: crash loop"
        return "none"


def is_stalled(obs: Observation, policy: Policy) -> bool:
    return (obs.running and obs.lag_total is not None and obs.lag_total > 0
            and obs.idle_s is not None and obs.idle_s > policy.stall_after_s)


def decide(obs: Observation, policy: Policy) -> Decision:
    alerts: list[str] = []
    if obs.lag_total is not None and obs.lag_total > policy.lag_alert_threshold:
        alerts.append(LAG_ALERT)
    stalled = is_stalled(obs, policy)
    if obs.running and not stalled:
        return Decision("running", alerts=tuple(alerts))
    if not obs.running and obs.held:
        return Decision("held", alerts=tuple(alerts))
    if obs.starts_last_hour >= policy.max_restarts_per_hour:
        # A stalled job is left as it is: stopping it without a start would only lose the
        # chance that it recovers by itself.
        if not obs.crash_loop_reported:
            alerts.append(CRASH_LOOP_ALERT)
        return Decision("crash_loop", alerts=tuple(alerts))
    reason = "stalled" if stalled else ("not running" if obs.ever_started else "first start")
    return Decision("stalled" if stalled else "stopped", stop=stalled, start=True, reason=reason,
                    alerts=(*alerts, RESTART_ALERT))
