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

Usage (stack up): ``PYTHONPATH=.:plugins .venv/bin/python -m benchmarks.ml_bench [--quick]``
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from datetime import UTC, datetime

import psycopg
from psycopg import sql

from benchmarks.common import IN_PROCESS, PYTHON_PRODUCER, emit, make_log, r, running_stack

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="6 simulated hours, not 24")
    parser.add_argument("--hours", type=float, help="simulated hours (default 24)")
    parser.add_argument("--boards", type=int, default=40)
    parser.add_argument("--faulty-share", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=19)
    args = parser.parse_args(argv)
    hours = args.hours or (6.0 if args.quick else 24.0)
    _, env = running_stack()
    os.environ.update(env)
    emit({"bench": "run", "load_avg_1m": r(os.getloadavg()[0]), "hours": hours,
          "boards": args.boards, "faulty_share": args.faulty_share, "seed": args.seed},
         generator=IN_PROCESS)

    from ml import simulated
    from ml.session import Warehouse, session
    from ml.train import TrainingConfig, train
    from runtime.settings import warehouse_dsn

    admin = warehouse_dsn(env)
    dsn = scratch_database(admin)
    try:
        start = datetime(2030, 6, 1, tzinfo=UTC)
        # Onsets over the whole day, so the holdout holds onsets whose delay can be measured.
        fleet = simulated.fleet(boards=args.boards, seed=args.seed, start=start,
                                faulty_share=args.faulty_share,
                                fault_onset_within_s=hours * 3600 * 0.95)
        began = time.monotonic()
        events = list(simulated.events_until(fleet, hours * 3600))
        counts = simulated.load(dsn, events)
        simulated.store_ground_truth(dsn, fleet, "ml_bench")
        log(f"simulated and loaded {counts} in {time.monotonic() - began:.1f}s; "
            f"faults {[(f['id'], f['fault']) for f in fleet.faults]}")
        spark = session("ml_bench")
        began = time.monotonic()
        result = train(spark, Warehouse.from_environment(dsn), TrainingConfig(
            model_root=f"s3a://{env['HOVER_BACKUP_BUCKET']}/bench/ml-{uuid.uuid4().hex[:8]}"))
        total_s = time.monotonic() - began
        for name, m in (("model", result.candidate), ("threshold_rule", result.baseline)):
            emit({"bench": "detection", "who": name, "precision": r(m.precision, 3),
                  "recall": r(m.recall, 3), "window_precision": r(m.window_precision, 3),
                  "window_recall": r(m.window_recall, 3), "delay_p95_s": m.delay_p95_s,
                  "delay_p95_s_by_fault": m.delay_p95_s_by_fault,
                  "faulty_boards": m.faulty_boards, "found": m.found,
                  "false_boards": m.false_boards, "boards": m.boards,
                  "missed": list(m.missed), "false_alarms": list(m.false_alarms),
                  "goal": "precision >= 0.9, recall >= 0.9, thermal delay p95 <= 300 s"},
                 generator=IN_PROCESS)
        emit({"bench": "training", "fit_s": r(result.training_s), "train_evaluate_save_s":
              r(total_s), "train_windows": result.train_windows, "telemetry_rows":
              counts["hoverboard"], "promoted": result.decision.promote,
              "decision": result.decision.reason}, generator=IN_PROCESS)
        if result.decision.promote:
            emit(scoring(spark, env, dsn, fleet, events, result.holdout_start),
                 generator=PYTHON_PRODUCER)
        else:  # the job would only read, idle: that is no scoring figure
            log("no model promoted: the scoring throughput is not measured")
    finally:
        drop_database(admin, dsn)
    return 0


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


if __name__ == "__main__":
    raise SystemExit(main())
