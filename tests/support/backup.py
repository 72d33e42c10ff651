"""Warehouse rows that make backups hard (edge values, days crossing midnight) and exact
comparisons of what came back."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import psycopg
from psycopg import sql

DAY = date(2026, 11, 26)

HOVERBOARD = """
INSERT INTO fleet.hoverboard (id, event_time, elevation, temperature, latitude, longitude,
    humidity, charge, speed, isdocked, weight, acceleration, magneticfield, source_topic,
    source_partition, source_offset, received_at, loaded_at)
SELECT g %% 37, t, random() * 1000 - 0.5, CASE WHEN g %% 11 = 0 THEN '-0'::float8 ELSE
    random() * 60 - 20 END, random() * 180 - 90, random() * 360 - 180,
    CASE WHEN g %% 13 = 0 THEN 1e-300 ELSE random() * 100 END, random() * 100,
    random() * 30, g %% 2 = 0, 60 + random() * 40, random(), random() * 100,
    CASE WHEN g %% 5 = 0 THEN NULL ELSE 'hoverboard' END,
    CASE WHEN g %% 5 = 0 THEN NULL ELSE g %% 6 END, CASE WHEN g %% 5 = 0 THEN NULL ELSE g END,
    CASE WHEN g %% 7 = 0 THEN NULL ELSE t + interval '1 second' END, t + interval '2 seconds'
FROM generate_series(0, %(rows)s - 1) g,
     LATERAL (SELECT %(day)s::timestamptz - interval '1 hour'
                     + g * (interval '26 hours' / %(rows)s) + g * interval '1 microsecond' AS t) x
"""
TRIP = """
INSERT INTO fleet.trip (hoverboard_id, customer_id, start_time, end_time, trip_duration,
    start_latitude, start_longitude, end_latitude, end_longitude, source_topic,
    source_partition, source_offset, received_at, loaded_at)
SELECT g %% 17, g %% 29, t, t + interval '10 minutes', 600, random() * 180 - 90,
    random() * 360 - 180, random() * 180 - 90, random() * 360 - 180, 'trip', g %% 6, g, t,
    t + interval '10 minutes 2 seconds'
FROM generate_series(0, %(rows)s - 1) g,
     LATERAL (SELECT %(day)s::timestamptz - interval '2 hours'
                     + g * (interval '28 hours' / %(rows)s) AS t) x
"""
CUSTOMER = """
INSERT INTO fleet.customer (id, updated_at, first_name, last_name, latitude, longitude, email,
    source_topic, source_partition, source_offset, received_at, loaded_at)
SELECT g, %(day)s::timestamptz + g * interval '1 minute',
    CASE g %% 4 WHEN 0 THEN 'Ann, "the" ''best''' WHEN 1 THEN E'multi\\nline'
               WHEN 2 THEN 'Zoë 北京' ELSE '' END,
    'Last' || g, random() * 180 - 90, random() * 360 - 180, 'c' || g || '@example.com',
    NULL, NULL, NULL, NULL, %(day)s::timestamptz + g * interval '1 minute' + interval '1 second'
FROM generate_series(1, %(rows)s) g
"""



def seed(dsn: str, statement: str, rows: int, day: date = DAY) -> None:
    with psycopg.connect(dsn) as conn:
        conn.execute(statement, {"rows": rows, "day": day.isoformat()})


def rows_as_text(dsn: str, table: str, where: str = "TRUE", params=()) -> list[str]:
    """Every row as PostgreSQL's text form (exact: -0, every float digit, NULL vs '')."""
    schema, name = table.split(".")
    statement = sql.SQL("SELECT t::text FROM {} t WHERE {} ORDER BY 1").format(
        sql.Identifier(schema, name), sql.SQL(where))
    with psycopg.connect(dsn) as conn:
        conn.execute("SET extra_float_digits = 1")
        return [r[0] for r in conn.execute(statement, params)]


def in_day(column: str) -> str:
    return (f"{column} >= %(day)s::timestamptz"
            f" AND {column} < %(day)s::timestamptz + interval '1 day'")


@contextmanager
def scratch_backups(stack_env: dict[str, str], dsn: str, prefix: str) -> Iterator:
    """A backup service for the database of ``dsn`` writing to the stack's S3 bucket under a
    scratch prefix of its own (deleted afterwards)."""
    import boto3
    from botocore.config import Config
    from hoverboard.backup.engines import PostgresEngine
    from hoverboard.backup.layout import Layout
    from hoverboard.backup.service import BackupService
    from hoverboard.backup.store import ObjectStore

    client = boto3.client("s3", endpoint_url=stack_env["HOVER_S3_ENDPOINT"],
                          config=Config(s3={"addressing_style": "path"}))
    store = ObjectStore(client, stack_env["HOVER_BACKUP_BUCKET"])
    layout = Layout(store.bucket, f"tests/{prefix}-{uuid.uuid4().hex[:10]}")
    try:
        yield BackupService(lambda: psycopg.connect(dsn), PostgresEngine(store), store, layout,
                            run_id="pytest")
    finally:
        store.delete_prefix(layout.prefix + "/")
