"""A Spark standalone cluster on this machine: a master and two workers, each its own JVM,
from the pinned pyspark's own jars (``bin/spark-class``), no other download.

Started on demand only (``bin/stack up spark_master`` brings both workers along): plain
``bin/stack up`` leaves it off, since the jobs run on ``local[2]`` and two idle worker JVMs
would cost every CI run. A job uses it when ``HOVER_SPARK_MASTER`` (or the ``spark_default``
connection's host) is the master's URL, ``spark://127.0.0.1:<HOVER_SPARK_MASTER_PORT>``; the
executors then need the jobs' Python as an archive (``bin/package-jobs``, ``spark.archives``).
Each worker offers one core and 1 GiB, the memory of one default executor.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path

from stack.config import StackConfig
from stack.java import find_java
from stack.secrets import Secrets
from stack.services.base import Launch, Service

WORKERS = 2
WORKER_CORES = 1
WORKER_MEMORY = "1g"
#: Heap of the master and worker daemons themselves (executors get WORKER_MEMORY).
DAEMON_MEMORY = "256m"
MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"


def worker_name(number: int) -> str:
    return f"spark_worker_{number}"


def spark_home() -> Path:
    """The pyspark installation: its ``bin/spark-class`` and ``jars/``."""
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def master_url(port: int) -> str:
    return f"spark://127.0.0.1:{port}"


def master_argv(home: Path, port: int, ui_port: int) -> list[str]:
    return [str(home / "bin" / "spark-class"), MASTER_CLASS,
            "--host", "127.0.0.1", "--port", str(port), "--webui-port", str(ui_port)]


def worker_argv(home: Path, master_port: int, port: int, ui_port: int, work_dir: Path) -> list[str]:
    return [str(home / "bin" / "spark-class"), WORKER_CLASS,
            "--host", "127.0.0.1", "--port", str(port), "--webui-port", str(ui_port),
            "--cores", str(WORKER_CORES), "--memory", WORKER_MEMORY,
            "--work-dir", str(work_dir), master_url(master_port)]


def alive_worker_ports(master_state: dict) -> set[int]:
    """Ports of the workers the master's ``/json/`` lists as alive (it keeps dead ones a while)."""
    return {w["port"] for w in master_state.get("workers", []) if w.get("state") == "ALIVE"}


class _SparkDaemon(Service):
    #: Started only when named (or brought along by a named service), never by a plain ``up``.
    on_demand = True
    stop_timeout = 20.0

    def _environment(self) -> dict[str, str]:
        java = Path(find_java(17, purpose="the Spark cluster")).resolve()
        env = {k: v for k, v in os.environ.items()
               # Executors must find the jobs' code in the archive they are sent, not in a
               # checkout this process happens to see.
               if k not in ("PYTHONPATH", "SPARK_HOME", "SPARK_CONF_DIR")}
        return env | {"JAVA_HOME": str(java.parents[1]), "SPARK_HOME": str(spark_home()),
                      "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_DAEMON_MEMORY": DAEMON_MEMORY,
                      # The daemons only schedule: start fast and small on two cores.
                      "SPARK_DAEMON_JAVA_OPTS": "-XX:+UseSerialGC -XX:TieredStopAtLevel=1"}

    def master_state(self) -> dict | None:
        url = f"http://127.0.0.1:{self.config.ports['spark_master_ui']}/json/"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return json.load(response)
        except (urllib.error.URLError, OSError, ValueError):
            return None


class SparkMaster(_SparkDaemon):
    name = "spark_master"
    port_keys = ("spark_master", "spark_master_ui")
    companions = tuple(worker_name(n) for n in range(1, WORKERS + 1))

    @property
    def url(self) -> str:
        return master_url(self.port)

    def launch(self) -> Launch:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        argv = master_argv(spark_home(), self.port, self.config.ports["spark_master_ui"])
        env = self._environment()
        # Its REST submission server would take port 6066 on every stack of the machine.
        env["SPARK_MASTER_OPTS"] = "-Dspark.master.rest.enabled=false"
        return Launch(argv=argv, env=env, cwd=self.data_dir)

    def is_ready(self) -> bool:
        state = self.master_state()
        return state is not None and state.get("status") == "ALIVE"

    def describe(self) -> str:
        return (f"{self.url} (UI http://127.0.0.1:{self.config.ports['spark_master_ui']}; "
                f"jobs use it with HOVER_SPARK_MASTER={self.url})")


class SparkWorker(_SparkDaemon):
    depends_on = ("spark_master",)

    def __init__(self, config: StackConfig, secrets: Secrets, number: int) -> None:
        super().__init__(config, secrets)
        self.number = number
        self.name = worker_name(number)
        self.port_keys = (self.name, f"{self.name}_ui")

    @property
    def work_dir(self) -> Path:
        """Where the executors of each application run (and unpack ``spark.archives``)."""
        return self.data_dir / "work"

    def launch(self) -> Launch:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        argv = worker_argv(spark_home(), self.config.ports["spark_master"], self.port,
                           self.config.ports[f"{self.name}_ui"], self.work_dir)
        env = self._environment()
        # An application's files are removed an hour after it ended (Spark keeps them 7 days).
        env["SPARK_WORKER_OPTS"] = ("-Dspark.worker.cleanup.enabled=true "
                                    "-Dspark.worker.cleanup.appDataTtl=3600")
        return Launch(argv=argv, env=env, cwd=self.data_dir)

    def is_ready(self) -> bool:
        """Registered with the master, which is what makes it get executors."""
        state = self.master_state()
        return state is not None and self.port in alive_worker_ports(state)

    def describe(self) -> str:
        return (f"127.0.0.1:{self.port}, {WORKER_CORES} core, {WORKER_MEMORY} "
                f"(UI http://127.0.0.1:{self.config.ports[f'{self.name}_ui']})")
