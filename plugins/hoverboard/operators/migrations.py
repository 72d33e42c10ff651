"""Operator applying the warehouse migrations in ``sql/migrations`` through a connection id."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

from airflow.sdk import BaseOperator

from hoverboard.hooks.warehouse import DEFAULT_CONN_ID, WarehouseHook


class WarehouseMigrationOperator(BaseOperator):
    """Apply pending migrations (or, with ``dry_run``, list them) in the warehouse.

    The engine (Redshift or PostgreSQL) follows from the connection's type; the runner
    chooses each migration's variant for it. Returns the applied (or pending) file names.

    :param conn_id: Airflow connection of the warehouse (type ``postgres`` or ``redshift``).
    :param dry_run: only list what is pending; apply nothing.
    :param lock_timeout_s: how long to wait for another run's lock before failing.
    """

    template_fields: Sequence[str] = ("conn_id",)
    ui_color = "#d8e7f5"

    def __init__(self, *, conn_id: str = DEFAULT_CONN_ID, dry_run: bool = False,
                 lock_timeout_s: float = 300.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id
        self.dry_run = dry_run
        self.lock_timeout_s = lock_timeout_s

    @cached_property
    def hook(self) -> WarehouseHook:
        """The warehouse, made on first use (never while the DAG file is parsed)."""
        return WarehouseHook(self.conn_id)

    def execute(self, context: Any) -> list[str]:
        from hoverboard.warehouse.migrations import MigrationRunner

        warehouse = self.hook
        ti = context["ti"]
        runner = MigrationRunner(
            warehouse.get_conn, warehouse.engine, lock_timeout_s=self.lock_timeout_s,
            applied_by=f"airflow:{ti.dag_id}/{ti.run_id}",
        )
        if self.dry_run:
            pending = runner.pending()
            self.log.info("%d pending on %s (%s): %s", len(pending), self.conn_id,
                          warehouse.engine, [m.path.name for m in pending] or "none")
            return [m.path.name for m in pending]
        applied = runner.migrate()
        self.log.info("applied %d migration(s) on %s (%s): %s", len(applied), self.conn_id,
                      warehouse.engine, [f"V{m.version:04d}__{m.name}" for m in applied] or "none")
        return [f"V{m.version:04d}__{m.name}" for m in applied]
