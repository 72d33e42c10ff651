"""Training, evaluating and gating the failure model (``ml.train``) from Airflow.

The work is Spark's, not the worker's: the operator is the apache-spark provider's
``SparkSubmitOperator`` submitting ``ml/train.py`` to the ``spark_default`` master, with the
warehouse of ``warehouse_conn_id`` handed to the driver. The driver's output, the gate's
decision included, is the task's log; the decision is also in ``ml.models``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

from hoverboard.hooks.warehouse import WarehouseHook
from hoverboard.streaming.launcher import CODE_ROOT
from runtime.settings import WAREHOUSE_CONN_ENV

#: The driver's program: code, beside the sink's (``launcher.CODE_ROOT``).
TRAIN_APPLICATION = CODE_ROOT / "ml" / "train.py"


class FailureModelTrainingOperator(SparkSubmitOperator):
    """Train a candidate on the warehouse, evaluate it beside the threshold baseline and the
    promoted model on a time-based holdout, and promote it only if it beats both.

    :param holdout_fraction: the latest share of the event-time span held out (0-1).
    :param warehouse_conn_id: the warehouse to read and to record the model in.
    :param model_root: where models go (default ``s3a://$HOVER_BACKUP_BUCKET/ml/models``).
    """

    template_fields: Sequence[str] = (*SparkSubmitOperator.template_fields,
                                      "holdout_fraction", "warehouse_conn_id", "model_root")
    ui_color = "#e3ecfa"

    def __init__(self, *, holdout_fraction: float | str = 0.3,
                 warehouse_conn_id: str = "warehouse_default", model_root: str = "",
                 **kwargs: Any) -> None:
        kwargs.setdefault("conn_id", "spark_default")
        kwargs.setdefault("name", "failure_model_training")
        super().__init__(application=str(TRAIN_APPLICATION),
                         jars=os.environ.get("HOVER_SPARK_JARS") or None, **kwargs)
        self.holdout_fraction = holdout_fraction
        self.warehouse_conn_id = warehouse_conn_id
        self.model_root = model_root

    def execute(self, context: Any) -> None:
        paths = [str(CODE_ROOT), *(p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
                                   if p)]
        self._env_vars = {  # the driver's environment, on top of the worker's
            **(self._env_vars or {}),
            # the driver reads the warehouse from the platform's one setting
            # (runtime.settings), here the connection this task was given
            WAREHOUSE_CONN_ENV: WarehouseHook(self.warehouse_conn_id).uri,
            "PYTHONPATH": os.pathsep.join(dict.fromkeys(paths)),
            "PYSPARK_PYTHON": os.environ.get("PYSPARK_PYTHON", sys.executable),
            "PYSPARK_DRIVER_PYTHON": os.environ.get("PYSPARK_DRIVER_PYTHON", sys.executable),
        }
        self._application_args = ["--holdout-fraction", str(self.holdout_fraction),
                                  *(["--model-root", self.model_root] if self.model_root else [])]
        return super().execute(context)
