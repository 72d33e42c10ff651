"""
### Warehouse restore

Restores backups made by `warehouse_backup` from the object store (`aws_default`) into the
warehouse (`warehouse_default`). Triggered by hand, with these params:

* **table**: a declared message type: `hoverboard` or `trip` (backed up by day), `customer`
  (snapshots).
* **from_day**, **to_day**: the days to restore (event tables; `to_day` empty: one day).
* **snapshot_day**: the snapshot's date, or `latest` (customer).
* **target_schema**: scratch schema to restore into; empty: `restore_<table>`.
* **in_place**: restore into the table itself instead, replacing rows by natural key
  (idempotent: running it twice changes nothing). Customers keep the latest profile per id,
  as the sink does: a profile newer than the snapshot's (`updated_at`, then
  `source_offset`) stays.

Each backup is restored in its own transaction through a staging table, and committed only
when the staged rows and the restored rows match the manifest's row count and checksum.
Bucket and prefix: Airflow Variables `backup_bucket`, `backup_prefix`. From a shell:
`bin/restore <table> --day YYYY-MM-DD` (see `bin/restore --help`).
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Param
from hoverboard.backup.tables import backup_tables
from hoverboard.dag_defaults import DEFAULT_ARGS
from hoverboard.operators.backup import WarehouseRestoreOperator

with DAG(
    dag_id="warehouse_restore",
    doc_md=__doc__,
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={**DEFAULT_ARGS, "retries": 1},
    params={
        "table": Param(backup_tables()[0], enum=backup_tables()),
        "from_day": Param("", type="string", description="first day, YYYY-MM-DD"),
        "to_day": Param("", type="string", description="last day (inclusive); empty: from_day"),
        "snapshot_day": Param("latest", type="string", description="YYYY-MM-DD or latest"),
        "target_schema": Param("", type="string", description="empty: restore_<table>"),
        "in_place": Param(False, type="boolean", description="restore into the table itself"),
    },
    tags=["warehouse", "backup", "restore"],
):
    WarehouseRestoreOperator(
        task_id="restore",
        table="{{ params.table }}",
        from_day="{{ params.from_day }}",
        to_day="{{ params.to_day }}",
        snapshot_day="{{ params.snapshot_day }}",
        target_schema="{{ params.target_schema }}",
        in_place="{{ params.in_place }}",
    )
