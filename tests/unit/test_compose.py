"""docker-compose.yaml is validated here (no Docker engine on these machines): it parses with
a compose validator, every file it mounts exists, and it describes the production shape."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SECRETS = ("POSTGRES_PASSWORD", "HOVER_INGEST_API_KEYS", "S3_ACCESS_KEY", "S3_SECRET_KEY",
           "AIRFLOW_JWT_SECRET", "AIRFLOW_API_SECRET_KEY", "SUPERSET_SECRET_KEY",
           "SUPERSET_ADMIN_PASSWORD", "ANALYTICS_READER_PASSWORD", "OPERATIONS_READER_PASSWORD")


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
        # referenced from the environment, required (never a blank default) ...
        assert f"${{{name}:?" in text
        assert f"${{{name}}}" not in text and f"${{{name}:-" not in text
    assert "test-" not in text  # ... never filled in


def test_the_platform_configures_the_warehouse_once(resolved) -> None:
    """As in the local stack: Airflow's connection is the one setting; the sinks and the
    ingest API derive their DSN from it (runtime.settings)."""
    from runtime.settings import WAREHOUSE_CONN_ENV, warehouse_dsn

    # The Spark master and workers run the image too, but only Spark's own daemons.
    platform = [s for s in resolved["services"].values()
                if s.get("image") == "hoverboard-platform:local"
                and s["command"][0] != "spark-class"]
    assert platform
    for service in platform:
        env = service.get("environment") or {}
        assert sorted(k for k, v in env.items() if "WAREHOUSE" in k or "/warehouse" in str(v)
                      ) == [WAREHOUSE_CONN_ENV]
        assert warehouse_dsn(env).endswith("@postgres:5432/warehouse")


#: Set-up services that run once and exit (the others wait for them to complete).
ONE_SHOT = {"kafka-topics", "spark-jars", "warehouse-migrations", "superset-init"}


def test_every_long_running_service_comes_back_after_a_crash(resolved) -> None:
    """Airflow's scheduler exits when its database restarts (seen in the soak); without a
    restart policy it would stay down and nothing would supervise the streams."""
    policies = {name: service.get("restart", "no")
                for name, service in resolved["services"].items()}
    assert {name for name, policy in policies.items() if policy == "no"} == ONE_SHOT
    assert {policies[name] for name in policies.keys() - ONE_SHOT} == {"unless-stopped"}


def test_it_refuses_to_start_without_its_secrets() -> None:
    env = {k: v for k, v in os.environ.items() if k not in SECRETS}
    result = subprocess.run([shutil.which("docker-compose"), "-f",
                             str(REPO / "docker-compose.yaml"), "config"],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "see the README, Secrets" in result.stderr


def test_spark_services_fetch_the_jars_the_local_stack_uses(resolved) -> None:
    """The compose file cannot import the stack's artifact sets: the same Kafka connector and
    s3a jars, at the same versions, are listed there by hand and kept equal here."""
    from ml.session import SPARK_S3A
    from stack.services.spark import SPARK_KAFKA

    fetch = " ".join(resolved["services"]["spark-jars"]["command"])
    listed = set(re.findall(r"\S+\.jar\b", fetch))
    assert listed == {c.repository_path for s in (SPARK_KAFKA, SPARK_S3A) for c in s.coordinates}


def test_spark_services_run_the_platform_s_python(resolved) -> None:
    """Executors run the jobs' archive (built in the platform image, with its Python's binary
    wheels) and PySpark refuses a worker Python other than the driver's: the master and the
    workers run the image the drivers run in."""
    services = resolved["services"]
    for name in ("spark-master", "spark-worker"):
        assert services[name]["image"] == services["airflow-scheduler"]["image"], name
        assert services[name]["command"][0] == "spark-class", name


def test_spark_services_have_a_writable_home_and_jobs_dir(resolved) -> None:
    services = resolved["services"]
    fetch = " ".join(services["spark-jars"]["command"])
    dockerfile = (REPO / "deploy" / "docker" / "Dockerfile").read_text()
    [image_user] = re.findall(r"^USER (\S+)$", dockerfile, re.MULTILINE)
    for name in ("spark-master", "spark-worker"):
        service = services[name]
        mounts = {v.split(":")[1]: v for v in service["volumes"]}
        env = service["environment"]
        assert mounts[env["SPARK_CLASSPATH"].removesuffix("/*")].startswith("spark-jars:")
        assert mounts[env["HOME"]].endswith(":rw")
        assert env["HOVER_SPARK_JOBS_DIR"].startswith("/var/lib/hoverboard/")
        assert mounts["/var/lib/hoverboard"].endswith(":rw")
        assert service["user"] == image_user
        assert service["depends_on"]["spark-jars"]["condition"] == \
            "service_completed_successfully"
    # ... owned by that user before it starts (a new volume belongs to root): Debian's nobody.
    assert image_user == "nobody"
    assert "chown -R 65534:65534 /home/spark /var/lib/hoverboard" in fetch


def test_sink_drivers_get_what_s3a_checkpoints_and_the_cluster_s_executors_need(
        resolved, monkeypatch) -> None:
    """The scheduler runs the tasks, the supervisor's sink drivers among them (client mode):
    checkpoints in the stack's S3 need s3a's endpoint, keys and jars on the driver; the
    workers' executors need the jobs' code as the archive."""
    from hoverboard.streaming.launcher import LocalProcessLauncher

    from ml.session import s3a_settings
    from spark.config import SinkConfig

    services = resolved["services"]
    scheduler = services["airflow-scheduler"]
    env = scheduler["environment"]
    assert env["HOVER_SPARK_CHECKPOINTS"].startswith("s3a://")
    assert scheduler["depends_on"]["spark-jars"]["condition"] == \
        "service_completed_successfully"
    # The driver's classpath is the jars volume, as the Spark services load it.
    jars = {v.split(":")[1]: v.split(":")[0] for v in scheduler["volumes"]}
    for entry in env["HOVER_SPARK_DRIVER_CLASSPATH"].split(":"):
        assert jars[entry.removesuffix("/*")] == "spark-jars", entry
    assert env["HOVER_SPARK_DRIVER_CLASSPATH"] == \
        services["spark-worker"]["environment"]["SPARK_CLASSPATH"]
    # The image builds the archive where the launcher is told to find it.
    dockerfile = (REPO / "deploy" / "docker" / "Dockerfile").read_text()
    assert f"python -m spark.package --output {env['HOVER_SPARK_ARCHIVE']}" in dockerfile
    # What the supervised driver itself gets (the launcher's allow-list plus the job's
    # config) makes s3a settings of the stack's S3 with its keys.
    for name in list(os.environ):
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, str(value))
    extra = SinkConfig.load(message_type="trip").environment
    driver = LocalProcessLauncher.environment(env["AIRFLOW_CONN_WAREHOUSE_DEFAULT"], extra)
    assert driver["HOVER_SPARK_DRIVER_CLASSPATH"] == env["HOVER_SPARK_DRIVER_CLASSPATH"]
    monkeypatch.setattr(os, "environ", driver)
    settings = s3a_settings()
    assert settings["spark.hadoop.fs.s3a.endpoint"] == "http://s3:80" and "s3" in services
    assert settings["spark.hadoop.fs.s3a.access.key"] == "test-s3_access_key"
    assert settings["spark.hadoop.fs.s3a.secret.key"] == "test-s3_secret_key"
    assert driver["HOVER_SPARK_ARCHIVE"] == env["HOVER_SPARK_ARCHIVE"]


def test_postgres_makes_every_database_of_the_local_stack_on_first_start(resolved) -> None:
    """Airflow's and Superset's metadata live beside the warehouse, as in the local stack."""
    from stack.services.postgres import DATABASES

    postgres = resolved["services"]["postgres"]
    init = [Path(v.split(":")[0]) for v in postgres["volumes"]
            if v.split(":")[1].startswith("/docker-entrypoint-initdb.d/")]
    assert init, "postgres mounts no script into /docker-entrypoint-initdb.d"
    made = {postgres["environment"]["POSTGRES_DB"]}
    for script in init:
        made |= set(re.findall(r"^CREATE DATABASE (\w+);", script.read_text(), re.M))
    assert made == set(DATABASES)


def mounted(service: dict) -> dict[str, Path]:
    """Container path -> host path of a service's bind mounts (short syntax)."""
    return {v.split(":")[1]: Path(v.split(":")[0]) for v in service["volumes"]
            if v.startswith(("/", "."))}


def test_superset_gets_the_bundle_and_roles_as_bin_stack_up_gives_them(resolved) -> None:
    """Once Superset answers, the stack's own importer (the same file, run by Superset's
    Python) imports analytics/superset, then access.py makes the roles."""
    import stack.superset_bundle as importer
    from stack.services.superset import DEPLOY

    services = resolved["services"]
    init = services["superset-init"]
    files = mounted(init)
    script = init["command"][-1]
    target = {path: inside for inside, path in files.items()}
    importing = f"python {target[Path(importer.__file__)]} import "
    roles = f"python {target[DEPLOY / 'access.py']} roles"
    assert importing in script and roles in script
    assert script.index(importing) < script.index(roles)
    assert f"--directory {target[importer.BUNDLE_DIR]} " in script
    assert "--url http://superset:8088 " in script
    assert "--warehouse postgresql://postgres:5432/warehouse " in script
    # Superset's own settings and the passwords the import needs, from the environment.
    env = init["environment"]
    assert {k: v for k, v in env.items() if k in services["superset"]["environment"]} == \
        services["superset"]["environment"]
    users = set(importer.database_files(importer.load()).values())
    assert {f"{u.upper()}_PASSWORD" for u in users} | {"SUPERSET_ADMIN_PASSWORD"} <= set(env)
    assert init["depends_on"]["superset"]["condition"] == "service_healthy"
    assert "healthcheck" in services["superset"]


def test_the_readers_superset_logs_in_as_exist_with_the_secrets_passwords(resolved) -> None:
    """The migrations make the read-only roles without login; the deployment gives them the
    passwords the import passes to Superset, before the import."""
    from hoverboard.warehouse.readers import READERS, password_variable

    services = resolved["services"]
    migrations = services["warehouse-migrations"]
    script = migrations["command"][-1]
    assert script.index("hoverboard.warehouse.cli") < script.index("hoverboard.warehouse.readers")
    for role in READERS:
        variable = password_variable(role)
        assert migrations["environment"][variable] == \
            services["superset-init"]["environment"][variable]
    assert services["superset-init"]["depends_on"]["warehouse-migrations"]["condition"] == \
        "service_completed_successfully"


def test_the_importer_runs_alone_and_names_a_missing_password(tmp_path: Path) -> None:
    """In Superset's image the file is on its own, without the stack package around it."""
    import stack.superset_bundle as importer

    alone = tmp_path / "superset_bundle.py"
    shutil.copy(importer.__file__, alone)
    env = {k: v for k, v in os.environ.items() if not k.endswith("_PASSWORD")}
    result = subprocess.run(
        [sys.executable, str(alone), "import", "--url", "http://127.0.0.1:9",
         "--warehouse", "postgresql://postgres:5432/warehouse",
         "--directory", str(importer.BUNDLE_DIR)],
        env={**env, "SUPERSET_ADMIN_PASSWORD": "x", "PYTHONPATH": ""}, cwd=tmp_path,
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stderr
    assert "ANALYTICS_READER_PASSWORD, OPERATIONS_READER_PASSWORD not set" in result.stderr
