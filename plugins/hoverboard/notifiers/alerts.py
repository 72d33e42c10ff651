"""Notifier turning Airflow task failures and retries into alerts in Elasticsearch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseNotifier


class ElasticsearchAlertNotifier(BaseNotifier):
    """Write one alert document for the task instance in ``context``.

    Used by every platform DAG through ``hoverboard.dag_defaults.DEFAULT_ARGS``: a retry is
    a warning, a final failure an error. The task's own outcome never depends on it: if
    Elasticsearch is down the alert hook spools it locally and delivers it later. An
    exception carrying ``details`` (a dict, e.g. a data-quality check's observed value and
    threshold) has them copied into the alert.

    :param severity: ``warning``, ``error`` or ``critical``.
    :param action: the alert's ``event.action`` slug.
    :param message: templated; default "<dag>.<task> failed|will retry: <exception>".
    :param elasticsearch_conn_id: Airflow connection of Elasticsearch.
    """

    template_fields: Sequence[str] = ("message", "elasticsearch_conn_id")

    def __init__(self, *, severity: str = "error", action: str = "task_failed",
                 message: str | None = None,
                 elasticsearch_conn_id: str = "elasticsearch_default") -> None:
        super().__init__()
        self.severity = severity
        self.action = action
        self.message = message
        self.elasticsearch_conn_id = elasticsearch_conn_id

    def notify(self, context: Any) -> None:
        from alerts.document import Severity, alert_document
        from hoverboard.hooks.alerts import AlertHook

        ti = context["ti"]
        exception = context.get("exception")
        outcome = "will retry" if self.severity == "warning" else "failed"
        airflow_fields = {
            "dag_id": ti.dag_id, "task_id": ti.task_id, "run_id": ti.run_id,
            "map_index": ti.map_index, "try_number": ti.try_number,
            "max_tries": getattr(ti, "max_tries", None), "log_url": getattr(ti, "log_url", None),
        }
        doc = alert_document(
            component="airflow",
            action=self.action,
            message=self.message or f"{ti.dag_id}.{ti.task_id} {outcome}: {exception}",
            severity=Severity(self.severity),
            airflow=airflow_fields,
            error=exception,
            details=getattr(exception, "details", None),
            labels={"dag_id": ti.dag_id, "task_id": ti.task_id},
            # One alert per task try and kind, however often the callback runs.
            dedup_key=f"{ti.dag_id}/{ti.task_id}/{ti.run_id}/{ti.map_index}/{ti.try_number}/"
                      f"{self.action}/{self.severity}",
        )
        AlertHook(self.elasticsearch_conn_id).send(doc)
