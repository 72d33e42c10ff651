"""The sink on a Spark standalone cluster (the stack's ``spark_master`` and two workers, each
its own JVM), submitted as the supervisor submits it, its code shipped to the executors as
``bin/package-jobs``' archive: exactly once when a worker dies mid-batch and when the driver
dies and is restarted elsewhere, its checkpoint in the object store.

The cluster is started for this module only (a plain ``bin/stack up`` leaves it off) and
stopped after it. One driver run takes both kills: each start of a driver and its executors
costs tens of seconds on two cores.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from runtime.processes import PidRecord
from spark.package import build, submit_conf
from stack.process import wait_until
from tests.support import end_offsets, fetch, produce, telemetry, warehouse_connection

REPO = Path(__file__).resolve().parents[2]
CLUSTER = ("spark_master", "spark_worker_1", "spark_worker_2")
#: Few records in small batches: enough batches to land a kill in the middle of one.
RECORDS, PER_BATCH = 600, 60

pytestmark = pytest.mark.serial  # kills a worker of the cluster the module shares


@pytest.fixture(scope="module")
def started_here(stack):
    """Names of the cluster's services this module started (or restarted), stopped after."""
    names: set[str] = set()
    yield names
    if not names:  # a cluster that was running before: back to its two workers
        stack.up(CLUSTER, echo=lambda _: None)
    elif not os.environ.get("HOVER_KEEP_STACK"):
        stack.down(sorted(names), echo=lambda _: None)


@pytest.fixture
def cluster(stack, started_here):
    """The master's URL, every worker up (again: a test may have killed one)."""
    started_here.update(stack.up(CLUSTER, echo=lambda _: None))
    return stack.services["spark_master"].url


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    """The jobs' code as executors get it on a cluster: ``bin/package-jobs``."""
    return build(tmp_path_factory.mktemp("dist") / "hoverboard-jobs.tar.gz")


def submit(master: str, archive: Path, conf: Path, env: dict, log: Path, cwd: Path,
           *args: str) -> subprocess.Popen:
    """``spark-submit`` in client mode, as the supervisor runs a sink (its own process group:
    the driver's Python and its JVM die together)."""
    spark_submit = str(Path(sys.executable).with_name("spark-submit"))
    shipped = [arg for key, value in submit_conf(archive).items()
               for arg in ("--conf", f"{key}={value}")]
    argv = [spark_submit, "--master", master, "--jars", env["HOVER_SPARK_JARS"],
            "--driver-class-path", env["HOVER_SPARK_DRIVER_CLASSPATH"], *shipped,
            str(REPO / "spark" / "sink_job.py"), "--config", str(conf), *args]
    with log.open("a") as out:
        return subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def job_conf(path: Path, topic: str, checkpoint: str) -> Path:
    path.write_text(
        "[sink]\n"
        f"query_name = cluster_test\nmessage_type = hoverboard\ntopic = {topic}\n"
        "schema_subject = hoverboard-value\nschema_version = latest\n"
        f"trigger_seconds = 0.5\nmax_offsets_per_trigger = {PER_BATCH}\n"
        f"starting_offsets = earliest\ncheckpoint_location = {checkpoint}\n")
    return path


def driver_env(stack, stack_env: dict, warehouse: str) -> dict:
    from ml.session import SPARK_S3A

    s3a = sorted(SPARK_S3A.ensure(stack.config.cache_dir).glob("*.jar"))
    env = {**os.environ, **stack_env,
           # s3a on the driver only, as the launcher passes it (--driver-class-path).
           "HOVER_SPARK_DRIVER_CLASSPATH": ":".join(str(p) for p in s3a),
           "AIRFLOW_CONN_WAREHOUSE_DEFAULT": warehouse_connection(stack_env, warehouse),
           # The driver runs from the checkout (as on the supervisor's host); executors get
           # nothing of it but the archive.
           "PYTHONPATH": str(REPO), "PYSPARK_PYTHON": sys.executable}
    env.pop("HOVER_SPARK_MASTER", None)  # --master says where
    return env


def batches(warehouse: str) -> int:
    return fetch(warehouse, "SELECT count(*) FROM platform.stream_progress")[0][0]


def finish(driver: subprocess.Popen, log: Path, timeout: float = 240) -> None:
    try:
        driver.wait(timeout)
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
    assert driver.returncode == 0, log.read_text()[-4000:]


@pytest.fixture
def s3_checkpoint(stack, stack_env, topic):
    """A checkpoint location of the test's own in the stack's S3, deleted afterwards."""
    bucket, prefix = stack_env["HOVER_BACKUP_BUCKET"], f"tests/spark-cluster/{topic}"
    yield f"s3a://{bucket}/{prefix}/checkpoint"
    store = stack.services["s3"].client()
    for page in store.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            store.delete_object(Bucket=bucket, Key=item["Key"])


def kill_worker(stack, number: int) -> None:
    """``kill -9`` of a worker, its executor JVM and the executor's Python workers."""
    worker = PidRecord.read(stack.config.pid_file(f"spark_worker_{number}"))
    victims = [psutil.Process(worker.pid), *psutil.Process(worker.pid).children(recursive=True)]
    assert any("CoarseGrainedExecutorBackend" in command_line(p) for p in victims), \
        f"worker {number} runs no executor of the job"
    for process in victims:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs(victims, timeout=10)
    assert not any(alive(p) for p in victims)


def command_line(process: psutil.Process) -> str:
    """Its command line; empty for a process that has ended (a Python worker that exited
    and that the executor has not reaped yet is a zombie, whose command line is gone)."""
    try:
        return " ".join(process.cmdline())
    except (psutil.ZombieProcess, psutil.NoSuchProcess):
        return ""


def alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_a_worker_killed_mid_batch_then_the_driver_resumed_elsewhere_from_s3_load_once(
        stack, cluster, archive, stack_env, warehouse, topic, s3_checkpoint,
        tmp_path) -> None:
    bootstrap = stack_env["HOVER_KAFKA_BOOTSTRAP"]
    events = telemetry(RECORDS, boards=25)
    produce(bootstrap, topic, "hoverboard", events)
    env = driver_env(stack, stack_env, warehouse)
    first_host, second_host = tmp_path / "host-1", tmp_path / "host-2"
    first_host.mkdir()
    second_host.mkdir()
    log = tmp_path / "driver.log"

    def staging() -> int:  # a batch's staging tables exist from its start to its commit
        return fetch(warehouse, "SELECT count(*) FROM pg_tables WHERE schemaname = 'staging'"
                     )[0][0]

    driver = submit(cluster, archive, job_conf(first_host / "sink.conf", topic, s3_checkpoint),
                    env, log, first_host)
    try:
        # 1. A worker dies mid-batch: Spark runs the batch's tasks again on the other one.
        assert wait_until(lambda: (batches(warehouse) >= 2 and staging() > 0)
                          or driver.poll() is not None, 240, interval=0.05), \
            log.read_text()[-3000:]
        assert driver.poll() is None, log.read_text()[-3000:]
        kill_worker(stack, 1)
        after_worker = batches(warehouse)
        assert wait_until(lambda: "Lost executor" in log.read_text(), 60), log.read_text()[-3000:]
        # 2. The driver goes on with one worker, then dies itself (with its JVM), mid-stream.
        assert wait_until(lambda: batches(warehouse) >= after_worker + 2
                          or driver.poll() is not None, 120)
        assert driver.poll() is None, log.read_text()[-3000:]
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait(30)
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
    [(before, last_batch)] = fetch(warehouse, "SELECT count(*), max(batch_id)"
                                   " FROM platform.stream_progress")
    assert 0 < fetch(warehouse, "SELECT count(*) FROM fleet.hoverboard")[0][0] < RECORDS, \
        "the driver's kill did not land mid-stream"
    store = stack.services["s3"].client()
    bucket, _, prefix = s3_checkpoint.removeprefix("s3a://").partition("/")
    keys = [o["Key"] for o in store.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]]
    assert any("/commits/" in k for k in keys) and any("/offsets/" in k for k in keys), keys

    # 3. Restarted on another host: nothing of the first one's disk, only the checkpoint in S3.
    resumed = submit(cluster, archive, job_conf(second_host / "sink.conf", topic, s3_checkpoint),
                     env, log, second_host, "--available-now")
    finish(resumed, log)
    rows = fetch(warehouse, "SELECT id, to_char(event_time AT TIME ZONE 'UTC',"
                 " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM fleet.hoverboard")
    assert len(rows) == len(events)  # no duplicates (a key is unique anyway) ...
    assert set(rows) == {(e["id"], e["event_time"]) for e in events}  # ... and no gaps
    [(rows_in, written, offsets)] = fetch(
        warehouse, "SELECT sum(input_rows), sum(rows_written),"
        " (array_agg(end_offsets ORDER BY batch_id DESC))[1] FROM platform.stream_progress")
    assert (rows_in, written) == (RECORDS, RECORDS)  # every record in one committed batch
    assert {int(p): o for p, o in offsets.items()} == end_offsets(bootstrap, topic)
    # It resumed from the checkpoint: the same query (Spark keeps its id in the checkpoint)
    # continuing its batch ids, not a new query starting again at batch 0.
    runs = fetch(warehouse, "SELECT run_id, min(batch_id), max(batch_id), count(*)"
                 " FROM platform.stream_progress GROUP BY run_id")
    assert len(runs) == 1, runs
    [(_, first, last, count)] = runs
    assert (first, count) == (0, last + 1) and last > last_batch >= before - 1
    assert not list(tmp_path.glob("**/commits"))  # no checkpoint on a local disk
