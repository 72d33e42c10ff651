"""
### Data quality

Hourly checks of the warehouse behind `warehouse_default` (Redshift in production,
PostgreSQL locally): per table freshness, volume, empty required columns, values out of
range and duplicate natural keys; for trips, unknown boards or customers, trips ending
before they start and durations that disagree with their times.

Thresholds live in `dags/config/data_quality.yaml`, not in code. Each check is a task of
its own: a failing check fails only its task and raises one alert in Elasticsearch with the
observed value and the threshold. Every result, passed or failed, is stored in
`platform.dq_results` for trend charts. A manual run can check another warehouse
connection (param `warehouse_conn_id`; the UI test points it at a database of its own).
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Param, TaskGroup
from hoverboard.dag_defaults import DEFAULT_ARGS
from hoverboard.operators.quality import DataQualityCheckOperator
from hoverboard.quality.checks import build_checks, load_config

config = load_config()

with DAG(
    dag_id="data_quality",
    doc_md=__doc__,
    schedule="@hourly",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["warehouse", "data-quality"],
    params={"warehouse_conn_id": Param("warehouse_default", type="string", minLength=1,
                                       description="Airflow connection of the warehouse")},
):
    for table in config["tables"]:
        with TaskGroup(group_id=table.split(".")[-1]):
            for check in build_checks(config):
                if check.table == table:
                    DataQualityCheckOperator(
                        task_id=check.name.split(".", 1)[1],
                        check_name=check.name,
                        table_name=check.table,
                        sql=check.sql,
                        parameter=check.parameter,
                        min_threshold=check.min_allowed,
                        max_threshold=check.max_allowed,
                        window_minutes=config["window_minutes"],
                        conn_id="{{ params.warehouse_conn_id }}",
                        doc_md=check.description,
                    )
