"""Operators backing up the warehouse to S3, verifying, pruning and restoring the backups.

One interface, two engines: the warehouse connection's type decides whether the rows leave
through ``COPY ... TO STDOUT`` into Parquet (PostgreSQL) or ``UNLOAD ... IAM_ROLE ... FORMAT
AS PARQUET`` (Redshift). The logic lives in :mod:`hoverboard.backup`; these operators check
their arguments and hand over to :class:`hoverboard.backup.service.BackupService`.

Bucket and prefix default to the Airflow Variables ``backup_bucket`` and ``backup_prefix``,
read when the task runs (templated), never when the DAG file is parsed; the IAM role of
Redshift's UNLOAD/COPY to ``backup_iam_role``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from hoverboard.hooks.warehouse import DEFAULT_CONN_ID

AWS_CONN_ID = "aws_default"
BUCKET = "{{ var.value.get('backup_bucket', 'hoverboard-backups') }}"
PREFIX = "{{ var.value.get('backup_prefix', 'warehouse') }}"
IAM_ROLE = "{{ var.value.get('backup_iam_role', '') }}"


def _day(value: Any, name: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        raise ValueError(f"{name} must be a date (YYYY-MM-DD), not {value!r}") from None


# A manual run triggered without a logical date has no data interval (Airflow 3): it then
# backs up the day before it ran, like a scheduled run at that time would.
DAY_BEFORE_RUN = (
    "{{ (data_interval_start if data_interval_start is defined and data_interval_start"
    " else dag_run.run_after - macros.timedelta(days=1)) | ds }}"
)
DAY_OF_RUN = (
    "{{ (data_interval_end if data_interval_end is defined and data_interval_end"
    " else dag_run.run_after) | ds }}"
)

class _BackupOperator(BaseOperator):
    """What every backup operator shares: where the warehouse and the store are.

    :param conn_id: Airflow connection of the warehouse (type ``postgres`` or ``redshift``).
    :param aws_conn_id: Airflow connection of the object store (type ``aws``; a non-AWS
        endpoint such as the local s3proxy goes in its ``endpoint_url`` extra).
    :param bucket: bucket of the backups.
    :param prefix: key prefix of the backups in the bucket.
    :param iam_role: Redshift only: ARN of the IAM role the cluster assumes for UNLOAD/COPY.
    """

    template_fields: Sequence[str] = ("conn_id", "aws_conn_id", "bucket", "prefix", "iam_role")
    ui_color = "#e3eedd"

    def __init__(self, *, conn_id: str = DEFAULT_CONN_ID, aws_conn_id: str = AWS_CONN_ID,
                 bucket: str = BUCKET, prefix: str = PREFIX, iam_role: str | None = IAM_ROLE,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id
        self.aws_conn_id = aws_conn_id
        self.bucket = bucket
        self.prefix = prefix
        self.iam_role = iam_role

    def service(self, context: Any, **kwargs: Any):
        from hoverboard.backup.service import BackupService

        ti = context["ti"]
        return BackupService.from_connections(
            conn_id=self.conn_id, aws_conn_id=self.aws_conn_id, bucket=self.bucket,
            prefix=self.prefix, iam_role=self.iam_role or None,
            run_id=f"airflow:{ti.dag_id}/{ti.run_id}", **kwargs)


def _flag(value: bool | str) -> bool:
    """A boolean argument, also as rendered from a template (``"True"``)."""
    return str(value).strip().lower() in ("true", "1", "yes")


class BackupRowsDroppedError(AirflowFailException):
    """A re-run found fewer rows than the day's verified backup: no retry changes that.
    ``details`` (counts and places, no row values) go into the alert."""

    def __init__(self, message: str, details: dict[str, Any]) -> None:
        super().__init__(message)
        self.details = details


class WarehouseBackupOperator(_BackupOperator):
    """Back up one day of an event table (by its event time, UTC) or, for a snapshot
    table, the whole table labelled with that day; a re-run replaces that backup once it
    is verified (the verified one stays published until then).

    A re-run finding fewer rows than the day's verified backup fails at once (no retry) and
    alerts with both backups' ids and row counts; both are kept, the verified one stays
    published (see ``BackupService.backup``).

    Returns the backup's summary (backup id, location, rows, checksum) for the verify task.

    :param table: ``hoverboard``, ``trip`` (by day) or ``customer`` (snapshot).
    :param day: the day (``YYYY-MM-DD``); by default the run's data interval, or for a
        manual run without a logical date (no interval), the day before it ran.
    :param settle_seconds: loads this close to the backup's start may still be in flight;
        rows loaded from then on are left out of the verification's comparison.
    :param accept_fewer_rows: the rows missing since the verified backup were removed on
        purpose: the new backup may replace it (once verified).
    """

    template_fields: Sequence[str] = (*_BackupOperator.template_fields, "table", "day",
                                      "accept_fewer_rows")

    def __init__(self, *, table: str, day: str | date = DAY_BEFORE_RUN,
                 settle_seconds: float = 60.0, accept_fewer_rows: bool | str = False,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.table = table
        self.day = day
        self.settle_seconds = settle_seconds
        self.accept_fewer_rows = accept_fewer_rows

    def execute(self, context: Any) -> dict[str, Any]:
        from hoverboard.backup.service import BackupRowsDropped

        service = self.service(context, settle_seconds=self.settle_seconds)
        try:
            manifest = service.backup(self.table, _day(self.day, "day"),
                                      accept_fewer_rows=_flag(self.accept_fewer_rows))
        except BackupRowsDropped as exc:
            raise BackupRowsDroppedError(str(exc), exc.details) from exc
        return service.summary(self.table, manifest)


class WarehouseBackupVerifyOperator(_BackupOperator):
    """Read a published backup back from the store and compare it with the source table:
    each file's size, SHA-256, row count and checksum against the manifest, then the rows
    against the source. A difference fails the task with the numbers (the store not holding
    what the manifest says fails at once; a difference from the source is retried, since
    a load still in flight settles). The catalog records the outcome either way. A backup
    that passes becomes the day's published one (a re-run's backup waits for this), and
    only then are the day's older runs deleted.

    :param table: the backed-up table.
    :param day: the backup's day (``YYYY-MM-DD``).
    :param backup: the backup to verify: a backup task's return value (its ``.output``) or
        a backup id, published or waiting; one that is gone (replaced) fails the task.
        Empty: whatever is published.
    """

    template_fields: Sequence[str] = (*_BackupOperator.template_fields, "table", "day",
                                      "backup")

    def __init__(self, *, table: str, day: str | date = DAY_BEFORE_RUN,
                 backup: dict[str, Any] | str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.table = table
        self.day = day
        self.backup = backup

    def execute(self, context: Any) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowException, AirflowFailException

        from hoverboard.backup.service import BackupMismatch

        try:
            backup_id = (self.backup.get("backup_id") if isinstance(self.backup, dict)
                         else self.backup)
            result = self.service(context).verify(self.table, _day(self.day, "day"),
                                                  backup_id or None)
        except BackupMismatch as exc:
            if exc.retryable:
                raise AirflowException(f"backup verification failed: {exc}") from exc
            raise AirflowFailException(f"backup verification failed: {exc}") from exc
        return result.as_dict()


class WarehouseBackupRetentionOperator(_BackupOperator):
    """Delete backups of days more than ``keep_days`` before ``reference_day``; the latest
    verified backup of each table is always kept, however old.

    :param tables: the tables whose backups are pruned.
    :param keep_days: how many days of backups to keep.
    :param reference_day: the day counted from; by default the end of the run's data
        interval, or the day a manual run without a logical date ran.
    """

    template_fields: Sequence[str] = (*_BackupOperator.template_fields, "tables", "keep_days",
                                      "reference_day")

    def __init__(self, *, tables: Sequence[str], keep_days: int | str = 30,
                 reference_day: str | date = DAY_OF_RUN,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tables = tables
        self.keep_days = keep_days
        self.reference_day = reference_day

    def execute(self, context: Any) -> list[str]:
        keep_days = int(self.keep_days)
        if keep_days < 1:
            raise ValueError(f"keep_days must be at least 1, not {keep_days}")
        return self.service(context).retention(list(self.tables),
                                               _day(self.reference_day, "reference_day"),
                                               keep_days)


class WarehouseRestoreOperator(_BackupOperator):
    """Restore backups into a scratch schema (default ``restore_<table>``) or, with
    ``in_place``, into the table itself, replacing rows by natural key (idempotent). Each
    backup is checked against its manifest (rows, checksum) before it is committed.

    :param table: the table to restore.
    :param from_day: first day (event tables).
    :param to_day: last day, inclusive (event tables; default: ``from_day``).
    :param snapshot_day: snapshot tables: the snapshot's date, or ``latest``.
    :param target_schema: scratch schema to restore into (default ``restore_<table>``).
    :param in_place: restore into the table itself instead.
    """

    template_fields: Sequence[str] = (*_BackupOperator.template_fields, "table", "from_day",
                                      "to_day", "snapshot_day", "target_schema", "in_place")

    def __init__(self, *, table: str, from_day: str | None = None, to_day: str | None = None,
                 snapshot_day: str | None = "latest", target_schema: str | None = None,
                 in_place: bool | str = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.table = table
        self.from_day = from_day
        self.to_day = to_day
        self.snapshot_day = snapshot_day
        self.target_schema = target_schema
        self.in_place = in_place

    def execute(self, context: Any) -> list[dict[str, Any]]:
        from hoverboard.backup.cli import day_range
        from hoverboard.backup.tables import backup_table

        table = backup_table(self.table)
        in_place = _flag(self.in_place)
        kwargs: dict[str, Any] = {"target_schema": self.target_schema or None,
                                  "in_place": in_place}
        if table.kind == "day":
            if not self.from_day:
                raise ValueError(f"{table.qualified} is backed up by day: set from_day")
            first = _day(self.from_day, "from_day")
            kwargs["days"] = day_range(first, _day(self.to_day, "to_day") if self.to_day
                                       else first)
        elif not self.snapshot_day or self.snapshot_day == "latest":
            kwargs["latest_snapshot"] = True
        else:
            kwargs["snapshot"] = _day(self.snapshot_day, "snapshot_day")
        return self.service(context).restore(self.table, **kwargs)
