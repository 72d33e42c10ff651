"""Starting, probing and stopping a streaming job's driver, detached from the Airflow task.

``SparkSubmitOperator`` (and ``SparkSubmitHook.submit()`` under it) waits for spark-submit
to end, which a streaming job never does, and Spark standalone cannot run a Python driver in
cluster mode. So the job's ``spark-submit`` is started here as a process of its own: a new
session (its own process group, untouched when the Airflow task ends or is killed), stdin
from ``/dev/null``, output appended to ``<jobs dir>/<job>.log``; its pid and kernel start
time go to ``<jobs dir>/<job>.pid`` (``runtime.processes.PidRecord``), so a recycled pid is never
mistaken for the job, nor signalled. The jobs dir is ``HOVER_SPARK_JOBS_DIR``, by default
``$HOVER_STACK_HOME/spark/jobs``.

Extension point, a cluster manager (YARN, Kubernetes, a standalone cluster running JVM
drivers): implement :class:`JobLauncher` with the same four methods. ``start`` submits in
cluster mode (spark-submit returns once the application is accepted; for YARN with
``spark.yarn.submit.waitAppCompletion=false``) and returns a :class:`JobHandle` whose ``pid``
is None and whose ``application_id`` is the cluster's id (YARN application id, driver pod,
standalone submission id); ``running`` asks the cluster manager (YARN RM REST, the
Kubernetes API, ``spark-submit --status``); ``stop`` kills through it (``yarn application
-kill``, deleting the driver pod, ``spark-submit --kill``). The supervisor only uses the
interface, and stores the handle's id in ``platform.stream_job_events``.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import spark
from hoverboard.streaming.registry import Job
from runtime.processes import PidRecord, rotate_log, spawn, stop, tail
from runtime.settings import WAREHOUSE_CONN_ENV, env_int
from spark.package import submit_conf

log = logging.getLogger(__name__)

#: The driver's program: code, not an asset, so it is where the ``spark`` package is
#: installed; the folder holding the platform's packages goes on the driver's PYTHONPATH.
SINK_APPLICATION = Path(spark.__file__).resolve().parent / "sink_job.py"
CODE_ROOT = SINK_APPLICATION.parents[1]
JOBS_DIR_ENV = "HOVER_SPARK_JOBS_DIR"
#: ``bin/package-jobs``' archive (a path on this machine or a URL Spark fetches: hdfs://,
#: s3a://, https://) for the executors of a cluster, which see nothing of this checkout.
ARCHIVE_ENV = "HOVER_SPARK_ARCHIVE"

#: The variables of the worker's environment a driver gets (a trailing ``*``: a prefix):
#: what the sink reads (Kafka, the warehouse engine's settings, Redshift staging, registry,
#: alerts, Spark, the platform's assets, the stack's home for the alert spool), and what
#: Java, Python and boto3 (Redshift staging, through a role, never keys) need to run, CA
#: bundles included. Nothing else: the worker also holds Airflow's metadata DSN and
#: password, the ingest API keys and S3 keys, which a driver does not use. The warehouse
#: connection is not taken from here: the supervisor hands the driver its own
#: (``start(job, warehouse=...)``).
DRIVER_ENVIRONMENT = (
    "HOVER_KAFKA_*", "HOVER_WAREHOUSE_*", "HOVER_REDSHIFT_*", "HOVER_SCHEMA_REGISTRY_URL",
    "HOVER_ELASTICSEARCH_URL", "HOVER_ALERT_*", "HOVER_SPARK_*", "HOVER_HOME", "HOVER_STACK_HOME",
    "HOVER_CACHE_DIR", "SPARK_*", "PYSPARK_*", "JAVA_HOME", "JAVA_TOOL_OPTIONS",
    "HADOOP_CONF_DIR", "PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "LC_*", "TZ",
    "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV", "XDG_CACHE_HOME", "AWS_REGION",
    "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ENDPOINT_URL_S3", "AWS_CA_BUNDLE", "SSL_CERT_FILE",
    "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE",
)


def driver_allowed(name: str) -> bool:
    return any(name.startswith(entry[:-1]) if entry.endswith("*") else name == entry
               for entry in DRIVER_ENVIRONMENT)


def archive_conf() -> dict[str, str]:
    """The Spark settings that ship :data:`ARCHIVE_ENV`'s archive to the executors and put
    its packages on their path (``spark.package.submit_conf``); none when it is unset
    (``local[N]``: the executors are the driver's JVM and see the checkout)."""
    archive = os.environ.get(ARCHIVE_ENV, "").strip()
    if not archive:
        return {}
    if "://" not in archive:
        # spark-submit runs in the jobs dir: a relative path would name another file there.
        path = Path(archive)
        if not path.is_absolute() or not path.is_file():
            raise ValueError(f"{ARCHIVE_ENV}={archive!r} is not an absolute path of an "
                             "existing file: run bin/package-jobs and give the archive's "
                             "full path (or a URL the cluster can fetch)")
    return submit_conf(archive)


LOG_MAX_BYTES_ENV = "HOVER_SPARK_JOB_LOG_MAX_BYTES"
LOG_BACKUPS_ENV = "HOVER_SPARK_JOB_LOG_BACKUPS"


def default_jobs_dir() -> Path:
    if os.environ.get(JOBS_DIR_ENV):
        return Path(os.environ[JOBS_DIR_ENV])
    if os.environ.get("HOVER_STACK_HOME"):
        return Path(os.environ["HOVER_STACK_HOME"]) / "spark" / "jobs"
    return Path.home() / ".cache" / "hoverboard-platform" / "spark-jobs"


def _boot_time() -> float:
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    raise RuntimeError("no btime in /proc/stat")


@dataclass(frozen=True)
class JobHandle:
    """A started job: a local process (pid + kernel start time) or, for a cluster manager,
    the cluster's application id."""

    job: str
    pid: int | None
    start_ticks: int | None
    started_at: datetime
    log_file: Path | None = None
    application_id: str | None = None

    def as_detail(self) -> dict[str, object]:
        return {"pid": self.pid, "start_ticks": self.start_ticks,
                "started_at": self.started_at.isoformat(), "application_id": self.application_id,
                "log_file": str(self.log_file) if self.log_file else None}


class JobLauncher(Protocol):
    def start(self, job: Job, *, warehouse: str) -> JobHandle:
        """Start ``job`` writing to ``warehouse`` (the Airflow connection URI the supervisor
        reads its progress through: the jobs write where their progress is read)."""
        ...

    def running(self, job: Job) -> JobHandle | None: ...

    def stop(self, job: Job) -> JobHandle | None: ...

    def log_tail(self, job: Job, lines: int = 30) -> str: ...

    def rotate_log(self, job: Job) -> bool:
        """Keep the job's driver log bounded; a cluster launcher has nothing to do (the
        cluster manager keeps the driver's logs)."""
        ...


class LocalProcessLauncher:
    """Runs each job's spark-submit as a detached process on this machine (the Airflow
    worker): the local stack's way (``local[N]`` master), and a small deployment's.

    :param spark_conn_id: Airflow connection of Spark (its host is the master, e.g.
        ``local[2]``; extras as the apache-spark provider reads them).
    :param jobs_dir: where pid and log files live (default: see :func:`default_jobs_dir`).
    :param stop_timeout_s: how long a stopped job gets to end after SIGTERM before SIGKILL.
    :param log_max_bytes: a job's log is rotated past this size, at its start and at each
        supervisor round (default ``HOVER_SPARK_JOB_LOG_MAX_BYTES``, else 64 MiB).
    :param log_backups: rotated copies kept, ``<job>.log.1`` the newest (default
        ``HOVER_SPARK_JOB_LOG_BACKUPS``, else 4).
    """

    def __init__(self, *, spark_conn_id: str = "spark_default", jobs_dir: Path | None = None,
                 stop_timeout_s: float = 30.0, log_max_bytes: int | None = None,
                 log_backups: int | None = None) -> None:
        self.spark_conn_id = spark_conn_id
        self.jobs_dir = Path(jobs_dir) if jobs_dir else default_jobs_dir()
        self.stop_timeout_s = stop_timeout_s
        self.log_max_bytes = log_max_bytes if log_max_bytes is not None else \
            env_int(LOG_MAX_BYTES_ENV, 64 * 2**20, minimum=1)
        self.log_backups = log_backups if log_backups is not None else \
            env_int(LOG_BACKUPS_ENV, 4, minimum=0)

    # -- files -----------------------------------------------------------------------------
    def pid_file(self, job: Job) -> Path:
        return self.jobs_dir / f"{job.name}.pid"

    def log_file(self, job: Job) -> Path:
        return self.jobs_dir / f"{job.name}.log"

    @contextmanager
    def _locked(self, job: Job) -> Iterator[None]:
        """One start or stop of a job at a time on this machine (supervisor vs. control)."""
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        with open(self.jobs_dir / f"{job.name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    # -- the command -----------------------------------------------------------------------
    def command(self, job: Job) -> list[str]:
        """The spark-submit argv, as the apache-spark provider builds it from the connection.

        ``SparkSubmitHook._build_spark_submit_command`` is the provider's own translation of
        a Spark connection (master, deploy mode, queue, keytab, spark-binary) into argv; we
        use it rather than ``submit()``, because ``submit()`` runs spark-submit and blocks
        until the application ends, which a streaming job never does.
        """
        from airflow.providers.apache.spark.hooks.spark_submit import SparkSubmitHook

        hook = SparkSubmitHook(
            conn_id=self.spark_conn_id,
            jars=os.environ.get("HOVER_SPARK_JARS") or None,
            # The driver's own jars (s3a for checkpoints in S3), not shipped to executors.
            driver_class_path=os.environ.get("HOVER_SPARK_DRIVER_CLASSPATH") or None,
            # On a cluster the executors get the jobs' code as the packaged archive.
            conf=archive_conf() or None,
            name=job.name,
            application_args=["--config", str(job.config_path), "--type", job.message_type],
        )
        if hook._connection["deploy_mode"] == "cluster":
            raise ValueError(
                f"connection {self.spark_conn_id!r} asks for deploy mode 'cluster': this "
                "launcher runs the driver on this machine (client mode); a cluster manager "
                "needs a cluster launcher (see hoverboard.streaming.launcher)")
        argv = hook._build_spark_submit_command(str(CODE_ROOT / job.application))
        # The binary is looked up on PATH; an Airflow worker started without the virtual
        # environment on PATH still finds the one installed beside its Python (pyspark's).
        if shutil.which(argv[0]) is None:
            beside = Path(sys.executable).with_name(argv[0])
            if beside.exists():
                argv[0] = str(beside)
        return argv

    @staticmethod
    def environment(warehouse: str, extra: tuple[str, ...] = ()) -> dict[str, str]:
        """The part of the worker's environment a driver needs (:data:`DRIVER_ENVIRONMENT`:
        the stack's or the deployment's settings of Kafka, registry, alerts, Spark,
        checkpoints), so Airflow's configuration and the platform's other secrets never
        reach it; the variables ``extra`` the job's config names (``environment``: the
        failure-detection job reads its model from the local S3 with its keys); and the
        warehouse connection ``warehouse``, under the one name the jobs read it from
        (``runtime.settings.WAREHOUSE_CONN_ENV``)."""
        env = {k: v for k, v in os.environ.items() if driver_allowed(k) or k in extra}
        env[WAREHOUSE_CONN_ENV] = warehouse
        # The master is the connection's (spark-submit --master); the job would otherwise
        # override it with HOVER_SPARK_MASTER.
        env.pop("HOVER_SPARK_MASTER", None)
        paths = [str(CODE_ROOT), *(p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p)]
        env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
        # spark-submit runs a Python driver with "python3" from PATH unless told otherwise.
        env.setdefault("PYSPARK_PYTHON", sys.executable)
        env.setdefault("PYSPARK_DRIVER_PYTHON", env["PYSPARK_PYTHON"])
        return env

    # -- the interface ---------------------------------------------------------------------
    def _handle(self, job: Job, record: PidRecord) -> JobHandle:
        ticks_per_s = os.sysconf("SC_CLK_TCK")
        started = datetime.fromtimestamp(_boot_time() + record.start_ticks / ticks_per_s, UTC)
        return JobHandle(job.name, record.pid, record.start_ticks, started, self.log_file(job))

    def running(self, job: Job) -> JobHandle | None:
        """The job's handle if its recorded process is alive (a stopped, SIGSTOPped process
        counts as alive: that is a stall, which the lag shows), else None."""
        record = PidRecord.read(self.pid_file(job))
        if record is None or not record.alive():
            return None
        return self._handle(job, record)

    def start(self, job: Job, *, warehouse: str) -> JobHandle:
        """Start the job unless it already runs; returns its handle either way."""
        with self._locked(job):
            current = self.running(job)
            if current is not None:
                return current
            argv = self.command(job)
            log_file = self.log_file(job)
            log_file.parent.mkdir(parents=True, exist_ok=True)
            self._rotate(job)
            with log_file.open("a") as fh:
                fh.write(f"\n--- {datetime.now(UTC).isoformat()} starting: {' '.join(argv)}\n")
            try:
                record = spawn(argv, log_file=log_file, pid_file=self.pid_file(job),
                               env=self.environment(warehouse, job.environment),
                               cwd=self.jobs_dir)
            except OSError as exc:
                raise RuntimeError(f"{job.name}: spark-submit did not start ({exc}); "
                                   f"see {log_file}:\n{tail(log_file)}") from exc
            log.info("%s started: pid %d, log %s", job.name, record.pid, log_file)
            return self._handle(job, record)

    def stop(self, job: Job) -> JobHandle | None:
        """SIGTERM to the job's process group (with SIGCONT, so a paused job gets it too),
        SIGKILL after ``stop_timeout_s``. Returns the stopped handle, None if not running."""
        with self._locked(job):
            record = PidRecord.read(self.pid_file(job))
            if record is None or not record.alive():
                return None
            handle = self._handle(job, record)
            # spawn() made the driver a session leader: signal its whole group (the JVM).
            stop(record, sig=signal.SIGTERM, timeout=self.stop_timeout_s, group=True)
            return handle

    def log_tail(self, job: Job, lines: int = 30) -> str:
        return tail(self.log_file(job), lines)

    def rotate_log(self, job: Job) -> bool:
        """Rotate the job's log if it grew past ``log_max_bytes`` (the job keeps running and
        writing to it)."""
        with self._locked(job):
            return self._rotate(job)

    def _rotate(self, job: Job) -> bool:
        rotated = rotate_log(self.log_file(job), max_bytes=self.log_max_bytes,
                             backups=self.log_backups)
        if rotated:
            log.info("%s: log rotated (over %d bytes; %d older copies kept)", job.name,
                     self.log_max_bytes, self.log_backups)
        return rotated

