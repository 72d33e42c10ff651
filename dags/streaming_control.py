"""
### Streaming control

Start, stop, restart or inspect one streaming job by hand (trigger with params `job`, the
sink's `query_name`, e.g. `trip_sink`, and `action`).

* **stop** stops the job, and the supervisor (`streaming_supervisor`) leaves it stopped;
* **start** starts it at once, even in a crash loop's back-off (the supervisor resumes
  watching it);
* **restart** stops and starts it; **status** only shows its state and lag.

Every start raises a `job_restarted` alert; the task's log and XCom hold the job's status.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, Param
from hoverboard.dag_defaults import DEFAULT_ARGS
from hoverboard.operators.streaming import ACTIONS, StreamingJobControlOperator

with DAG(
    dag_id="streaming_control",
    doc_md=__doc__,
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={**DEFAULT_ARGS, "retries": 1, "execution_timeout": timedelta(minutes=5)},
    tags=["streaming", "spark"],
    params={
        "job": Param("", type="string", minLength=1, description="the job's query_name"),
        "action": Param("status", type="string", enum=list(ACTIONS)),
        "jobs": Param("", type="string",
                      description="glob of sink configs; empty: one per declared type"),
    },
):
    StreamingJobControlOperator(
        task_id="control",
        job="{{ params.job }}",
        action="{{ params.action }}",
        jobs="{{ params.jobs }}",
    )
