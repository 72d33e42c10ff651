"""Airflow's settings for the local stack: home, DAG and plugin folders, metadata database.

Every Airflow process of the stack, the tests and the command-line tools read these from
stack.env, so they all see the same DAGs, plugins and metadata database.
"""

from __future__ import annotations

from stack.config import REPO_ROOT, StackConfig


class AirflowRuntime:
    name = "airflow"

    def __init__(self, config: StackConfig) -> None:
        self.config = config

    def fetch(self) -> None:
        """Airflow comes from requirements.txt: nothing to fetch."""

    def environment(self) -> dict[str, str]:
        return {
            "AIRFLOW_HOME": str(self.config.home / "airflow"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__DEFAULT_TIMEZONE": "utc",
            # DAG files and plugins import the platform's packages (schemas, ...).
            "PYTHONPATH": f"{REPO_ROOT}:{REPO_ROOT / 'plugins'}",
        }
