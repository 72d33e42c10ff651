"""
### Alert probe (tests only)

A task that fails on purpose, with the platform's default_args, so the tests can check the
alert it produces. Loaded from tests/dags by the alerting tests, never by the platform.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, task
from hoverboard.dag_defaults import DEFAULT_ARGS

with DAG(
    dag_id="alert_probe",
    doc_md=__doc__,
    schedule=None,
    start_date=datetime(2026, 1, 1),
    default_args={**DEFAULT_ARGS, "retries": 0},
    tags=["tests"],
):

    @task
    def fail_on_purpose(params=None) -> None:
        raise RuntimeError(f"probe failure {params['token']}")

    fail_on_purpose()
