"""The warehouse_backup and warehouse_restore DAGs, run by Airflow against the stack
(PostgreSQL warehouse on a scratch database, the S3 store under a prefix of their own), and
bin/restore on what they backed up."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import boto3
import psycopg
import pytest
from botocore.config import Config
from psycopg import sql

from runtime.settings import warehouse_dsn
from tests.support import scratch_database, warehouse_connection
from tests.support.backup import CUSTOMER, HOVERBOARD, TRIP, in_day, rows_as_text, seed

REPO = Path(__file__).resolve().parents[2]
DAY = "2026-11-26"


@pytest.fixture
def scratch(stack_env):
    """A migrated scratch database, its Airflow connection JSON, and a backup prefix."""
    prefix = f"tests/dag-{uuid.uuid4().hex[:10]}"
    with scratch_database(warehouse_dsn(stack_env), "bkdag") as dsn:
        yield dsn, warehouse_connection(stack_env, dsn), prefix
    s3 = boto3.client("s3", endpoint_url=stack_env["HOVER_S3_ENDPOINT"],
                      config=Config(s3={"addressing_style": "path"}))
    bucket = stack_env["HOVER_BACKUP_BUCKET"]
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", ()):
            s3.delete_object(Bucket=bucket, Key=item["Key"])


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), env=env, capture_output=True, text=True, timeout=600,
                          cwd=REPO)


def airflow(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run(env, str(Path(sys.executable).with_name("airflow")), *args)


def test_backup_dag_backs_up_verifies_and_restores(airflow_env, scratch) -> None:
    dsn, connection, prefix = scratch
    seed(dsn, HOVERBOARD, 2000)
    seed(dsn, TRIP, 300)
    seed(dsn, CUSTOMER, 100)
    env = {**airflow_env, "AIRFLOW_CONN_WAREHOUSE_DEFAULT": connection,
           "AIRFLOW_VAR_BACKUP_PREFIX": prefix}

    # The run for 2026-11-27 has the day before as its data interval.
    result = airflow(env, "dags", "test", "warehouse_backup", "2026-11-27")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT table_name, kind, coalesce(day, snapshot_date)::text, row_count, status,"
            " verified, location, run_id FROM platform.backup_catalog ORDER BY table_name"
        ).fetchall()
        counts = {t: conn.execute(sql.SQL("SELECT count(*) FROM {} WHERE {}").format(
                      sql.Identifier("fleet", t), sql.SQL(in_day(c))), {"day": DAY}).fetchone()[0]
                  for t, c in (("hoverboard", "event_time"), ("trip", "start_time"))}
        counts["customer"] = conn.execute("SELECT count(*) FROM fleet.customer").fetchone()[0]
    bucket = env["HOVER_BACKUP_BUCKET"]
    assert [r[:6] for r in rows] == [
        ("fleet.customer", "snapshot", DAY, counts["customer"], "published", True),
        ("fleet.hoverboard", "day", DAY, counts["hoverboard"], "published", True),
        ("fleet.trip", "day", DAY, counts["trip"], "published", True)]
    assert [r[6] for r in rows] == [
        f"s3://{bucket}/{prefix}/customer/snapshot/dt={DAY}/",
        f"s3://{bucket}/{prefix}/hoverboard/dt={DAY}/",
        f"s3://{bucket}/{prefix}/trip/dt={DAY}/"]
    assert all(r[7].startswith("airflow:warehouse_backup/") for r in rows)

    # The restore DAG, with its params, into the default scratch schema.
    conf = json.dumps({"table": "hoverboard", "from_day": DAY})
    result = airflow(env, "dags", "test", "warehouse_restore", "-c", conf)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    original = rows_as_text(dsn, "fleet.hoverboard", in_day("t.event_time"), {"day": DAY})
    assert rows_as_text(dsn, "restore_hoverboard.hoverboard") == original

    # bin/restore, from the same backups (a connection of its own: bin/restore reads the
    # stack's env file, which defines warehouse_default).
    cli_env = {**env, "AIRFLOW_CONN_SCRATCH_WAREHOUSE": connection}
    result = run(cli_env, str(REPO / "bin" / "restore"), "customer", "--latest", "--schema",
                 "cli_drill", "--conn-id", "scratch_warehouse", "--prefix", prefix)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    [restored] = [json.loads(line) for line in result.stdout.splitlines()
                  if line.startswith("{")]
    assert (restored["target"], restored["rows"]) == ('"cli_drill"."customer"',
                                                      counts["customer"])
    assert rows_as_text(dsn, "cli_drill.customer") == rows_as_text(dsn, "fleet.customer")
    listing = run(cli_env, str(REPO / "bin" / "restore"), "trip", "--list", "--conn-id",
                  "scratch_warehouse", "--prefix", prefix)
    assert listing.returncode == 0 and f"day       {DAY}  {counts['trip']} rows" in \
        listing.stdout, listing.stdout + listing.stderr
