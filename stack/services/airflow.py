"""Airflow in the local stack: settings every Airflow process shares, and its four servers.

API server (UI, REST and execution API), scheduler (LocalExecutor), DAG processor and
triggerer run as separate processes on the stack's PostgreSQL (database ``airflow``), with
the platform's DAGs and plugins. Every Airflow process of the stack, the tests and the
command-line tools read the same settings from stack.env.

Airflow's log servers (scheduler and triggerer) would listen on every interface; all
processes share one machine and one log folder here, so they are not started.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from stack.config import REPO_ROOT, StackConfig
from stack.process import http_status
from stack.secrets import Secrets
from stack.services.base import Launch, Service

ADMIN_USER = "admin"


class AirflowRuntime:
    """Not a server: the configuration shared by every Airflow process."""

    name = "airflow"

    def __init__(self, config: StackConfig, secrets: Secrets | None = None) -> None:
        self.config = config
        self.secrets = secrets

    def fetch(self) -> None:
        """Airflow comes from requirements.txt: nothing to fetch."""

    @property
    def home(self) -> Path:
        return self.config.home / "airflow"

    def environment(self) -> dict[str, str]:
        api = f"http://127.0.0.1:{self.config.ports['airflow_api']}"
        values = {
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            # LocalExecutor keeps this many worker processes: 4 fit a 2-core machine.
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__DEFAULT_TIMEZONE": "utc",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api}/execution/",
            "AIRFLOW__API__BASE_URL": api,
            # One worker: the UI of one operator, not a fleet of them.
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.home / "passwords.json"),
            "HOVER_AIRFLOW_URL": api,
            # DAG files and plugins import the platform's packages (schemas, loader, ...).
            "PYTHONPATH": f"{REPO_ROOT}:{REPO_ROOT / 'plugins'}",
        }
        if self.secrets is not None:
            values.update({
                "AIRFLOW__API_AUTH__JWT_SECRET": self.secrets.airflow_jwt_secret,
                "AIRFLOW__API__SECRET_KEY": self.secrets.airflow_api_secret_key,
                "HOVER_AIRFLOW_USER": ADMIN_USER,
                "HOVER_AIRFLOW_PASSWORD": self.secrets.airflow_admin_password,
            })
        return values


def _airflow() -> str:
    return str(Path(sys.executable).with_name("airflow"))


class _AirflowProcess(Service):
    #: The orchestrator passes the stack's whole generated environment to these.
    wants_stack_environment = True
    component = ""  # the key of this component in /api/v2/monitor/health

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.config.ports['airflow_api']}"

    def launch(self) -> Launch:
        return Launch(argv=self.argv(), env=dict(os.environ), cwd=REPO_ROOT)

    def argv(self) -> list[str]:
        raise NotImplementedError

    def is_ready(self) -> bool:
        try:
            import urllib.request

            with urllib.request.urlopen(f"{self.api_url}/api/v2/monitor/health",
                                        timeout=2) as response:
                health = json.load(response)
        except Exception:  # noqa: BLE001 - not yet
            return False
        return health.get(self.component, {}).get("status") == "healthy"


class AirflowApiServer(_AirflowProcess):
    name = "airflow_api"
    port_keys = ("airflow_api",)
    depends_on = ("postgres",)
    component = "metadatabase"
    ready_timeout = 240.0

    def prepare(self) -> None:
        home = AirflowRuntime(self.config).home
        home.mkdir(parents=True, exist_ok=True)
        passwords = home / "passwords.json"
        fd = os.open(passwords, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({ADMIN_USER: self.secrets.airflow_admin_password}, fh)

    def argv(self) -> list[str]:
        # The metadata schema is brought up to date first (a no-op when it is), then the
        # shell is replaced by the API server, so the recorded pid is the server's.
        return ["/bin/sh", "-c", f'"{_airflow()}" db migrate && exec "{_airflow()}" api-server '
                f"--host 127.0.0.1 --port {self.port}"]

    def is_ready(self) -> bool:
        return http_status(f"{self.api_url}/api/v2/monitor/health") == 200 and super().is_ready()

    def describe(self) -> str:
        return f"{self.api_url} (user {ADMIN_USER}, password in stack.env HOVER_AIRFLOW_PASSWORD)"


class AirflowScheduler(_AirflowProcess):
    name = "airflow_scheduler"
    port_keys = ()
    depends_on = ("airflow_api",)
    component = "scheduler"
    ready_timeout = 120.0

    def argv(self) -> list[str]:
        return [_airflow(), "scheduler", "--skip-serve-logs"]

    def describe(self) -> str:
        return "LocalExecutor"


class AirflowDagProcessor(_AirflowProcess):
    name = "airflow_dag_processor"
    port_keys = ()
    depends_on = ("airflow_api",)
    component = "dag_processor"
    ready_timeout = 120.0

    def argv(self) -> list[str]:
        return [_airflow(), "dag-processor"]

    def describe(self) -> str:
        return str(REPO_ROOT / "dags")


class AirflowTriggerer(_AirflowProcess):
    name = "airflow_triggerer"
    port_keys = ()
    depends_on = ("airflow_api",)
    component = "triggerer"
    ready_timeout = 120.0

    def argv(self) -> list[str]:
        return [_airflow(), "triggerer", "--skip-serve-logs"]

    def describe(self) -> str:
        return "deferred tasks"
