"""Benchmarks of the Spark sink (Kafka -> warehouse), each against a baseline or goal measured
in the same run.

    PYTHONPATH=.:plugins .venv/bin/python -m benchmarks.sink_bench [--quick]
        [--only throughput,freshness,driver_rss,connect,scaling] [--triggers conf,1]

Reads the running local stack's configuration (``bin/stack env``), creates scratch Kafka
topics, scratch (migrated) warehouse databases, checkpoints and Spark local dirs, and
deletes all of them at the end. Prints one JSON object per measurement on stdout (progress
goes to stderr):

- ``sink_throughput``: rows/s of ``spark.sink_job.start(..., available_now=True)`` loading N
  hoverboard events (200k; ``--quick`` 50k) from a scratch topic into an empty scratch
  warehouse, timed from query start to termination (the SparkSession, built like the tests'
  ``spark`` fixture, is started and warmed up before) / rows/s of the warehouse's own best
  for the same semantics: plain psycopg, ``COPY`` of the same rows into a temporary staging
  table and the same set-based merge (``loader.postgres.merge_statement``), committed. Goal
  >= 0.5. One micro-batch (a large ``max_offsets_per_trigger``). ``phases_s`` splits the
  sink's time into the one Spark action (reading Kafka, parsing, and on the executors the
  API's validator, the table's limits and the COPY into staging: ``loader.staged``), the
  driver's transactions (staging ready; merge, dead letters, progress, commit) and the
  query's bookkeeping outside ``foreachBatch``; ``cpu_us_per_row`` is the CPU each side
  spent per row (Spark's JVM, the executors' Python workers, the Python driver, the whole
  PostgreSQL server, as the executors' staging connections close within the run), which
  the other work on a shared machine does not distort; ``cpu_ratio`` is the ratio those
  imply. ``spark_read_only`` is the ceiling of any sink built this way: the same records
  read from Kafka and collected with ``toArrow``, nothing else.
- ``spark_stages``: the JVM CPU per row of each step of the sink's Spark phase (the Kafka
  source, decoding, parsing and flattening, collecting to the driver), each a batch query
  over the same topic, and the time the goal leaves for all of it (the baseline's).
- ``sink_throughput_conf_batches``: the same with the configuration's own
  ``max_offsets_per_trigger`` (what a sink catching up after an outage does).
- ``freshness``: the real sink job (``python -m spark.sink_job``) on the platform's
  ``hoverboard`` topic, on a copy of ``spark/conf/sink.conf`` (hoverboard) with a scratch
  checkpoint, ``starting_offsets = latest`` and a scratch warehouse, while events are POSTed
  through the NGINX balancer (``HOVER_INGEST_URL``) at a fixed rate (2,000 events/s, 20 per
  request, 8 connections, 30 s; ``--quick`` 15 s) with board ids unique to the run. Reports
  (loaded_at - received_at) over those rows (p50/p99/max), the achieved rate, accepted vs
  loaded counts, and the per-batch figures of the sink (``platform.stream_progress``) and
  the CPU the job got, which explain the latency. Goal p99 <= 5 s. ``loaded_at`` is
  ``now()`` of the load's transaction, i.e. when the load *started*; ``visible_*`` is when
  a reader polling every 0.1 s first saw the rows (after the commit), the stricter figure.
  The measured runs follow a warm-up load (reported as ``cold_start``). One line per
  trigger interval in ``--triggers`` (``conf``: the configuration's own value).

- ``driver_rss``: the driver's memory (its Python; its JVM, which in local mode holds the
  executors too) loading the same rows (50k; ``--quick`` 12.5k) with
  ``maxOffsetsPerTrigger`` a tenth of them and then all of them: the rows stay on the
  executors (``loader.staged``), so the driver's Python must stay flat.

- ``sink_vs_kafka_connect`` (``--only connect``): rows/s of our sink against Apache Kafka
  Connect (standalone, started and stopped by the benchmark) with Debezium's JDBC sink
  connector, on the same N rows (one topic each, the same partitions and keys; Connect's in
  ``JsonConverter``'s schema envelope), into two migrated scratch warehouses:
  ``insert.mode=upsert`` on the table's key, ``tasks.max`` = partitions, ``batch.size``
  ``--connect-batch-size``. Timed from connector creation to the last row present (ours as
  in ``sink_throughput``), each after a warm-up run; both warehouses are checked to hold the
  same rows. Goal >= 1.5; the line holds the connector's configuration (password masked).
  See ``benchmarks.kafka_connect``.

- ``sink_cluster_scaling`` (``--only scaling``): rows/s of the sink on the stack's Spark
  standalone cluster (``bin/stack up spark_master``: a master and two one-core workers,
  started here through the stack's code if not running, and stopped again) with one worker
  core (``spark.cores.max=1``) and with two, on the same rows into the same scratch
  warehouse, interleaved; this process is the driver, the executors get the jobs' code as
  ``bin/package-jobs``' archive (``spark.archives``), stage their partitions and the driver
  merges (``loader.staged``). Ratio two cores / one; ``phases_s`` per side.

Every figure is the median of several runs (the machine is shared and small); ``runs``
holds each run, ``cpu_busy_cores`` how busy the whole machine was meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import configparser
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import orjson
import psutil
import psycopg
from confluent_kafka import Producer
from psycopg import sql

from benchmarks import kafka_connect
from benchmarks.common import (
    PYTHON_HTTP,
    PYTHON_PRODUCER,
    api_keys,
    emit,
    interrupt_as_keyboard,
    make_log,
    median,
    percentile,
    r,
    run_load,
    running_stack,
)
from loader.base import to_csv
from loader.postgres import PostgresLoader, copy_from_stdin, merge_statement
from loader.tables import TableSpec, rows_from_events, table_spec
from runtime.processes import wait_until
from runtime.settings import warehouse_dsn
from schemas import headers, latest
from schemas.keys import JAVA_COMPATIBLE_PARTITIONER, key_bytes, key_text
from spark import sink_job
from spark.config import SINK_CONF, SinkConfig
from stack.config import StackConfig
from stack.orchestrator import LocalStack
from tests.support import sample, scratch_database, scratch_topic, warehouse_connection

REPO = Path(__file__).resolve().parent.parent
MESSAGE_TYPE = "hoverboard"
EPOCH = datetime(2026, 11, 27, tzinfo=UTC)


@dataclass(frozen=True)
class Settings:
    events: int  # rows of the throughput measurement
    runs: int  # repetitions of every measurement (medians are reported)
    warmup_events: int
    conf_batches: bool  # also measure with the configuration's max_offsets_per_trigger
    rate: int  # events/s of the freshness measurement
    rate_s: float
    request_events: int  # events per POST
    clients: int  # concurrent HTTP connections
    boards: int  # distinct board ids per freshness run
    drain_timeout_s: float
    freshness_warmup_s: float  # load at the full rate before the measured runs


FULL = Settings(events=200_000, runs=3, warmup_events=50_000, conf_batches=True, rate=2000,
                rate_s=30, request_events=20, clients=8, boards=500, drain_timeout_s=180,
                freshness_warmup_s=20)
QUICK = Settings(events=50_000, runs=1, warmup_events=20_000, conf_batches=False, rate=2000,
                 rate_s=15, request_events=20, clients=8, boards=500, drain_timeout_s=120,
                 freshness_warmup_s=10)


#: The throughput lines' load: a topic filled beforehand, then read by the sink.
PRODUCED = f"{PYTHON_PRODUCER}, topic filled before the sink starts"

log = make_log("sink_bench")


class MachineCpu:
    """Busy cores of the whole machine (everyone's work) during a block."""

    @staticmethod
    def _busy() -> float:
        t = psutil.cpu_times()
        return sum(t) - t.idle - getattr(t, "iowait", 0.0)

    def __enter__(self) -> MachineCpu:
        self.busy0, self.wall0 = self._busy(), time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.cores = (self._busy() - self.busy0) / (time.perf_counter() - self.wall0)


def cpu_seconds(processes: Iterable[psutil.Process]) -> float:
    total = 0.0
    for p in processes:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def tree_cpu_seconds(root: psutil.Process, *, with_root: bool = True) -> float:
    """CPU of ``root``'s descendants (and its own), including those that exited meanwhile
    and were reaped by a live parent (their CPU is in the parent's ``children_*``): the
    executors' Python workers, PostgreSQL's backends of connections already closed."""
    total = 0.0
    try:
        tree = [root, *root.children(recursive=True)] if with_root else root.children(
            recursive=True)
    except psutil.Error:
        return 0.0
    for p in tree:
        try:
            t = p.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
        except psutil.Error:
            pass
    return total


def postmaster(dsn: str) -> psutil.Process:
    """The PostgreSQL server (its postmaster) behind ``dsn``: the local stack's own."""
    with psycopg.connect(dsn) as conn:
        [(pid,)] = conn.execute("SELECT pg_backend_pid()").fetchall()
        return psutil.Process(pid).parent()


def spark_jvms() -> list[psutil.Process]:
    """The JVM(s) this process started for its SparkSession."""
    return [p for p in psutil.Process().children(recursive=True) if p.name() == "java"]


# ---------------------------------------------------------------------------------------
# Stack, scratch topics and databases
# ---------------------------------------------------------------------------------------

@dataclass
class Stack:
    env: dict[str, str]
    bootstrap: str
    admin_dsn: str
    n_part: int
    ingest_url: str
    api_key: str

    @classmethod
    def load(cls) -> Stack:
        _, env = running_stack()
        keys = api_keys(env)
        return cls(env, env["HOVER_KAFKA_BOOTSTRAP"], warehouse_dsn(env),
                   int(env.get("HOVER_N_PART", 6)), env.get("HOVER_INGEST_URL", ""),
                   keys[0] if keys else "")


class Scratch:
    """Everything this run creates, removed by :meth:`cleanup` whatever happened."""

    def __init__(self, stack: Stack, run_id: str) -> None:
        self.stack = stack
        self.run_id = run_id
        self.exits = ExitStack()  # the scratch topics and databases, removed in reverse
        self.workdir = Path(tempfile.mkdtemp(prefix="sink-bench-"))

    def topic(self, label: str) -> str:
        return self.exits.enter_context(scratch_topic(
            self.stack.bootstrap, f"sinkbench-{self.run_id}-{label}", self.stack.n_part))

    def database(self, label: str) -> str:
        """An empty database with every warehouse migration applied; its DSN."""
        return self.exits.enter_context(scratch_database(
            self.stack.admin_dsn, f"sinkbench_{self.run_id.replace('-', '_')}_{label}"))

    def cleanup(self) -> None:
        try:
            self.exits.close()
            log("deleted scratch topics and databases")
        except Exception as exc:  # noqa: BLE001 - report, then remove the work dir anyway
            log(f"could not delete every scratch topic or database: {exc}")
        shutil.rmtree(self.workdir, ignore_errors=True)


def truncate(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE fleet.hoverboard, platform.stream_progress, platform.dead_letters")
        conn.execute("VACUUM ANALYZE fleet.hoverboard")


def fetch(dsn: str, query: str, params=()) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(query, params).fetchall()


# ---------------------------------------------------------------------------------------
# Events
# ---------------------------------------------------------------------------------------

def telemetry(count: int, *, first_id: int = 1, boards: int = 5_000, seed: int = 0) -> list[dict]:
    """Distinct valid telemetry events: ``boards`` boards, one event per board per second."""
    events = []
    for i in range(count):
        n = seed + i
        events.append(sample(
            MESSAGE_TYPE, id=first_id + i % boards,
            event_time=(EPOCH + timedelta(seconds=i // boards)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            speed=round((n * 7) % 800 / 10, 1), charge=round((n * 13) % 1000 / 10, 1),
            temperature=round(15 + (n % 200) / 10, 1), elevation=round((n * 3) % 900 / 10, 1)))
    return events


def produce(bootstrap: str, topic: str, events: list[dict],
            values: list[bytes] | None = None) -> None:
    """What the ingest API's KafkaSink does: key bytes, JSON value, its four headers, lz4.
    ``values``: other values for the same events (same keys, so the same partitions)."""
    schema = latest(MESSAGE_TYPE)
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                         "enable.idempotence": True, "partitioner": JAVA_COMPATIBLE_PARTITIONER,
                         "compression.type": "lz4", "linger.ms": 5})
    record_headers = [(headers.RECEIVED_AT, str(time.time_ns() // 10**6).encode()),
                      (headers.SCHEMA_SUBJECT, schema.subject.encode()),
                      (headers.SCHEMA_VERSION, str(schema.version).encode()),
                      (headers.REQUEST_ID, b"sink-bench")]
    for index, event in enumerate(events):
        value = orjson.dumps(event) if values is None else values[index]
        while True:
            try:
                producer.produce(topic, key=key_bytes(event, ["id"]),
                                 value=value, headers=record_headers)
                break
            except BufferError:
                producer.poll(0.05)
    if producer.flush(60) != 0:
        raise RuntimeError(f"could not produce {len(events)} events to {topic}")


# ---------------------------------------------------------------------------------------
# Sink throughput (in-process Spark) and its COPY + merge baseline
# ---------------------------------------------------------------------------------------

def spark_session(master: str = "local[2]", conf: dict[str, str] | None = None):
    """Like the tests' ``spark`` fixture (tests/conftest.py); ``master`` and ``conf`` for a
    session on the stack's standalone cluster."""
    from pyspark.sql import SparkSession

    jars = os.environ.get("HOVER_SPARK_JARS")
    if not jars:
        from stack.services.spark import SPARK_KAFKA

        folder = SPARK_KAFKA.ensure(StackConfig.from_env().cache_dir)
        jars = ",".join(str(p) for p in sorted(folder.glob("*.jar")))
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # The executors' Python workers stage rows (loader.staged): this interpreter, with pyarrow.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    return (
        builder.master(master)
        .appName("hoverboard-sink-bench")
        .config("spark.jars", jars)
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )


class TimedLoader:
    """A PostgresLoader that records, per batch, the time of its load (CSV, COPY, merge),
    of the bookkeeping in the same transaction, and of the commit."""

    def __init__(self, inner: PostgresLoader) -> None:
        self.inner = inner
        self.engine = inner.engine
        self.dsn = inner.dsn  # executors stage on their own connections (loader.staged)
        self.timing: dict = {}

    def load(self, spec: TableSpec, rows, *, in_transaction=None, also_lock=()) -> int:
        timing = self.timing
        t0 = time.perf_counter()
        marks: dict[str, float] = {}

        def bookkeeping(cursor, written: int) -> None:
            marks["rows_done"] = time.perf_counter()
            if in_transaction is not None:
                in_transaction(cursor, written)
            marks["bookkeeping_done"] = time.perf_counter()

        written = self.inner.load(spec, rows, in_transaction=bookkeeping, also_lock=also_lock)
        t1 = time.perf_counter()
        timing.update(load_s=t1 - t0, copy_merge_s=marks["rows_done"] - t0,
                      bookkeeping_s=marks["bookkeeping_done"] - marks["rows_done"],
                      commit_s=t1 - marks["bookkeeping_done"], rows=rows.num_rows,
                      written=written)
        return written

    def run(self, work):
        """The driver's transactions of the executor-side path (loader.staged): staging
        ready, then merge + dead letters + progress + commit."""
        t0 = time.perf_counter()
        try:
            return self.inner.run(work)
        finally:
            self.timing["load_s"] = self.timing.get("load_s", 0) + time.perf_counter() - t0

    def close(self) -> None:
        self.inner.close()


class _TimedBatch:
    """The micro-batch DataFrame, with its one action (``toArrow``) timed."""

    def __init__(self, batch, timing: dict) -> None:
        self._batch = batch
        self._timing = timing

    def toArrow(self):  # noqa: N802 - the DataFrame method's name
        t0 = time.perf_counter()
        table = self._batch.toArrow()
        self._timing["to_arrow_s"] = time.perf_counter() - t0
        return table

    def __getattr__(self, name):
        return getattr(self._batch, name)


class TimedBatchWriter(sink_job.BatchWriter):
    """sink_job.BatchWriter, unchanged, with the phases of each call recorded."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.batches: list[dict] = []

    def stage(self, batch, plan):
        """The batch's one Spark action: read, judge and COPY on the executors."""
        t0 = time.perf_counter()
        summaries = super().stage(batch, plan)
        self._timing["to_arrow_s"] = time.perf_counter() - t0
        return summaries

    def __call__(self, batch, batch_id: int) -> None:
        timing: dict = {"batch_id": batch_id}
        self._timing = timing
        if isinstance(self.loader, TimedLoader):
            self.loader.timing = timing
        t0 = time.perf_counter()
        super().__call__(_TimedBatch(batch, timing), batch_id)
        timing["writer_s"] = time.perf_counter() - t0
        # The driver's memory after the batch (its Python and its JVM): rows never reach it,
        # so this stays flat however large maxOffsetsPerTrigger is.
        timing["driver_rss_mb"] = sum(p.memory_info().rss for p in
                                      [psutil.Process(), *spark_jvms()]) / 2**20
        timing["python_driver_rss_mb"] = psutil.Process().memory_info().rss / 2**20
        self.batches.append(timing)


@contextmanager
def timed_writer():
    """Make ``spark.sink_job.start`` use :class:`TimedBatchWriter`; yields its instances."""
    created: list[TimedBatchWriter] = []

    class Recording(TimedBatchWriter):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            created.append(self)

    original = sink_job.BatchWriter
    sink_job.BatchWriter = Recording
    try:
        yield created
    finally:
        sink_job.BatchWriter = original


def _durations(progress) -> dict[str, float]:
    """durationMs of one StreamingQueryProgress (object or dict, depending on pyspark)."""
    value = getattr(progress, "durationMs", None)
    if value is None and isinstance(progress, dict):
        value = progress.get("durationMs")
    return dict(value or {})


def run_sink(spark, base: SinkConfig, topic: str, dsn: str, bootstrap: str, schema: dict,
             workdir: Path, label: str, max_offsets: int, expect_rows: int) -> dict:
    truncate(dsn)
    config = replace(base, topic=topic, query_name=f"sinkbench_{label}",
                     starting_offsets="earliest", max_offsets_per_trigger=max_offsets,
                     checkpoint_location=str(workdir / f"checkpoint-{label}"))
    loader = TimedLoader(PostgresLoader(dsn))
    jvms, me, server = spark_jvms(), psutil.Process(), postmaster(dsn)

    def workers() -> float:  # the executors' Python workers (forked under the JVM)
        return sum(tree_cpu_seconds(jvm, with_root=False) for jvm in jvms)

    try:
        with timed_writer() as writers, MachineCpu() as cpu:
            jvm0, workers0, me0 = cpu_seconds(jvms), workers(), cpu_seconds([me])
            # The whole server: the executors' staging connections close within the run.
            pg0 = tree_cpu_seconds(server)
            t0 = time.perf_counter()
            query = sink_job.start(spark, config, bootstrap=bootstrap, loader=loader,
                                   schema=schema, available_now=True)
            finished = query.awaitTermination(900)
            elapsed = time.perf_counter() - t0
            jvm_cpu, me_cpu = cpu_seconds(jvms) - jvm0, cpu_seconds([me]) - me0
            workers_cpu = workers() - workers0
            pg_cpu = tree_cpu_seconds(server) - pg0
        if not finished:
            query.stop()
            raise RuntimeError(f"sink run {label} did not finish within 900 s")
        if query.exception() is not None:
            raise RuntimeError(f"sink run {label} failed: {query.exception()}")
        progress = query.recentProgress
    finally:
        loader.close()
        shutil.rmtree(workdir / f"checkpoint-{label}", ignore_errors=True)
    [(loaded, dead)] = fetch(dsn, "SELECT (SELECT count(*) FROM fleet.hoverboard),"
                             " (SELECT count(*) FROM platform.dead_letters)")
    if loaded != expect_rows or dead:
        raise RuntimeError(f"sink run {label}: {loaded} rows and {dead} dead letters, "
                           f"expected {expect_rows} rows")
    # Batches with rows: loaded on the driver ("rows") or staged by the executors.
    batches = [b for w in writers for b in w.batches if b.get("rows") or b.get("to_arrow_s")]
    spark_ms: dict[str, float] = {}
    for p in progress:
        for key, ms in _durations(p).items():
            spark_ms[key] = spark_ms.get(key, 0) + ms
    return {"elapsed_s": elapsed, "rows": loaded, "rows_per_s": loaded / elapsed,
            "batches": len(batches), "cpu": cpu.cores,
            "cpu_us": {"spark_jvm": jvm_cpu / loaded * 1e6,
                       "python_workers": workers_cpu / loaded * 1e6,
                       "python_driver": me_cpu / loaded * 1e6,
                       "postgres": pg_cpu / loaded * 1e6,
                       "total": (jvm_cpu + workers_cpu + me_cpu + pg_cpu) / loaded * 1e6},
            "to_arrow_s": sum(b.get("to_arrow_s", 0) for b in batches),
            "load_s": sum(b.get("load_s", 0) for b in batches),
            "copy_merge_s": sum(b.get("copy_merge_s", 0) for b in batches),
            "bookkeeping_s": sum(b.get("bookkeeping_s", 0) for b in batches),
            "commit_s": sum(b.get("commit_s", 0) for b in batches),
            "driver_rss_mb_max": max((b["driver_rss_mb"] for b in batches), default=0),
            "python_driver_rss_mb_max": max((b["python_driver_rss_mb"] for b in batches),
                                            default=0),
            "writer_s": sum(b["writer_s"] for b in batches),
            "spark_duration_ms": spark_ms}


def run_baseline(dsn: str, spec: TableSpec, payload: bytes, expect_rows: int) -> dict:
    """The warehouse's own best for the sink's semantics: COPY into a temporary staging
    table and the same set-based merge, in one transaction, committed. Only that is timed
    (the CSV is built beforehand, the connection is open)."""
    truncate(dsn)
    stage = f"stage_{spec.table_name}"
    with psycopg.connect(dsn) as conn, MachineCpu() as cpu:
        [(pid,)] = conn.execute("SELECT pg_backend_pid()").fetchall()
        conn.commit()
        # The whole server, as for the sink (its backend is nearly all of it).
        server, me = psutil.Process(pid).parent(), psutil.Process()
        server0, me0 = tree_cpu_seconds(server), cpu_seconds([me])
        t0 = time.perf_counter()
        with conn.transaction(), conn.cursor() as cur:
            cur.execute(sql.SQL(
                "CREATE TEMP TABLE {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DROP").format(
                sql.Identifier(stage), sql.Identifier(spec.schema_name, spec.table_name)))
            # The loader's own COPY statement: it declares to_csv's null marker.
            with cur.copy(copy_from_stdin(sql.Identifier(stage), spec.load_columns)) as pipe:
                pipe.write(payload)
            t_copy = time.perf_counter()
            cur.execute(merge_statement(spec, stage))
            written = cur.rowcount
            t_merge = time.perf_counter()
        t1 = time.perf_counter()
        server_cpu, me_cpu = tree_cpu_seconds(server) - server0, cpu_seconds([me]) - me0
    if written != expect_rows:
        raise RuntimeError(f"baseline merged {written} rows, expected {expect_rows}")
    return {"elapsed_s": t1 - t0, "rows_per_s": written / (t1 - t0), "copy_s": t_copy - t0,
            "merge_s": t_merge - t_copy, "commit_s": t1 - t_merge, "cpu": cpu.cores,
            "cpu_us": {"postgres": server_cpu / written * 1e6, "python": me_cpu / written * 1e6,
                       "total": (server_cpu + me_cpu) / written * 1e6}}


#: How far Spark takes the topic in each ``spark_stages`` measurement. kafka_source, decode,
#: parse_flatten, collect_flattened each add one step to the one before (the last is the
#: sink's Spark phase), so the differences of their JVM CPU are the steps' costs;
#: collect_decoded is decode + toArrow, the ``spark_read_only`` ceiling.
SPARK_STAGES = ("kafka_source", "decode", "parse_flatten", "collect_decoded",
                "collect_flattened")


def run_read_only(spark, topic: str, bootstrap: str, expect_rows: int, schema: dict,
                  stage: str = "collect_decoded") -> dict:
    """The same records read from Kafka (batch query) and taken as far as ``stage``:
    ``kafka_source`` (the source's rows, discarded by Spark's ``noop`` writer), ``decode``
    (raw bytes, JSON text, origin, receive-time header; noop), ``parse_flatten`` (the
    table's columns from ``from_json``; noop), ``collect_decoded`` (decode, then collected
    to the driver with ``toArrow``: the ``spark_read_only`` ceiling) and
    ``collect_flattened`` (what the sink's ``toArrow`` does). No checks, no load."""
    from spark.transform import decode, flatten

    jvms = spark_jvms()
    source = (spark.read.format("kafka").options(**sink_job.KAFKA_SOURCE_OPTIONS)
              .option("kafka.bootstrap.servers", bootstrap)
              .option("subscribe", topic).option("startingOffsets", "earliest").load())
    frame = {"kafka_source": lambda: source,
             "decode": lambda: decode(source),
             "parse_flatten": lambda: flatten(decode(source), schema, table_spec(MESSAGE_TYPE)),
             "collect_decoded": lambda: decode(source),
             "collect_flattened": lambda: flatten(decode(source), schema,
                                                  table_spec(MESSAGE_TYPE))}[stage]()
    jvm0, t0 = cpu_seconds(jvms), time.perf_counter()
    if stage.startswith("collect_"):
        rows = frame.toArrow().num_rows
    else:
        frame.write.format("noop").mode("overwrite").save()
        rows = expect_rows  # checked by the collecting stages, which read the same topic
    elapsed = time.perf_counter() - t0
    if rows != expect_rows:
        raise RuntimeError(f"read {rows} records of {topic}, expected {expect_rows}")
    return {"rows_per_s": rows / elapsed, "elapsed_s": elapsed,
            "jvm_cpu_us": (cpu_seconds(jvms) - jvm0) / rows * 1e6}


def baseline_payload(spec: TableSpec, events: list[dict], topic: str) -> tuple[bytes, float]:
    """The same rows as CSV: rows_from_events, with the Kafka metadata the sink writes (so
    both COPY the same columns), then to_csv. Returns the CSV and the seconds it took."""
    import pyarrow as pa

    t0 = time.perf_counter()
    now = datetime.now(UTC)
    rows = rows_from_events(spec, events, received_at=[now] * len(events))
    count = len(events)
    for name, array in (("source_topic", pa.array([topic] * count, pa.string())),
                        ("source_partition", pa.array([i % 6 for i in range(count)], pa.int32())),
                        ("source_offset", pa.array(range(count), pa.int64()))):
        rows = rows.set_column(rows.schema.get_field_index(name), name, array)
    payload = to_csv(spec, rows)
    return payload, time.perf_counter() - t0


def bench_throughput(stack: Stack, scratch: Scratch, s: Settings) -> None:
    spec = table_spec(MESSAGE_TYPE)
    schema = latest(MESSAGE_TYPE).schema
    base = SinkConfig.load(SINK_CONF, MESSAGE_TYPE)  # its checkpoint is replaced by a scratch one
    events = telemetry(s.events)
    topic = scratch.topic("throughput")
    warm_topic = scratch.topic("warmup")
    t0 = time.perf_counter()
    produce(stack.bootstrap, topic, events)
    produce(stack.bootstrap, warm_topic, telemetry(s.warmup_events, seed=7))
    log(f"produced {len(events)} events to {topic} in {time.perf_counter() - t0:.1f} s")
    sink_dsn = scratch.database("sink")
    baseline_dsn = scratch.database("copy")
    payload, csv_s = baseline_payload(spec, events, topic)

    log("starting the SparkSession")
    t0 = time.perf_counter()
    spark = spark_session()
    session_s = time.perf_counter() - t0
    try:
        t0 = time.perf_counter()
        run_sink(spark, base, warm_topic, sink_dsn, stack.bootstrap, schema, scratch.workdir,
                 "warmup", 10**9, s.warmup_events)
        log(f"session {session_s:.1f} s, warm-up run {time.perf_counter() - t0:.1f} s")
        shapes = [("sink_throughput", 10**9)]
        if s.conf_batches:
            shapes.append(("sink_throughput_conf_batches", base.max_offsets_per_trigger))
        for stage in SPARK_STAGES:  # each query shape once on the warm-up topic: JIT, codegen
            run_read_only(spark, warm_topic, stack.bootstrap, s.warmup_events, schema, stage)
        stage_runs = {stage: [run_read_only(spark, topic, stack.bootstrap, len(events), schema,
                                            stage) for _ in range(s.runs)]
                      for stage in SPARK_STAGES}
        read_runs = stage_runs["collect_decoded"]
        for bench, max_offsets in shapes:
            sink_runs, copy_runs = [], []
            for run in range(s.runs):  # interleaved, so drift of the shared machine hits both
                sink_runs.append(run_sink(spark, base, topic, sink_dsn, stack.bootstrap,
                                          schema, scratch.workdir, f"{bench}_{run}",
                                          max_offsets, len(events)))
                copy_runs.append(run_baseline(baseline_dsn, spec, payload, len(events)))
                log(f"{bench} run {run + 1}/{s.runs}: sink {sink_runs[-1]['rows_per_s']:.0f}"
                    f" rows/s ({sink_runs[-1]['batches']} batches), COPY + merge "
                    f"{copy_runs[-1]['rows_per_s']:.0f} rows/s")
            emit(throughput_line(bench, sink_runs, copy_runs, read_runs, len(events),
                                 max_offsets, csv_s, len(payload), session_s, stack.n_part),
                 generator=PRODUCED)
        emit(stages_line(stage_runs, copy_runs, len(events)), generator=PRODUCED)
    finally:
        spark.stop()
        truncate(sink_dsn)
        truncate(baseline_dsn)


def bench_driver_rss(stack: Stack, scratch: Scratch, s: Settings) -> None:
    """The driver's memory while ``maxOffsetsPerTrigger`` grows tenfold on the same rows:
    rows stay on the executors (loader.staged), so it must stay flat. In local mode the JVM
    holds the executors too; ``python_driver_rss_mb`` is the driver's Python alone, where
    ``toArrow`` used to collect each batch."""
    schema = latest(MESSAGE_TYPE).schema
    base = SinkConfig.load(SINK_CONF, MESSAGE_TYPE)
    events = telemetry(s.events // 4)
    topic = scratch.topic("rss")
    produce(stack.bootstrap, topic, events)
    dsn = scratch.database("rss")
    spark = spark_session()
    runs = {}
    for max_offsets in (len(events) // 10, len(events)):
        run = run_sink(spark, base, topic, dsn, stack.bootstrap, schema, scratch.workdir,
                       f"rss{max_offsets}", max_offsets, len(events))
        runs[max_offsets] = run
        log(f"maxOffsetsPerTrigger {max_offsets}: {run['batches']} batch(es), python driver"
            f" {run['python_driver_rss_mb_max']:.0f} MiB, driver+JVM"
            f" {run['driver_rss_mb_max']:.0f} MiB")
    small, large = (runs[k] for k in sorted(runs))
    emit({"bench": "driver_rss", "unit": "MiB", "rows": len(events),
          "max_offsets_per_trigger": sorted(runs),
          "batches": [small["batches"], large["batches"]],
          "python_driver_rss_mb": [r(small["python_driver_rss_mb_max"], 0),
                                   r(large["python_driver_rss_mb_max"], 0)],
          "driver_and_jvm_rss_mb": [r(small["driver_rss_mb_max"], 0),
                                    r(large["driver_rss_mb_max"], 0)],
          "goal": "python driver RSS flat (within 10%) while the batch grows tenfold"},
         generator=PRODUCED)


def throughput_line(bench: str, sink_runs: list[dict], copy_runs: list[dict],
                    read_runs: list[dict], rows: int, max_offsets: int, csv_s: float,
                    csv_bytes: int, session_s: float, partitions: int) -> dict:
    sink = median(x["rows_per_s"] for x in sink_runs)
    copy = median(x["rows_per_s"] for x in copy_runs)

    def m(runs: list[dict], key: str, digits: int = 3) -> float:
        return r(median(x[key] for x in runs), digits)

    spark_keys = sorted({k for x in sink_runs for k in x["spark_duration_ms"]})
    return {
        "bench": bench, "unit": "rows/s", "value": r(sink, 0), "baseline": r(copy, 0),
        "baseline_name": "plain psycopg: COPY into a temp staging table + the same "
                         "merge_statement, one transaction, committed (CSV prepared beforehand)",
        "ratio": r(sink / copy, 3), "goal": ">= 0.5",
        "seconds": m(sink_runs, "elapsed_s"), "baseline_seconds": m(copy_runs, "elapsed_s"),
        "runs": [r(x["rows_per_s"], 0) for x in sink_runs],
        "baseline_runs": [r(x["rows_per_s"], 0) for x in copy_runs],
        "phases_s": {
            "query_total": m(sink_runs, "elapsed_s"),
            # Executor-side (loader.staged): the one Spark action, which reads Kafka, judges
            # and COPYs into staging; load_total is then the driver's transactions only.
            "spark_stage_on_executors": m(sink_runs, "to_arrow_s"),
            "driver_rss_mb_max": m(sink_runs, "driver_rss_mb_max"),
            "load_total": m(sink_runs, "load_s"),
            # What foreachBatch does besides the Spark action and the driver's transactions.
            "writer_checks_and_other": r(median(x["writer_s"] - x["to_arrow_s"] - x["load_s"]
                                                for x in sink_runs), 3),
            "outside_foreach_batch": r(median(x["elapsed_s"] - x["writer_s"]
                                              for x in sink_runs), 3),
        },
        "baseline_phases_s": {"copy": m(copy_runs, "copy_s"), "merge": m(copy_runs, "merge_s"),
                              "commit": m(copy_runs, "commit_s"),
                              "to_csv_not_timed": r(csv_s, 3)},
        "spark_duration_ms": {k: r(median(x["spark_duration_ms"].get(k, 0) for x in sink_runs),
                                   0) for k in spark_keys},
        "cpu_us_per_row": {
            "sink": {k: r(median(x["cpu_us"][k] for x in sink_runs), 1)
                     for k in sink_runs[0]["cpu_us"]},
            "baseline": {k: r(median(x["cpu_us"][k] for x in copy_runs), 1)
                         for k in copy_runs[0]["cpu_us"]},
        },
        "cpu_ratio": r(median(x["cpu_us"]["total"] for x in copy_runs)
                       / median(x["cpu_us"]["total"] for x in sink_runs), 3),
        "cpu_ratio_is": "baseline CPU per row / sink CPU per row (what the ratio would be if "
                        "each had the machine to itself and were CPU-bound)",
        "spark_read_only": {
            "rows_per_s": r(median(x["rows_per_s"] for x in read_runs), 0),
            "jvm_cpu_us_per_row": r(median(x["jvm_cpu_us"] for x in read_runs), 1),
            "ratio_to_baseline": r(median(x["rows_per_s"] for x in read_runs) / copy, 3),
            "runs": [r(x["rows_per_s"], 0) for x in read_runs],
            "what": "the same records read from Kafka and collected with toArrow, no parsing, "
                    "checks or load: the ceiling of any sink built this way on this machine",
        },
        "cpu_busy_cores": {"sink": m(sink_runs, "cpu", 2), "baseline": m(copy_runs, "cpu", 2),
                           "note": "whole machine, everyone's work"},
        "params": {"rows": rows, "batches": sink_runs[0]["batches"],
                   "max_offsets_per_trigger": max_offsets, "partitions": partitions, "runs":
                   len(sink_runs), "csv_mib": r(csv_bytes / 2**20, 1),
                   "session_start_s_excluded": r(session_s, 1), "master": "local[2]"},
    }


def stages_line(stage_runs: dict[str, list[dict]], copy_runs: list[dict], rows: int) -> dict:
    """Where Spark's CPU goes before the load, and what that means for the goal: at a ratio
    of 0.5 everything the sink adds to the baseline's time must fit in the baseline's time."""
    copy_s = median(x["elapsed_s"] for x in copy_runs)
    jvm = {stage: median(x["jvm_cpu_us"] for x in runs) for stage, runs in stage_runs.items()}
    cores = os.cpu_count() or 1
    collect_s = jvm["collect_flattened"] * rows / 1e6 / cores
    return {
        "bench": "spark_stages", "unit": "JVM CPU us per row", "rows": rows,
        "jvm_cpu_us_per_row": {stage: r(us, 1) for stage, us in jvm.items()},
        "rows_per_s": {stage: r(median(x["rows_per_s"] for x in runs), 0)
                       for stage, runs in stage_runs.items()},
        "runs": {stage: [r(x["jvm_cpu_us"], 1) for x in runs]
                 for stage, runs in stage_runs.items()},
        "stages_are": "each adds a step to the one before: kafka_source (the source's rows, "
                      "noop writer), decode, parse_flatten (noop), collect_flattened (toArrow: "
                      "the sink's Spark phase); collect_decoded is decode + toArrow. Each "
                      "includes its query's fixed cost (planning, tasks) spread over the rows",
        "collect_flattened_min_s": r(collect_s, 2),
        "budget_s_at_ratio_0_5": r(copy_s, 2),
        "budget_is": "the baseline's own time: at 0.5 all the sink adds (Spark, checks, "
                     "bookkeeping) must fit in it; collect_flattened_min_s is the Spark phase "
                     f"alone with its JVM CPU spread perfectly over all {cores} cores",
    }


# ---------------------------------------------------------------------------------------
# End-to-end freshness: ingest API -> Kafka -> sink job (subprocess) -> warehouse
# ---------------------------------------------------------------------------------------

class SinkProcess:
    """``python -m spark.sink_job`` on a scratch copy of the hoverboard sink config."""

    def __init__(self, stack: Stack, dsn: str, workdir: Path, trigger_s: float | None,
                 label: str) -> None:
        self.dsn = dsn
        self.folder = workdir / f"job-{label}"
        self.folder.mkdir(parents=True)
        parser = configparser.ConfigParser(interpolation=None)
        parser.read(SINK_CONF)
        section = parser["sink"]
        section["message_type"] = MESSAGE_TYPE
        section["starting_offsets"] = "latest"
        section["checkpoint_location"] = str(self.folder / "checkpoint")
        if trigger_s is not None:
            section["trigger_seconds"] = f"{trigger_s:g}"
        self.conf = self.folder / "hoverboard_sink.conf"
        with self.conf.open("w") as fh:
            parser.write(fh)
        self.config = SinkConfig.load(self.conf, MESSAGE_TYPE)
        self.env = {**os.environ, **stack.env,
                    "AIRFLOW_CONN_WAREHOUSE_DEFAULT": warehouse_connection(stack.env, dsn),
                    "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'plugins'}"}
        self.log_path = self.folder / "driver.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> SinkProcess:
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "spark.sink_job", "--config", str(self.conf)],
                cwd=REPO, env=self.env, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def cpu_seconds(self) -> float:
        """CPU of the driver and everything it started (its JVM)."""
        try:
            root = psutil.Process(self.proc.pid)
            total = 0.0
            for p in [root, *root.children(recursive=True)]:
                t = p.cpu_times()
                total += t.user + t.system + t.children_user + t.children_system
            return total
        except psutil.Error:
            return 0.0

    def stop(self) -> None:
        """SIGINT (the job closes its loader, the JVM shuts down), then the whole session
        this benchmark started (its own process group), by id."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.proc.pid, sig)  # our own session: the driver's pid is its id
            except ProcessLookupError:
                break
            time.sleep(2)
        if self.proc.poll() is None:
            self.proc.wait(timeout=10)


@dataclass
class PostResult:
    requests: int
    errors: int
    accepted: int
    rejected: int
    failed: int
    elapsed: float
    latencies_s: list[float]
    statuses: dict[int, int]


async def _post_at_rate(url: str, api_key: str, bodies: list[tuple[str, bytes]],
                        per_s: float, clients: int) -> PostResult:
    """Open loop: request i is due at start + i / per_s, whatever the earlier ones do, over
    at most ``clients`` connections."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    counts = {"accepted": 0, "rejected": 0, "failed": 0, "errors": 0}
    connector = aiohttp.TCPConnector(limit=clients, force_close=False)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one(key: str, body: bytes, scheduled: float) -> None:
            try:
                async with session.post(url, data=body, headers={
                        "Content-Type": "application/json", "X-API-Key": api_key,
                        "X-Hover-Key": key}) as response:
                    raw = await response.read()
                    statuses[response.status] = statuses.get(response.status, 0) + 1
                    try:
                        result = orjson.loads(raw)
                    except orjson.JSONDecodeError:
                        result = {}
                    # A 503 still names what it stored: those rows will be loaded too.
                    for k in ("accepted", "rejected", "failed"):
                        counts[k] += int(result.get(k, 0)) if isinstance(result, dict) else 0
                    if response.status != 200:
                        counts["errors"] += 1
            except (aiohttp.ClientError, TimeoutError):
                counts["errors"] += 1
            latencies.append(time.perf_counter() - scheduled)

        start = time.perf_counter() + 0.05
        tasks = []
        for i, (key, body) in enumerate(bodies):
            scheduled = start + i / per_s
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(key, body, scheduled)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
    latencies.sort()
    return PostResult(len(bodies), counts["errors"], counts["accepted"], counts["rejected"],
                      counts["failed"], elapsed, latencies, statuses)


def request_bodies(first_id: int, boards: int, requests: int, per_request: int,
                   first_turn: int = 0) -> list[tuple[str, bytes]]:
    """``requests`` JSON arrays of ``per_request`` events of one board each (its key in
    X-Hover-Key, so NGINX routes it like a sensor's), boards taking turns."""
    out = []
    for i in range(requests):
        board = first_id + i % boards
        turn = first_turn + i // boards
        events = [sample(MESSAGE_TYPE, id=board, event_time=(
            EPOCH + timedelta(seconds=turn * per_request + j)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            speed=round((i + j) % 800 / 10, 1)) for j in range(per_request)]
        out.append((key_text(events[0], ["id"]), orjson.dumps(events)))
    return out


class VisibilityPoller(threading.Thread):
    """Polls the warehouse every ``interval`` s and notes when each load transaction (rows
    share its ``loaded_at``) first became visible: the freshness a reader sees."""

    def __init__(self, dsn: str, interval: float = 0.1) -> None:
        super().__init__(daemon=True, name="visibility-poller")
        self.dsn = dsn
        self.interval = interval
        self.seen: dict[datetime, float] = {}
        self.halt = threading.Event()
        self.error: Exception | None = None

    def run(self) -> None:
        try:
            with psycopg.connect(self.dsn, autocommit=True) as conn:
                last = datetime(1970, 1, 1, tzinfo=UTC)
                while not self.halt.is_set():
                    rows = conn.execute("SELECT DISTINCT loaded_at FROM fleet.hoverboard"
                                        " WHERE loaded_at > %s", (last,)).fetchall()
                    now = time.time()
                    for (loaded_at,) in rows:
                        self.seen.setdefault(loaded_at, now)
                        last = max(last, loaded_at)
                    self.halt.wait(self.interval)
        except Exception as exc:  # noqa: BLE001 - reported by the caller
            self.error = exc


def wait_ready(job: SinkProcess, stack: Stack, first_id: int, timeout: float = 240) -> float:
    """Post a small batch every 2 s until one of them is in the warehouse: the query has
    resolved its starting offsets, run a batch and loaded it. Returns the seconds it took."""
    url = f"{stack.ingest_url}/ingest/{MESSAGE_TYPE}"
    t0 = time.monotonic()
    turn = 0
    while time.monotonic() - t0 < timeout:
        if not job.alive():
            raise RuntimeError(f"the sink job exited {job.proc.returncode}:\n{job.log_tail()}")
        run_load(_post_at_rate(url, stack.api_key,
                                  request_bodies(first_id, 1, 1, 5, first_turn=turn), 1, 1))
        turn += 1
        time.sleep(2)
        [(n,)] = fetch(job.dsn, "SELECT count(*) FROM fleet.hoverboard WHERE id = %s",
                       (first_id,))
        if n:
            return time.monotonic() - t0
    raise RuntimeError(f"the sink job loaded nothing within {timeout} s:\n{job.log_tail()}")


def freshness_run(job: SinkProcess, stack: Stack, s: Settings, first_id: int) -> dict:
    url = f"{stack.ingest_url}/ingest/{MESSAGE_TYPE}"
    per_s = s.rate / s.request_events
    bodies = request_bodies(first_id, s.boards, int(per_s * s.rate_s), s.request_events)
    last_id = first_id + s.boards - 1
    poller = VisibilityPoller(job.dsn)
    poller.start()
    cpu0 = job.cpu_seconds()
    with MachineCpu() as cpu:
        t_start = datetime.now(UTC)
        posted = run_load(_post_at_rate(url, stack.api_key, bodies, per_s, s.clients))
        t0 = time.monotonic()
        loaded = 0
        while time.monotonic() - t0 < s.drain_timeout_s:
            [(loaded,)] = fetch(job.dsn, "SELECT count(*) FROM fleet.hoverboard"
                                " WHERE id BETWEEN %s AND %s", (first_id, last_id))
            if loaded >= posted.accepted or not job.alive():
                break
            time.sleep(0.25)
        drain_s = time.monotonic() - t0
        time.sleep(0.3)  # let the poller see the last commit
    job_cpu = job.cpu_seconds() - cpu0
    job_cores = job_cpu / (posted.elapsed + drain_s)
    poller.halt.set()
    poller.join(5)
    if poller.error is not None:
        raise RuntimeError(f"visibility poller: {poller.error}")
    rows = fetch(job.dsn, "SELECT received_at, loaded_at FROM fleet.hoverboard"
                 " WHERE id BETWEEN %s AND %s", (first_id, last_id))
    fresh = sorted((la - ra).total_seconds() for ra, la in rows)
    visible = sorted(poller.seen[la] - ra.timestamp() for ra, la in rows if la in poller.seen)
    batches = fetch(job.dsn, "SELECT batch_id, input_rows, rows_per_second, batch_time"
                    " FROM platform.stream_progress WHERE batch_time >= %s ORDER BY batch_id",
                    (t_start,))
    # Per batch: how long the writer took (input_rows / rows_per_second: toArrow + COPY
    # + merge) and the time between the ends of consecutive batches.
    busy = [n / rps for _, n, rps, _ in batches if rps]
    gaps = [(b[3] - a[3]).total_seconds() for a, b in zip(batches, batches[1:], strict=False)]
    per_batch_max = {}
    for ra, la in rows:
        lag = (la - ra).total_seconds()
        per_batch_max[la] = max(per_batch_max.get(la, 0.0), lag)
    return {
        "accepted": posted.accepted, "loaded": loaded, "rejected": posted.rejected,
        "failed": posted.failed, "http_errors": posted.errors, "statuses": posted.statuses,
        "requests": posted.requests, "post_elapsed_s": posted.elapsed,
        "rate": posted.accepted / posted.elapsed,
        "http_p50_ms": percentile(posted.latencies_s, 50) * 1000,
        "http_p99_ms": percentile(posted.latencies_s, 99) * 1000,
        "p50": percentile(fresh, 50), "p99": percentile(fresh, 99),
        "max": fresh[-1] if fresh else float("nan"),
        "visible_p50": percentile(visible, 50), "visible_p99": percentile(visible, 99),
        "visible_max": visible[-1] if visible else float("nan"),
        "visible_rows": len(visible), "drain_s": drain_s,
        "batches": len(batches),
        "batch_rows_median": median(b[1] for b in batches) if batches else None,
        "batch_busy_s_median": median(busy) if busy else None,
        "batch_busy_s_max": max(busy) if busy else None,
        "batch_gap_s_median": median(gaps) if gaps else None,
        "batch_gap_s_max": max(gaps) if gaps else None,
        "oldest_row_per_batch_s_median": median(per_batch_max.values())
        if per_batch_max else None,
        "cpu": cpu.cores, "job_cpu": job_cores,
        "job_cpu_us_per_row": job_cpu / loaded * 1e6 if loaded else None,
        "job_cpu_s_per_batch": job_cpu / len(batches) if batches else None,
    }


def bench_freshness(stack: Stack, scratch: Scratch, s: Settings,
                    triggers: list[float | None]) -> None:
    if not stack.ingest_url or not stack.api_key:
        raise SystemExit("HOVER_INGEST_URL / HOVER_INGEST_API_KEYS missing from stack.env")
    # Board ids no one else uses: above anything the simulator or tests send, unique per run.
    id_base = 7_000_000_000_000 + (time.time_ns() // 10**6 % 10**9) * 1000
    conf_trigger = SinkConfig.load(SINK_CONF, MESSAGE_TYPE).trigger_seconds
    for index, trigger in enumerate(triggers):
        dsn = scratch.database(f"fresh{index}")
        job = SinkProcess(stack, dsn, scratch.workdir, trigger, f"t{index}")
        effective = job.config.trigger_seconds
        log(f"freshness: sink job with trigger_seconds={effective:g} "
            f"(max_offsets_per_trigger={job.config.max_offsets_per_trigger})")
        job.start()
        try:
            runs = []
            first = id_base + index * 100_000
            ready_s = wait_ready(job, stack, first)
            log(f"sink job loading after {ready_s:.1f} s; warming up with "
                f"{s.freshness_warmup_s:g} s of load")
            # A fresh JVM runs the first batches several times slower (JIT): the measured
            # runs start warm, the warm-up's own figures are reported as the cold start.
            cold = freshness_run(job, stack, replace(s, rate_s=s.freshness_warmup_s),
                                 first + 5_000)
            log(f"cold start: p50 {cold['p50']:.2f} s p99 {cold['p99']:.2f} s, "
                f"{cold['batches']} batches")
            time.sleep(max(2.0, 2 * effective))
            for run in range(s.runs):
                first = id_base + index * 100_000 + (run + 1) * 10_000
                runs.append(freshness_run(job, stack, s, first))
                x = runs[-1]
                log(f"freshness trigger {effective:g} s run {run + 1}/{s.runs}: "
                    f"{x['rate']:.0f} ev/s, accepted {x['accepted']} loaded {x['loaded']}, "
                    f"p50 {x['p50']:.2f} s p99 {x['p99']:.2f} s max {x['max']:.2f} s "
                    f"(visible p99 {x['visible_p99']:.2f} s), {x['batches']} batches")
                if not job.alive():
                    raise RuntimeError(f"sink job died:\n{job.log_tail()}")
        finally:
            job.stop()
        emit(freshness_line(runs, s, effective, conf_trigger, job.config, ready_s, cold),
             generator=f"{PYTHON_HTTP} (aiohttp, through NGINX)")


def freshness_line(runs: list[dict], s: Settings, trigger: float, conf_trigger: float | None,
                   config: SinkConfig, ready_s: float, cold: dict) -> dict:
    def m(key: str, digits: int = 3):
        values = [x[key] for x in runs if x[key] is not None]
        return r(median(values), digits) if values else None

    p99 = median(x["p99"] for x in runs)
    return {
        "bench": "freshness", "unit": "s (loaded_at - received_at)",
        "trigger_seconds": trigger,
        "config": "spark/conf/sink.conf" if trigger == conf_trigger
        else f"scratch copy with trigger_seconds = {trigger:g}",
        "value": r(p99, 3), "value_is": "p99", "goal": "p99 <= 5 s",
        "goal_met": bool(p99 <= 5.0),
        "p50": m("p50"), "p99": r(p99, 3), "max": m("max"),
        "visible_p50": m("visible_p50"), "visible_p99": m("visible_p99"),
        "visible_max": m("visible_max"),
        "visible_note": "when a reader polling every 0.1 s first saw the rows (commit "
                        "included); loaded_at is now() of the load transaction, taken before "
                        "COPY, merge and commit",
        "rate": m("rate", 0), "rate_goal": s.rate,
        "accepted": [x["accepted"] for x in runs], "loaded": [x["loaded"] for x in runs],
        "all_loaded": all(x["accepted"] == x["loaded"] for x in runs),
        "rejected": sum(x["rejected"] for x in runs), "failed": sum(x["failed"] for x in runs),
        "http_errors": sum(x["http_errors"] for x in runs),
        "http_p50_ms": m("http_p50_ms", 1), "http_p99_ms": m("http_p99_ms", 1),
        "runs": [r(x["p99"], 3) for x in runs],
        "runs_p50": [r(x["p50"], 3) for x in runs],
        "runs_max": [r(x["max"], 3) for x in runs],
        "runs_sink_job_cores": [r(x["job_cpu"], 2) for x in runs],
        "runs_batches": [x["batches"] for x in runs],
        "batches": {
            "rows_median": m("batch_rows_median", 0),
            "writer_s_median": m("batch_busy_s_median"),
            "writer_s_max": m("batch_busy_s_max"),
            "interval_s_median": m("batch_gap_s_median"),
            "interval_s_max": m("batch_gap_s_max"),
            "oldest_row_s_median": m("oldest_row_per_batch_s_median"),
            "note": "writer_s = input_rows / rows_per_second of platform.stream_progress: "
                    "toArrow (the Spark work) + COPY + merge; interval = between batch ends",
        },
        "drain_s": m("drain_s", 2),
        "cold_start": {"p50": r(cold["p50"], 3), "p99": r(cold["p99"], 3),
                       "max": r(cold["max"], 3), "batches": cold["batches"],
                       "all_loaded": cold["accepted"] == cold["loaded"],
                       "duration_s": s.freshness_warmup_s,
                       "what": "the first load on the freshly started job (not in the "
                               "figures above): its JVM is not warm yet"},
        "cpu_busy_cores": {"machine": m("cpu", 2), "sink_job": m("job_cpu", 2),
                           "note": "machine: everyone's work; sink_job: the driver and its JVM"},
        "sink_job_cpu": {"us_per_row": m("job_cpu_us_per_row", 1),
                         "s_per_batch": m("job_cpu_s_per_batch", 2)},
        "params": {"rate_per_s": s.rate, "duration_s": s.rate_s,
                   "events_per_request": s.request_events, "clients": s.clients,
                   "boards": s.boards, "runs": len(runs), "topic": config.topic,
                   "max_offsets_per_trigger": config.max_offsets_per_trigger,
                   "job_ready_s": r(ready_s, 1), "via": "HOVER_INGEST_URL (NGINX, 2 instances)"},
    }


# ---------------------------------------------------------------------------------------
# Our sink against Kafka Connect + Debezium's JDBC sink (upsert on the same key)
# ---------------------------------------------------------------------------------------

#: Rows per JDBC statement batch of the connector (and per consumer poll); Debezium's
#: default is 500, larger batches were faster here.
CONNECT_BATCH_SIZE = 5000
CONNECT_APP = "hoverboard-connect"  # application_name of the connector's connections


def table_columns(dsn: str, spec: TableSpec) -> list[kafka_connect.Column]:
    """The target table's columns a Connect record carries: what our sink loads, less the
    Kafka metadata (added by the connector's InsertField transform)."""
    rows = fetch(dsn, "SELECT column_name, data_type, is_nullable = 'YES'"
                 " FROM information_schema.columns WHERE table_schema = %s AND table_name = %s"
                 " ORDER BY ordinal_position", (spec.schema_name, spec.table_name))
    metadata = set(kafka_connect.METADATA_FIELDS.values())
    return [kafka_connect.Column(n, t, nullable) for n, t, nullable in rows
            if n in spec.load_columns and n not in metadata]


def connect_values(spec: TableSpec, events: list[dict], schema: dict) -> list[bytes]:
    """The events as the rows our sink loads (rows_from_events), each in JsonConverter's
    schema envelope."""
    names = {f["field"] for f in schema["fields"]}
    rows = rows_from_events(spec, events, received_at=[datetime.now(UTC)] * len(events))
    return [orjson.dumps(kafka_connect.envelope(schema, {k: v for k, v in row.items()
                                                         if k in names}))
            for row in rows.to_pylist()]


def different_rows(dsn_a: str, dsn_b: str) -> str | None:
    """What differs between the two warehouses' rows (count, key range, exact sums of
    values: numeric, as float sums depend on the order of the rows), or None."""
    query = ("SELECT count(*), count(DISTINCT (id, event_time)), min(event_time),"
             " max(event_time), sum(speed::numeric), sum(charge::numeric),"
             " sum(temperature::numeric), count(source_offset) FROM fleet.hoverboard")
    a, b = fetch(dsn_a, query), fetch(dsn_b, query)
    return None if a == b else f"{a} != {b}"


def run_connect(worker: kafka_connect.ConnectWorker, config: dict[str, str], dsn: str,
                name: str, expect_rows: int, timeout: float = 900) -> dict:
    """Create the connector on a full topic and time it until the last row is in the table
    (polled every 0.2 s)."""
    truncate(dsn)
    proc, server = psutil.Process(worker.proc.pid), postmaster(dsn)
    with MachineCpu() as cpu:
        # The whole server as for our sink, less the backend answering this poll.
        jvm0, pg0 = cpu_seconds([proc]), tree_cpu_seconds(server)
        t0 = time.perf_counter()
        worker.create(name, config)
        first_row_s = None
        loaded = 0
        with psycopg.connect(dsn, autocommit=True) as conn:
            [(poll_pid,)] = conn.execute("SELECT pg_backend_pid()").fetchall()
            poller = psutil.Process(poll_pid)
            while time.perf_counter() - t0 < timeout:
                [(loaded,)] = conn.execute("SELECT count(*) FROM fleet.hoverboard").fetchall()
                now = time.perf_counter() - t0
                if loaded and first_row_s is None:
                    first_row_s = now
                if loaded >= expect_rows:
                    break
                failed = worker.failures(name)
                if failed or not worker.alive():
                    raise RuntimeError(f"connector {name} failed (log {worker.log_path}):\n"
                                       + "\n".join(failed or [worker.log_tail()]))
                time.sleep(0.2)
            elapsed = time.perf_counter() - t0
            jvm_cpu = cpu_seconds([proc]) - jvm0
            pg_cpu = tree_cpu_seconds(server) - pg0 - cpu_seconds([poller])
    worker.delete(name)
    if loaded != expect_rows:
        raise RuntimeError(f"connector {name}: {loaded} rows after {elapsed:.0f} s, expected "
                           f"{expect_rows} (log {worker.log_path})")
    return {"elapsed_s": elapsed, "rows_per_s": loaded / elapsed, "cpu": cpu.cores,
            "first_row_s": first_row_s, "load_s": elapsed - first_row_s,
            "cpu_us": {"connect_jvm": jvm_cpu / loaded * 1e6, "postgres": pg_cpu / loaded * 1e6,
                       "total": (jvm_cpu + pg_cpu) / loaded * 1e6}}


def bench_connect(stack: Stack, scratch: Scratch, s: Settings, batch_size: int) -> None:
    """Our sink and Connect + Debezium on the same rows, interleaved, into two scratch
    warehouses of the same schema."""
    spec = table_spec(MESSAGE_TYPE)
    schema = latest(MESSAGE_TYPE).schema
    base = SinkConfig.load(SINK_CONF, MESSAGE_TYPE)
    events, warm_events = telemetry(s.events), telemetry(s.warmup_events, seed=7)
    topic, warm_topic = scratch.topic("ours"), scratch.topic("ourswarm")
    connect_topic, connect_warm = scratch.topic("connect"), scratch.topic("connectwarm")
    sink_dsn, connect_dsn = scratch.database("sink"), scratch.database("connect")
    record_schema = kafka_connect.envelope_schema(table_columns(connect_dsn, spec),
                                                  f"{spec.schema_name}.{spec.table_name}")
    t0 = time.perf_counter()
    produce(stack.bootstrap, topic, events)
    produce(stack.bootstrap, warm_topic, warm_events)
    produce(stack.bootstrap, connect_topic, events, connect_values(spec, events, record_schema))
    produce(stack.bootstrap, connect_warm, warm_events,
            connect_values(spec, warm_events, record_schema))
    log(f"produced {len(events)} events to {topic} and {connect_topic} (+ warm-up topics) "
        f"in {time.perf_counter() - t0:.1f} s")

    info = psycopg.conninfo.conninfo_to_dict(connect_dsn)
    url = kafka_connect.jdbc_url(info.get("host", "127.0.0.1"), int(info.get("port", 5432)),
                                 info["dbname"]) + f"?ApplicationName={CONNECT_APP}"

    def config(on_topic: str) -> dict[str, str]:
        return kafka_connect.connector_config(
            topic=on_topic, table=f"{spec.schema_name}.{spec.table_name}", key=spec.key,
            tasks=stack.n_part, batch_size=batch_size, jdbc_url=url, user=info["user"],
            password=info.get("password", ""))

    stack_config = StackConfig.from_env()
    # In the stack's log folder, not the scratch dir: its log outlives a failed run.
    worker = kafka_connect.ConnectWorker(
        cache_dir=stack_config.cache_dir, workdir=stack_config.log_dir / "sink-bench-connect",
        bootstrap=stack.bootstrap, port=int(os.environ.get("HOVER_KAFKA_CONNECT_PORT") or 18083))
    spark = spark_session()
    try:
        log("starting Kafka Connect (standalone)")
        worker_s = worker.start()
        # Both warm up on their own warm-up topic first (JIT, plugin loading, connections).
        run_sink(spark, base, warm_topic, sink_dsn, stack.bootstrap, schema, scratch.workdir,
                 "cwarmup", 10**9, len(warm_events))
        run_connect(worker, config(connect_warm), connect_dsn, f"warmup-{scratch.run_id}",
                    len(warm_events))
        log(f"Connect up in {worker_s:.1f} s; both warmed up")
        sink_runs, connect_runs = [], []
        for run in range(s.runs):  # interleaved, so drift of the shared machine hits both
            sink_runs.append(run_sink(spark, base, topic, sink_dsn, stack.bootstrap, schema,
                                      scratch.workdir, f"vsconnect_{run}", 10**9, len(events)))
            connect_runs.append(run_connect(worker, config(connect_topic), connect_dsn,
                                            f"run{run}-{scratch.run_id}", len(events)))
            log(f"vs Connect run {run + 1}/{s.runs}: sink {sink_runs[-1]['rows_per_s']:.0f}"
                f" rows/s, Connect + Debezium {connect_runs[-1]['rows_per_s']:.0f} rows/s")
            difference = different_rows(sink_dsn, connect_dsn)
            if difference:
                raise RuntimeError(f"our sink and the connector loaded different rows: "
                                   f"{difference}")
    finally:
        spark.stop()
        worker.stop()
        truncate(sink_dsn)
        truncate(connect_dsn)
    emit(connect_line(sink_runs, connect_runs, len(events), kafka_connect.masked(
        config(connect_topic)), worker, worker_s, stack.n_part), generator=PRODUCED)


def connect_line(sink_runs: list[dict], connect_runs: list[dict], rows: int,
                 config: dict[str, str], worker: kafka_connect.ConnectWorker,
                 worker_s: float, partitions: int) -> dict:
    sink = median(x["rows_per_s"] for x in sink_runs)
    connect = median(x["rows_per_s"] for x in connect_runs)

    def m(runs: list[dict], key: str, digits: int = 3) -> float:
        return r(median(x[key] for x in runs), digits)

    return {
        "bench": "sink_vs_kafka_connect", "unit": "rows/s", "value": r(sink, 0),
        "baseline": r(connect, 0),
        "baseline_name": f"Kafka Connect {kafka_connect.KAFKA_VERSION} standalone + Debezium "
                         f"JDBC sink {kafka_connect.DEBEZIUM_VERSION}, upsert on the same key",
        "ratio": r(sink / connect, 3), "goal": ">= 1.5", "goal_met": bool(sink / connect >= 1.5),
        "rows": rows, "partitions": partitions,
        "runs": [r(x["rows_per_s"], 0) for x in sink_runs],
        "baseline_runs": [r(x["rows_per_s"], 0) for x in connect_runs],
        "timed": "ours: query start to termination (available_now, one micro-batch); Connect: "
                 "connector creation (REST) to the last row present (polled every 0.2 s); "
                 "both on a topic filled beforehand, after a warm-up run on another topic",
        "phases_s": {
            "sink": {"query_total": m(sink_runs, "elapsed_s"),
                     "spark_stage_on_executors": m(sink_runs, "to_arrow_s"),
                     "load_total": m(sink_runs, "load_s")},
            "connect": {"total": m(connect_runs, "elapsed_s"),
                        "to_first_row": m(connect_runs, "first_row_s"),
                        "first_to_last_row": m(connect_runs, "load_s")},
        },
        "cpu_us_per_row": {
            "sink": {k: r(median(x["cpu_us"][k] for x in sink_runs), 1)
                     for k in sink_runs[0]["cpu_us"]},
            "connect": {k: r(median(x["cpu_us"][k] for x in connect_runs), 1)
                        for k in connect_runs[0]["cpu_us"]},
        },
        "cpu_busy_cores": {"machine_sink": m(sink_runs, "cpu", 2),
                           "machine_connect": m(connect_runs, "cpu", 2)},
        "connector_config": config,
        "worker_config": {**worker.properties, "heap": worker.heap},
        "worker_start_s": r(worker_s, 1),
        "table": "fleet.hoverboard of a migrated scratch warehouse (same DDL as ours); "
                 "record fields: the table's columns, Kafka metadata by InsertField",
    }


# ---------------------------------------------------------------------------------------
# Scaling on the stack's standalone cluster
# ---------------------------------------------------------------------------------------

#: The stack's cluster (stack/services/spark_cluster.py): a master and two workers, each
#: offering one core, so an application capped at N cores runs N one-core executors.
CLUSTER = ("spark_master", "spark_worker_1", "spark_worker_2")


@contextmanager
def cluster_session(master: str, cores: int, archive: Path):
    """This process as the driver of an application on the cluster holding ``cores`` one-core
    executors (one per worker), the jobs' code shipped as the packaged archive; yields the
    session and the seconds until every executor had registered."""
    from spark.package import submit_conf

    t0 = time.perf_counter()
    spark = spark_session(master, {"spark.cores.max": str(cores), "spark.executor.cores": "1",
                                   **submit_conf(archive)})
    try:
        context = spark.sparkContext._jsc.sc()
        # The driver counts as one entry of the executors' memory status.
        if not wait_until(lambda: context.getExecutorMemoryStatus().size() > cores, 180):
            raise RuntimeError(f"the cluster at {master} did not give {cores} executors in "
                               "180 s (bin/stack status spark_master; worker logs)")
        yield spark, time.perf_counter() - t0
    finally:
        spark.stop()


def bench_scaling(stack: Stack, scratch: Scratch, s: Settings) -> None:
    """The sink on the standalone cluster with one worker core, then two: same rows, same
    warehouse, interleaved; each session warmed up on another topic first."""
    from spark.package import build

    local = LocalStack()
    started = local.up(CLUSTER, echo=log)
    master = local.services["spark_master"].url
    try:
        schema = latest(MESSAGE_TYPE).schema
        base = SinkConfig.load(SINK_CONF, MESSAGE_TYPE)
        events, warm_events = telemetry(s.events), telemetry(s.warmup_events, seed=7)
        topic, warm_topic = scratch.topic("scaling"), scratch.topic("scalingwarm")
        produce(stack.bootstrap, topic, events)
        produce(stack.bootstrap, warm_topic, warm_events)
        dsn = scratch.database("scaling")
        t0 = time.perf_counter()
        archive = build(scratch.workdir / "dist" / "hoverboard-jobs.tar.gz")
        log(f"{archive.name} ({archive.stat().st_size / 2**20:.0f} MiB) built in "
            f"{time.perf_counter() - t0:.1f} s; cluster {master}")
        runs: dict[int, list[dict]] = {1: [], 2: []}
        for run in range(s.runs):
            # Alternating order, so drift of the shared machine hits both sides alike.
            for cores in (1, 2) if run % 2 == 0 else (2, 1):
                with cluster_session(master, cores, archive) as (spark, session_s):
                    run_sink(spark, base, warm_topic, dsn, stack.bootstrap, schema,
                             scratch.workdir, f"scalewarm_{cores}_{run}", 10**9,
                             len(warm_events))
                    result = run_sink(spark, base, topic, dsn, stack.bootstrap, schema,
                                      scratch.workdir, f"scale_{cores}_{run}", 10**9,
                                      len(events))
                result["session_s"] = session_s
                runs[cores].append(result)
                log(f"scaling run {run + 1}/{s.runs}, {cores} core(s): "
                    f"{result['rows_per_s']:.0f} rows/s (executors up in {session_s:.1f} s)")
        truncate(dsn)
    finally:
        if started and not os.environ.get("HOVER_KEEP_STACK"):
            local.down(started, echo=log)
    emit(scaling_line(runs, len(events), stack.n_part, master, archive), generator=PRODUCED)


def scaling_line(runs: dict[int, list[dict]], rows: int, partitions: int, master: str,
                 archive: Path) -> dict:
    from stack.services.spark_cluster import WORKER_CORES, WORKER_MEMORY, WORKERS

    one = median(x["rows_per_s"] for x in runs[1])
    two = median(x["rows_per_s"] for x in runs[2])

    def m(cores: int, key: str, digits: int = 3) -> float:
        return r(median(x[key] for x in runs[cores]), digits)

    return {
        "bench": "sink_cluster_scaling", "unit": "rows/s", "value": r(two, 0),
        "baseline": r(one, 0),
        "baseline_name": "the same sink on the same cluster with one worker core "
                         "(spark.cores.max=1: one executor)",
        "ratio": r(two / one, 3), "goal": "> 1 (a second core adds throughput)",
        "goal_met": bool(two > one), "rows": rows, "partitions": partitions,
        "runs": [r(x["rows_per_s"], 0) for x in runs[2]],
        "baseline_runs": [r(x["rows_per_s"], 0) for x in runs[1]],
        "cluster": {"master": f"{master} (the stack's spark_master, standalone)",
                    "workers": f"{WORKERS} × {WORKER_CORES} core, {WORKER_MEMORY}",
                    "executors": "one per core (spark.executor.cores=1)",
                    "code": f"bin/package-jobs' archive, {archive.stat().st_size / 2**20:.0f}"
                            " MiB, spark.archives",
                    "driver": "the benchmark's process, on the same machine"},
        "timed": "query start to termination (available_now, one micro-batch), in a session "
                 "whose executors had registered and after a warm-up run on another topic",
        "phases_s": {
            f"{cores}_core{'s' if cores > 1 else ''}": {
                "query_total": m(cores, "elapsed_s"),
                "stage_on_executors": m(cores, "to_arrow_s"),
                "driver_merge_and_commit": m(cores, "load_s"),
                "query_bookkeeping": r(median(x["elapsed_s"] - x["writer_s"]
                                              for x in runs[cores]), 3),
                "executors_registered_s": m(cores, "session_s", 1)}
            for cores in (1, 2)},
        "cpu_busy_cores": {"machine_1_core": m(1, "cpu", 2), "machine_2_cores": m(2, "cpu", 2),
                           "note": "whole machine, everyone's work, driver and PostgreSQL"},
    }


# ---------------------------------------------------------------------------------------
# Orchestration
# ---------------------------------------------------------------------------------------





def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="50k rows, 15 s of load, one repetition")
    parser.add_argument("--only", default="throughput,freshness",
                        help="comma-separated subset of: throughput,freshness,"
                             "driver_rss,connect,scaling")
    parser.add_argument("--connect-batch-size", type=int, default=CONNECT_BATCH_SIZE,
                        help=f"the connector's batch.size (default {CONNECT_BATCH_SIZE})")
    parser.add_argument("--triggers", default="conf,1",
                        help="trigger intervals (s) of the freshness runs; 'conf' = the "
                             "configuration's value (default: conf,1)")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    only = set(filter(None, args.only.split(",")))
    unknown = only - {"throughput", "freshness", "driver_rss", "connect", "scaling"}
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    triggers: list[float | None] = []
    for item in filter(None, args.triggers.split(",")):
        triggers.append(None if item == "conf" else float(item))

    signal.signal(signal.SIGTERM, interrupt_as_keyboard)
    stack = Stack.load()
    # The stack's configuration for this process too (Spark jars, SPARK_LOCAL_IP, ...).
    for key, value in stack.env.items():
        os.environ.setdefault(key, value)
    emit({"bench": "run", "load_avg_1m": r(os.getloadavg()[0]),
          "python": sys.version.split()[0], "quick": args.quick, "n_part": stack.n_part},
         generator=PRODUCED if only & {"throughput", "connect", "scaling"}
         else PYTHON_HTTP)
    run_id = f"{time.strftime('%H%M%S')}-{uuid.uuid4().hex[:6]}"
    scratch = Scratch(stack, run_id)
    # Spark's scratch space (of this process's JVM and of the sink jobs it starts) inside
    # the work dir, removed at the end even if a JVM had to be killed.
    os.environ["SPARK_LOCAL_DIRS"] = str(scratch.workdir / "spark-local")
    try:
        if "throughput" in only:
            bench_throughput(stack, scratch, settings)
        if "freshness" in only:
            bench_freshness(stack, scratch, settings, triggers)
        if "driver_rss" in only:
            bench_driver_rss(stack, scratch, settings)
        if "connect" in only:
            bench_connect(stack, scratch, settings, args.connect_batch_size)
        if "scaling" in only:
            bench_scaling(stack, scratch, settings)
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        scratch.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
