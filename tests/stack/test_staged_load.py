"""Executor-side load, driver-side commit (loader.staged) on a real PostgreSQL: the same
functions Spark's executors and driver call, without Spark (the sink tests run them in it).

A batch is staged by partitions (each its own connection and transaction, as executors do)
and committed by the driver in one transaction; what a failed or crashed attempt staged never
reaches the table, and a committed batch id changes nothing when replayed."""

from __future__ import annotations

import json

import pytest

from loader.postgres import PostgresLoader
from loader.staged import PostgresStaging, StagedLoad, stage_partition
from loader.tables import table_spec
from runtime.settings import warehouse_dsn
from schemas import latest
from tests.support import fetch, sample, scratch_database
from tests.support.streaming import batch_rows


@pytest.fixture
def warehouse(stack_env):
    with scratch_database(warehouse_dsn(stack_env), "staged") as dsn:
        yield dsn


def staged_load(dsn: str, loader: PostgresLoader) -> StagedLoad:
    return StagedLoad(staging=PostgresStaging(dsn), spec=table_spec("hoverboard"),
                      schema=latest("hoverboard").schema, loader=loader,
                      query_name="staged_test", run_id=lambda: "run-1")


def partitions(first_offset: int, count: int, ids_from: int = 1):
    """Two Spark partitions of one batch: events, and one record the schema refuses."""
    events = [sample("hoverboard", id=ids_from + i) for i in range(count)]
    rows = batch_rows("hoverboard", events, first_offset, topic="staged")
    bad = sample("hoverboard", id=999, charge=250)
    letter = batch_rows("hoverboard", [bad], first_offset + count, topic="staged")
    half = count // 2
    return [rows.slice(0, half), rows.slice(half), letter]


def staging_tables(dsn: str) -> list[str]:
    return [name for (name,) in fetch(
        dsn, "SELECT tablename FROM pg_tables WHERE schemaname = 'staging' ORDER BY 1")]


def test_a_batch_staged_by_partitions_commits_once_with_its_dead_letters(warehouse) -> None:
    loader = PostgresLoader(warehouse)
    try:
        load = staged_load(warehouse, loader)
        plan = load.begin(0)
        summaries = [stage_partition(plan, part) for part in partitions(0, 6)]
        # Staged, not yet in the table: the rows wait for the driver's commit.
        assert fetch(warehouse, "SELECT count(*) FROM fleet.hoverboard") == [(0,)]
        result = load.commit(plan, summaries, started=0.0)

        assert (result.input_rows, result.written, result.dead_letters) == (7, 6, 1)
        assert fetch(warehouse, "SELECT count(*), min(source_offset), max(source_offset)"
                     " FROM fleet.hoverboard") == [(6, 0, 5)]
        [(offset, error)] = fetch(warehouse, "SELECT source_offset, error"
                                  " FROM platform.dead_letters")
        assert (offset, error) == (6, "/charge: 250 is greater than the maximum of 100")
        [(rows_in, written, letters, offsets)] = fetch(
            warehouse, "SELECT input_rows, rows_written, dead_letters, end_offsets"
            " FROM platform.stream_progress WHERE query_name = 'staged_test'")
        assert (rows_in, written, letters, offsets) == (7, 6, 1, {"0": 7})
        assert staging_tables(warehouse) == []  # dropped with the commit

        # Spark replays a batch whose commit it did not see: nothing changes, no staging.
        assert load.begin(0) is None
        assert fetch(warehouse, "SELECT count(*) FROM platform.stream_progress") == [(1,)]
        assert staging_tables(warehouse) == []
    finally:
        loader.close()


def test_a_failed_attempt_leaves_nothing_and_its_replay_loads_each_row_once(warehouse) -> None:
    loader = PostgresLoader(warehouse)
    try:
        # A driver crashed while its executors staged batch 1 (its checkpoint lost with it).
        crashed = staged_load(warehouse, loader)
        stage_partition(crashed.begin(1), partitions(7, 4, ids_from=50)[0])
        assert len(staging_tables(warehouse)) == 2

        # The new driver's batch 0 fails after two partitions staged (a task failed) ...
        driver = staged_load(warehouse, loader)
        plan = driver.begin(0)
        assert staging_tables(warehouse) == [plan.batch.rows_table, plan.batch.letters_table]
        for part in partitions(0, 6)[:2]:
            stage_partition(plan, part)
        assert fetch(warehouse, "SELECT count(*) FROM fleet.hoverboard") == [(0,)]

        # ... and Spark runs it again: what the failed attempt staged is cleared first.
        plan = driver.begin(0)
        assert fetch(warehouse, f"SELECT count(*) FROM staging.{plan.batch.rows_table}") \
            == [(0,)]
        summaries = [stage_partition(plan, part) for part in partitions(0, 6)]
        result = driver.commit(plan, summaries, started=0.0)
        assert result.written == 6
        assert fetch(warehouse, "SELECT count(*), min(id), max(id) FROM fleet.hoverboard") \
            == [(6, 1, 6)]
        assert fetch(warehouse, "SELECT count(*) FROM platform.dead_letters") == [(1,)]
        assert staging_tables(warehouse) == []
    finally:
        loader.close()


def test_the_executor_function_runs_from_a_pickled_plan(warehouse) -> None:
    """What Spark ships to executors: the plan pickled, the DSN not in its repr (logs)."""
    import pickle

    loader = PostgresLoader(warehouse)
    try:
        load = staged_load(warehouse, loader)
        plan = pickle.loads(pickle.dumps(load.begin(0)))
        assert "password" not in repr(plan) and warehouse not in repr(plan)
        summary = stage_partition(plan, partitions(0, 2)[0])
        assert json.loads(summary.to_json())["max_offsets"] == [[0, 0]]
    finally:
        loader.close()
