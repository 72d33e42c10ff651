"""Failure detection measured: the model against the threshold rule on a held-out stretch of
a simulated day, detection delay, training time, and the scoring job's throughput.

A fleet with ``--faulty-share`` of its boards faulty (onsets spread over the day) is
simulated (``simulator.model``, as ``bin/simulate --faulty-share 0.1`` would, at any
speed-up) straight into a scratch warehouse database through the sinks' loader, with its
ground truth in ``ml.fault_labels``. ``ml.train`` trains on the first 70 % of event time and
evaluates the model and the rule on the rest (same-run baseline: the rule). Then the holdout's
telemetry is produced to a scratch topic and scored by ``ml.scoring_job`` from the start of
the topic: events per second against the rate of the platform's default fleet (10 boards,
one reading per 5 s each), and the largest backlog (Kafka records not yet scored) seen.

``--seeds A,B,...``: a stretch per seed (another fleet, other faults and onsets), each
evaluated as above, then ``detection_pooled``: the board figures over every stretch taken
as one, each timed onset one delay (a day's holdout holds a handful of onsets, so one day's
delay p95 is one or two onsets'), and how many stretches met the goal.

``--live S``: then a live stream for S seconds: a fresh fleet (``--live-multiple`` times the
default fleet's boards) reports in real time (event time = wall clock) to another scratch
topic and into the warehouse (as the sinks would), while the scoring job scores it with the
promoted model. Per batch it prints the lag (JSON lines ``live_lag``): the Kafka records the
job had not read when the batch ended, and the event time of the newest closed (scored)
window behind the wall clock (by design at least the window and the watermark); then their
p50, p95 and maximum.

Usage (stack up): ``PYTHONPATH=.:plugins .venv/bin/python -m benchmarks.ml_bench [--quick]``
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from psycopg import sql

from benchmarks.common import (
    IN_PROCESS,
    PYTHON_PRODUCER,
    emit,
    make_log,
    percentile,
    r,
    running_stack,
)

log = make_log("ml_bench")
DEFAULT_FLEET_EVENTS_PER_S = 10 / 5.0  # bin/simulate's default: 10 boards, every ~5 s


def scratch_database(admin_dsn: str) -> str:
    from hoverboard.warehouse.migrations import MigrationRunner

    name = f"ml_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    dsn = admin_dsn.rsplit("/", 1)[0] + "/" + name
    MigrationRunner(lambda: psycopg.connect(dsn), "postgres").migrate()
    return dsn


def drop_database(admin_dsn: str, dsn: str) -> None:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(
            sql.Identifier(dsn.rsplit("/", 1)[1])))


GOAL = "precision >= 0.9, recall >= 0.9, thermal delay p95 <= 300 s"


def meets_goal(m) -> bool:
    """The issue's goal for one evaluated stretch (a stretch without a thermal onset has no
    thermal delay to miss)."""
    thermal = m.delay_p95_s_by_fault.get("thermal")
    return m.precision >= 0.9 and m.recall >= 0.9 and (thermal is None or thermal <= 300)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="6 simulated hours, not 24")
    parser.add_argument("--hours", type=float, help="simulated hours (default 24)")
    parser.add_argument("--boards", type=int, default=40)
    parser.add_argument("--faulty-share", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--seeds", help="comma-separated seeds: a stretch simulated, trained "
                        "and evaluated per seed, then the figures pooled over them (scoring "
                        "and --live on the last); default: --seed")
    parser.add_argument("--scoring", choices=("backlog", "none"), default="backlog",
                        help="score the holdout's telemetry read from a filled topic, or not")
    parser.add_argument("--live", type=float, default=0.0,
                        help="seconds of a live stream scored after training (0: none)")
    parser.add_argument("--live-multiple", type=int, default=1,
                        help="the live fleet's size, in default fleets (10 boards each)")
    args = parser.parse_args(argv)
    hours = args.hours or (6.0 if args.quick else 24.0)
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else [args.seed]
    _, env = running_stack()
    os.environ.update(env)
    from ml.evaluation import pooled
    from runtime.settings import warehouse_dsn

    admin = warehouse_dsn(env)
    evaluated: dict[str, list] = {"model": [], "threshold_rule": []}
    for n, seed in enumerate(seeds, 1):
        emit({"bench": "run", "load_avg_1m": r(os.getloadavg()[0]), "hours": hours,
              "boards": args.boards, "faulty_share": args.faulty_share, "seed": seed,
              "stretch": f"{n} of {len(seeds)}"}, generator=IN_PROCESS)
        result = one_stretch(env, admin, args, hours, seed, last=n == len(seeds))
        evaluated["model"].append(result.candidate)
        evaluated["threshold_rule"].append(result.baseline)
    if len(seeds) > 1:
        for who, stretches in evaluated.items():
            figures = pooled(stretches)
            emit({"bench": "detection_pooled", "who": who, "seeds": seeds, **{
                k: r(v, 3) if isinstance(v, float) else v for k, v in figures.items()},
                "stretches_meeting_goal": sum(meets_goal(m) for m in stretches),
                "goal": GOAL}, generator=IN_PROCESS)
    return 0


def one_stretch(env: dict, admin: str, args, hours: float, seed: int, *, last: bool):
    """Simulate ``hours`` of a fleet for ``seed`` into a scratch warehouse, train and
    evaluate on it (JSON lines ``detection`` and ``training``), and, on the ``last``
    stretch, measure scoring."""
    from ml import simulated
    from ml.session import Warehouse, session
    from ml.train import TrainingConfig, train

    dsn = scratch_database(admin)
    try:
        start = datetime(2030, 6, 1, tzinfo=UTC)
        # Onsets over the whole day, so the holdout holds onsets whose delay can be measured.
        fleet = simulated.fleet(boards=args.boards, seed=seed, start=start,
                                faulty_share=args.faulty_share,
                                fault_onset_within_s=hours * 3600 * 0.95)
        began = time.monotonic()
        events = list(simulated.events_until(fleet, hours * 3600))
        counts = simulated.load(dsn, events)
        simulated.store_ground_truth(dsn, fleet, "ml_bench")
        simulate_load_s = time.monotonic() - began
        log(f"seed {seed}: simulated and loaded {counts} in {simulate_load_s:.1f}s; "
            f"faults {[(f['id'], f['fault']) for f in fleet.faults]}")
        spark = session("ml_bench")
        began = time.monotonic()
        result = train(spark, Warehouse.from_environment(dsn), TrainingConfig(
            model_root=f"s3a://{env['HOVER_BACKUP_BUCKET']}/bench/ml-{uuid.uuid4().hex[:8]}"))
        total_s = time.monotonic() - began
        for name, m in (("model", result.candidate), ("threshold_rule", result.baseline)):
            emit({"bench": "detection", "who": name, "seed": seed,
                  "precision": r(m.precision, 3),
                  "recall": r(m.recall, 3), "window_precision": r(m.window_precision, 3),
                  "window_recall": r(m.window_recall, 3), "delay_p95_s": m.delay_p95_s,
                  "delay_p95_s_by_fault": m.delay_p95_s_by_fault,
                  "faulty_boards": m.faulty_boards, "found": m.found,
                  "false_boards": m.false_boards, "boards": m.boards,
                  "missed": list(m.missed), "false_alarms": list(m.false_alarms),
                  "unjudged": list(m.unjudged), "meets_goal": meets_goal(m), "goal": GOAL},
                 generator=IN_PROCESS)
        emit({"bench": "training", "seed": seed, "fit_s": r(result.training_s),
              "train_evaluate_save_s": r(total_s), "simulate_load_s": r(simulate_load_s),
              "train_evaluate_save_s_per_simulated_hour": r(total_s / hours),
              "train_windows": result.train_windows, "telemetry_rows": counts["hoverboard"],
              "promoted": result.decision.promote,
              "decision": result.decision.reason}, generator=IN_PROCESS)
        if not result.decision.promote:  # the job would only read, idle: no scoring figure
            log("no model promoted: scoring is not measured")
        elif last and args.scoring == "backlog":
            emit(scoring(spark, env, dsn, fleet, events, result.holdout_start),
                 generator=PYTHON_PRODUCER)
        if last and result.decision.promote and args.live:
            emit(live(spark, env, dsn, args.live, args.live_multiple, seed),
                 generator=PYTHON_PRODUCER)
    finally:
        drop_database(admin, dsn)
    return result


def scoring(spark, env, dsn, fleet, events, holdout_start) -> dict:
    """The holdout's telemetry scored from a scratch topic: throughput and backlog."""
    from confluent_kafka.admin import AdminClient, NewTopic

    from loader.postgres import PostgresLoader
    from ml.scoring_job import ScoringConfig, start
    from ml.session import Warehouse
    from schemas import latest
    from simulator.model import epoch_ms
    from spark.config import SinkConfig
    from tests.support.streaming import produce

    bootstrap = env["HOVER_KAFKA_BOOTSTRAP"]
    cut = epoch_ms(holdout_start) - fleet.start_ms
    records = [e.record for e in events if e.type == "hoverboard" and e.sim_ms >= cut]
    topic = f"ml-bench-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=6, replication_factor=1)])[topic].result(30)
    loader = PostgresLoader(dsn)
    try:
        produce(bootstrap, topic, "hoverboard", records)
        sink = SinkConfig("ml_bench_scoring", "hoverboard", topic, "hoverboard-value", "latest",
                          1.0, 20_000, "earliest", tempfile.mkdtemp(prefix="ml-bench-"))
        config = ScoringConfig(sink, "board_failure", 60, 0.5, 30.0)
        began = time.monotonic()
        query = start(spark, config, bootstrap=bootstrap, schema=latest("hoverboard").schema,
                      wh=Warehouse.from_environment(dsn), loader=loader, alerts=None)
        backlog_max = 0
        while True:
            progress = query.lastProgress
            done = sum(int(p.get("numInputRows", 0)) for p in query.recentProgress)
            backlog_max = max(backlog_max, len(records) - done)
            if done >= len(records) and progress and progress["numInputRows"] == 0:
                break
            if time.monotonic() - began > 900:
                raise SystemExit("scoring did not finish within 15 minutes")
            time.sleep(1)
        seconds = time.monotonic() - began
        query.stop()
    finally:
        loader.close()
        admin.delete_topics([topic])
    rate = len(records) / seconds
    with psycopg.connect(dsn) as conn:
        detections = conn.execute("SELECT count(*) FROM ml.detections").fetchone()[0]
    return {"bench": "scoring", "events": len(records), "seconds": r(seconds),
            "events_per_s": r(rate, 1), "default_fleet_events_per_s": DEFAULT_FLEET_EVENTS_PER_S,
            "ratio": r(rate / DEFAULT_FLEET_EVENTS_PER_S, 1),
            "backlog_max": backlog_max, "detections": detections}


def batch_lag(progress: dict, kafka_end: dict[int, int], now: datetime) -> dict | None:
    """One batch's lag from its progress: Kafka records not read at its end (``kafka_end``,
    the topic's end offsets read just after), and how far the newest closed window (event
    time; windows end on the minute and close once the watermark passes their end) is
    behind ``now``. None before the first batch with a watermark."""
    watermark = (progress.get("eventTime") or {}).get("watermark")
    sources = progress.get("sources") or []
    if not watermark or watermark.startswith("1970") or not sources or not sources[0].get(
            "endOffset"):  # no event time seen yet: the watermark is still the epoch
        return None
    read = sources[0]["endOffset"]
    read = json.loads(read) if isinstance(read, str) else read
    read_total = sum(int(o) for offsets in read.values() for o in offsets.values())
    closed = datetime.fromisoformat(watermark.replace("Z", "+00:00")).replace(second=0,
                                                                             microsecond=0)
    return {"batch": progress["batchId"], "records_behind": sum(kafka_end.values()) - read_total,
            "closed_window_lag_s": r((now - closed).total_seconds(), 1),
            "input_rows": progress.get("numInputRows")}


def live(spark, env, dsn, seconds: float, multiple: int, seed: int) -> dict:
    """A fleet of ``multiple`` default fleets reporting in real time, scored as it comes."""
    from confluent_kafka.admin import AdminClient, NewTopic

    from loader.postgres import PostgresLoader
    from ml import simulated
    from ml.scoring_job import ScoringConfig, start
    from ml.session import Warehouse
    from schemas import latest
    from tests.support.kafka import end_offsets
    from tests.support.streaming import produce

    bootstrap = env["HOVER_KAFKA_BOOTSTRAP"]
    topic = f"ml-bench-live-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=6, replication_factor=1)])[topic].result(30)
    loader = PostgresLoader(dsn)
    # The platform's configuration (trigger, watermark, alarm rule), on the scratch topic.
    config = ScoringConfig.load(Path(__file__).parents[1] / "spark/conf/failure_detection.conf")
    config = replace(config, sink=replace(
        config.sink, query_name="ml_bench_live", topic=topic, starting_offsets="earliest",
        checkpoint_location=tempfile.mkdtemp(prefix="ml-bench-live-")))
    query = start(spark, config, bootstrap=bootstrap, schema=latest("hoverboard").schema,
                  wh=Warehouse.from_environment(dsn), loader=loader, alerts=None)
    # Event time is the wall clock from here on.
    fleet = simulated.fleet(boards=10 * multiple, seed=seed + 1000, start=datetime.now(UTC),
                            faulty_share=0.1, fault_onset_within_s=seconds)
    pending = fleet.events()
    began = time.monotonic()
    produced = 0
    lags: list[dict] = []
    seen_batch = -1
    event = next(pending)
    try:
        while time.monotonic() - began < seconds:
            due_ms = (time.monotonic() - began) * 1000
            due = []
            while event.sim_ms <= due_ms:
                due.append(event)
                event = next(pending)
            if due:  # to Kafka as the ingest API would, to the warehouse as the sinks would
                produce(bootstrap, topic, "hoverboard",
                        [e.record for e in due if e.type == "hoverboard"])
                simulated.load(dsn, due)
                produced += sum(e.type == "hoverboard" for e in due)
            progress = query.lastProgress
            if progress and progress["batchId"] != seen_batch:
                seen_batch = progress["batchId"]
                lag = batch_lag(progress, end_offsets(bootstrap, topic), datetime.now(UTC))
                if lag is not None:
                    lags.append(lag)
                    emit({"bench": "live_lag", **lag}, generator=PYTHON_PRODUCER)
            if query.exception() is not None:
                raise SystemExit(f"the scoring query failed: {query.exception()}")
            time.sleep(1)
        elapsed = time.monotonic() - began
    finally:
        query.stop()
        loader.close()
        admin.delete_topics([topic])
    behind = sorted(float(x["records_behind"]) for x in lags)
    window_lag = sorted(float(x["closed_window_lag_s"]) for x in lags)
    rate = produced / elapsed
    return {"bench": "live_scoring", "seconds": r(elapsed), "boards": 10 * multiple,
            "events": produced, "events_per_s": r(rate, 1),
            "default_fleet_events_per_s": DEFAULT_FLEET_EVENTS_PER_S,
            "ratio": r(rate / DEFAULT_FLEET_EVENTS_PER_S, 1), "batches": len(lags),
            "records_behind_p50": percentile(behind, 50), "records_behind_p95":
            percentile(behind, 95), "records_behind_max": behind[-1] if behind else None,
            "closed_window_lag_s_p50": percentile(window_lag, 50), "closed_window_lag_s_p95":
            percentile(window_lag, 95), "closed_window_lag_s_max":
            window_lag[-1] if window_lag else None,
            "note": "closed-window lag includes the 1-min window and the 60 s watermark"}


if __name__ == "__main__":
    raise SystemExit(main())
