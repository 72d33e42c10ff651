"""Warehouse backups against the stack's real PostgreSQL and S3 store (s3proxy): every test
on a scratch database, migrated, and a prefix of its own in the backup bucket."""

from __future__ import annotations

import io
import json
import tempfile
import uuid
from datetime import date, timedelta
from pathlib import Path
from types import SimpleNamespace

import boto3
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from botocore.config import Config
from hoverboard.backup import files
from hoverboard.backup.engines import ARROW_TYPES, PostgresEngine, RedshiftEngine
from hoverboard.backup.layout import Layout
from hoverboard.backup.service import (
    BackupError,
    BackupMismatch,
    BackupRowsDropped,
    BackupService,
)
from hoverboard.backup.store import ObjectStore
from hoverboard.warehouse.migrations import discover
from psycopg import sql

from runtime.settings import warehouse_dsn
from tests.support import scratch_database
from tests.support.backup import CUSTOMER, DAY, HOVERBOARD, TRIP, in_day, rows_as_text, seed


@pytest.fixture
def warehouse(stack_env):
    """A scratch database with every migration applied; its DSN."""
    with scratch_database(warehouse_dsn(stack_env), "bktest") as dsn:
        yield dsn


@pytest.fixture
def store(stack_env):
    client = boto3.client("s3", endpoint_url=stack_env["HOVER_S3_ENDPOINT"],
                          config=Config(s3={"addressing_style": "path"}))
    return ObjectStore(client, stack_env["HOVER_BACKUP_BUCKET"])


@pytest.fixture
def layout(store):
    layout = Layout(store.bucket, f"tests/backup-{uuid.uuid4().hex[:10]}")
    yield layout
    store.delete_prefix(layout.prefix + "/")


@pytest.fixture
def service(warehouse, store, layout):
    return BackupService(lambda: psycopg.connect(warehouse), PostgresEngine(store), store,
                         layout, run_id="pytest")


def query(dsn: str, statement: str, params=()) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(statement, params).fetchall()


def catalog(dsn: str) -> list[dict]:
    with psycopg.connect(dsn) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return cur.execute("SELECT * FROM platform.backup_catalog ORDER BY created_at").fetchall()


def service_table(name: str):
    from hoverboard.backup.tables import backup_table

    return backup_table(name)


def test_backup_writes_files_manifest_and_catalog_and_verifies(service, warehouse, store,
                                                               layout) -> None:
    seed(warehouse, HOVERBOARD, 3000)
    expected = query(warehouse, "SELECT count(*) FROM fleet.hoverboard WHERE "
                     + in_day("event_time"), {"day": DAY.isoformat()})[0][0]
    assert 0 < expected < 3000  # the seed spills over both neighbouring days

    manifest = service.backup("hoverboard", DAY)

    folder = f"{layout.prefix}/hoverboard/dt=2026-11-26/"
    keys = sorted(store.list_keys(folder))
    assert keys == sorted([folder + "manifest.json",
                           f"{folder}run={manifest.backup_id}/manifest.json"]
                          + [folder + f.path for f in manifest.files])
    assert all(f.path.startswith(f"run={manifest.backup_id}/part-") for f in manifest.files)
    published = json.loads(store.get_bytes(folder + "manifest.json"))
    assert published["rows"] == manifest.rows == expected
    assert published["checksum"] == manifest.checksum
    assert published["schema_version"] == max(m.version for m in discover("postgres"))
    assert published["key"] == ["id", "event_time"]
    assert published["columns"][0] == {"name": "id", "type": "bigint"}
    for entry in manifest.files:  # real Parquet, row counts as listed
        body = store.get_bytes(folder + entry.path)
        assert pq.read_metadata(io.BytesIO(body)).num_rows == entry.rows
        assert len(body) == entry.bytes

    [row] = catalog(warehouse)
    assert (row["table_name"], row["kind"], row["day"], row["snapshot_date"]) == (
        "fleet.hoverboard", "day", DAY, None)
    assert (row["row_count"], row["checksum"], row["status"], row["verified"]) == (
        expected, manifest.checksum, "published", False)
    assert row["location"] == f"s3://{layout.bucket}/{folder}"
    assert row["run_id"] == "pytest" and row["file_count"] == len(manifest.files)

    result = service.verify("hoverboard", DAY, manifest.backup_id)
    assert (result.rows, result.source_rows, result.checksum, result.source_checksum) == (
        expected, expected, manifest.checksum, manifest.checksum)
    [row] = catalog(warehouse)
    assert row["verified"] and row["verified_at"] is not None and row["verify_error"] is None


def test_files_are_bounded_and_the_checksum_ignores_file_boundaries(warehouse, store,
                                                                    layout) -> None:
    seed(warehouse, HOVERBOARD, 3000)
    small = BackupService(lambda: psycopg.connect(warehouse),
                          PostgresEngine(store, rows_per_file=500), store, layout)
    manifest = small.backup("hoverboard", DAY)
    assert len(manifest.files) >= 5 and max(f.rows for f in manifest.files) == 500
    one_file = BackupService(lambda: psycopg.connect(warehouse), PostgresEngine(store), store,
                             layout).backup("hoverboard", DAY)
    assert len(one_file.files) == 1
    assert (one_file.rows, one_file.checksum) == (manifest.rows, manifest.checksum)
    small.verify("hoverboard", DAY)


def test_restore_into_a_scratch_schema_gives_identical_rows(service, warehouse) -> None:
    seed(warehouse, HOVERBOARD, 2000)
    seed(warehouse, TRIP, 500)
    seed(warehouse, CUSTOMER, 300)
    for table in ("hoverboard", "trip", "customer"):
        service.backup(table, DAY)

    day = {"day": DAY.isoformat()}
    results = service.restore("hoverboard", days=[DAY])
    assert [r["target"] for r in results] == ['"restore_hoverboard"."hoverboard"']
    original = rows_as_text(warehouse, "fleet.hoverboard", in_day("t.event_time"), day)
    assert rows_as_text(warehouse, "restore_hoverboard.hoverboard") == original
    assert results[0]["rows"] == len(original)

    service.restore("trip", days=[DAY], target_schema="drill")
    assert rows_as_text(warehouse, "drill.trip") == rows_as_text(
        warehouse, "fleet.trip", in_day("t.start_time"), day)

    service.restore("customer", latest_snapshot=True)
    customers = rows_as_text(warehouse, "fleet.customer")
    assert rows_as_text(warehouse, "restore_customer.customer") == customers
    assert any("北京" in c for c in customers) and any('""' in c for c in customers)

    # Restoring again changes nothing: rows are replaced by natural key.
    service.restore("hoverboard", days=[DAY])
    assert rows_as_text(warehouse, "restore_hoverboard.hoverboard") == original


def test_restore_in_place_recovers_lost_and_damaged_rows(service, warehouse) -> None:
    seed(warehouse, TRIP, 800)
    before = rows_as_text(warehouse, "fleet.trip")
    service.backup("trip", DAY)
    with psycopg.connect(warehouse) as conn:
        lost = conn.execute("DELETE FROM fleet.trip WHERE customer_id %% 3 = 0 AND "
                            + in_day("start_time"), {"day": DAY.isoformat()}).rowcount
        conn.execute("UPDATE fleet.trip SET trip_duration = -1 WHERE customer_id %% 3 = 1 AND "
                     + in_day("start_time"), {"day": DAY.isoformat()})
    assert lost > 0 and rows_as_text(warehouse, "fleet.trip") != before

    service.restore("trip", days=[DAY], in_place=True)
    assert rows_as_text(warehouse, "fleet.trip") == before  # other days untouched too
    service.restore("trip", days=[DAY], in_place=True)
    assert rows_as_text(warehouse, "fleet.trip") == before


def add_late_event(dsn: str) -> None:
    """A late event for DAY, loaded after any backup taken so far."""
    with psycopg.connect(dsn) as conn:
        conn.execute("INSERT INTO fleet.hoverboard SELECT 999, %s::timestamptz + interval "
                     "'5 hours', elevation, temperature, latitude, longitude, humidity, charge, "
                     "speed, isdocked, weight, acceleration, magneticfield, source_topic, "
                     "source_partition, source_offset, received_at, %s::timestamptz + "
                     "interval '1 day 3 hours' FROM fleet.hoverboard LIMIT 1",
                     (DAY.isoformat(), DAY.isoformat()))


def run_keys(store: ObjectStore, folder: str, backup_id: str) -> list[str]:
    return [k for k in store.list_keys(folder) if k.startswith(f"{folder}run={backup_id}/")]


def test_restore_in_place_keeps_newer_customer_profiles(service, warehouse) -> None:
    seed(warehouse, CUSTOMER, 30)
    service.backup("customer", DAY)
    backed_up = {r[0]: r for r in query(warehouse, "SELECT id, t::text FROM fleet.customer t")}
    with psycopg.connect(warehouse) as conn:
        # Newer profiles loaded since the backup (a later updated_at; the same updated_at
        # from a later Kafka offset, the loader's tie-break): the restore keeps them.
        conn.execute("UPDATE fleet.customer SET updated_at = updated_at + interval '1 day', "
                     "email = 'newer@example.com' WHERE id = 1")
        conn.execute("UPDATE fleet.customer SET source_offset = 10, last_name = 'Tie' "
                     "WHERE id = 2")
        # Damage at the backup's version, a profile rolled back, a lost one: restored.
        conn.execute("UPDATE fleet.customer SET email = 'damaged' WHERE id = 3")
        conn.execute("UPDATE fleet.customer SET updated_at = updated_at - interval '1 day', "
                     "email = 'older@example.com' WHERE id = 5")
        conn.execute("DELETE FROM fleet.customer WHERE id = 4")
    newer = {r[0]: r for r in query(warehouse, "SELECT id, t::text FROM fleet.customer t "
                                               "WHERE id IN (1, 2)")}

    [result] = service.restore("customer", latest_snapshot=True, in_place=True)

    expected = sorted({**backed_up, **newer}.values())
    assert sorted(query(warehouse, "SELECT id, t::text FROM fleet.customer t")) == expected
    assert (result["rows"], result["kept_newer"]) == (28, 2)
    # Again: nothing changes.
    service.restore("customer", latest_snapshot=True, in_place=True)
    assert sorted(query(warehouse, "SELECT id, t::text FROM fleet.customer t")) == expected


def test_rerun_of_a_day_replaces_its_backup(service, warehouse, store, layout) -> None:
    seed(warehouse, HOVERBOARD, 1000)
    first = service.backup("hoverboard", DAY)
    add_late_event(warehouse)
    second = service.backup("hoverboard", DAY)

    assert second.rows == first.rows + 1 and second.checksum != first.checksum
    folder = f"{layout.prefix}/hoverboard/dt=2026-11-26/"
    # The first was never verified: the second is published at once...
    assert service.manifest(service_table("hoverboard"), DAY).backup_id == second.backup_id
    assert [(r["backup_id"], r["status"]) for r in catalog(warehouse)] == [
        (first.backup_id, "replaced"), (second.backup_id, "published")]
    # ... and the first's files go once the second is verified.
    assert run_keys(store, folder, first.backup_id)
    service.verify("hoverboard", DAY, second.backup_id)
    keys = list(store.list_keys(folder))
    assert sorted(keys) == sorted([folder + "manifest.json",
                                   f"{folder}run={second.backup_id}/manifest.json"]
                                  + [folder + f.path for f in second.files])
    with pytest.raises(BackupMismatch, match="was replaced by"):
        service.verify("hoverboard", DAY, first.backup_id)


def test_rerun_keeps_the_verified_backup_until_the_new_one_is_verified(
        service, warehouse, store, layout) -> None:
    seed(warehouse, HOVERBOARD, 1000)
    first = service.backup("hoverboard", DAY)
    service.verify("hoverboard", DAY, first.backup_id)
    add_late_event(warehouse)
    second = service.backup("hoverboard", DAY)

    folder = f"{layout.prefix}/hoverboard/dt=2026-11-26/"
    table = service_table("hoverboard")
    # Until the second is verified, the first stays published, complete and restorable.
    assert service.manifest(table, DAY).backup_id == first.backup_id
    assert [(r["backup_id"], r["status"], r["verified"]) for r in catalog(warehouse)] == [
        (first.backup_id, "published", True), (second.backup_id, "pending", False)]
    assert service.restore("hoverboard", days=[DAY])[0]["backup_id"] == first.backup_id
    # A failed verification of the second (a file damaged in the store) keeps the first.
    entry = second.files[0]
    good = store.get_bytes(folder + entry.path)
    corrupt_one_value(store, folder + entry.path)
    with pytest.raises(BackupMismatch):
        service.verify("hoverboard", DAY, second.backup_id)
    assert service.manifest(table, DAY).backup_id == first.backup_id
    assert len(run_keys(store, folder, first.backup_id)) == len(first.files) + 1

    store.put_bytes(folder + entry.path, good, "application/octet-stream")
    result = service.verify("hoverboard", DAY, second.backup_id)
    assert (result.backup_id, result.rows) == (second.backup_id, first.rows + 1)
    assert service.manifest(table, DAY).backup_id == second.backup_id
    assert not run_keys(store, folder, first.backup_id)
    assert [(r["backup_id"], r["status"]) for r in catalog(warehouse)] == [
        (first.backup_id, "replaced"), (second.backup_id, "published")]


def test_rerun_with_fewer_rows_keeps_both_and_alerts(service, warehouse, store, layout,
                                                     stack_env, monkeypatch) -> None:
    seed(warehouse, HOVERBOARD, 1000)
    seed(warehouse, CUSTOMER, 40)
    good = service.backup("hoverboard", DAY)
    service.verify("hoverboard", DAY, good.backup_id)
    before = rows_as_text(warehouse, "fleet.hoverboard")
    with psycopg.connect(warehouse) as conn:  # a bad DELETE
        lost = conn.execute("DELETE FROM fleet.hoverboard WHERE id < 5 AND "
                            + in_day("event_time"), {"day": DAY.isoformat()}).rowcount
    assert lost > 0

    # Through the operator, as the DAG runs it: the task fails at once, no retry.
    from hoverboard.notifiers.alerts import ElasticsearchAlertNotifier
    from hoverboard.operators.backup import BackupRowsDroppedError, WarehouseBackupOperator

    monkeypatch.setenv("AIRFLOW_CONN_SCRATCH_WAREHOUSE",
                       json.dumps({"conn_type": "postgres", **_conn_parts(warehouse)}))
    operator = WarehouseBackupOperator(
        task_id="backup_hoverboard", table="hoverboard", day=DAY.isoformat(),
        bucket=layout.bucket, prefix=layout.prefix, conn_id="scratch_warehouse")
    run_id = f"test-{uuid.uuid4().hex[:8]}"
    ti = SimpleNamespace(dag_id="warehouse_backup", task_id="backup_hoverboard",
                         run_id=run_id, map_index=-1, try_number=1, max_tries=2,
                         log_url="http://airflow.invalid/log")
    with pytest.raises(BackupRowsDroppedError,
                       match=f"{good.rows - lost} rows where the verified backup "
                             f"{good.backup_id} has {good.rows}") as err:
        operator.execute({"ti": ti})

    table = service_table("hoverboard")
    folder = f"{layout.prefix}/hoverboard/dt=2026-11-26/"
    [(_, _, held_id)] = [(r["status"], r["row_count"], r["backup_id"])
                         for r in catalog(warehouse) if r["status"] == "held"]
    assert [(r["backup_id"], r["status"], r["row_count"]) for r in catalog(warehouse)] == [
        (good.backup_id, "published", good.rows), (held_id, "held", good.rows - lost)]
    assert service.manifest(table, DAY).backup_id == good.backup_id  # still the day's
    assert len(run_keys(store, folder, good.backup_id)) == len(good.files) + 1
    assert run_keys(store, folder, held_id)  # the new one is kept too
    # Verifying the held one (it matches today's source) does not publish it either.
    service.verify("hoverboard", DAY, held_id)
    assert service.manifest(table, DAY).backup_id == good.backup_id
    assert run_keys(store, folder, good.backup_id)
    # The verified backup still restores what the DELETE lost.
    service.restore("hoverboard", days=[DAY], in_place=True)
    assert rows_as_text(warehouse, "fleet.hoverboard") == before

    # The task's failure alert (the DAGs' on_failure_callback) in Elasticsearch: the
    # numbers and places, no row values.
    from elasticsearch import Elasticsearch

    monkeypatch.setenv("AIRFLOW_CONN_ELASTICSEARCH_DEFAULT", json.dumps({
        "conn_type": "elasticsearch", "host": "127.0.0.1",
        "port": int(stack_env["HOVER_ELASTICSEARCH_URL"].rsplit(":", 1)[1].strip("/"))}))
    ElasticsearchAlertNotifier(severity="error", action="task_failed").notify(
        {"ti": ti, "exception": err.value})
    es = Elasticsearch(stack_env["HOVER_ELASTICSEARCH_URL"])
    es.indices.refresh(index="hoverboard-alerts-*")
    [alert] = [h["_source"] for h in es.search(
        index="hoverboard-alerts-*", query={"term": {"airflow.run_id": run_id}})["hits"]["hits"]]
    assert (alert["log"]["level"], alert["error"]["type"]) == ("error",
                                                               "BackupRowsDroppedError")
    assert alert["details"] == {
        "table": "fleet.hoverboard", "kind": "day", "day": DAY.isoformat(),
        "location": f"s3://{layout.bucket}/{folder}", "verified_backup_id": good.backup_id,
        "verified_rows": good.rows, "held_backup_id": held_id,
        "held_rows": good.rows - lost, "missing_rows": lost}
    assert "accept_fewer_rows" in alert["message"]


def test_fewer_rows_on_purpose_replace_the_backup_once_verified(service, warehouse, store,
                                                                layout) -> None:
    seed(warehouse, CUSTOMER, 40)
    good = service.backup("customer", DAY)
    service.verify("customer", DAY)
    with psycopg.connect(warehouse) as conn:  # an erasure request, say
        conn.execute("DELETE FROM fleet.customer WHERE id = 3")
    with pytest.raises(BackupRowsDropped):
        service.backup("customer", DAY)
    accepted = service.backup("customer", DAY, accept_fewer_rows=True)
    table = service_table("customer")
    assert service.manifest(table, DAY).backup_id == good.backup_id
    service.verify("customer", DAY, accepted.backup_id)
    assert service.manifest(table, DAY).backup_id == accepted.backup_id
    folder = f"{layout.prefix}/customer/snapshot/dt=2026-11-26/"
    assert {k.split("/")[-2] for k in store.list_keys(folder) if "/run=" in k} == {
        f"run={accepted.backup_id}"}  # the good and the held runs are gone now
    assert [r["status"] for r in catalog(warehouse)] == ["replaced", "replaced", "published"]


def corrupt_one_value(store: ObjectStore, key: str) -> None:
    """Rewrite a backup file as valid Parquet with one value changed (same row count)."""
    table = pq.read_table(io.BytesIO(store.get_bytes(key)))
    speed = table.column("speed").to_pylist()
    speed[0] += 1.0
    table = table.set_column(table.schema.get_field_index("speed"), "speed",
                             pa.array(speed, pa.float64()))
    out = io.BytesIO()
    pq.write_table(table, out)
    store.put_bytes(key, out.getvalue(), "application/octet-stream")


def test_corrupted_file_fails_verification_naming_it(service, warehouse, store, layout,
                                                     monkeypatch) -> None:
    seed(warehouse, HOVERBOARD, 1500)
    manifest = service.backup("hoverboard", DAY)
    entry = manifest.files[0]
    corrupt_one_value(store, f"{layout.prefix}/hoverboard/dt=2026-11-26/{entry.path}")

    with pytest.raises(BackupMismatch) as err:
        service.verify("hoverboard", DAY)
    message = str(err.value)
    assert not err.value.retryable
    assert entry.path in message and "SHA-256" in message
    assert f"the manifest has {entry.rows} rows, checksum {entry.checksum}" in message
    [row] = catalog(warehouse)
    assert row["verified"] is False and entry.path in row["verify_error"]

    # Through the operator: the task fails at once (no retry helps), with the numbers.
    from airflow.sdk.exceptions import AirflowFailException
    from hoverboard.operators.backup import WarehouseBackupVerifyOperator

    conn = {"conn_type": "postgres", **_conn_parts(warehouse)}
    monkeypatch.setenv("AIRFLOW_CONN_SCRATCH_WAREHOUSE", json.dumps(conn))
    operator = WarehouseBackupVerifyOperator(
        task_id="verify", table="hoverboard", day=DAY.isoformat(), bucket=layout.bucket,
        prefix=layout.prefix, conn_id="scratch_warehouse", backup={"backup_id":
                                                                   manifest.backup_id})
    context = {"ti": SimpleNamespace(dag_id="warehouse_backup", run_id="test")}
    with pytest.raises(AirflowFailException, match=f"{entry.path}.*{entry.checksum}"):
        operator.execute(context)


def _conn_parts(dsn: str) -> dict:
    info = psycopg.conninfo.conninfo_to_dict(dsn)
    return {"host": info["host"], "port": int(info["port"]), "login": info["user"],
            "password": info["password"], "schema": info["dbname"]}


def test_rows_missing_from_the_source_fail_verification(service, warehouse) -> None:
    seed(warehouse, HOVERBOARD, 1000)
    manifest = service.backup("hoverboard", DAY)
    with psycopg.connect(warehouse) as conn:
        conn.execute("DELETE FROM fleet.hoverboard WHERE ctid IN (SELECT ctid FROM "
                     "fleet.hoverboard WHERE " + in_day("event_time") + " LIMIT 1)",
                     {"day": DAY.isoformat()})
    with pytest.raises(BackupMismatch) as err:
        service.verify("hoverboard", DAY)
    assert err.value.retryable
    assert (f"has {manifest.rows - 1} rows" in str(err.value)
            and f"the backup has {manifest.rows} rows" in str(err.value))


def test_late_events_and_newer_versions_are_left_out_of_the_comparison(service,
                                                                       warehouse) -> None:
    seed(warehouse, HOVERBOARD, 1000)
    seed(warehouse, CUSTOMER, 50)
    service.backup("hoverboard", DAY)
    service.backup("customer", DAY)
    with psycopg.connect(warehouse) as conn:  # loaded_at defaults to now(): after the backup
        conn.execute("INSERT INTO fleet.hoverboard (id, event_time, elevation, temperature, "
                     "latitude, longitude, humidity, charge, speed, isdocked, weight, "
                     "acceleration, magneticfield) SELECT 5000, %s::timestamptz + interval "
                     "'12 hours', 1, 2, 3, 4, 5, 6, 7, true, 8, 9, 10", (DAY.isoformat(),))
        conn.execute("UPDATE fleet.customer SET email = 'new@example.com', loaded_at = now() "
                     "WHERE id = 7")
        conn.execute("INSERT INTO fleet.customer (id, updated_at, first_name, last_name, "
                     "latitude, longitude, email) VALUES (9999, now(), 'N', 'W', 0, 0, 'n@w')")
    assert service.verify("hoverboard", DAY).left_out == 1
    assert service.verify("customer", DAY).left_out == 2


def test_retention_keeps_the_latest_verified_backup_however_old(service, warehouse, store,
                                                               layout) -> None:
    days = [date(2026, 10, 1), date(2026, 10, 2), date(2026, 11, 25)]
    for day in days:  # (each seed spills into the neighbouring days: seed first)
        seed(warehouse, HOVERBOARD, 200, day)
    for day in days:
        service.backup("hoverboard", day)
    service.verify("hoverboard", days[0])  # the only verified one, and old
    seed(warehouse, CUSTOMER, 20)
    service.backup("customer", date(2026, 10, 1))
    service.verify("customer", date(2026, 10, 1))
    service.backup("customer", date(2026, 10, 3))  # newer, never verified

    deleted = service.retention(["hoverboard", "customer"], date(2026, 11, 26), keep_days=30)

    assert deleted == [f"s3://{layout.bucket}/{layout.prefix}/hoverboard/dt=2026-10-02/",
                       f"s3://{layout.bucket}/{layout.prefix}/customer/snapshot/dt=2026-10-03/"]
    assert service.backup_days(service_table("hoverboard")) == [days[0], days[2]]
    assert not list(store.list_keys(f"{layout.prefix}/hoverboard/dt=2026-10-02/"))
    service.verify("hoverboard", days[0])  # still complete
    status = {(r["table_name"], r["day"] or r["snapshot_date"]): r["status"]
              for r in catalog(warehouse)}
    assert status == {("fleet.hoverboard", days[0]): "published",
                      ("fleet.hoverboard", days[1]): "deleted",
                      ("fleet.hoverboard", days[2]): "published",
                      ("fleet.customer", date(2026, 10, 1)): "published",
                      ("fleet.customer", date(2026, 10, 3)): "deleted"}
    # With a newer verified backup, the old one goes too.
    service.verify("hoverboard", days[2])
    assert service.retention(["hoverboard"], date(2026, 11, 26), 30) == [
        f"s3://{layout.bucket}/{layout.prefix}/hoverboard/dt=2026-10-01/"]


def test_an_empty_day_is_a_backup_too(service, warehouse) -> None:
    manifest = service.backup("trip", DAY)
    assert (manifest.rows, manifest.files) == (0, ())
    assert service.verify("trip", DAY).rows == 0
    assert service.restore("trip", days=[DAY])[0]["rows"] == 0
    with pytest.raises(BackupError, match="no backup of fleet.trip for \\['2026-11-27'\\]"):
        service.restore("trip", days=[DAY, DAY + timedelta(days=1)])


class ClientSideRedshiftEngine(RedshiftEngine):
    """The Redshift engine with only the two statements that need Redshift done by the
    client: UNLOAD (the rows are written as Parquet plus Redshift's own manifest, where
    UNLOAD would put them) and COPY ... MANIFEST (its files are loaded with COPY FROM
    STDIN). Reading manifests, checksums from the store, scratch areas and the restore
    statements are the engine's own code; the statements' SQL is parsed in
    tests/unit/test_backup_redshift_sql.py."""

    def __init__(self, store: ObjectStore, layout: Layout) -> None:
        super().__init__(store, layout, "arn:aws:iam::123456789012:role/hover-backup")
        self.statements: list[str] = []

    def now(self, conn):  # GETDATE() is Redshift's
        return PostgresEngine.now(self, conn)

    def _execute_unload(self, conn, statement, select, key_prefix) -> None:
        self.statements.append(statement)
        with conn.cursor() as cur:
            cur.execute(sql.SQL("SELECT * FROM ({}) q LIMIT 0").format(select))
            names = [d.name for d in cur.description]
            types = [cur.execute("SELECT format_type(%s, NULL)", (d.type_code,)).fetchone()[0]
                     for d in cur.description]
        schema = pa.schema([(n, ARROW_TYPES.get(t, pa.string()))
                            for n, t in zip(names, types, strict=True)])
        entries = []

        def upload(written: files.WrittenFile) -> None:
            key = f"{key_prefix}part_{len(entries):04d}_part_00.parquet"
            self.store.upload_file(written.path, key)
            entries.append({"url": self.layout.uri(key), "meta": {
                "content_length": written.path.stat().st_size, "record_count": written.rows}})

        with tempfile.TemporaryDirectory() as tmp:
            writer = files.PartWriter(Path(tmp), schema, names, on_file=upload,
                                      rows_per_file=700)
            for batch in PostgresEngine(self.store)._batches(conn, select, schema):
                writer.write(batch)
            writer.close()
        self.store.put_bytes(key_prefix + "part_manifest",
                             json.dumps({"entries": entries}).encode())

    def _execute_copy(self, conn, statement, target, manifest_key) -> None:
        self.statements.append(statement)
        entries = json.loads(self.store.get_bytes(manifest_key))["entries"]
        with conn.cursor() as cur:
            cur.execute("SET LOCAL TimeZone = 'UTC'")
            for entry in entries:
                table = pq.read_table(io.BytesIO(self.store.get_bytes(
                    self.layout.key_of(entry["url"]))))
                names = sql.SQL(", ").join(map(sql.Identifier, table.column_names))
                with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(
                        target, names)) as copy:
                    out = io.BytesIO()
                    pacsv.write_csv(table, out, pacsv.WriteOptions(include_header=False))
                    copy.write(out.getvalue())


def test_redshift_engine_path_end_to_end(warehouse, store, layout) -> None:
    seed(warehouse, HOVERBOARD, 2000)
    engine = ClientSideRedshiftEngine(store, layout)
    service = BackupService(lambda: psycopg.connect(warehouse), engine, store, layout)
    reference = BackupService(lambda: psycopg.connect(warehouse), PostgresEngine(store), store,
                              Layout(layout.bucket, layout.prefix + "/pg"))

    manifest = service.backup("hoverboard", DAY)
    assert manifest.engine == "redshift" and len(manifest.files) >= 2
    assert all(f.path.startswith(f"run={manifest.backup_id}/part_") for f in manifest.files)
    # The same rows give the same checksum, whichever engine wrote the files.
    assert manifest.checksum == reference.backup("hoverboard", DAY).checksum
    service.verify("hoverboard", DAY)
    assert not list(store.list_keys(f"{layout.prefix}/_tmp/"))  # scratch exports removed
    service.restore("hoverboard", days=[DAY])
    assert rows_as_text(warehouse, "restore_hoverboard.hoverboard") == rows_as_text(
        warehouse, "fleet.hoverboard", in_day("t.event_time"), {"day": DAY.isoformat()})
    kinds = [s.split()[0] for s in engine.statements]
    # backup; verify (the source); restore: COPY, then the staged and the restored rows
    assert kinds == ["UNLOAD", "UNLOAD", "COPY", "UNLOAD", "UNLOAD"]
    assert all("IAM_ROLE 'arn:aws:iam::123456789012:role/hover-backup'" in s
               for s in engine.statements), engine.statements
