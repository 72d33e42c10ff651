"""Operators supervising and controlling the Spark streaming jobs (``hoverboard.streaming``).

Airflow does not run a streaming job (it never ends, and ``SparkSubmitOperator`` would
block on it): it starts each one detached and checks it periodically. These operators are
thin: they read their arguments, hand them to ``StreamingSupervisor``, and log and return
the status table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator

ACTIONS = ("start", "stop", "restart", "status")


def _airflow_fields(context: Any) -> dict[str, Any]:
    ti = context["ti"]
    return {"dag_id": ti.dag_id, "task_id": ti.task_id, "run_id": ti.run_id,
            "map_index": ti.map_index, "try_number": ti.try_number,
            "max_tries": getattr(ti, "max_tries", None), "log_url": getattr(ti, "log_url", None)}


class _StreamingOperator(BaseOperator):
    template_fields: Sequence[str] = ("jobs", "warehouse_conn_id", "kafka_config_id",
                                      "spark_conn_id", "elasticsearch_conn_id")
    ui_color = "#fde9d9"

    def __init__(self, *, jobs: str | None = None, warehouse_conn_id: str = "warehouse_default",
                 kafka_config_id: str = "kafka_default", spark_conn_id: str = "spark_default",
                 elasticsearch_conn_id: str = "elasticsearch_default",
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.jobs = jobs
        self.warehouse_conn_id = warehouse_conn_id
        self.kafka_config_id = kafka_config_id
        self.spark_conn_id = spark_conn_id
        self.elasticsearch_conn_id = elasticsearch_conn_id

    def _supervisor(self, context: Any, policy: Any = None) -> Any:
        from hoverboard.streaming.supervisor import StreamingSupervisor

        return StreamingSupervisor(
            policy=policy, jobs=self.jobs or None, warehouse_conn_id=self.warehouse_conn_id,
            kafka_config_id=self.kafka_config_id, spark_conn_id=self.spark_conn_id,
            elasticsearch_conn_id=self.elasticsearch_conn_id,
            airflow_fields=_airflow_fields(context))

    def _report(self, statuses: Sequence[Any]) -> list[dict[str, Any]]:
        from hoverboard.streaming.supervisor import format_table

        rows = [s.row() for s in statuses]
        self.log.info("streaming jobs:\n%s", format_table(rows))
        return rows


class StreamingSupervisorOperator(_StreamingOperator):
    """One supervision round over every streaming job: (re)start what is not running or
    stalled, alert on lag, crash loops and every (re)start. Returns one status row per job
    (XCom) and logs them as a table; fails (after supervising the others) if a job could
    not be supervised or is stuck (a crash loop, or restarted for the same reason round
    after round), logging for each stuck job why and the tail of its driver log.

    :param jobs: glob of the sink configs to supervise; empty: ``HOVER_STREAMING_JOBS`` or
        one per declared message type.
    :param stall_after_s: a running job with lag and no batch for this long is restarted.
    :param lag_alert_threshold: alert when more records than this wait in Kafka for a job.
    :param max_failed_starts: starts in a row without progress that make a crash loop
        (one alert; then retried with a back-off).
    :param max_same_reason: restarts for the same reason in consecutive rounds that make a
        job stuck (the task fails; the job is still restarted).
    :param retry_after_s: first retry of a crash-looping job, after its last start.
    :param retry_max_s: the back-off doubles up to this.
    :param warehouse_conn_id: the warehouse (progress of the sinks, job events).
    :param kafka_config_id: the Kafka cluster the jobs read.
    :param spark_conn_id: the Spark connection the jobs are submitted with.
    :param elasticsearch_conn_id: where alerts go.
    """

    template_fields: Sequence[str] = (*_StreamingOperator.template_fields, "stall_after_s",
                                      "lag_alert_threshold", "max_failed_starts",
                                      "max_same_reason", "retry_after_s", "retry_max_s")

    def __init__(self, *, stall_after_s: float | str = 600,
                 lag_alert_threshold: int | str = 10_000, max_failed_starts: int | str = 3,
                 max_same_reason: int | str = 3, retry_after_s: float | str = 300,
                 retry_max_s: float | str = 1800, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stall_after_s = stall_after_s
        self.lag_alert_threshold = lag_alert_threshold
        self.max_failed_starts = max_failed_starts
        self.max_same_reason = max_same_reason
        self.retry_after_s = retry_after_s
        self.retry_max_s = retry_max_s

    def execute(self, context: Any) -> list[dict[str, Any]]:
        from airflow.sdk.exceptions import AirflowFailException

        from hoverboard.streaming.policy import Policy
        from hoverboard.streaming.supervisor import SupervisionError

        # Rendered from params: strings unless the DAG renders native objects.
        policy = Policy(stall_after_s=float(self.stall_after_s),
                        lag_alert_threshold=int(self.lag_alert_threshold),
                        max_failed_starts=int(self.max_failed_starts),
                        max_same_reason=int(self.max_same_reason),
                        retry_after_s=float(self.retry_after_s),
                        retry_max_s=float(self.retry_max_s))
        supervisor = self._supervisor(context, policy)
        try:
            statuses = supervisor.supervise()
        finally:
            supervisor.close()
        rows = self._report(statuses)
        for status in statuses:
            if status.stuck:
                self.log.error("%s", status.stuck_report())
        try:
            supervisor.raise_for_errors(statuses)
        except SupervisionError as exc:
            if not any(s.error for s in statuses):
                # Only stuck jobs: a retry in a minute would find them stuck all the same,
                # and add a retry alert to the failure's.
                raise AirflowFailException(str(exc)) from exc
            raise
        return rows


class StreamingJobControlOperator(_StreamingOperator):
    """Start, stop, restart or show one streaming job by hand. A job stopped here stays
    stopped (the supervisor leaves it alone) until it is started here again; a start here
    ignores the crash-loop limit. Returns the job's status row.

    :param job: the job's name (its sink's ``query_name``).
    :param action: ``start``, ``stop``, ``restart`` or ``status``.
    :param jobs: glob of the sink configs (see ``StreamingSupervisorOperator``).
    :param warehouse_conn_id: the warehouse.
    :param kafka_config_id: the Kafka cluster.
    :param spark_conn_id: the Spark connection.
    :param elasticsearch_conn_id: where alerts go.
    """

    template_fields: Sequence[str] = (*_StreamingOperator.template_fields, "job", "action")

    def __init__(self, *, job: str, action: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.job = job
        self.action = action

    def execute(self, context: Any) -> dict[str, Any]:
        if self.action not in ACTIONS:
            raise ValueError(f"action {self.action!r} is not one of {ACTIONS}")
        supervisor = self._supervisor(context)
        try:
            status = getattr(supervisor, self.action)(self.job)
        finally:
            supervisor.close()
        [row] = self._report([status])
        return row
