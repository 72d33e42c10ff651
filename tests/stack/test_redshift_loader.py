"""The Redshift loader's own code path, run for real where it can be: staging to the S3 store
(s3proxy), then its dedup/INSERT/MERGE statements on PostgreSQL (which has MERGE too).
Only ``COPY ... FROM 's3://...' IAM_ROLE`` cannot run outside Redshift: here the staged
object is read back from the store and copied in by the client (its SQL is parsed in
tests/unit/test_redshift_sql.py)."""

from __future__ import annotations

import gzip
import uuid
from datetime import UTC, datetime

import boto3
import psycopg
import pytest
from botocore.config import Config
from psycopg import sql

from loader.postgres import copy_from_stdin
from loader.redshift import RedshiftLoader
from loader.tables import rows_from_events, table_spec
from tests.support import sample, scratch_database


class ClientCopyRedshiftLoader(RedshiftLoader):
    """COPY FROM STDIN of the staged object, with the same null marker as Redshift's COPY."""

    def copy_into_stage(self, cursor, spec, stage, key) -> None:
        body = gzip.decompress(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())
        with cursor.copy(copy_from_stdin(sql.Identifier(stage), spec.load_columns)) as pipe:
            pipe.write(body)


@pytest.fixture
def warehouse(stack_env):
    with scratch_database(stack_env["HOVER_WAREHOUSE_DSN"], "rstest") as dsn:
        yield dsn


@pytest.fixture
def loader(stack_env, warehouse):
    s3 = boto3.client("s3", endpoint_url=stack_env["HOVER_S3_ENDPOINT"],
                      config=Config(s3={"addressing_style": "path"}))
    prefix = f"staging-test/{uuid.uuid4().hex[:8]}"
    return ClientCopyRedshiftLoader(
        lambda: psycopg.connect(warehouse), s3,
        f"s3://{stack_env['HOVER_BACKUP_BUCKET']}/{prefix}", "arn:aws:iam::0:role/test"), prefix


def count(dsn: str, query: str) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute(query).fetchone()[0]


def test_event_table_load_is_idempotent(loader, warehouse, stack_env) -> None:
    redshift, prefix = loader
    spec = table_spec("hoverboard")
    events = [sample("hoverboard", id=1 + i % 5, event_time=f"2026-11-27T09:{i:02d}:00Z")
              for i in range(40)]
    rows = rows_from_events(spec, events + events[:10],  # duplicates inside the batch too
                            received_at=[datetime.now(UTC)] * 50)
    assert redshift.load(spec, rows) == 40
    assert redshift.load(spec, rows) == 0
    assert count(warehouse, "SELECT count(*) FROM fleet.hoverboard") == 40
    # The staged objects are removed after each load.
    listed = redshift.s3.list_objects_v2(Bucket=redshift.bucket, Prefix=prefix)
    assert listed.get("KeyCount", 0) == 0


def test_latest_version_wins_through_merge(loader, warehouse) -> None:
    redshift, _ = loader
    spec = table_spec("customer")

    def load(*versions):
        events = [sample("customer", id=cid, updated_at=f"2026-11-27T{h:02d}:00:00Z",
                         customer_email=f"v{h}@x.example") for cid, h in versions]
        return redshift.load(spec, rows_from_events(spec, events,
                                                    received_at=[None] * len(events)))

    assert load((1, 9), (1, 11), (1, 10), (2, 9)) == 2
    assert load((1, 8)) == 0  # older than what is stored: ignored
    assert load((1, 12), (2, 9)) == 1  # newer for 1; the same version for 2 changes nothing
    with psycopg.connect(warehouse) as conn:
        rows = conn.execute("SELECT id, email FROM fleet.customer ORDER BY id").fetchall()
    assert rows == [(1, "v12@x.example"), (2, "v9@x.example")]
    with psycopg.connect(warehouse) as conn:
        [(one, two)] = conn.execute(
            "SELECT max(loaded_at) FILTER (WHERE id = 1), max(loaded_at) FILTER (WHERE id = 2)"
            " FROM fleet.customer").fetchall()
    assert one > two  # the updated row says when it was loaded
