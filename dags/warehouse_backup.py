"""
### Warehouse backups

Every day, backs up the warehouse behind `warehouse_default` (Amazon Redshift in production,
PostgreSQL locally) to the object store behind `aws_default`, checks every backup against
its source, and prunes old backups.

* **backup_<table>**, one per declared message type (`schemas/<type>/type.yaml`):
  `backup: day` types (hoverboard, trip), the run's data interval, one UTC day by their
  event time; `backup: snapshot` types (customer), a full snapshot.
  Redshift writes Parquet itself (`UNLOAD ... IAM_ROLE ... FORMAT AS PARQUET`), PostgreSQL
  streams `COPY ... TO STDOUT` into Parquet. Re-running a day replaces its backup once the
  new one is verified; until then the verified one stays published. A re-run that finds
  fewer rows than the day's verified backup fails (and alerts) and keeps both; trigger the
  day again with `accept_fewer_rows` when the rows were removed on purpose.
* **verify_<table>**: reads the manifest and every file back and compares sizes, SHA-256,
  row counts and checksums with the manifest and the rows with the source table; a
  mismatch fails the task with the numbers (and alerts). `platform.backup_catalog` keeps
  every backup and its verification.
* **retention**: deletes backups older than `retention_days` (param, default 30), never a
  table's latest verified backup.

Layout: `s3://<bucket>/<prefix>/<table>/dt=YYYY-MM-DD/` (snapshots:
`.../<table>/snapshot/dt=YYYY-MM-DD/`), each with `manifest.json` (published last) and its
run's Parquet files in `run=<backup id>/`. Bucket, prefix: Airflow Variables `backup_bucket`
(default `hoverboard-backups`) and `backup_prefix` (default `warehouse`), read at run time;
Redshift's IAM role: `backup_iam_role`. Restores: the `warehouse_restore` DAG or
`bin/restore`.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Param
from airflow.timetables.interval import CronDataIntervalTimetable
from hoverboard.backup.tables import backup_tables
from hoverboard.dag_defaults import DEFAULT_ARGS
from hoverboard.operators.backup import (
    WarehouseBackupOperator,
    WarehouseBackupRetentionOperator,
    WarehouseBackupVerifyOperator,
)

TABLES = backup_tables()

with DAG(
    dag_id="warehouse_backup",
    doc_md=__doc__,
    # Runs after each UTC day ends, with that day as its data interval.
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,  # one writer per backup folder
    default_args=DEFAULT_ARGS,
    params={"retention_days": Param(30, type="integer", minimum=1,
                                    description="days of backups to keep"),
            "accept_fewer_rows": Param(False, type="boolean",
                                       description="rows missing since the day's verified "
                                                   "backup were removed on purpose")},
    tags=["warehouse", "backup"],
):
    verified = []
    for table in TABLES:
        backup = WarehouseBackupOperator(task_id=f"backup_{table}", table=table,
                                         accept_fewer_rows="{{ params.accept_fewer_rows }}")
        verified.append(WarehouseBackupVerifyOperator(
            task_id=f"verify_{table}", table=table, backup=backup.output))
    verified >> WarehouseBackupRetentionOperator(
        task_id="retention", tables=TABLES, keep_days="{{ params.retention_days }}")
