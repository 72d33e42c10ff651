"""Operator running one data-quality check and recording its result."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.providers.common.sql.operators.sql import SQLThresholdCheckOperator
from airflow.sdk.exceptions import AirflowFailException

RESULT_DELETE = "DELETE FROM platform.dq_results WHERE run_id = %s AND check_name = %s"
RESULT_INSERT = (
    "INSERT INTO platform.dq_results (check_name, table_name, observed, min_allowed,"
    " max_allowed, passed, dag_id, run_id, checked_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
)


class DataQualityCheckFailed(AirflowFailException):
    """A check's observed value is outside its thresholds. Not retried: the data will not
    change by asking again; the alert carries ``details``."""

    def __init__(self, message: str, details: dict[str, Any]) -> None:
        super().__init__(message)
        self.details = details


class DataQualityCheckOperator(SQLThresholdCheckOperator):
    """Common-sql's threshold check, plus a row in ``platform.dq_results`` for every run
    (passed or not), and a failure that carries the observed value and the thresholds.

    The query returns one number and takes one parameter: the check's reference time
    (``parameter="at"``: the run's scheduled time) or the start of the checked window
    (``parameter="since"``: that time minus ``window_minutes``).

    :param check_name: unique name, e.g. ``hoverboard.freshness``.
    :param table_name: the table checked (for the results and the alert).
    :param parameter: ``at`` or ``since``.
    :param window_minutes: length of the checked window.
    :param conn_id: the warehouse connection.
    """

    template_fields: Sequence[str] = (*SQLThresholdCheckOperator.template_fields, "check_name")
    ui_color = "#e8f4e0"

    def __init__(self, *, check_name: str, table_name: str, parameter: str,
                 window_minutes: int, conn_id: str = "warehouse_default", **kwargs: Any) -> None:
        super().__init__(conn_id=conn_id, **kwargs)
        self.check_name = check_name
        self.table_name = table_name
        self.parameter = parameter
        self.window_minutes = window_minutes

    @staticmethod
    def reference_time(context: Any) -> datetime:
        """When the run was meant to happen (a manual run has no data interval)."""
        run = context.get("dag_run")
        for candidate in (context.get("data_interval_end"), getattr(run, "run_after", None)):
            if candidate is not None:
                return candidate
        return datetime.now(UTC)

    def execute(self, context: Any) -> float | None:
        at = self.reference_time(context)
        value = at if self.parameter == "at" else at - timedelta(minutes=self.window_minutes)
        hook = self.get_db_hook()
        row = hook.get_first(self.sql, parameters=(value.isoformat(),))
        observed = None if row is None or row[0] is None else float(row[0])
        low = None if self.min_threshold is None else float(self.min_threshold)
        high = None if self.max_threshold is None else float(self.max_threshold)
        passed = observed is not None and (low is None or observed >= low) and \
            (high is None or observed <= high)
        ti = context["ti"]
        conn = hook.get_conn()
        try:  # one transaction: a re-run of the same run replaces its result
            cursor = conn.cursor()
            cursor.execute(RESULT_DELETE, (ti.run_id, self.check_name))
            cursor.execute(RESULT_INSERT, (self.check_name, self.table_name, observed, low, high,
                                           passed, ti.dag_id, ti.run_id, datetime.now(UTC)))
            conn.commit()
        finally:
            conn.close()
        self.log.info("%s on %s: observed %s, allowed [%s, %s] -> %s", self.check_name,
                      self.table_name, observed, low, high, "pass" if passed else "FAIL")
        if not passed:
            raise DataQualityCheckFailed(
                f"data-quality check {self.check_name} failed on {self.table_name}: observed "
                f"{observed}, allowed [{low}, {high}]",
                details={"check": self.check_name, "table": self.table_name,
                         "observed": observed, "min_allowed": low, "max_allowed": high,
                         "reference_time": at.isoformat()},
            )
        return observed
