"""A new optional field end to end (hoverboard v2's ``battery_cycles``, migration V0011), on
the real stack: a warehouse backed up before the change restores after it (the new column
empty), v1 and v2 events go through the API and Kafka into the table (the column NULL and
filled), and the next backup carries the column. The procedure: schemas/README.md."""

from __future__ import annotations

import shutil

import psycopg
from hoverboard.warehouse.migrations import MIGRATIONS_DIR, MigrationRunner, discover

from ingest_api import create_app
from loader.batch import BatchLoad
from loader.postgres import PostgresLoader
from loader.tables import table_spec
from runtime.settings import warehouse_dsn
from schemas import latest
from tests.support import end_offsets, fetch, read_from, sample, scratch_database, scratch_topic
from tests.support.backup import DAY, HOVERBOARD, scratch_backups, seed
from tests.support.streaming import sink_batch

KEY = "evolution-key-" + "e" * 20
#: The change under test: the migration adding the column, and the column.
ADDED_IN, COLUMN = 11, "battery_cycles"


def test_v1_and_v2_events_load_and_a_backup_from_before_the_change_restores(
        stack_env, tmp_path) -> None:
    bootstrap = stack_env["HOVER_KAFKA_BOOTSTRAP"]
    before_change = tmp_path / "migrations"
    before_change.mkdir()
    for migration in discover("postgres"):
        if migration.version < ADDED_IN:
            shutil.copy(migration.path, before_change)
    with scratch_database(warehouse_dsn(stack_env), "evolution", migrate=False) as dsn, \
            scratch_topic(bootstrap, "evolution") as topic, \
            scratch_backups(stack_env, dsn, "evolution") as backups:
        connect = lambda: psycopg.connect(dsn)  # noqa: E731
        # The warehouse before the change, with a day of telemetry, backed up.
        MigrationRunner(connect, "postgres", directory=before_change).migrate()
        seed(dsn, HOVERBOARD, 40)
        old = backups.backup("hoverboard", DAY)
        assert COLUMN not in old.column_names

        # The change: V0011 adds the column; the old backup restores, the column empty.
        MigrationRunner(connect, "postgres", directory=MIGRATIONS_DIR).migrate()
        [restored] = backups.restore("hoverboard", days=[DAY], target_schema="restore_old")
        assert restored["backup_id"] == old.backup_id and restored["rows"] == old.rows > 0
        assert fetch(dsn, f"SELECT count(*), count({COLUMN}) FROM restore_old.hoverboard"
                     ) == [(old.rows, 0)]

        # v1 and v2 events through the API (a header names the version; none: the latest).
        app = create_app({"TESTING": True, "KAFKA_BOOTSTRAP": bootstrap, "API_KEYS": KEY,
                          "SCHEMA_REGISTRY_URL": stack_env["HOVER_SCHEMA_REGISTRY_URL"],
                          "MESSAGE_CONF": str(_message_conf(tmp_path, topic))})
        client = app.test_client()
        headers = {"X-API-Key": KEY}
        start = end_offsets(bootstrap, topic)
        v1 = sample("hoverboard", id=9001, event_time="2026-11-26T12:00:00Z")
        v2 = sample("hoverboard", id=9002, event_time="2026-11-26T12:00:05Z", **{COLUMN: 412})
        try:
            answer = client.post("/ingest/hoverboard", json=v1,
                                 headers={**headers, "Hover-Schema-Version": "1"})
            assert answer.status_code == 201, answer.get_json()
            assert answer.get_json()["schema"] == {"subject": "hoverboard-value", "version": 1}
            answer = client.post("/ingest/hoverboard", json=v2, headers=headers)
            assert answer.status_code == 201, answer.get_json()
            assert answer.headers["Hover-Schema-Version"] == str(latest("hoverboard").version)
            # v1 does not know the field; a version the instance does not serve is named.
            refused = client.post("/ingest/hoverboard", json={**v1, COLUMN: 3},
                                  headers={**headers, "Hover-Schema-Version": "1"})
            assert refused.status_code == 422
            [error] = refused.get_json()["errors"]
            assert f"'{COLUMN}' was unexpected" in error["detail"]
            unknown = client.post("/ingest/hoverboard", json=v1,
                                  headers={**headers, "Hover-Schema-Version": "7"})
            assert unknown.status_code == 400
            assert unknown.get_json()["versions"] == [1, 2]
        finally:
            for sink in app.extensions["hover_ingest"].sinks.values():
                sink.close(timeout=2)

        # Kafka -> the sink's batch load -> rows: v1's column NULL, v2's filled.
        messages = read_from(bootstrap, topic, start)
        assert sorted(dict(m.headers())["hover-schema-version"] for m in messages) == [b"1", b"2"]
        spec = table_spec("hoverboard")
        loader = PostgresLoader(dsn)
        try:
            result = BatchLoad(spec=spec, schema=latest("hoverboard").schema, loader=loader,
                               query_name="evolution")(sink_batch(spec, messages), 0)
        finally:
            loader.close()
        assert result.letters == ()
        assert fetch(dsn, f"SELECT id, {COLUMN} FROM fleet.hoverboard WHERE id > 9000 "
                     "ORDER BY id") == [(9001, None), (9002, 412)]

        # The next backup carries the column, and restores it.
        new = backups.backup("hoverboard", DAY)
        assert COLUMN in new.column_names and new.rows == old.rows + 2
        backups.restore("hoverboard", days=[DAY], target_schema="restore_new")
        assert fetch(dsn, f"SELECT id, {COLUMN} FROM restore_new.hoverboard WHERE id > 9000 "
                     "ORDER BY id") == [(9001, None), (9002, 412)]


def _message_conf(folder, topic: str):
    path = folder / "ingest.conf"
    path.write_text(f"[hoverboard]\ntopic = {topic}\n")
    return path
