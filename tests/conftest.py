"""Test harness: the session brings the local stack up through the same code as bin/stack.

A stack that is already running (a developer's ``bin/stack up``) is reused and left running;
whatever this session started is stopped at the end. A test's folder says what it needs:
``tests/stack`` is marked ``stack`` (services, the Kafka connector from Maven), ``tests/unit``
is marked ``unit`` and may start nothing, so ``pytest -m unit`` runs on a bare checkout.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from stack import envfile
from stack.orchestrator import LocalStack

TESTS = Path(__file__).resolve().parent
#: Folder under tests/ -> marker. A test's folder, not the fixtures it happens to name, says
#: what it needs: a stack test without the ``stack`` fixture still starts throw-away stacks
#: or fetches from Maven.
MARKERS = {"stack": pytest.mark.stack, "unit": pytest.mark.unit}


STACK_FIXTURES = {"stack", "stack_env", "airflow_env"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        folder = item.path.resolve().relative_to(TESTS).parts[0]
        if folder in MARKERS:
            item.add_marker(MARKERS[folder])
        if folder == "unit" and STACK_FIXTURES & set(getattr(item, "fixturenames", ())):
            raise pytest.UsageError(
                f"{item.nodeid} is a unit test but needs the stack: move it to tests/stack "
                "(unit tests start nothing)")


@pytest.fixture(scope="session")
def stack() -> Iterator[LocalStack]:
    local = LocalStack()
    started = local.up(echo=lambda line: None)
    # Components under test read the generated configuration, exactly as in production.
    os.environ.update(envfile.load(local.config.env_file))
    yield local
    if started and not os.environ.get("HOVER_KEEP_STACK"):
        local.down(started, echo=lambda line: None)


@pytest.fixture(scope="session")
def stack_env(stack: LocalStack) -> dict[str, str]:
    return envfile.load(stack.config.env_file)


@pytest.fixture(scope="session")
def airflow_env(stack_env: dict[str, str]) -> dict[str, str]:
    """Environment for Airflow commands on the stack's metadata database (migrated once)."""
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, **stack_env}
    airflow = str(Path(sys.executable).with_name("airflow"))
    result = subprocess.run([airflow, "db", "migrate"], env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return env


@pytest.fixture(scope="session")
def spark(request: pytest.FixtureRequest):
    """One local SparkSession for the whole run, so unit and stack tests share it. Kafka's
    connector (from the cache, fetched from Maven if missing) is added only when stack tests
    were selected: unit tests read no topic and must not reach Maven."""
    from pyspark.sql import SparkSession

    from ml.session import ml_jars
    from stack.config import StackConfig
    from stack.services.spark import SPARK_KAFKA

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    jars = []
    if any(item.get_closest_marker("stack") for item in request.session.items):
        jars = sorted(SPARK_KAFKA.ensure(StackConfig.from_env().cache_dir).glob("*.jar"))
        jars += ml_jars()  # the warehouse's JDBC driver and s3a (failure-model tests)
    session = (
        SparkSession.builder.master("local[2]")
        .appName("hoverboard-tests")
        .config("spark.jars", ",".join(str(p) for p in jars))
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    yield session
    session.stop()
    # py4j says goodbye at INFO from __del__ at interpreter exit, when the handler that
    # importing Airflow put on the root logger still points at pytest's stdout capture,
    # closed by then: a "Logging error" trace after every run, and no information.
    logging.getLogger("py4j").setLevel(logging.WARNING)
