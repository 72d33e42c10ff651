"""The production launcher: sink drivers in cluster deploy mode on Kubernetes.

Behind the same interface as ``launcher.LocalProcessLauncher`` (``JobLauncher``), for a
supervisor whose drivers must not run on the Airflow worker. The spark-submit command is
built by the Spark provider's ``SparkSubmitHook`` from the Airflow connection (master
``k8s://https://<api server>``, extra ``deploy-mode: cluster`` and ``namespace``); this
class adds what a long-running sink needs:

* spark-submit returns once the driver pod is created
  (``spark.kubernetes.submission.waitAppCompletion=false``): a streaming job never ends;
* the driver pod gets a fixed name per job, ``<namespace>:hoverboard-<job>-driver``: the
  application id the supervisor records (job events' ``application_id``) and tracks it by
  (``spark-submit --status``/``--kill`` take it);
* the job's code and configuration come from the image (``local://``), its secrets from a
  Kubernetes secret (``secretKeyRef``), never from the command line. Executors run the same
  image, code included, so ``HOVER_SPARK_ARCHIVE`` (``launcher.archive_conf``, the packaged
  code for executors that lack it) is not shipped from here.

The README's production table lists the settings.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime

from hoverboard.streaming.launcher import JobHandle
from hoverboard.streaming.registry import Job

#: Where the image has the repository (deploy/docker/Dockerfile).
IMAGE_ROOT = "/opt/hoverboard"
#: Driver environment variables read from the Kubernetes secret (key = variable name).
SECRET_VARIABLES = ("AIRFLOW_CONN_WAREHOUSE_DEFAULT", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
#: What ``spark-submit --status`` prints for a driver that is (about to be) running.
LIVE_PHASES = ("Pending", "Running")


@dataclass
class KubernetesClusterLauncher:
    """:param spark_conn_id: a Spark connection with a ``k8s://`` master and deploy mode
        ``cluster``.
    :param image: the platform image the driver and executors run.
    :param secret: the Kubernetes secret holding :data:`SECRET_VARIABLES`.
    :param service_account: the driver's service account (it creates executor pods).
    :param conf: further Spark settings (executor count, memory, checkpoints ...).
    """

    spark_conn_id: str
    image: str
    secret: str
    service_account: str = "spark"
    conf: dict[str, str] = field(default_factory=dict)
    runner: object = field(default=subprocess.run, repr=False)

    def _hook(self, job: Job | None = None, **kwargs):
        from airflow.providers.apache.spark.hooks.spark_submit import SparkSubmitHook

        conf = None
        if job is not None:
            conf = {
                "spark.kubernetes.container.image": self.image,
                "spark.kubernetes.authenticate.driver.serviceAccountName":
                    self.service_account,
                "spark.kubernetes.driver.pod.name": driver_pod(job),
                "spark.kubernetes.submission.waitAppCompletion": "false",
                "spark.kubernetes.driver.label.hoverboard-job": job.name,
                **{f"spark.kubernetes.driver.secretKeyRef.{v}": f"{self.secret}:{v}"
                   for v in SECRET_VARIABLES},
                **{f"spark.kubernetes.executor.secretKeyRef.{v}": f"{self.secret}:{v}"
                   for v in SECRET_VARIABLES},
                **self.conf,
            }
            kwargs |= {"name": job.name,
                       "application_args": ["--config", image_path(job),
                                            "--type", job.message_type]}
        hook = SparkSubmitHook(conn_id=self.spark_conn_id, conf=conf, **kwargs)
        connection = hook._connection
        if not connection["master"].startswith("k8s://") or \
                connection["deploy_mode"] != "cluster":
            raise ValueError(
                f"connection {self.spark_conn_id!r} must have a k8s:// master and deploy mode "
                f"'cluster' (extra {{\"deploy-mode\": \"cluster\", \"namespace\": ...}}), not "
                f"{connection['master']!r} in {connection['deploy_mode']!r} mode")
        if not connection["namespace"]:
            raise ValueError(f"connection {self.spark_conn_id!r} needs a namespace (extra)")
        return hook

    def application_id(self, job: Job) -> str:
        return f"{self._hook()._connection['namespace']}:{driver_pod(job)}"

    def command(self, job: Job) -> list[str]:
        """The spark-submit argv, as the provider's hook builds it from the connection."""
        return self._hook(job)._build_spark_submit_command(
            f"local://{IMAGE_ROOT}/{job.application}")

    def _control(self, flag: str, job: Job) -> list[str]:
        hook = self._hook()
        return [*hook._get_spark_binary_path(), "--master", hook._connection["master"],
                flag, self.application_id(job)]

    def start(self, job: Job, *, warehouse: str) -> JobHandle:
        # The driver reads the warehouse connection from the cluster's secret (never the
        # command line); the operator keeps it equal to the supervisor's warehouse_default.
        del warehouse
        result = self.runner(self.command(job), capture_output=True, text=True, timeout=300)
        if result.returncode != 0:
            raise RuntimeError(f"spark-submit of {job.name} failed ({result.returncode}): "
                               f"{result.stderr[-2000:]}")
        return JobHandle(job.name, None, None, datetime.now(UTC),
                         application_id=self.application_id(job))

    def running(self, job: Job) -> JobHandle | None:
        result = self.runner(self._control("--status", job), capture_output=True, text=True,
                             timeout=120)
        phase = re.search(r"phase:\s*(\w+)", result.stdout + result.stderr)
        if phase is None or phase.group(1) not in LIVE_PHASES:
            return None
        return JobHandle(job.name, None, None, datetime.now(UTC),
                         application_id=self.application_id(job))

    def stop(self, job: Job) -> JobHandle | None:
        handle = self.running(job)
        if handle is not None:
            self.runner(self._control("--kill", job), capture_output=True, text=True,
                        timeout=120)
        return handle

    def log_tail(self, job: Job, lines: int = 30) -> str:
        return f"(driver log in the cluster: kubectl logs {driver_pod(job)} --tail {lines})"

    def rotate_log(self, job: Job) -> bool:
        return False  # Kubernetes keeps the driver pod's log


def driver_pod(job: Job) -> str:
    """A DNS-1123 name for the job's driver pod (lower case, digits, '-')."""
    return f"hoverboard-{re.sub(r'[^a-z0-9-]+', '-', job.name.lower())}-driver"[:63]


def image_path(job: Job) -> str:
    """The job's configuration inside the image (the repository's spark/conf)."""
    return f"{IMAGE_ROOT}/spark/conf/{job.config_path.name}"
