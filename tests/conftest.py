"""Test harness: the session brings the local stack up through the same code as bin/stack.

A stack that is already running (a developer's ``bin/stack up``) is reused and left running;
whatever this session started is stopped at the end. A test's folder says what it needs:
``tests/stack`` is marked ``stack`` (services, the Kafka connector from Maven), ``tests/unit``
is marked ``unit`` and may start nothing, so ``pytest -m unit`` runs on a bare checkout.

Under pytest-xdist (``pytest -n N``; ``bin/test`` runs one process: on two cores the suite
is CPU-bound and two workers were slower) the workers share one stack: the first brings it
up, the controller stops at the end what the workers started. Tests that stop, pause or kill
a shared service are marked ``serial``: a parallel run must run them apart
(``-m "not serial"``, then ``-m serial``).
"""

from __future__ import annotations

import fcntl
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from stack import envfile
from stack.config import StackConfig
from stack.orchestrator import LocalStack

TESTS = Path(__file__).resolve().parent
#: Folder under tests/ -> marker. A test's folder, not the fixtures it happens to name, says
#: what it needs: a stack test without the ``stack`` fixture still starts throw-away stacks
#: or fetches from Maven.
MARKERS = {"stack": pytest.mark.stack, "unit": pytest.mark.unit}


STACK_FIXTURES = {"stack", "stack_env", "airflow_env"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Tests marked ``last`` (the soak breaks the shared stack on purpose) run at the end.
    items.sort(key=lambda item: item.get_closest_marker("last") is not None)
    for item in items:
        folder = item.path.resolve().relative_to(TESTS).parts[0]
        if folder in MARKERS:
            item.add_marker(MARKERS[folder])
        if folder == "unit" and STACK_FIXTURES & set(getattr(item, "fixturenames", ())):
            raise pytest.UsageError(
                f"{item.nodeid} is a unit test but needs the stack: move it to tests/stack "
                "(unit tests start nothing)")


def _xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _started_record(config: StackConfig) -> Path:
    """Services the test workers started, one name a line: under pytest-xdist only the
    controller stops them, after every worker has finished with the shared stack."""
    return config.home / "tests-started"


@contextmanager
def _exclusive(lock_file: Path) -> Iterator[None]:
    """One test process at a time brings the stack up; the others wait, then find it running."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with lock_file.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def pytest_sessionstart(session: pytest.Session) -> None:
    if not _xdist_worker(session.config):
        _started_record(StackConfig.from_env()).unlink(missing_ok=True)


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _xdist_worker(session.config) or os.environ.get("HOVER_KEEP_STACK"):
        return
    record = _started_record(StackConfig.from_env())
    if record.exists():
        started = sorted(set(record.read_text().split()))
        record.unlink()
        LocalStack().down(started, echo=lambda line: None)


@pytest.fixture(scope="session")
def stack(request: pytest.FixtureRequest) -> Iterator[LocalStack]:
    local = LocalStack()
    # HOVER_TEST_SERVICES=postgres,smtp: a targeted run starts only those (and what they
    # need) instead of the whole stack; bin/test leaves it unset.
    names = [n for n in os.environ.get("HOVER_TEST_SERVICES", "").split(",") if n]
    with _exclusive(local.config.home / "tests-up.lock"):
        started = local.up(names or None, echo=lambda line: None)
    # Components under test read the generated configuration, exactly as in production.
    os.environ.update(envfile.load(local.config.env_file))
    yield local
    if not started or os.environ.get("HOVER_KEEP_STACK"):
        return
    if _xdist_worker(request.config):
        # Other workers may still be using what this one started: the controller stops it.
        with _started_record(local.config).open("a") as record:
            record.write("\n".join(started) + "\n")
    else:
        # The streaming jobs the session's supervisor rounds started (the soak's, say) would
        # outlive the services they read and write, and fail on their own minutes later.
        from stack.platform_run import stop_platform

        stop_platform(local, say=lambda line: None)
        local.down(started, echo=lambda line: None)


@pytest.fixture(scope="session")
def stack_env(stack: LocalStack) -> dict[str, str]:
    return envfile.load(stack.config.env_file)


@pytest.fixture(scope="session")
def airflow_env(stack_env: dict[str, str]) -> Iterator[dict[str, str]]:
    """Environment for Airflow commands on the stack's metadata database (migrated once).

    The tests run DAGs with ``airflow dags test``; the stack's scheduler would queue the same
    run's tasks of an unpaused DAG as well, and the two race for each task (seen after
    ``bin/platform`` had unpaused the DAGs of a reused stack). So the DAGs are paused for the
    session, as a fresh stack has them, and those that were running are unpaused after."""
    import json
    import subprocess
    env = {**os.environ, **stack_env}
    airflow = str(Path(sys.executable).with_name("airflow"))

    def run(*args: str) -> str:
        result = subprocess.run([airflow, *args], env=env, capture_output=True, text=True,
                                timeout=600)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        return result.stdout

    run("db", "migrate")
    listed = run("dags", "list", "-o", "json", "--columns", "dag_id,is_paused")
    # The JSON is the last line; Airflow's warnings share stdout.
    dags = json.loads([ln for ln in listed.splitlines() if ln.startswith("[")][-1])
    unpaused = [d["dag_id"] for d in dags if str(d["is_paused"]).lower() == "false"]
    pattern = "^(" + "|".join(unpaused) + ")$"
    if unpaused:
        run("dags", "pause", "--treat-dag-id-as-regex", "-y", pattern)
    yield env
    if unpaused:
        run("dags", "unpause", "--treat-dag-id-as-regex", "-y", pattern)


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
    # Executors run the sink's Python (loader.staged): this interpreter, not PATH's python3.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
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
