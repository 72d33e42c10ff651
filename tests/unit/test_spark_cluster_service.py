"""The stack's Spark standalone cluster: its command lines, its readiness, and that a plain
``bin/stack up`` leaves it off; a sink checkpoint in the object store gets s3a."""

from __future__ import annotations

from pathlib import Path

import pytest

from stack.orchestrator import LocalStack, ServiceStatus
from stack.services.spark_cluster import alive_worker_ports, master_argv, worker_argv

HOME = Path("/opt/spark")


def test_the_master_listens_on_loopback_on_the_stacks_ports() -> None:
    assert master_argv(HOME, 17077, 18070) == [
        "/opt/spark/bin/spark-class", "org.apache.spark.deploy.master.Master",
        "--host", "127.0.0.1", "--port", "17077", "--webui-port", "18070"]


def test_a_worker_offers_one_core_and_one_gib_to_the_stacks_master() -> None:
    argv = worker_argv(HOME, 17077, 17078, 18071, Path("/state/work"))
    assert argv[:2] == ["/opt/spark/bin/spark-class", "org.apache.spark.deploy.worker.Worker"]
    options = dict(zip(argv[2:-1:2], argv[3:-1:2], strict=True))
    assert options == {"--host": "127.0.0.1", "--port": "17078", "--webui-port": "18071",
                       "--cores": "1", "--memory": "1g", "--work-dir": "/state/work"}
    assert argv[-1] == "spark://127.0.0.1:17077"


def test_a_worker_is_ready_once_the_master_lists_it_alive() -> None:
    state = {"status": "ALIVE", "workers": [
        {"port": 17078, "state": "DEAD"},  # the master keeps a killed worker's entry a while
        {"port": 17079, "state": "ALIVE"}]}
    assert alive_worker_ports(state) == {17079}
    assert alive_worker_ports({"status": "ALIVE"}) == set()


@pytest.fixture
def local(tmp_path, monkeypatch) -> LocalStack:
    monkeypatch.setenv("HOVER_STACK_HOME", str(tmp_path))
    return LocalStack()


def test_a_plain_up_leaves_the_cluster_off_and_naming_the_master_brings_its_workers(
        local) -> None:
    everything = {svc.name for svc in local._select(None)}
    assert "postgres" in everything
    assert not everything & {"spark_master", "spark_worker_1", "spark_worker_2"}
    assert [svc.name for svc in local._select(["spark_master"])] == \
        ["spark_master", "spark_worker_1", "spark_worker_2"]
    # A worker alone needs its master (and the master its other worker).
    assert {svc.name for svc in local._select(["spark_worker_2"])} == \
        {"spark_master", "spark_worker_1", "spark_worker_2"}


def test_a_stopped_cluster_does_not_make_the_stack_unhealthy() -> None:
    def status(state: str, on_demand: bool) -> ServiceStatus:
        return ServiceStatus("x", state, None, "", "", on_demand=on_demand)

    assert status("stopped", on_demand=True).healthy
    assert not status("stopped", on_demand=False).healthy
    assert not status("dead", on_demand=True).healthy  # started, then died: the log says why


def test_a_checkpoint_in_s3_gets_s3a_on_the_drivers_classpath_only(monkeypatch,
                                                                   tmp_path) -> None:
    from spark.sink_job import object_store

    assert object_store(str(tmp_path / "checkpoint")) == ([], {})
    monkeypatch.setenv("HOVER_S3_ENDPOINT", "http://127.0.0.1:19000")
    monkeypatch.setenv("HOVER_SPARK_DRIVER_CLASSPATH", "/jars/hadoop-aws.jar:/jars/bundle.jar")
    classpath, settings = object_store("s3a://bucket/checkpoints/trip_sink")
    assert classpath == ["/jars/hadoop-aws.jar", "/jars/bundle.jar"]  # a deployment's copy
    assert settings["spark.hadoop.fs.s3a.endpoint"] == "http://127.0.0.1:19000"
    assert settings["spark.hadoop.fs.s3a.path.style.access"] == "true"


def test_a_checkpoint_root_in_s3_keeps_its_url(monkeypatch) -> None:
    """docker-compose.yaml's HOVER_SPARK_CHECKPOINTS: each job's checkpoint under it, still a
    URL that object_store recognises (s3a://, not s3a:/)."""
    from spark.config import SinkConfig

    monkeypatch.setenv("HOVER_SPARK_CHECKPOINTS", "s3a://hoverboard-backups/checkpoints/")
    config = SinkConfig.load(message_type="trip")
    assert config.checkpoint_location == "s3a://hoverboard-backups/checkpoints/trip_sink"
    # ... and its supervised driver gets s3a's endpoint and keys, which a sink with its
    # checkpoint on a disk does not (tests/unit/test_failure_model.py).
    assert set(config.environment) == {"HOVER_S3_ENDPOINT", "AWS_ACCESS_KEY_ID",
                                       "AWS_SECRET_ACCESS_KEY"}
    monkeypatch.setenv("HOVER_SPARK_CHECKPOINTS", "/var/lib/checkpoints")
    assert SinkConfig.load(message_type="trip").environment == ()


def test_the_supervisor_puts_the_drivers_classpath_on_spark_submits_command_line(
        monkeypatch) -> None:
    from hoverboard.streaming.launcher import CODE_ROOT, LocalProcessLauncher
    from hoverboard.streaming.registry import discover_jobs

    monkeypatch.setenv("AIRFLOW_CONN_SPARK_DEFAULT",
                       '{"conn_type": "spark", "host": "spark://127.0.0.1:17077"}')
    monkeypatch.setenv("HOVER_SPARK_CHECKPOINTS", "s3a://bucket/checkpoints")
    monkeypatch.setenv("HOVER_SPARK_JARS", "/jars/kafka.jar")
    monkeypatch.setenv("HOVER_SPARK_DRIVER_CLASSPATH", "/jars/hadoop-aws.jar:/jars/bundle.jar")
    job = discover_jobs()["trip_sink"]
    argv = LocalProcessLauncher(jobs_dir=CODE_ROOT).command(job)
    assert argv[argv.index("--master") + 1] == "spark://127.0.0.1:17077"
    assert argv[argv.index("--driver-class-path") + 1] == "/jars/hadoop-aws.jar:/jars/bundle.jar"
    assert argv[argv.index("--jars") + 1] == "/jars/kafka.jar"  # executors get only these
