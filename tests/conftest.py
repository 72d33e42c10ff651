"""Test harness: the session brings the local stack up through the same code as bin/stack.

A stack that is already running (a developer's ``bin/stack up``) is reused and left running;
whatever this session started is stopped at the end. Tests marked ``stack`` get the stack
through the ``stack`` fixture; tests in ``tests/unit`` need nothing running.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest

from stack import envfile
from stack.orchestrator import LocalStack


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "stack" in item.fixturenames or "stack_env" in item.fixturenames:
            item.add_marker(pytest.mark.stack)
        elif not item.get_closest_marker("stack"):
            item.add_marker(pytest.mark.unit)


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
def spark():
    """One local SparkSession for the whole run, with Kafka's connector from the cache
    (bin/setup fetched it), so unit and stack tests share it."""
    from pyspark.sql import SparkSession

    from stack.config import StackConfig
    from stack.services.spark import SPARK_KAFKA

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    jars = SPARK_KAFKA.ensure(StackConfig.from_env().cache_dir)
    session = (
        SparkSession.builder.master("local[2]")
        .appName("hoverboard-tests")
        .config("spark.jars", ",".join(str(p) for p in sorted(jars.glob("*.jar"))))
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
