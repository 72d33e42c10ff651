"""A fourth message type from a declaration and a JSON Schema alone: in a scratch copy of
``schemas/`` (``HOVER_SCHEMAS_DIR``) with a migration creating its table in a scratch
database, ``dock`` is ingested (the app factory, real Kafka, a scratch topic), loaded (the
sink's batch load), backed up (S3, a scratch prefix) and checked (its derived data-quality
checks pass, and fail on a broken row), with no code change."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta

import psycopg
import yaml
from hoverboard.quality.checks import build_checks, load_config
from hoverboard.warehouse.migrations import MigrationRunner, discover

from ingest_api import create_app
from loader.batch import BatchLoad
from loader.postgres import PostgresLoader
from loader.tables import table_spec
from runtime.settings import warehouse_dsn
from schemas import SCHEMA_DIR, latest
from tests.support import end_offsets, fetch, read_from, scratch_database, scratch_topic
from tests.support.backup import DAY, scratch_backups
from tests.support.streaming import sink_batch

KEY = "dock-key-" + "d" * 20
SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "$id": "urn:hoverboard-platform:schema:dock:1",
    "title": "dock",
    "description": "A docking station's free slots, sent every minute.",
    "type": "object",
    "additionalProperties": False,
    "required": ["dock_id", "reported_at", "free_slots", "position"],
    "properties": {
        "dock_id": {"type": "integer", "minimum": 1, "maximum": 9223372036854775807},
        "reported_at": {"type": "string", "format": "date-time"},
        "free_slots": {"type": "integer", "minimum": 0, "maximum": 64},
        "position": {"type": "object", "additionalProperties": False,
                     "required": ["latitude", "longitude"],
                     "properties": {"latitude": {"type": "number", "minimum": -90, "maximum": 90},
                                    "longitude": {"type": "number", "minimum": -180,
                                                  "maximum": 180}}},
    },
}
MIGRATION = """
CREATE TABLE fleet.dock (
    dock_id          bigint            NOT NULL,
    reported_at      timestamptz       NOT NULL,
    free_slots       integer           NOT NULL,
    latitude         double precision  NOT NULL,
    longitude        double precision  NOT NULL,
    source_topic     varchar(249),
    source_partition integer,
    source_offset    bigint,
    received_at      timestamptz,
    loaded_at        timestamptz       NOT NULL DEFAULT now(),
    PRIMARY KEY (dock_id, reported_at)
);
"""


def declaration(topic: str) -> dict:
    return {"versions": 1, "topic": topic, "key_fields": ["dock_id"], "table": "fleet.dock",
            "natural_key": ["dock_id", "reported_at"], "merge": "insert",
            "event_time": "reported_at", "range_by": "reported_at",
            "columns": {"latitude": "/position/latitude", "longitude": "/position/longitude"},
            "backup": "day",
            "quality": {"freshness_max_minutes": 60, "volume_min_rows": 1,
                        "required": ["dock_id", "reported_at", "free_slots"]}}


def test_a_declared_type_is_ingested_loaded_backed_up_and_checked(
        stack_env, tmp_path, monkeypatch) -> None:
    bootstrap = stack_env["HOVER_KAFKA_BOOTSTRAP"]
    with scratch_topic(bootstrap, "dock") as topic:
        schemas = tmp_path / "schemas"
        shutil.copytree(SCHEMA_DIR, schemas, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
        (schemas / "dock").mkdir()
        (schemas / "dock" / "v1.json").write_text(json.dumps(SCHEMA, indent=2))
        (schemas / "dock" / "type.yaml").write_text(yaml.safe_dump(declaration(topic)))
        migrations = tmp_path / "migrations"
        migrations.mkdir()
        for migration in discover("postgres"):
            shutil.copy(migration.path, migrations)
        (migrations / "V0999__dock.sql").write_text(MIGRATION)
        monkeypatch.setenv("HOVER_SCHEMAS_DIR", str(schemas))
        with scratch_database(warehouse_dsn(stack_env), "newtype", migrate=False) as dsn:
            MigrationRunner(lambda: psycopg.connect(dsn), "postgres",
                            directory=migrations).migrate()
            with scratch_backups(stack_env, dsn, "newtype") as backups:
                check_dock(stack_env, backups, dsn, topic)


def check_dock(stack_env, backups, dsn: str, topic: str) -> None:
    bootstrap = stack_env["HOVER_KAFKA_BOOTSTRAP"]
    # Ingested: the default configuration serves every declared type, dock included.
    app = create_app({"TESTING": True, "KAFKA_BOOTSTRAP": bootstrap, "API_KEYS": KEY,
                      "SCHEMA_REGISTRY_URL": stack_env["HOVER_SCHEMA_REGISTRY_URL"]})
    start = end_offsets(bootstrap, topic)
    docks = [{"dock_id": n, "reported_at": f"2026-11-26T10:0{n}:00+01:00", "free_slots": n,
              "position": {"latitude": 52.5 + n / 100, "longitude": 13.4}} for n in (1, 2, 3)]
    try:
        client = app.test_client()
        answer = client.post("/ingest/dock", json=docks, headers={"X-API-Key": KEY})
        assert answer.status_code == 200, answer.get_json()
        assert answer.get_json()["accepted"] == 3
        bad = client.post("/ingest/dock", json={**docks[0], "free_slots": 65},
                          headers={"X-API-Key": KEY})
        assert bad.status_code == 422
        assert [e["pointer"] for e in bad.get_json()["errors"]] == ["/free_slots"]
        body = client.get("/openapi.json").get_json()["paths"]["/ingest/dock"]["post"]
        assert "dock_v1" in json.dumps(body["requestBody"])
    finally:
        for sink in app.extensions["hover_ingest"].sinks.values():
            sink.close(timeout=2)
    messages = read_from(bootstrap, topic, start)
    assert sorted(m.key() for m in messages) == [b"1", b"2", b"3"]

    # Loaded: the sink's per-batch load, into the table the migration created.
    spec = table_spec("dock")
    loader = PostgresLoader(dsn)
    try:
        BatchLoad(spec=spec, schema=latest("dock").schema, loader=loader,
                  query_name="dock_sink")(sink_batch(spec, messages), 0)
    finally:
        loader.close()
    assert fetch(dsn, "SELECT dock_id, reported_at, free_slots, latitude FROM fleet.dock "
                 "ORDER BY dock_id") == [
        (n, datetime(2026, 11, 26, 9, n, tzinfo=UTC), n, 52.5 + n / 100) for n in (1, 2, 3)]

    # Backed up: one day of it, by reported_at.
    manifest = backups.backup("dock", DAY)
    assert (manifest.kind, manifest.time_column, manifest.rows) == ("day", "reported_at", 3)
    assert backups.verify("dock", DAY, manifest.backup_id).rows == 3

    # Checked: its derived checks pass, and the range from the schema catches a broken row.
    checks = {c.name: c for c in build_checks(load_config()) if c.table == "fleet.dock"}
    assert set(checks) == {"dock.freshness", "dock.volume", "dock.nulls", "dock.ranges",
                           "dock.unique_key"}
    now = datetime.now(UTC)

    def failing() -> set[str]:
        found = set()
        with psycopg.connect(dsn) as conn:
            for name, check in checks.items():
                at = now if check.parameter == "at" else now - timedelta(hours=2)
                [(observed,)] = conn.execute(check.sql, (at,)).fetchall()
                if not check.passes(None if observed is None else float(observed)):
                    found.add(name)
        return found

    assert failing() == set()
    with psycopg.connect(dsn) as conn:
        conn.execute("UPDATE fleet.dock SET free_slots = 80 WHERE dock_id = 2")
    assert failing() == {"dock.ranges"}
