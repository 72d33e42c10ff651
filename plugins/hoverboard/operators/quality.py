"""Operator running one data-quality check and recording its result."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

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
    """Common-sql's threshold check, recording every result (passed or not) in
    ``platform.dq_results`` from ``push()``, the documented place for it, and failing with
    the observed value and the thresholds (for the alert) instead of the generic message.

    The query returns one number (never NULL: the checks coalesce) and takes one parameter:
    the check's reference time (``parameter="at"``: the run's scheduled time) or the start
    of the checked window (``parameter="since"``: that time minus ``window_minutes``). A
    missing threshold is an open bound.

    :param check_name: unique name, e.g. ``hoverboard.freshness``.
    :param table_name: the table checked (for the results and the alert).
    :param parameter: ``at`` or ``since``.
    :param window_minutes: length of the checked window.
    :param reference_time: when the run was meant to happen, ISO 8601 (templated; default:
        the end of the run's data interval, for a manual run its ``run_after``).
    :param run_id: the run the result belongs to (templated; a re-run replaces its result).
    :param conn_id: the warehouse connection.
    """

    template_fields: Sequence[str] = (*SQLThresholdCheckOperator.template_fields, "check_name",
                                      "reference_time", "run_id")
    ui_color = "#e8f4e0"

    def __init__(self, *, check_name: str, table_name: str, parameter: str,
                 window_minutes: int, min_threshold: float | None = None,
                 max_threshold: float | None = None,
                 reference_time: str = "{{ (data_interval_end or dag_run.run_after).isoformat() }}",
                 run_id: str = "{{ ti.run_id }}", conn_id: str = "warehouse_default",
                 **kwargs: Any) -> None:
        # An open bound is an infinity to the base class; as text, because the DAG is
        # serialized as JSON, which has no infinities (the base class reads "inf" as one).
        super().__init__(conn_id=conn_id, retry_on_failure=False,
                         min_threshold="-inf" if min_threshold is None else min_threshold,
                         max_threshold="inf" if max_threshold is None else max_threshold,
                         **kwargs)
        self.check_name = check_name
        self.table_name = table_name
        self.parameter = parameter
        self.window_minutes = window_minutes
        self.reference_time = reference_time
        self.run_id = run_id

    @property
    def parameters(self) -> tuple[str]:
        """The query's one parameter, from the rendered reference time."""
        at = datetime.fromisoformat(self.reference_time)
        value = at if self.parameter == "at" else at - timedelta(minutes=self.window_minutes)
        return (value.isoformat(),)

    def get_db_hook(self) -> Any:
        """The provider's hook, with the check's parameter bound to the queries the base
        class runs (it passes none)."""
        return _WithParameters(super().get_db_hook(), self.parameters)

    def push(self, meta_data: dict[str, Any]) -> None:
        """Record the result (one transaction: a re-run of the same run replaces it)."""
        super().push(meta_data)
        observed = None if meta_data["result"] is None else float(meta_data["result"])
        low, high = (_bound(meta_data["min_threshold"]), _bound(meta_data["max_threshold"]))
        passed = bool(meta_data["within_threshold"])
        conn = super().get_db_hook().get_conn()
        try:
            cursor = conn.cursor()
            cursor.execute(RESULT_DELETE, (self.run_id, self.check_name))
            cursor.execute(RESULT_INSERT, (self.check_name, self.table_name, observed, low, high,
                                           passed, self.dag_id, self.run_id, datetime.now(UTC)))
            conn.commit()
        finally:
            conn.close()
        self.log.info("%s on %s: observed %s, allowed [%s, %s] -> %s", self.check_name,
                      self.table_name, observed, low, high, "pass" if passed else "FAIL")
        self._failure = None if passed else DataQualityCheckFailed(
            f"data-quality check {self.check_name} failed on {self.table_name}: observed "
            f"{observed}, allowed [{low}, {high}]",
            details={"check": self.check_name, "table": self.table_name,
                     "observed": observed, "min_allowed": low, "max_allowed": high,
                     "reference_time": self.reference_time},
        )

    def _raise_exception(self, exception_string: str) -> NoReturn:
        """The base class's failure, as the check's own (what it observed, what is allowed,
        for the alert); anything else (no row) as the base class raises it."""
        failure = getattr(self, "_failure", None)
        if failure is not None:
            self.log.error("%s", exception_string)  # the base's text, with the query
            raise failure
        super()._raise_exception(exception_string)


def _bound(value: Any) -> float | None:
    """A threshold as stored and alerted: an open bound is None."""
    value = float(value)
    return None if math.isinf(value) else value


class _WithParameters:
    """A DB-API hook whose ``get_first`` binds the given parameters."""

    def __init__(self, hook: Any, parameters: tuple[Any, ...]) -> None:
        self.hook = hook
        self.parameters = parameters

    def get_first(self, sql: str) -> Any:
        return self.hook.get_first(sql, parameters=self.parameters)
