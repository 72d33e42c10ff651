"""Chaos soak: the fleet simulator sends through NGINX at a steady rate while faults are
injected on a schedule; then every acknowledged event is audited in the warehouse.

    bin/soak [--duration 1200] [--rate 500] [--picture docs/soak.png]

The schedule (``plan``) is part of the output, one ``fault`` line per fault, then one
``window`` line per 10 s (acknowledged events/s, ingest p50/p99, sink lag) and one ``audit``
line: acknowledged events missing from the warehouse or present twice (by natural key,
``loader/tables/*.conf``), and which faults had no alert in Elasticsearch within 60 s.

Faults use the stack's own stop/start (``stack.orchestrator``, pid files), so only this
stack's processes are touched: a Kafka broker killed (the partition leader when there are
three) and restarted; each sink's driver killed with ``kill -9`` and once every driver at
once (the Spark job host lost); an ingest instance killed (NGINX moves its keys) and
restarted; PostgreSQL restarted with a fast shutdown while sinks load; Elasticsearch stopped
(a sink killed halfway through: its alert must come from the spool); the object store stopped
during a backup run (that run fails, the next succeeds).

A killed sink is restarted by ``streaming_supervisor``; the soak triggers its next round at
once instead of waiting for the 5-minute schedule, as an operator would, so the run's
length, not the schedule, bounds what is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.common import PYTHON_HTTP, api_keys, emit, make_log, percentile, r
from runtime.settings import warehouse_dsn

log = make_log("soak")

WINDOW_S = 10.0
ALERT_WITHIN_S = 60.0
#: Each sink's driver killed (one per job); the short run keeps one.
SINK_JOBS = ("hoverboard_sink", "customer_sink", "trip_sink")


@dataclass(frozen=True)
class Fault:
    """One fault: at ``at_s`` seconds into the run, ``kind`` on ``target``, restored after
    ``hold_s`` (0: restored by the platform itself, or at once)."""

    at_s: float
    kind: str
    target: str = ""
    hold_s: float = 0.0


#: Which alerts show that a fault was noticed: (service.name, event.action) pairs, and
#: whether the alert must name the target (label job/instance).
EVIDENCE: dict[str, tuple[tuple[str, str], ...]] = {
    "broker": (("ingest_api", "sink_unavailable"),),
    "sink_driver": (("airflow", "job_restarted"),),
    "spark_host": (("airflow", "job_restarted"),),
    "ingest_instance": (("ingest_api", "instance_started"), ("ingest_api", "instance_stopped")),
    # A sink that meets the restart waits for the warehouse and says so (loader.outage).
    "postgres_restart": (("spark_sink", "warehouse_unavailable"),
                         ("spark_sink", "query_failed"), ("airflow", "job_restarted"),
                         ("airflow", "task_failed"), ("airflow", "task_retry")),
    # Alerts raised while Elasticsearch was down, delivered from the spool afterwards.
    "elasticsearch_outage": (("*", "*"),),
    "s3_during_backup": (("airflow", "task_failed"), ("airflow", "task_retry")),
}


def plan(duration_s: float, *, brokers: int, instances: int, short: bool = False,
         es_outage_s: float = 120.0, skip: frozenset[str] = frozenset()) -> list[Fault]:
    """The fault schedule: one of each kind (each sink's driver separately unless
    ``short``; none of the kinds in ``skip``), evenly spread between 10 % and 70 % of the
    run so that the last part shows the recovery."""
    leader = "leader" if brokers > 1 else "kafka"
    outage = min(es_outage_s, duration_s * 0.2)
    kinds: list[tuple[str, str, float]] = [
        ("broker", leader, 10.0),
        *[("sink_driver", job, 0.0) for job in (SINK_JOBS[:1] if short else SINK_JOBS)],
        ("spark_host", "all sinks", 0.0),
        ("ingest_instance", f"ingest_{instances}" if instances > 1 else "ingest_1", 10.0),
        ("postgres_restart", "postgres", 0.0),
        ("elasticsearch_outage", "elasticsearch", outage),
        ("s3_during_backup", "s3", 0.0),
    ]
    kinds = [k for k in kinds if k[0] not in skip]
    first, last = duration_s * 0.1, duration_s * 0.7
    step = (last - first) / max(1, len(kinds) - 1)
    faults = [Fault(round(first + i * step, 1), kind, target, hold)
              for i, (kind, target, hold) in enumerate(kinds)]
    return faults


@dataclass
class Injected:
    fault: Fault
    started: datetime | None = None
    restored: datetime | None = None
    detail: str = ""
    error: str = ""
    alert_after_s: float | None = None
    alert: str = ""
    #: Seconds into the run by the monotonic clock the windows use (the wall clock of a
    #: busy virtual machine was seen to jump).
    at_run_s: float | None = None


@dataclass(frozen=True)
class Window:
    start_s: float
    acked_per_s: float
    requests: int
    non_2xx: int
    p50_ms: float | None
    p99_ms: float | None
    sink_lag: int | None


def windows(t0: float, end: float, acked: list[float], requests: list[tuple[float, float,
            int | None]], lag: list[tuple[float, int | None]], width: float = WINDOW_S
            ) -> list[Window]:
    """Per ``width`` seconds from ``t0``: acknowledged events per second, the requests'
    latency p50/p99 and how many got no 2xx, and the largest sink lag sampled."""
    count = max(1, int((end - t0) // width) + 1)
    acks = [0] * count
    latencies: list[list[float]] = [[] for _ in range(count)]
    failed = [0] * count
    lags: list[list[int]] = [[] for _ in range(count)]
    for t in acked:
        acks[min(count - 1, max(0, int((t - t0) // width)))] += 1
    for start, took, status in requests:
        i = min(count - 1, max(0, int((start - t0) // width)))
        latencies[i].append(took * 1000)
        failed[i] += not (status is not None and 200 <= status < 300)
    for t, value in lag:
        if value is not None:
            lags[min(count - 1, max(0, int((t - t0) // width)))].append(value)
    result = []
    for i in range(count):
        ordered = sorted(latencies[i])
        result.append(Window(
            start_s=i * width, acked_per_s=round(acks[i] / width, 1), requests=len(ordered),
            non_2xx=failed[i], p50_ms=r(percentile(ordered, 50)) if ordered else None,
            p99_ms=r(percentile(ordered, 99)) if ordered else None,
            sink_lag=max(lags[i]) if lags[i] else None))
    return result


def first_alert(fault: Injected, alerts: list[dict], within_s: float = ALERT_WITHIN_S
                ) -> tuple[float, str] | None:
    """The first alert that shows ``fault`` was noticed, within ``within_s`` of it: (delay in
    seconds, "service/action"), or None."""
    if fault.started is None:
        return None
    wanted = EVIDENCE[fault.fault.kind]
    best = None
    for doc in alerts:
        service, action = doc["service"]["name"], doc["event"]["action"]
        if not any(s in ("*", service) and a in ("*", action) for s, a in wanted):
            continue
        labels = doc.get("labels", {})
        target = fault.fault.target
        if fault.fault.kind == "sink_driver" and labels.get("job") not in (None, target):
            continue
        if fault.fault.kind == "ingest_instance" and labels.get("instance") != target:
            continue
        delay = (datetime.fromisoformat(doc["@timestamp"]) - fault.started).total_seconds()
        if fault.fault.kind == "elasticsearch_outage":
            # Raised while it was down (until it was restored, which can take longer than
            # planned): only the spool can have delivered it.
            down_s = ((fault.restored - fault.started).total_seconds() if fault.restored
                      else fault.fault.hold_s)
            if not (0 <= delay <= down_s):
                continue
        elif not (0 <= delay <= within_s):
            continue
        if best is None or delay < best[0]:
            best = (round(delay, 1), f"{service}/{action}")
    return best


# -- the platform -----------------------------------------------------------------------------

class Platform:
    """The running platform, and the faults done to it through the stack's own stop/start."""

    def __init__(self, stack, env: dict[str, str], airflow,
                 supervisor_params: dict[str, Any] | None = None) -> None:
        self.stack, self.env, self.airflow = stack, env, airflow
        #: Params of the supervisor rounds the soak asks for (the DAG's defaults if empty).
        self.supervisor_params = dict(supervisor_params or {})

    def _pid(self, service: str) -> int:
        from stack.process import PidRecord

        record = PidRecord.read(self.stack.config.pid_file(service))
        if record is None or not record.alive():
            raise RuntimeError(f"{service} is not running")
        return record.pid

    def up(self, *services: str) -> None:
        self.stack.up(list(services), echo=lambda _: None)

    def leader_node(self) -> str:
        from confluent_kafka.admin import AdminClient

        from stack.services.kafka import node_name

        admin = AdminClient({"bootstrap.servers": self.env["HOVER_KAFKA_BOOTSTRAP"],
                             "log_level": 0})
        meta = admin.list_topics("hoverboard", timeout=10)
        return node_name(meta.topics["hoverboard"].partitions[0].leader)

    def jobs(self):
        from hoverboard.streaming.launcher import LocalProcessLauncher
        from hoverboard.streaming.registry import discover_jobs

        # The sinks: the soak's subject (failure detection, supervised beside them, is not).
        return LocalProcessLauncher(), {name: job for name, job in discover_jobs().items()
                                        if name in SINK_JOBS}

    def running_sinks(self) -> set[str]:
        launcher, jobs = self.jobs()
        return {name for name, job in jobs.items() if launcher.running(job) is not None}

    def loading_sinks(self) -> set[str]:
        """The sinks whose driver runs and whose latest start made progress (a batch, or a
        round saw it healthy). Killing one of these is a loading sink lost; killing one
        still starting is a start cut short, which the supervisor rightly counts towards a
        crash loop, and a soak that did that would be testing its own schedule."""
        import psycopg
        from hoverboard.streaming.state import StreamState

        running = self.running_sinks()
        state = StreamState(lambda: psycopg.connect(warehouse_dsn(self.env), connect_timeout=3),
                            "postgres")
        try:
            now = datetime.now(UTC)
            return {name for name in running
                    if (starts := state.starts(name, now)) and starts[0].progressed}
        except psycopg.Error:
            return set()  # the warehouse restarting: nothing is known to load now
        finally:
            state.close()

    def await_sinks(self, names, timeout_s: float = 240) -> str:
        """Make sure ``names`` run and load before a fault kills them: an earlier fault may
        have ended them (a broker away for long enough stops the sinks), and then a
        supervisor round starts them. Says how long that took, or nothing."""
        if set(names) <= self.loading_sinks():
            return ""
        began = time.monotonic()
        if not set(names) <= self.running_sinks():
            self.supervise_now()
        self.until_rounds_see(lambda: set(names) <= self.loading_sinks(), timeout_s)
        return f" (after {time.monotonic() - began:.0f}s waiting for it to run and load)"

    def start_sinks(self, timeout_s: float = 600) -> bool:
        """Every sink running and loading before the first fault. A sink the supervisor
        holds back (a crash loop an earlier run left) is started by hand through
        ``streaming_control``, as an operator would; a running one is left as it is."""
        from stack.process import wait_until

        if not wait_until(lambda: self.running_sinks() == set(SINK_JOBS), 180, 5):
            self.airflow.unpause("streaming_control")
            for name in sorted(set(SINK_JOBS) - self.running_sinks()):
                log(f"{name} is not running after the first round: started by hand")
                self.airflow.trigger("streaming_control", {"job": name, "action": "start"})
        return self.until_rounds_see(lambda: self.loading_sinks() == set(SINK_JOBS), timeout_s)

    def until_rounds_see(self, condition: Callable[[], bool], timeout_s: float,
                         every_s: float = 60) -> bool:
        """Wait for ``condition``, asking for a supervisor round every ``every_s`` meanwhile:
        a sink with nothing to load counts as loading once a round has seen it caught up,
        and the schedule's next round may be five minutes away."""
        from stack.process import wait_until

        asked = [time.monotonic()]

        def seen() -> bool:
            if condition():
                return True
            if time.monotonic() - asked[0] > every_s:
                asked[0] = time.monotonic()
                self.supervise_now()
            return False

        return wait_until(seen, timeout_s, 5)

    def kill_sink(self, name: str) -> int:
        launcher, jobs = self.jobs()
        handle = launcher.running(jobs[name])
        if handle is None or handle.pid is None:
            raise RuntimeError(f"{name} is not running")
        os.killpg(handle.pid, signal.SIGKILL)
        return handle.pid

    def spooled_alerts(self) -> int:
        """Alerts the platform's processes spooled and have not yet delivered."""
        from alerts.writer import AlertWriter

        return AlertWriter(client=None, spool_dir=self.stack.config.home / "alert-spool").spooled()

    def supervise_now(self) -> None:
        self.airflow.trigger("streaming_supervisor", self.supervisor_params)

    def backup_run(self) -> tuple[str, Callable[[], str]]:
        run_id = self.airflow.trigger("warehouse_backup", logical_date=datetime.now(UTC))
        return run_id, lambda: self.airflow.state("warehouse_backup", run_id)

    def prepare(self, fault: Fault) -> str:
        """What must hold before ``fault`` is done (the sinks it kills load), so that its
        time, from which its alert is awaited, is the moment of the fault itself."""
        if fault.kind == "sink_driver":
            return self.await_sinks([fault.target])
        if fault.kind == "spark_host":
            return self.await_sinks(SINK_JOBS)
        return ""

    def inject(self, fault: Fault, stop: threading.Event) -> str:
        """Do ``fault``; return what was done (pids, states)."""
        kind, target = fault.kind, fault.target
        if kind == "broker":
            node = self.leader_node() if target == "leader" else target
            pid = self._pid(node)
            os.kill(pid, signal.SIGKILL)
            stop.wait(fault.hold_s)
            self.up(node)
            return f"{node} (pid {pid}) killed, restarted after {fault.hold_s:.0f}s"
        if kind == "sink_driver":
            pid = self.kill_sink(target)
            self.supervise_now()
            return f"{target} driver (pid {pid}) killed; supervisor round triggered"
        if kind == "spark_host":
            pids = [self.kill_sink(name) for name in sorted(self.running_sinks())]
            self.supervise_now()
            return f"every driver killed (pids {pids}); supervisor round triggered"
        if kind == "ingest_instance":
            pid = self._pid(target)
            os.killpg(pid, signal.SIGKILL)
            stop.wait(fault.hold_s)
            self.up(target)
            return f"{target} (pid {pid}) killed, restarted after {fault.hold_s:.0f}s"
        if kind == "postgres_restart":
            self.stack.down(["postgres"], echo=lambda _: None)  # SIGINT: fast shutdown
            self.up("postgres")
            # Airflow's processes exit some seconds after their database went away (seen in
            # the soaks): wait for that before what died with it is restarted.
            stop.wait(30)
            return "postgres fast shutdown and start"
        if kind == "elasticsearch_outage":
            # A sink killed halfway through: its restart alert can only come from the spool.
            from stack.process import wait_until

            self.stack.down(["elasticsearch"], echo=lambda _: None)
            stop.wait(fault.hold_s / 2)
            running = sorted(self.loading_sinks()) or sorted(self.running_sinks())
            # After an earlier fault no sink may be running: the round restarts them then.
            killed = "no sink was running to kill; the supervisor round starts them"
            if running:
                killed = f"{running[-1]} driver (pid {self.kill_sink(running[-1])}) killed halfway"
            self.supervise_now()
            stop.wait(fault.hold_s / 2)
            # Down until the round's alerts are spooled, so one has to come from the spool.
            spooled = wait_until(lambda: self.spooled_alerts() > 0, ALERT_WITHIN_S, 2)
            self.up("elasticsearch")
            return (f"elasticsearch stopped {fault.hold_s:.0f}s or more; {killed}; "
                    + ("alerts spooled" if spooled else
                       f"nothing spooled within {ALERT_WITHIN_S:.0f}s more"))
        if kind == "s3_during_backup":
            from stack.process import wait_until

            run_id, state = self.backup_run()
            wait_until(lambda: state() in ("running", "success", "failed"), 180, 1)
            self.stack.down(["s3"], echo=lambda _: None)
            try:
                wait_until(lambda: state() in ("success", "failed"), 300, 2)
                during = state()
            finally:
                self.up("s3")
            second, state2 = self.backup_run()
            wait_until(lambda: state2() in ("success", "failed"), 300, 2)
            return f"backup during the outage: {during}; next backup: {state2()}"
        raise ValueError(f"unknown fault kind {kind!r}")

    # -- measurements ---------------------------------------------------------------------
    def sink_lag(self) -> int | None:
        """Records in Kafka not yet loaded, summed over the sinks (None if unknown now)."""
        import psycopg
        from confluent_kafka.admin import AdminClient
        from hoverboard.streaming.lag import compute_lag, watermarks
        from hoverboard.streaming.state import LATEST_PROGRESS

        try:
            admin = AdminClient({"bootstrap.servers": self.env["HOVER_KAFKA_BOOTSTRAP"],
                                 "log_level": 0})
            _, jobs = self.jobs()
            total = 0
            with psycopg.connect(warehouse_dsn(self.env), connect_timeout=3) as conn:
                for job in jobs.values():
                    row = conn.execute(LATEST_PROGRESS["postgres"], (job.name,)).fetchone()
                    committed = {int(p): o for p, o in (row[3] if row else {}).items()}
                    earliest, end = watermarks(admin, job.topic, timeout_s=3)
                    total += sum(compute_lag(committed, earliest, end).values())
            return total
        except Exception:  # noqa: BLE001 - a fault may make it unmeasurable for a moment
            return None

    def sink_report(self) -> dict[str, dict[str, Any]]:
        """Per sink: whether its driver runs, its last batch, and the supervisor's latest
        event of each kind (a crash loop held back shows here), for the audit line."""
        import psycopg
        from hoverboard.streaming.state import LATEST_EVENTS, LATEST_PROGRESS

        running = self.running_sinks()
        report: dict[str, dict[str, Any]] = {}
        try:
            conn = psycopg.connect(warehouse_dsn(self.env), connect_timeout=3)
        except psycopg.Error as exc:
            return {name: {"running": name in running, "last_batch": "unknown",
                           "events": f"warehouse unreachable ({type(exc).__name__})"}
                    for name in SINK_JOBS}
        with conn:
            for name in SINK_JOBS:
                progress = conn.execute(LATEST_PROGRESS["postgres"], (name,)).fetchone()
                events = conn.execute(LATEST_EVENTS, (name,)).fetchall()
                report[name] = {
                    "running": name in running,
                    "last_batch": progress[2].isoformat() if progress else None,
                    "events": {event: at.isoformat() + (f" ({reason})" if reason else "")
                               for event, reason, at in events}}
        return report

    def alerts_since(self, since: datetime) -> list[dict]:
        from elasticsearch import Elasticsearch

        es = Elasticsearch(self.env["HOVER_ELASTICSEARCH_URL"])
        es.indices.refresh(index="hoverboard-alerts-*", ignore_unavailable=True)
        hits = es.search(index="hoverboard-alerts-*", ignore_unavailable=True, size=10_000,
                         query={"range": {"@timestamp": {"gte": since.isoformat()}}},
                         sort=[{"@timestamp": "asc"}])["hits"]["hits"]
        return [h["_source"] for h in hits]


# -- the audit --------------------------------------------------------------------------------

def natural_keys(mtype: str, records: list[dict]) -> list[tuple]:
    """Each record's natural key as its table holds it (times as UTC timestamps), from the
    same mapping the loaders use, plus the version column of a latest-wins table."""
    from loader.tables import rows_from_events, table_spec

    spec = table_spec(mtype)
    columns = [*spec.key, *([spec.version_by] if spec.mode == "latest" else [])]
    rows = rows_from_events(spec, records, received_at=[None] * len(records))
    return list(zip(*(rows[c].to_pylist() for c in columns), strict=True))


def audit(dsn: str, acknowledged: list) -> dict[str, Any]:
    """Acknowledged events missing from the warehouse, and present more than once, by the
    natural key of their table (``loader/tables``). In a latest-wins table (customers) an
    acknowledged version is there when its id's row holds that version or a later one."""
    import psycopg

    from loader.tables import table_spec

    by_type: dict[str, list[dict]] = {}
    for _, event in acknowledged:
        by_type.setdefault(event.type, []).append(event.record)
    result: dict[str, Any] = {"acknowledged": len(acknowledged), "missing": 0,
                              "duplicates": 0, "by_type": {}}
    with psycopg.connect(dsn) as conn:
        for mtype, records in sorted(by_type.items()):
            spec = table_spec(mtype)
            latest = spec.mode == "latest"
            columns = [*spec.key, *([spec.version_by] if latest else [])]
            keys = set(natural_keys(mtype, records))
            acked = f"acked_{mtype}"
            conn.execute(f"CREATE TEMP TABLE {acked} AS SELECT {', '.join(columns)}"
                         f" FROM {spec.table} WHERE false")
            with conn.cursor().copy(f"COPY {acked} ({', '.join(columns)}) FROM STDIN") as copy:
                for key in keys:
                    copy.write_row(key)
            on = " AND ".join(f"t.{c} = a.{c}" for c in spec.key)
            if latest:
                on += f" AND t.{spec.version_by} >= a.{spec.version_by}"
            missing = conn.execute(f"SELECT count(*) FROM {acked} a WHERE NOT EXISTS "
                                   f"(SELECT 1 FROM {spec.table} t WHERE {on})").fetchone()[0]
            group = ", ".join(f"t.{c}" for c in spec.key)
            same_key = " AND ".join(f"t.{c} = a.{c}" for c in spec.key)
            dupes = conn.execute(
                f"SELECT count(*) FROM (SELECT {group} FROM {spec.table} t WHERE EXISTS"
                f" (SELECT 1 FROM {acked} a WHERE {same_key})"
                f" GROUP BY {group} HAVING count(*) > 1) d").fetchone()[0]
            result["by_type"][mtype] = {"acknowledged": len(records), "distinct": len(keys),
                                        "missing": missing, "duplicates": dupes}
            result["missing"] += missing
            result["duplicates"] += dupes
    return result


# -- the run ----------------------------------------------------------------------------------

@dataclass
class Soak:
    duration_s: float
    rate: float
    faults: list[Fault]
    drain_timeout_s: float = 600.0
    boards: int = 200
    customers: int = 100
    injected: list[Injected] = field(default_factory=list)
    lag_samples: list[tuple[float, int | None]] = field(default_factory=list)


def _inject_all(platform: Platform, soak: Soak, t0: float, stop: threading.Event) -> None:
    for fault in soak.faults:
        if stop.wait(max(0.0, t0 + fault.at_s - time.monotonic())):
            return
        log(f"fault {fault.kind} {fault.target}")
        try:
            waited = platform.prepare(fault)
        except Exception as exc:  # noqa: BLE001 - the fault is still done, and says so
            waited = f" (its sinks were not seen loading first: {type(exc).__name__}: {exc})"
        done = Injected(fault, started=datetime.now(UTC), at_run_s=time.monotonic() - t0)
        soak.injected.append(done)
        try:
            done.detail = platform.inject(fault, stop) + waited
        except Exception as exc:  # noqa: BLE001 - reported in the fault's line, run goes on
            done.error = f"{type(exc).__name__}: {exc}{waited}"
        # What died with it beside its target (Airflow's processes exit when PostgreSQL
        # restarts) is named in its line and started again, as an operator would.
        collateral = platform.stack.up(echo=lambda _: None)
        if collateral:
            done.detail += f"; died with it, restarted: {', '.join(collateral)}"
        done.restored = datetime.now(UTC)
        log(f"  {done.detail or done.error}")


def _sample_lag(platform: Platform, soak: Soak, stop: threading.Event) -> None:
    while not stop.wait(WINDOW_S / 2):
        soak.lag_samples.append((time.monotonic(), platform.sink_lag()))


def run(platform: Platform, soak: Soak) -> dict[str, Any]:
    """Send, break things on schedule, drain, audit; returns the audit line (the other lines
    are emitted on the way)."""
    from simulator.runner import Options, execute, new_run
    from stack.process import wait_until

    options = Options(url=platform.env["HOVER_INGEST_URL"], api_key=api_keys(platform.env)[0],
                      boards=soak.boards, customers=soak.customers, duration=soak.duration_s,
                      rate=soak.rate, concurrency=64, give_up_after=300.0, timeout=30.0)
    sim = new_run(options)
    sim.stats.acknowledged, sim.stats.request_log = [], []
    began = datetime.now(UTC)
    t0 = time.monotonic()
    stop = threading.Event()
    workers = [threading.Thread(target=_inject_all, args=(platform, soak, t0, stop), daemon=True),
               threading.Thread(target=_sample_lag, args=(platform, soak, stop), daemon=True)]
    for worker in workers:
        worker.start()
    log(f"sending {soak.rate:.0f} events/s for {soak.duration_s:.0f}s through "
        f"{options.url}; {len(soak.faults)} faults scheduled")
    # Not common.run_load: twenty minutes without the garbage collector would only grow.
    asyncio.run(execute(sim, announce=log))
    sent_until = time.monotonic()
    workers[0].join()  # the last fault is restored before the drain
    faults_done = time.monotonic()
    # Whatever died with a fault without being its target (Airflow's processes share
    # PostgreSQL with the warehouse) is named, and started again.
    collateral = platform.stack.up(echo=lambda _: None)
    log(f"drain: waiting for every sink to load what Kafka holds; restarted: {collateral}")

    asked = [0.0]

    def drained() -> bool:
        if platform.running_sinks() != set(SINK_JOBS):
            if time.monotonic() - asked[0] > 60:  # one supervisor round at a time
                asked[0] = time.monotonic()
                try:
                    # Airflow's processes were seen to exit well after PostgreSQL's restart,
                    # after the fault's own check: start what is down, as an operator would.
                    restarted = platform.stack.up(echo=lambda _: None)
                    if restarted:
                        collateral.extend(restarted)
                        log(f"drain: restarted {', '.join(restarted)}")
                    platform.supervise_now()
                except Exception as exc:  # noqa: BLE001 - the drain goes on; tried again later
                    log(f"drain: no supervisor round now ({type(exc).__name__}: {exc})")
            return False
        return platform.sink_lag() == 0

    caught_up = wait_until(drained, soak.drain_timeout_s, 15)
    if platform.spooled_alerts():
        # Alerts raised during an Elasticsearch outage: the next supervisor round sends them.
        platform.supervise_now()
        wait_until(lambda: platform.spooled_alerts() == 0, 300, 5)
    stop.set()
    workers[1].join()
    ended = time.monotonic()

    soak_windows = windows(t0, ended, [t for t, _ in sim.stats.acknowledged],
                           sim.stats.request_log, soak.lag_samples)
    for line in soak_windows:
        emit({"benchmark": "soak", "line": "window", **asdict(line)}, generator=PYTHON_HTTP)
    alerts = platform.alerts_since(began - timedelta(seconds=1))
    for done in soak.injected:
        found = first_alert(done, alerts)
        if found:
            done.alert_after_s, done.alert = found
        emit({"benchmark": "soak", "line": "fault", **asdict(done.fault),
              "started": done.started.isoformat() if done.started else None,
              "restored": done.restored.isoformat() if done.restored else None,
              "detail": done.detail, "error": done.error,
              "at_run_s": r(done.at_run_s, 1), "alert_after_s": done.alert_after_s,
              "alert": done.alert},
             generator=PYTHON_HTTP)
    result = audit(warehouse_dsn(platform.env), sim.stats.acknowledged)
    latencies = sorted(took for _, took, _ in sim.stats.request_log)
    summary = {
        "benchmark": "soak", "line": "audit", "duration_s": soak.duration_s,
        "rate_target": soak.rate,
        "rate_acked": r(len(sim.stats.acknowledged) / max(1e-9, sent_until - t0), 1),
        "drained": caught_up, "faults_done_s": r(faults_done - t0, 1),
        "drain_s": r(ended - faults_done, 1),
        **result,
        "failed_after_retries": sim.stats.failed.total(),
        "p50_ms": r(percentile(latencies, 50) * 1000) if latencies else None,
        "p99_ms": r(percentile(latencies, 99) * 1000) if latencies else None,
        "faults": len(soak.injected),
        "faults_failed": [f"{d.fault.kind} {d.fault.target}: {d.error}"
                          for d in soak.injected if d.error],
        "faults_without_alert": [f"{d.fault.kind} {d.fault.target}"
                                 for d in soak.injected if d.alert_after_s is None],
        "brokers": platform.stack.config.kafka_brokers,
        "restarted_after_faults": collateral,
        "sinks": platform.sink_report(),
    }
    emit(summary, generator=PYTHON_HTTP)
    return {"summary": summary, "windows": soak_windows, "injected": soak.injected,
            "t0": began, "sent_s": sent_until - t0}


def picture(path: Path, result: dict[str, Any]) -> None:
    """Acknowledged events/s, p99 latency and sink lag over time, faults marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ws: list[Window] = result["windows"]
    x = [w.start_s / 60 for w in ws]
    fig, axes = plt.subplots(3, 1, figsize=(11, 7.5), sharex=True)
    series = ((axes[0], [w.acked_per_s for w in ws], "acknowledged events/s"),
              (axes[1], [w.p99_ms for w in ws], "ingest p99 (ms)"),
              (axes[2], [w.sink_lag for w in ws], "sink lag (records)"))
    for ax, values, label in series:
        ax.plot(x, [float("nan") if v is None else v for v in values], lw=1.2, marker=".",
                ms=3)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[1].set_yscale("log")
    for done in result["injected"]:
        at = done.at_run_s / 60
        for ax in axes:
            ax.axvline(at, color="tab:red", alpha=0.5, lw=1)
        axes[0].annotate(f"{done.fault.kind} {done.fault.target}".strip(), (at, 1.0),
                         xycoords=("data", "axes fraction"), rotation=90, fontsize=7,
                         va="top", ha="right", color="tab:red")
    axes[2].axvline(result["sent_s"] / 60, color="grey", ls="--", lw=1)
    axes[2].set_xlabel("minutes (dashed: sending ends, the sinks drain)")
    s = result["summary"]
    fig.suptitle(f"soak: {s['rate_target']:.0f} events/s target for {s['duration_s'] / 60:.0f} "
                 f"min, {s['brokers']} broker(s): {s['acknowledged']} acknowledged, "
                 f"{s['missing']} missing, {s['duplicates']} duplicated")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bin/soak", description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=1200.0, help="seconds of sending")
    parser.add_argument("--rate", type=float, default=500.0, help="events per second")
    parser.add_argument("--short", action="store_true",
                        help="one fault of each kind (one sink driver, not each)")
    parser.add_argument("--es-outage", type=float, default=120.0,
                        help="seconds Elasticsearch stays down (at most 20%% of the run)")
    parser.add_argument("--drain-timeout", type=float, default=600.0)
    parser.add_argument("--skip", default="", help="fault kinds to leave out, comma-separated")
    parser.add_argument("--picture", type=Path, default=Path("docs/soak.png"))
    args = parser.parse_args(argv)

    from stack.orchestrator import LocalStack
    from stack.platform_run import start_platform

    stack = LocalStack()
    env, airflow = start_platform(stack, say=log, echo=lambda line: log(line.strip()))
    platform = Platform(stack, env, airflow)

    if not platform.start_sinks():
        raise SystemExit(f"sinks not loading after 10 min: running {platform.running_sinks()},"
                         f" loading {platform.loading_sinks()}")
    faults = plan(args.duration, brokers=stack.config.kafka_brokers,
                  instances=stack.config.ingest_instances, short=args.short,
                  es_outage_s=args.es_outage,
                  skip=frozenset(k for k in args.skip.split(",") if k))
    soak = Soak(args.duration, args.rate, faults, drain_timeout_s=args.drain_timeout)
    result = run(platform, soak)
    if args.picture:
        picture(args.picture, result)
        log(f"picture: {args.picture}")
    s = result["summary"]
    return 0 if s["missing"] == 0 and s["duplicates"] == 0 and s["drained"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
