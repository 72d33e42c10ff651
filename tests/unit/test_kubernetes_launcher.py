"""The production launcher's spark-submit command lines (no Kubernetes cluster here: the
commands are what is checked, built through the Spark provider's hook)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hoverboard.streaming.kubernetes import KubernetesClusterLauncher
from hoverboard.streaming.registry import Job

CONN = {"conn_type": "spark", "host": "k8s://https://kube.example", "port": 6443,
        "extra": {"deploy-mode": "cluster", "namespace": "hoverboard"}}


@pytest.fixture
def launcher(monkeypatch) -> KubernetesClusterLauncher:
    monkeypatch.setenv("AIRFLOW_CONN_SPARK_K8S", json.dumps(CONN))
    return KubernetesClusterLauncher("spark_k8s", image="registry.example/hoverboard:1.4",
                                     secret="hoverboard-sink",
                                     conf={"spark.executor.instances": "4"})


# One sink.conf serves every declared type: the driver is told which (--type).
JOB = Job("trip_sink", Path("spark/conf/sink.conf"), "trip", "trip")


def confs(argv: list[str]) -> dict[str, str]:
    return dict(argv[i + 1].split("=", 1) for i, a in enumerate(argv) if a == "--conf")


def test_submit_runs_the_image_s_job_in_cluster_mode_and_returns(launcher) -> None:
    argv = launcher.command(JOB)
    assert Path(argv[0]).name == "spark-submit"
    assert argv[argv.index("--master") + 1] == "k8s://https://kube.example:6443"
    assert argv[argv.index("--deploy-mode") + 1] == "cluster"
    assert argv[argv.index("--name") + 1] == "trip_sink"
    assert argv[-5:] == ["local:///opt/hoverboard/spark/sink_job.py", "--config",
                         "/opt/hoverboard/spark/conf/sink.conf", "--type", "trip"]
    conf = confs(argv)
    assert conf["spark.kubernetes.namespace"] == "hoverboard"
    assert conf["spark.kubernetes.container.image"] == "registry.example/hoverboard:1.4"
    assert conf["spark.kubernetes.driver.pod.name"] == "hoverboard-trip-sink-driver"
    assert conf["spark.kubernetes.submission.waitAppCompletion"] == "false"
    assert conf["spark.executor.instances"] == "4"
    # Secrets come from the cluster's secret, by reference: none on the command line.
    assert conf["spark.kubernetes.driver.secretKeyRef.AIRFLOW_CONN_WAREHOUSE_DEFAULT"] == \
        "hoverboard-sink:AIRFLOW_CONN_WAREHOUSE_DEFAULT"
    assert not any("postgresql://" in a or "password" in a.lower() for a in argv)


def test_the_application_is_tracked_and_killed_by_its_id(launcher) -> None:
    assert launcher.application_id(JOB) == "hoverboard:hoverboard-trip-sink-driver"
    for flag in ("--status", "--kill"):
        argv = launcher._control(flag, JOB)
        assert argv[1:] == ["--master", "k8s://https://kube.example:6443", flag,
                            "hoverboard:hoverboard-trip-sink-driver"]


def test_a_connection_that_is_not_kubernetes_cluster_mode_is_refused(monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_SPARK_K8S", json.dumps(
        {**CONN, "extra": {"deploy-mode": "client", "namespace": "hoverboard"}}))
    with pytest.raises(ValueError, match="deploy mode 'cluster'"):
        KubernetesClusterLauncher("spark_k8s", image="i", secret="s").command(JOB)
