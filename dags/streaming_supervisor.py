"""
### Streaming supervisor

Keeps the Spark Structured Streaming sinks (one job per declared message type,
`schemas/<type>/type.yaml`) running.
Airflow does not run them (they never end): it starts each one as a detached `spark-submit`
and checks every job every 5 minutes:

* **not running** → started again (alert `job_restarted`);
* **stalled** (records waiting in Kafka, no batch for `stall_after_s`) → stopped and
  started again (alert `job_restarted`);
* **lag** above `lag_alert_threshold` records → alert `job_lag`, with the lag per partition;
* `max_failed_starts` starts in a row without progress (no batch before the next start) →
  crash loop: one alert `job_crash_loop`, then retried after `retry_after_s`, doubling up
  to `retry_max_s`; start it by hand (DAG `streaming_control`) once fixed;
* a crash loop, or restarts for the same reason `max_same_reason` rounds in a row → the
  task **fails** (red), its log naming the job, the reason and its driver log's last lines.

The task's log and XCom hold the status table: per job its state, pid, last batch, lag
and what was done. Jobs stopped with `streaming_control` stay stopped.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, Param
from hoverboard.dag_defaults import DEFAULT_ARGS
from hoverboard.operators.streaming import StreamingSupervisorOperator
from hoverboard.streaming.policy import Policy

with DAG(
    dag_id="streaming_supervisor",
    doc_md=__doc__,
    schedule=timedelta(minutes=5),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={**DEFAULT_ARGS, "retries": 1, "execution_timeout": timedelta(minutes=4)},
    tags=["streaming", "spark"],
    params={
        "jobs": Param("", type="string",
                      description="glob of sink configs; empty: one per declared type"),
        "stall_after_s": Param(int(Policy.stall_after_s), type="integer", minimum=1,
                               description="lag and no batch for this long: restart"),
        "lag_alert_threshold": Param(int(Policy.lag_alert_threshold), type="integer", minimum=0,
                                     description="alert above this many waiting records"),
        "max_failed_starts": Param(int(Policy.max_failed_starts), type="integer", minimum=1,
                                   description="starts in a row without progress: crash loop"),
        "max_same_reason": Param(int(Policy.max_same_reason), type="integer", minimum=1,
                                 description="restarts for one reason in a row: task fails"),
        "retry_after_s": Param(int(Policy.retry_after_s), type="integer", minimum=1,
                               description="crash loop: first retry after its last start"),
        "retry_max_s": Param(int(Policy.retry_max_s), type="integer", minimum=1,
                             description="crash loop: the doubling back-off's ceiling"),
    },
):
    StreamingSupervisorOperator(
        task_id="supervise",
        jobs="{{ params.jobs }}",
        stall_after_s="{{ params.stall_after_s }}",
        lag_alert_threshold="{{ params.lag_alert_threshold }}",
        max_failed_starts="{{ params.max_failed_starts }}",
        max_same_reason="{{ params.max_same_reason }}",
        retry_after_s="{{ params.retry_after_s }}",
        retry_max_s="{{ params.retry_max_s }}",
    )
