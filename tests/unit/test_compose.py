"""docker-compose.yaml is validated here (no Docker engine on these machines): it parses with
a compose validator, every file it mounts exists, and it describes the production shape."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SECRETS = ("POSTGRES_PASSWORD", "HOVER_INGEST_API_KEYS", "S3_ACCESS_KEY", "S3_SECRET_KEY",
           "AIRFLOW_JWT_SECRET", "AIRFLOW_API_SECRET_KEY", "SUPERSET_SECRET_KEY",
           "SUPERSET_ADMIN_PASSWORD")


@pytest.fixture(scope="module")
def resolved() -> dict:
    compose = shutil.which("docker-compose")
    assert compose, "docker-compose is not installed (bin/setup installs Debian's package)"
    env = {**os.environ, **{name: f"test-{name.lower()}" for name in SECRETS}}
    result = subprocess.run([compose, "-f", str(REPO / "docker-compose.yaml"), "config"],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def bind_mounts(service: dict) -> list[Path]:
    """Host paths a service mounts (long or short syntax); named volumes are skipped."""
    found = []
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            if volume.get("type") == "bind":
                found.append(Path(volume["source"]))
        elif volume.startswith(("/", ".")):
            found.append(Path(volume.split(":")[0]))
    return found


def test_every_mounted_file_exists(resolved) -> None:
    mounts = [(name, path) for name, service in resolved["services"].items()
              for path in bind_mounts(service)]
    assert mounts
    missing = [(name, str(p)) for name, p in mounts if not p.exists()]
    assert not missing
    assert all(p.resolve().is_relative_to(REPO) for _, p in mounts)


def test_it_describes_the_production_shape(resolved) -> None:
    services = resolved["services"]
    brokers = [s for s in services if s.startswith("kafka-") and s != "kafka-topics"]
    assert len(brokers) == 3
    topics = services["kafka-topics"]["command"][0]
    assert "--partitions 100" in topics and "--replication-factor 3" in topics
    for role in ("schema-registry", "ingest", "nginx", "spark-master", "spark-worker",
                 "airflow-api", "airflow-scheduler", "postgres", "s3", "elasticsearch",
                 "kibana", "superset"):
        assert role in services, role
    assert services["ingest"]["deploy"]["replicas"] >= 2
    # The balancer uses the local stack's own template, not a copy.
    assert REPO / "deploy" / "nginx" / "ingest.conf.template" in bind_mounts(services["nginx"])


def test_no_secret_is_written_in_the_file() -> None:
    text = (REPO / "docker-compose.yaml").read_text()
    for name in SECRETS:
        assert f"${{{name}}}" in text  # referenced from the environment ...
    assert "test-" not in text  # ... never filled in
