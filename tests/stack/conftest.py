"""Fixtures most stack tests share: a warehouse and a topic of the test's own, named after
its module, so tests neither see nor disturb the platform's data or each other's. A module
that needs more (seed rows, an Airflow connection) defines its own ``warehouse``."""

from __future__ import annotations

import pytest

from runtime.settings import warehouse_dsn
from tests.support import scratch_database, scratch_topic


@pytest.fixture(scope="session", autouse=True)
def quiet_platform(stack, airflow_env) -> None:
    """A stack reused after ``bin/platform`` has its DAGs unpaused and its streaming jobs
    running: the DAGs are paused for the session (``airflow_env``) and the jobs stopped, so
    tests neither compete with them for two cores nor meet their rows and alerts (seen: a
    session with four Spark drivers of an earlier platform run beside it failed tests)."""
    from stack.platform_run import stop_platform

    stop_platform(stack, say=lambda _: None)


def _prefix(request: pytest.FixtureRequest) -> str:
    return request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")[:20]


@pytest.fixture
def warehouse(stack_env, request):
    """An empty database with every migration applied; its DSN."""
    with scratch_database(warehouse_dsn(stack_env), _prefix(request)) as dsn:
        yield dsn


@pytest.fixture
def topic(stack_env, request):
    """A new topic on the stack's broker, deleted afterwards; its name."""
    with scratch_topic(stack_env["HOVER_KAFKA_BOOTSTRAP"], _prefix(request)) as name:
        yield name
