"""The data_quality checks on the stack's PostgreSQL: clean data passes; each check, broken
on its own, fails alone with its result row and its alert in Elasticsearch.

Two runs of the real DAG (``airflow dags test``) show the wiring; every check is then broken
once on a copy of one seeded database and run through the DAG's own tasks and failure
callbacks directly, which costs seconds instead of one Airflow run per check."""

from __future__ import annotations

import copy
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import psycopg
import pytest
from hoverboard.operators.quality import DataQualityCheckFailed
from hoverboard.quality.checks import build_checks, load_config

from alerts import AlertWriter
from runtime.settings import warehouse_dsn
from stack.process import wait_until
from tests.support import alerts_with, scratch_database, warehouse_connection
from tests.support.quality import SEED

REPO = Path(__file__).resolve().parents[2]

BREAK = """
-- a range violation
UPDATE fleet.hoverboard SET charge = 150 WHERE id = 1 AND event_time = (
    SELECT max(event_time) FROM fleet.hoverboard WHERE id = 1);
-- an orphan trip: board 99 never sent telemetry
INSERT INTO fleet.trip (hoverboard_id, customer_id, start_time, end_time, trip_duration,
    start_latitude, start_longitude, end_latitude, end_longitude)
VALUES (99, 1, now() - interval '30 minutes', now() - interval '20 minutes', 600, 1, 1, 1, 1);
-- a stale table: customers last loaded a day ago
UPDATE fleet.customer SET loaded_at = now() - interval '1 day';
"""


@pytest.fixture
def warehouse(stack_env):
    with scratch_database(warehouse_dsn(stack_env), "dqtest") as dsn:
        with psycopg.connect(dsn) as conn:
            conn.execute(SEED)
        yield dsn, warehouse_connection(stack_env, dsn)


def run_dag(airflow_env, connection: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name("airflow")), "dags", "test", "data_quality"],
        env={**airflow_env, "AIRFLOW_CONN_WAREHOUSE_DEFAULT": connection},
        capture_output=True, text=True, timeout=600)


def results(dsn: str) -> dict[str, tuple]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT check_name, passed, observed, min_allowed, max_allowed,"
                            " run_id FROM platform.dq_results").fetchall()
    return {r[0]: r[1:] for r in rows}


def test_clean_data_passes_every_check(airflow_env, warehouse) -> None:
    dsn, connection = warehouse
    run = run_dag(airflow_env, connection)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    stored = results(dsn)
    assert set(stored) == {c.name for c in build_checks(load_config())}
    assert all(passed for passed, *_ in stored.values())
    assert stored["hoverboard.volume"][1] == 100.0  # observed values are stored too


def test_bad_data_fails_exactly_those_checks_each_with_an_alert(airflow_env, stack_env,
                                                                warehouse) -> None:
    dsn, connection = warehouse
    with psycopg.connect(dsn) as conn:
        conn.execute(BREAK)
    run = run_dag(airflow_env, connection)
    assert run.returncode != 0
    stored = results(dsn)
    failed = {name for name, (passed, *_) in stored.items() if not passed}
    assert failed == {"hoverboard.ranges", "trip.unknown_board", "customer.freshness"}
    assert stored["hoverboard.ranges"][1:4] == (1.0, None, 0.0)
    run_id = stored["hoverboard.ranges"][4]
    for check in failed:
        alerts = [a for a in alerts_with(stack_env["HOVER_ELASTICSEARCH_URL"], check)
                  if a["airflow"]["run_id"] == run_id and a["log"]["level"] == "error"]
        assert len(alerts) == 1, (check, alerts)
        details = alerts[0]["details"]
        assert details["check"] == check
        assert details["observed"] == stored[check][1]
        assert (details["min_allowed"], details["max_allowed"]) == stored[check][2:4]


# --- every check, broken on its own, through the DAG's tasks --------------------------------

ONE_BOARD_ROW = ("WHERE id = 1 AND event_time = (SELECT max(event_time) FROM fleet.hoverboard"
                 " WHERE id = 1)")


@dataclass(frozen=True)
class Break:
    """Data that breaks ``check``. ``also``: checks that cannot pass on such data either
    (no row loaded in the window means the newest row is older than the window, so a failed
    volume is a failed freshness too). ``min_rows``: a volume threshold to use instead of the
    configured 0, which no table can go below."""

    check: str
    sql: str
    also: frozenset[str] = frozenset()
    min_rows: int | None = None


# The required columns are NOT NULL and the keys primary keys in both engines' migrations,
# but Redshift does not enforce primary keys and a table loaded by other means may have
# neither: the nulls and unique_key checks are shown on a copy without those constraints.
BREAKS = [
    Break("hoverboard.freshness",
          "UPDATE fleet.hoverboard SET loaded_at = now() - interval '45 minutes'"),
    Break("hoverboard.volume",
          "UPDATE fleet.hoverboard SET loaded_at = now() - interval '3 hours'",
          also=frozenset({"hoverboard.freshness"})),
    Break("hoverboard.nulls", "ALTER TABLE fleet.hoverboard ALTER COLUMN isdocked DROP NOT NULL;"
          f" UPDATE fleet.hoverboard SET isdocked = NULL {ONE_BOARD_ROW}"),
    Break("hoverboard.ranges", f"UPDATE fleet.hoverboard SET speed = 80.5 {ONE_BOARD_ROW}"),
    Break("hoverboard.unique_key", "ALTER TABLE fleet.hoverboard DROP CONSTRAINT hoverboard_pkey;"
          f" INSERT INTO fleet.hoverboard SELECT * FROM fleet.hoverboard {ONE_BOARD_ROW}"),
    Break("customer.freshness", "UPDATE fleet.customer SET loaded_at = now() - interval '3 hours'"),
    Break("customer.volume", "UPDATE fleet.customer SET loaded_at = now() - interval '3 hours'",
          also=frozenset({"customer.freshness"}), min_rows=1),
    Break("customer.nulls", "ALTER TABLE fleet.customer ALTER COLUMN email DROP NOT NULL;"
          " UPDATE fleet.customer SET email = NULL WHERE id = 2"),
    Break("customer.ranges", "UPDATE fleet.customer SET longitude = -180.25 WHERE id = 2"),
    Break("customer.unique_key", "ALTER TABLE fleet.customer DROP CONSTRAINT customer_pkey;"
          " INSERT INTO fleet.customer SELECT * FROM fleet.customer WHERE id = 2"),
    Break("trip.freshness", "UPDATE fleet.trip SET loaded_at = now() - interval '3 hours'"),
    Break("trip.volume", "UPDATE fleet.trip SET loaded_at = now() - interval '3 hours'",
          also=frozenset({"trip.freshness"}), min_rows=1),
    Break("trip.nulls", "ALTER TABLE fleet.trip ALTER COLUMN end_time DROP NOT NULL;"
          " UPDATE fleet.trip SET end_time = NULL WHERE hoverboard_id = 3"),
    Break("trip.ranges", "UPDATE fleet.trip SET end_latitude = 90.5 WHERE hoverboard_id = 3"),
    Break("trip.unique_key", "ALTER TABLE fleet.trip DROP CONSTRAINT trip_pkey;"
          " INSERT INTO fleet.trip SELECT * FROM fleet.trip WHERE hoverboard_id = 3"),
    Break("trip.unknown_board",
          "UPDATE fleet.trip SET hoverboard_id = 99 WHERE hoverboard_id = 3"),
    Break("trip.unknown_customer",
          "UPDATE fleet.trip SET customer_id = 99 WHERE hoverboard_id = 3"),
    # One second backwards with a zero duration: only the order of the times is wrong.
    Break("trip.ends_before_start", "UPDATE fleet.trip SET end_time = start_time"
          " - interval '1 second', trip_duration = 0 WHERE hoverboard_id = 3"),
    Break("trip.duration_mismatch", "UPDATE fleet.trip SET trip_duration = 606"
          " WHERE hoverboard_id = 3"),
]


@pytest.fixture(scope="module")
def dag_tasks() -> dict:
    """The data_quality DAG's tasks by check name, loaded as the DAG processor loads them."""
    from airflow.dag_processing.dagbag import DagBag

    path = REPO / "dags" / "data_quality.py"
    bag = DagBag(dag_folder=str(path), bundle_path=path.parent)
    assert not bag.import_errors, bag.import_errors
    return {task.check_name: task for task in bag.dags["data_quality"].tasks}


@pytest.fixture(scope="module")
def seeded(stack_env) -> Iterator[str]:
    """One database with every migration and the clean SEED; tests break copies of it."""
    with scratch_database(warehouse_dsn(stack_env), "dqseed") as dsn:
        with psycopg.connect(dsn) as conn:
            conn.execute(SEED)
        yield dsn


@dataclass
class Run:
    run_id: str
    failed: dict[str, DataQualityCheckFailed]
    stored: dict[str, tuple]


def run_checks(tasks: dict, stack_env: dict[str, str], monkeypatch, dsn: str,
               min_rows: dict[str, int] | None = None) -> Run:
    """Every check task of the DAG on ``dsn``, as one DAG run would execute them, with the
    tasks' own failure callbacks (the alert notifier) called for the ones that fail."""
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE_DEFAULT", warehouse_connection(stack_env, dsn))
    run_id = f"dqtest__{uuid.uuid4().hex[:12]}"
    at = datetime.now(UTC)
    failed = {}
    for name, dag_task in tasks.items():
        task = copy.copy(dag_task)  # a fresh hook for this database
        task.__dict__.pop("_hook", None)
        if name in (min_rows or {}):
            task.min_threshold = min_rows[name]
        ti = SimpleNamespace(dag_id=task.dag_id, task_id=task.task_id, run_id=run_id,
                             map_index=-1, try_number=1, max_tries=task.retries)
        context = {"ti": ti, "task": task, "data_interval_end": at, "dag_run": None,
                   "params": {"warehouse_conn_id": "warehouse_default"}}
        task.render_template_fields(context)
        try:
            task.execute(context)
        except DataQualityCheckFailed as exc:
            failed[name] = exc
            for notifier in task.on_failure_callback:
                notifier({**context, "exception": exc})
    return Run(run_id, failed, results(dsn))


def test_every_check_of_the_dag_is_broken_by_one_case() -> None:
    assert {b.check for b in BREAKS} == {c.name for c in build_checks(load_config())}


def test_the_seed_passes_every_check_of_the_dag(dag_tasks, seeded, stack_env,
                                               monkeypatch) -> None:
    with scratch_database(warehouse_dsn(stack_env), "dqcase", copy_of=seeded) as dsn:
        run = run_checks(dag_tasks, stack_env, monkeypatch, dsn,
                         {b.check: b.min_rows for b in BREAKS if b.min_rows})
    assert set(run.stored) == set(dag_tasks)
    assert run.failed == {}
    assert all(passed and run_id == run.run_id for passed, *_, run_id in run.stored.values())


@pytest.mark.parametrize("broken", BREAKS, ids=lambda b: b.check)
def test_a_broken_check_fails_alone_with_its_result_and_alert(dag_tasks, seeded, stack_env,
                                                              monkeypatch, tmp_path,
                                                              broken) -> None:
    monkeypatch.setenv("HOVER_ALERT_SPOOL", str(tmp_path / "spool"))
    with scratch_database(warehouse_dsn(stack_env), "dqcase", copy_of=seeded) as dsn:
        with psycopg.connect(dsn) as conn:
            conn.execute(broken.sql)
        run = run_checks(dag_tasks, stack_env, monkeypatch, dsn,
                         {broken.check: broken.min_rows} if broken.min_rows else None)

    assert set(run.failed) == {broken.check, *broken.also}
    assert {name for name, (passed, *_) in run.stored.items() if not passed} == set(run.failed)
    passed, observed, low, high, run_id = run.stored[broken.check]
    details = run.failed[broken.check].details
    assert (details["check"], details["observed"], details["min_allowed"],
            details["max_allowed"]) == (broken.check, observed, low, high)
    assert run_id == run.run_id
    es_url = stack_env["HOVER_ELASTICSEARCH_URL"]

    def alerts() -> list[dict]:
        # An alert that found Elasticsearch too slow waits in this test's spool: deliver it.
        AlertWriter.from_url(es_url).flush()
        return [a for a in alerts_with(es_url, broken.check)
                if a["airflow"]["run_id"] == run.run_id and a["log"]["level"] == "error"]

    assert wait_until(lambda: alerts(), timeout=60, interval=1), "no alert arrived"
    [alert] = alerts()
    assert alert["details"] == details
