"""The Spark sink, end to end on real Kafka, PostgreSQL and pyspark: exactly once.

Each test gets its own topic, its own empty (migrated) warehouse database and its own
checkpoint, so they neither see nor disturb the platform's topics.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest
from confluent_kafka import Producer

from alerts.emitter import AlertEmitter
from loader.postgres import PostgresLoader
from runtime.settings import warehouse_dsn
from schemas import headers, latest
from spark.config import SINK_CONF, SinkConfig
from spark.sink_job import start
from stack.process import wait_until
from tests.support import (
    alerts_with,
    end_offsets,
    fetch,
    produce,
    sample,
    scratch_database,
    scratch_topic,
    telemetry,
    warehouse_connection,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def warehouse(stack_env):
    """An empty database with every migration applied; its DSN."""
    with scratch_database(warehouse_dsn(stack_env), "sinktest") as dsn:
        yield dsn


@pytest.fixture
def topic(stack_env):
    with scratch_topic(stack_env["HOVER_KAFKA_BOOTSTRAP"], "sinktest") as name:
        yield name


def sink_config(message_type: str, topic: str, tmp_path: Path, **changes) -> SinkConfig:
    os.environ.setdefault("HOVER_SPARK_CHECKPOINTS", str(tmp_path))
    base = SinkConfig.load(SINK_CONF, message_type)
    return replace(base, topic=topic, query_name=f"{message_type}_{topic}",
                   checkpoint_location=str(tmp_path / "checkpoint"), **changes)


def run_until_caught_up(spark, config: SinkConfig, dsn: str, bootstrap: str,
                        alerts=None) -> None:
    loader = PostgresLoader(dsn)
    try:
        query = start(spark, config, bootstrap=bootstrap, loader=loader,
                      schema=latest(config.message_type).schema, available_now=True,
                      alerts=alerts)
        query.awaitTermination(300)
        assert query.exception() is None, query.exception()
    finally:
        loader.close()


def test_n_events_give_n_rows_and_a_resend_changes_nothing(spark, stack_env, warehouse, topic,
                                                           tmp_path) -> None:
    bootstrap = stack_env["HOVER_KAFKA_BOOTSTRAP"]
    events = telemetry(500)
    produce(bootstrap, topic, "hoverboard", events)
    config = sink_config("hoverboard", topic, tmp_path)
    run_until_caught_up(spark, config, warehouse, bootstrap)
    assert fetch(warehouse, "SELECT count(*) FROM fleet.hoverboard") == [(500,)]

    produce(bootstrap, topic, "hoverboard", events)  # a sensor retrying the same events
    run_until_caught_up(spark, config, warehouse, bootstrap)
    assert fetch(warehouse, "SELECT count(*) FROM fleet.hoverboard") == [(500,)]

    [(rows_in, written, offsets)] = fetch(
        warehouse, "SELECT sum(input_rows), sum(rows_written),"
        " (array_agg(end_offsets ORDER BY batch_id DESC))[1] FROM platform.stream_progress")
    assert (rows_in, written) == (1000, 500)
    assert {int(p): o for p, o in offsets.items()} == end_offsets(bootstrap, topic)
    loaded = fetch(warehouse, "SELECT count(*) FROM fleet.hoverboard WHERE source_topic = %s"
                   " AND received_at IS NOT NULL AND source_offset IS NOT NULL", (topic,))
    assert loaded == [(500,)]


def test_poison_records_go_to_dead_letters_and_the_job_continues(spark, stack_env, warehouse,
                                                                 topic, tmp_path) -> None:
    bootstrap = stack_env["HOVER_KAFKA_BOOTSTRAP"]
    produce(bootstrap, topic, "hoverboard", telemetry(20),
            raw=[b"\xff\xfe not json", json.dumps(sample("hoverboard", charge=250)).encode()])
    # Records another producer might write: headers without the receive time, a garbled
    # receive time, an id beyond bigint. Each must be a dead letter, never a failed batch.
    other = Producer({"bootstrap.servers": bootstrap})
    other.produce(topic, key=b"x", value=json.dumps(sample("hoverboard", id=7, event_time=
                  "2026-11-27T23:00:00Z")), headers=[("x", b"1")])
    other.produce(topic, key=b"y", value=json.dumps(sample("hoverboard", id=8, event_time=
                  "2026-11-27T23:00:00Z")), headers=[(headers.RECEIVED_AT, b"soon")])
    other.produce(topic, key=b"z", value=json.dumps(sample("hoverboard", id=2**63)))
    assert other.flush(30) == 0
    produce(bootstrap, topic, "hoverboard", telemetry(40)[20:])  # after the poison
    config = sink_config("hoverboard", topic, tmp_path)
    alerts = AlertEmitter.from_environment("spark_sink", labels={"query": config.query_name})
    run_until_caught_up(spark, config, warehouse, bootstrap, alerts=alerts)
    alerts.close()

    assert fetch(warehouse, "SELECT count(*) FROM fleet.hoverboard") == [(42,)]
    assert fetch(warehouse, "SELECT count(*) FROM fleet.hoverboard WHERE id IN (7, 8)"
                 " AND received_at IS NULL") == [(2,)]
    letters = fetch(warehouse, "SELECT raw_value, error FROM platform.dead_letters"
                    " ORDER BY source_offset")
    assert len(letters) == 3
    # The same messages the ingest API gives a client in its 422 (one validator).
    assert sum(error.startswith("/id: 9223372036854775808 is greater than the maximum")
               for _, error in letters) == 1
    errors = {bytes(raw): error for raw, error in letters}
    assert "not a JSON object" in errors[b"\xff\xfe not json"]
    assert sum(error == "/charge: 250 is greater than the maximum of 100"
               for error in errors.values()) == 1
    # ... and operators hear of it in Elasticsearch, in the platform's alert format.
    [alert] = [a for a in alerts_with(stack_env["HOVER_ELASTICSEARCH_URL"], config.query_name)
               if a["event"]["action"] == "dead_letters"]
    assert alert["service"]["name"] == "spark_sink"
    assert alert["log"]["level"] == "warning"


def test_customer_latest_version_wins(spark, stack_env, warehouse, topic, tmp_path) -> None:
    bootstrap = stack_env["HOVER_KAFKA_BOOTSTRAP"]
    config = sink_config("customer", topic, tmp_path)

    def version(hour: int, email: str) -> dict:
        return sample("customer", id=42, updated_at=f"2026-11-27T{hour:02d}:00:00Z",
                      customer_email=email)

    # Within one batch, and a late old version in a later batch: the newest stays.
    produce(bootstrap, topic, "customer", [version(9, "a@x.example"), version(11, "c@x.example"),
                                           version(10, "b@x.example")])
    run_until_caught_up(spark, config, warehouse, bootstrap)
    produce(bootstrap, topic, "customer", [version(8, "old@x.example")])
    run_until_caught_up(spark, config, warehouse, bootstrap)
    assert fetch(warehouse, "SELECT email FROM fleet.customer WHERE id = 42") == \
        [("c@x.example",)]
    produce(bootstrap, topic, "customer", [version(12, "d@x.example")])
    run_until_caught_up(spark, config, warehouse, bootstrap)
    assert fetch(warehouse, "SELECT count(*), max(email) FROM fleet.customer") == \
        [(1, "d@x.example")]


def test_driver_killed_mid_stream_resumes_without_gaps_or_duplicates(stack_env, warehouse,
                                                                      topic, tmp_path) -> None:
    bootstrap = stack_env["HOVER_KAFKA_BOOTSTRAP"]
    events = telemetry(3000, boards=25)
    produce(bootstrap, topic, "hoverboard", events)
    conf = tmp_path / "sink.conf"
    conf.write_text(
        "[sink]\n"
        f"query_name = kill_test\nmessage_type = hoverboard\ntopic = {topic}\n"
        "schema_subject = hoverboard-value\nschema_version = latest\n"
        "trigger_seconds = 0.5\nmax_offsets_per_trigger = 150\nstarting_offsets = earliest\n"
        f"checkpoint_location = {tmp_path / 'checkpoint'}\n")
    env = {**os.environ, **stack_env,
           "AIRFLOW_CONN_WAREHOUSE_DEFAULT": warehouse_connection(stack_env, warehouse)}
    command = [sys.executable, "-m", "spark.sink_job", "--config", str(conf)]
    log = (tmp_path / "driver.log").open("w")
    driver = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    try:
        def batches() -> int:
            return fetch(warehouse, "SELECT count(*) FROM platform.stream_progress")[0][0]

        assert wait_until(lambda: batches() >= 3 or driver.poll() is not None, 180)
        assert driver.poll() is None, (tmp_path / "driver.log").read_text()[-3000:]
        os.killpg(driver.pid, signal.SIGKILL)  # the driver and its JVM, mid-stream
        driver.wait(30)
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
    loaded = fetch(warehouse, "SELECT count(*) FROM fleet.hoverboard")[0][0]
    assert 0 < loaded < len(events), "the kill did not land mid-stream"

    resumed = subprocess.run([*command, "--available-now"], cwd=REPO, env=env,
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    rows = fetch(warehouse, "SELECT id, to_char(event_time AT TIME ZONE 'UTC',"
                 " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM fleet.hoverboard")
    assert len(rows) == len(events)  # no duplicates (a key is unique anyway) ...
    assert set(rows) == {(e["id"], e["event_time"]) for e in events}  # ... and no gaps


def test_version_1_instance_writes_straight_to_the_warehouse(stack_env, warehouse, tmp_path,
                                                             monkeypatch) -> None:
    from ingest_api import create_app

    bootstrap = stack_env["HOVER_KAFKA_BOOTSTRAP"]
    conf = tmp_path / "trip.conf"
    conf.write_text("[trip]\nsink = warehouse\n")
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE_DEFAULT", warehouse_connection(stack_env, warehouse))
    before = end_offsets(bootstrap, "trip")
    app = create_app({"TESTING": True, "MESSAGE_CONF": str(conf), "API_KEYS": "v1-key-" + "x" * 20,
                      "SCHEMA_REGISTRY_URL": stack_env["HOVER_SCHEMA_REGISTRY_URL"]})
    client = app.test_client()
    trips = [sample("trip", hoverboard_id=7, customer_id=c,
                    start_time_and_date=f"2026-11-27T10:{c:02d}:00Z",
                    end_time_and_date=f"2026-11-27T11:{c:02d}:00Z") for c in range(1, 6)]
    response = client.post("/ingest/trip", json=trips, headers={"X-API-Key": "v1-key-" + "x" * 20})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["accepted"] == 5
    # 2xx came after the commit: the rows are there now, and nothing went through Kafka.
    assert fetch(warehouse, "SELECT count(*), count(received_at), count(source_offset)"
                 " FROM fleet.trip") == [(5, 5, 0)]
    assert end_offsets(bootstrap, "trip") == before
    assert client.get("/ready").status_code == 200
    for sink in app.extensions["hover_ingest"].sinks.values():
        sink.close()


# Records each of which, accepted with 201 before issue 14, failed its sink's batch on every
# replay (one stuck stream); the sink now loads the rest and dead-letters these.
_NUL_NAME = sample("customer", id=501, customer_name={"first_name": "Ada\u0000",
                                                     "last_name": "Lovelace"})
_YEAR_0_TRIP = sample("trip", customer_id=502, start_time_and_date="0001-01-01T00:00:00+05:00")
_YEAR_10000_TRIP = sample("trip", customer_id=503, end_time_and_date="9999-12-31T23:59:59-05:00")


@pytest.mark.parametrize(("message_type", "poison", "expected", "narrow"), [
    ("customer", [_NUL_NAME], ["/customer_name/first_name: contains the NUL character"], None),
    ("trip", [_YEAR_0_TRIP, _YEAR_10000_TRIP],
     ["/start_time_and_date: '0001-01-01T00:00:00+05:00' is outside the times",
      "/end_time_and_date: '9999-12-31T23:59:59-05:00' is outside the times"], None),
    # Valid for the schema (maxLength 100) but not for this table's column: the check reads
    # the column from the catalog, so it follows whatever the table says.
    ("customer", [sample("customer", id=504, customer_name={"first_name": "Marty",
                                                           "last_name": "é" * 12})],
     ["/customer_name/last_name: 12 characters, more than the 10 that column "
      "fleet.customer.last_name (varchar(10)) holds on PostgreSQL"],
     "ALTER TABLE fleet.customer ALTER COLUMN last_name TYPE varchar(10)"),
], ids=["nul-name", "trip-out-of-range", "narrower-column"])
def test_a_record_the_warehouse_cannot_hold_is_a_dead_letter_not_a_stuck_sink(
        spark, stack_env, warehouse, topic, tmp_path, message_type, poison, expected,
        narrow) -> None:
    bootstrap = stack_env["HOVER_KAFKA_BOOTSTRAP"]
    if narrow:
        with psycopg.connect(warehouse) as conn:
            conn.execute(narrow)
    good = [sample(message_type, id=600 + i) if message_type == "customer" else
            sample("trip", customer_id=600 + i) for i in range(5)]
    produce(bootstrap, topic, message_type, [*good[:2], *poison, *good[2:]])
    config = sink_config(message_type, topic, tmp_path)
    run_until_caught_up(spark, config, warehouse, bootstrap)  # the batch committed

    table = {"customer": "fleet.customer", "trip": "fleet.trip"}[message_type]
    assert fetch(warehouse, f"SELECT count(*) FROM {table}") == [(len(good),)]
    letters = fetch(warehouse, "SELECT raw_value, error FROM platform.dead_letters"
                    " ORDER BY source_offset")
    assert sorted(json.loads(bytes(raw)) == record for raw, _ in letters for record in poison
                  ).count(True) == len(poison)
    errors = sorted(error for _, error in letters)
    assert len(errors) == len(expected)
    for error, beginning in zip(errors, sorted(expected), strict=True):
        assert error.startswith(beginning), error
    [(rows_in, written, dead)] = fetch(
        warehouse, "SELECT sum(input_rows), sum(rows_written), sum(dead_letters)"
        " FROM platform.stream_progress")
    assert (rows_in, written, dead) == (len(good) + len(poison), len(good), len(poison))


def test_version_1_refuses_what_the_warehouse_cannot_hold_with_a_422_naming_the_field(
        stack_env, warehouse, tmp_path, monkeypatch) -> None:
    """Before issue 14 each of these failed the request's COPY: a 503, retried forever."""
    from ingest_api import create_app

    with psycopg.connect(warehouse) as conn:  # a table narrower than the schema's maxLength
        conn.execute("ALTER TABLE fleet.customer ALTER COLUMN last_name TYPE varchar(10)")
    conf = tmp_path / "customer.conf"
    conf.write_text("[customer]\nsink = warehouse\n")
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE_DEFAULT", warehouse_connection(stack_env, warehouse))
    key = "v1-key-" + "x" * 20
    app = create_app({"TESTING": True, "MESSAGE_CONF": str(conf), "API_KEYS": key,
                      "SCHEMA_REGISTRY_URL": stack_env["HOVER_SCHEMA_REGISTRY_URL"]})
    client = app.test_client()
    try:
        nul = client.post("/ingest/customer", headers={"X-API-Key": key}, json=sample(
            "customer", id=1, customer_name={"first_name": "Ada\u0000", "last_name": "L"}))
        assert nul.status_code == 422, nul.get_json()
        assert nul.content_type == "application/problem+json"
        assert [e["pointer"] for e in nul.get_json()["errors"]] == ["/customer_name/first_name"]

        long_name = sample("customer", id=2, customer_name={"first_name": "Marty",
                                                            "last_name": "McFly-Brown-Smith"})
        batch = client.post("/ingest/customer", headers={"X-API-Key": key},
                            json=[sample("customer", id=3), long_name, sample("customer", id=4)])
        assert batch.status_code == 200, batch.get_json()
        body = batch.get_json()
        assert (body["accepted"], body["rejected"], body["failed"]) == (2, 1, 0)
        [refused] = [item for item in body["items"] if item["status"] == 422]
        assert refused["index"] == 1
        assert refused["errors"] == [{
            "pointer": "/customer_name/last_name",
            "detail": "17 characters, more than the 10 that column fleet.customer.last_name "
                      "(varchar(10)) holds on PostgreSQL"}]
        single = client.post("/ingest/customer", headers={"X-API-Key": key}, json=long_name)
        assert single.status_code == 422, single.get_json()
        assert single.get_json()["errors"][0]["pointer"] == "/customer_name/last_name"
        # RFC 3339 allows offsets PostgreSQL does not parse (beyond ±15:59): the loader
        # hands the warehouse UTC, as the Spark sink does.
        far_east = client.post("/ingest/customer", headers={"X-API-Key": key}, json=sample(
            "customer", id=5, updated_at="2026-11-27T09:00:00+16:00"))
        assert far_east.status_code == 201, far_east.get_json()
        # The others were stored, the refused ones not.
        assert fetch(warehouse, "SELECT id, to_char(updated_at AT TIME ZONE 'UTC',"
                     " 'YYYY-MM-DD HH24:MI') FROM fleet.customer ORDER BY id") == [
            (3, "2026-11-27 08:00"), (4, "2026-11-27 08:00"), (5, "2026-11-26 17:00")]
    finally:
        for sink in app.extensions["hover_ingest"].sinks.values():
            sink.close()
