"""
### Warehouse migrations

Applies the versioned DDL in `sql/migrations` to the warehouse behind the connection
`warehouse_default`: Amazon Redshift in production, PostgreSQL locally. Which engine it is
follows from the connection's type, and each migration's matching variant is applied.

* **plan** lists what is pending (and fails early if an applied file was edited).
* **apply** applies each pending migration in its own transaction, under a lock, and
  records it in `platform.schema_migrations`. Re-running is a no-op.

Triggered by hand, and by every deploy (`bin/platform` triggers it after start-up).
The same runner works from a shell: `bin/migrate [--dry-run]`.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG
from hoverboard.dag_defaults import DEFAULT_ARGS
from hoverboard.operators.migrations import WarehouseMigrationOperator

with DAG(
    dag_id="warehouse_migrations",
    doc_md=__doc__,
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={**DEFAULT_ARGS, "retries": 1},
    tags=["warehouse", "migrations"],
):
    plan = WarehouseMigrationOperator(task_id="plan", dry_run=True)
    apply = WarehouseMigrationOperator(task_id="apply")
    plan >> apply
