"""Concurrent writers on a serializable warehouse, run for real on PostgreSQL at SERIALIZABLE
isolation (Redshift's only level; PostgreSQL's serialization failures, SQLSTATE 40001, stand
in for Redshift's error 1023).

Three streaming sinks (each loading its table and writing its dead letters and progress in
the same transaction) and a Version-1 ingest instance (loading telemetry into the table one
of the sinks writes too) run at once, through the Redshift loader's own code path (locks
first, then staging, merge, bookkeeping; only its COPY from S3 is a client-side copy) and
through the PostgreSQL loader. Nothing may be lost, duplicated or left failing.
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime

import boto3
import psycopg
import pytest
from botocore.config import Config
from prometheus_client import REGISTRY

from ingest_api.sinks import OutgoingBatch, WarehouseSink
from loader.bookkeeping import TABLES, BatchProgress, record_dead_letters, record_progress
from loader.concurrency import RetryCounter, RetryPolicy, run_with_retry
from loader.postgres import PostgresLoader
from loader.tables import rows_from_events, table_spec
from runtime.settings import warehouse_dsn
from tests.stack.test_redshift_loader import ClientCopyRedshiftLoader
from tests.support import sample, scratch_database

BATCHES = 5
PER_BATCH = 8
REPLAYED = 2  # this batch id is loaded twice, as Spark replays a batch after a crash


@pytest.fixture
def warehouse(stack_env):
    with scratch_database(warehouse_dsn(stack_env), "conctest") as dsn:
        yield dsn


def serializable(dsn: str):
    def connect():
        conn = psycopg.connect(dsn)
        conn.isolation_level = psycopg.IsolationLevel.SERIALIZABLE
        return conn
    return connect


def make_loader(engine: str, dsn: str, stack_env):
    # Patient retries: four writers on two cores can collide several times in a row.
    policy = RetryPolicy(attempts=12, base_delay_s=0.05, max_delay_s=1.0)
    if engine == "postgres":
        return PostgresLoader(dsn, max_connections=2, isolation="serializable",
                              retry_policy=policy)
    s3 = boto3.client("s3", endpoint_url=stack_env["HOVER_S3_ENDPOINT"],
                      config=Config(s3={"addressing_style": "path"}))
    return ClientCopyRedshiftLoader(
        serializable(dsn), s3,
        f"s3://{stack_env['HOVER_BACKUP_BUCKET']}/concurrency-test/{uuid.uuid4().hex[:8]}",
        "arn:aws:iam::0:role/test", retry_policy=policy)


def events(message_type: str, batch: int) -> list[dict]:
    """PER_BATCH new events, plus the first event of the previous batch again."""
    def one(b: int, i: int) -> dict:
        if message_type == "hoverboard":
            return sample("hoverboard", id=i, event_time=f"2026-11-27T{b:02d}:{i:02d}:00Z")
        if message_type == "trip":
            return sample("trip", hoverboard_id=i, customer_id=b,
                          start_time_and_date=f"2026-11-27T{b:02d}:{i:02d}:00Z")
        # Customers: ids repeat across batches with newer versions (the MERGE path).
        return sample("customer", id=i, updated_at=f"2026-11-27T{b:02d}:00:00Z",
                      customer_email=f"v{b}@x.example")
    batch_events = [one(batch, i) for i in range(PER_BATCH)]
    return batch_events + ([one(batch - 1, 0)] if batch else [])


def sink(loader, message_type: str) -> None:
    spec = table_spec(message_type)
    query = f"q-{message_type}"
    for batch in [*range(BATCHES), REPLAYED]:
        rows = rows_from_events(spec, events(message_type, batch),
                                received_at=[datetime.now(UTC)] * (PER_BATCH + bool(batch)))
        letters = [(f"topic-{message_type}", 0, batch * 10 + n, query, b"k", b"not json",
                    "not JSON", None) for n in range(2)]

        def bookkeeping(cursor, written: int, batch=batch, letters=letters) -> None:
            # PostgreSQL's bookkeeping SQL (Redshift's VARBYTE and JSON_PARSE do not exist
            # here; that SQL is checked in tests/unit/test_redshift_sql.py).
            record_dead_letters(cursor, "postgres", letters)
            record_progress(cursor, "postgres", BatchProgress(
                query_name=query, run_id="concurrency", batch_id=batch, input_rows=PER_BATCH + 2,
                rows_written=written, dead_letters=2, rows_per_second=None,
                end_offsets={0: batch * 10 + 10}, batch_time=datetime.now(UTC)))

        loader.load(spec, rows, in_transaction=bookkeeping, also_lock=TABLES)


def ingest(sink_v1: WarehouseSink, failures: list) -> None:
    for request in range(BATCHES):
        records = [sample("hoverboard", id=100 + i, event_time=f"2026-11-27T0{request}:00:00Z")
                   for i in range(PER_BATCH)]
        batch = OutgoingBatch(topic="unused", message_type="hoverboard", headers=[],
                              keys=[b""] * len(records), values=[b""] * len(records),
                              records=records)
        failures += [d.error for d in sink_v1.send(batch) if not d.ok]


@pytest.mark.parametrize("engine", ["redshift", "postgres"])
def test_three_sinks_and_ingest_at_once_lose_and_duplicate_nothing(engine, warehouse,
                                                                   stack_env) -> None:
    loaders = {t: make_loader(engine, warehouse, stack_env)
               for t in ("hoverboard", "trip", "customer", "ingest")}
    ingest_failures: list = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def run(work, *args) -> None:
        try:
            start.wait(30)
            work(*args)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    sink_v1 = WarehouseSink(lambda: loaders["ingest"])
    metric = "ingest_warehouse_serialization_retries_total"
    retries_before = REGISTRY.get_sample_value(metric) or 0.0
    threads = [threading.Thread(target=run, args=(sink, loaders[t], t))
               for t in ("hoverboard", "trip", "customer")]
    threads.append(threading.Thread(target=run, args=(ingest, sink_v1, ingest_failures)))
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(180)
        assert not any(t.is_alive() for t in threads), "writers still running after 180 s"
    finally:
        for loader in loaders.values():
            loader.close()
    assert errors == [] and ingest_failures == []

    with psycopg.connect(warehouse) as conn:
        def one(query: str):
            return conn.execute(query).fetchone()

        # Telemetry: every sink event once (the repeated ones too), every ingest event once.
        assert one("SELECT count(*), count(DISTINCT (id, event_time)) FROM fleet.hoverboard"
                   " WHERE id < 100") == (BATCHES * PER_BATCH, BATCHES * PER_BATCH)
        assert one("SELECT count(*) FROM fleet.hoverboard WHERE id >= 100") == (
            BATCHES * PER_BATCH,)
        assert one("SELECT count(*), count(DISTINCT (hoverboard_id, customer_id, start_time))"
                   " FROM fleet.trip") == (BATCHES * PER_BATCH, BATCHES * PER_BATCH)
        # Customers: one row per id, the newest version.
        assert conn.execute("SELECT id, email FROM fleet.customer ORDER BY id").fetchall() == [
            (i, f"v{BATCHES - 1}@x.example") for i in range(PER_BATCH)]
        # Bookkeeping: each dead letter once, one progress row per batch id and query.
        assert one("SELECT count(*), count(DISTINCT (source_topic, source_offset))"
                   " FROM platform.dead_letters") == (3 * BATCHES * 2, 3 * BATCHES * 2)
        assert conn.execute(
            "SELECT query_name, count(*), max(batch_id) FROM platform.stream_progress"
            " GROUP BY 1 ORDER BY 1").fetchall() == [
            (f"q-{t}", BATCHES, BATCHES - 1) for t in ("customer", "hoverboard", "trip")]
    retried = {t: loader.retries.retried for t, loader in loaders.items()}
    assert all(loader.retries.exhausted == 0 for loader in loaders.values()), retried
    # The ingest instance's retries are what its /metrics reports.
    assert REGISTRY.get_sample_value(metric) - retries_before == retried["ingest"]


def test_a_real_serialization_failure_is_run_again(warehouse) -> None:
    """Write skew at SERIALIZABLE: PostgreSQL cancels the second writer with 40001; the
    retry runs its transaction again on a new connection and it commits."""
    with psycopg.connect(warehouse, autocommit=True) as conn:
        conn.execute("CREATE TABLE public.skew (id int PRIMARY KEY, on_call boolean)")
        conn.execute("INSERT INTO public.skew VALUES (1, true), (2, true)")
    connect = serializable(warehouse)
    first, second = connect(), connect()
    try:
        for conn in (first, second):  # both see two on call ...
            assert conn.execute("SELECT count(*) FROM public.skew WHERE on_call").fetchone() == (2,)
        first.execute("UPDATE public.skew SET on_call = false WHERE id = 1")
        first.commit()
        attempts: list[str] = []

        def go_off_call() -> None:
            conn = second if not attempts else connect()
            attempts.append("run")
            try:
                if conn.execute("SELECT count(*) FROM public.skew WHERE on_call").fetchone()[0] > 1:
                    conn.execute("UPDATE public.skew SET on_call = false WHERE id = 2")
                conn.commit()
            except Exception:
                conn.rollback()
                raise
            finally:
                if conn is not second:
                    conn.close()

        counter = RetryCounter()
        run_with_retry(go_off_call, counter=counter, sleep=lambda s: None)
    finally:
        first.close()
        second.close()
    assert (len(attempts), counter.retried, counter.exhausted) == (2, 1, 0)
    with psycopg.connect(warehouse) as conn:
        # The retry saw the first writer's commit: one stays on call.
        assert conn.execute("SELECT count(*) FROM public.skew WHERE on_call").fetchone() == (1,)
