"""
### Failure model training

Trains the board-failure model (`ml/train.py`) on the warehouse behind `warehouse_default`:
features per board and 2-minute window from telemetry and trips, a `pyspark.ml` Pipeline
(assembler, scaler, random forest), evaluated on the latest 30 % of event time
against the simulator's ground truth (`ml.fault_labels`) beside a threshold rule.

The gate promotes the new model only if it beats the rule and the promoted model on the same
holdout; its decision is in this task's log and in `ml.models`. The scoring job
(`failure_detection`, supervised by `streaming_supervisor`) picks up a promoted model at
its next batch. Daily, and by hand (params `holdout_fraction`, `warehouse_conn_id`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, Param
from hoverboard.dag_defaults import DEFAULT_ARGS
from hoverboard.operators.ml import FailureModelTrainingOperator

with DAG(
    dag_id="failure_model_training",
    doc_md=__doc__,
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={**DEFAULT_ARGS, "retries": 1, "execution_timeout": timedelta(hours=2)},
    tags=["ml", "failure-detection"],
    params={
        "holdout_fraction": Param(0.3, type="number", exclusiveMinimum=0, exclusiveMaximum=1,
                                  description="latest share of event time held out"),
        "warehouse_conn_id": Param("warehouse_default", type="string", minLength=1,
                                   description="Airflow connection of the warehouse"),
    },
):
    FailureModelTrainingOperator(
        task_id="train_evaluate_gate",
        holdout_fraction="{{ params.holdout_fraction }}",
        warehouse_conn_id="{{ params.warehouse_conn_id }}",
    )
