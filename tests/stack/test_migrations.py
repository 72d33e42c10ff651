"""The migration runner against the stack's real PostgreSQL, each test on an empty database."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import psycopg
import pytest
from hoverboard.warehouse.migrations import (
    MIGRATIONS_DIR,
    MigrationError,
    MigrationRunner,
    discover,
)

from runtime.settings import warehouse_dsn
from tests.support import scratch_database


@pytest.fixture
def empty_db(stack_env):
    """A fresh database on the stack's server; its DSN."""
    with scratch_database(warehouse_dsn(stack_env), "migtest", migrate=False) as dsn:
        yield dsn


@pytest.fixture
def migrations_dir(tmp_path) -> Path:
    """A copy of sql/migrations that a test may add files to or edit."""
    target = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, target)
    return target


def runner(dsn: str, directory: Path = MIGRATIONS_DIR, **kw) -> MigrationRunner:
    return MigrationRunner(lambda: psycopg.connect(dsn), "postgres", directory=directory,
                           applied_by="pytest", **kw)


def ledger(dsn: str) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "SELECT version, name, checksum, applied_by, duration_ms >= 0"
            " FROM platform.schema_migrations ORDER BY version").fetchall()


def tables(dsn: str, schema: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT table_name FROM information_schema.tables"
                            " WHERE table_schema = %s", (schema,)).fetchall()
    return {r[0] for r in rows}


def test_empty_database_gets_every_migration(empty_db) -> None:
    expected = discover("postgres")
    assert [m.path.name for m in runner(empty_db).pending()] == [m.path.name for m in expected]
    applied = runner(empty_db).migrate()
    assert [a.version for a in applied] == [m.version for m in expected]
    assert ledger(empty_db) == [(m.version, m.name, m.checksum, "pytest", True) for m in expected]
    assert {"hoverboard", "customer", "trip"} <= tables(empty_db, "fleet")


def test_second_run_applies_nothing(empty_db) -> None:
    runner(empty_db).migrate()
    before = ledger(empty_db)
    assert runner(empty_db).migrate() == []
    assert runner(empty_db).pending() == []
    assert ledger(empty_db) == before


def test_changed_applied_file_stops_the_run(empty_db, migrations_dir) -> None:
    runner(empty_db, migrations_dir).migrate()
    first = sorted(migrations_dir.glob("V0001__*.postgres.sql"))[0]
    first.write_text(first.read_text() + "\n-- an innocent-looking edit\n")
    (migrations_dir / "V9000__new_table.sql").write_text("CREATE TABLE fleet.added (id int);")
    with pytest.raises(MigrationError, match=rf"{first.name} changed after it was applied"):
        runner(empty_db, migrations_dir).migrate()
    assert "added" not in tables(empty_db, "fleet")
    assert [row[0] for row in ledger(empty_db)] == [m.version for m in discover("postgres")]


def test_failing_migration_is_rolled_back_and_named(empty_db, migrations_dir) -> None:
    runner(empty_db, migrations_dir).migrate()
    before = ledger(empty_db)
    (migrations_dir / "V9001__broken.sql").write_text(
        "CREATE TABLE fleet.half_done (id int);\n"
        "ALTER TABLE fleet.no_such_table ADD COLUMN x int;\n"
    )
    with pytest.raises(MigrationError) as err:
        runner(empty_db, migrations_dir).migrate()
    message = str(err.value)
    assert "V9001__broken.sql: statement 2 of 2 failed" in message
    assert "ALTER TABLE fleet.no_such_table" in message
    assert "half_done" not in tables(empty_db, "fleet")  # statement 1 rolled back too
    assert ledger(empty_db) == before


def test_concurrent_runs_never_both_apply(empty_db, migrations_dir) -> None:
    # A slow migration keeps the first run inside its lock while the second arrives.
    (migrations_dir / "V9002__slow.sql").write_text(
        "CREATE TABLE fleet.slow (id int);\nSELECT pg_sleep(1.5);\n")
    results: dict[str, object] = {}

    def run(label: str) -> None:
        try:
            results[label] = runner(empty_db, migrations_dir).migrate()
        except Exception as exc:  # noqa: BLE001 - recorded for the assertion below
            results[label] = exc

    threads = [threading.Thread(target=run, args=(name,)) for name in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    applied = [r for r in results.values() if isinstance(r, list) and r]
    assert len(applied) == 1, results  # one run applied everything ...
    others = [r for r in results.values() if r is not applied[0]]
    assert others == [[]]  # ... the other waited, then found nothing to do
    versions = [row[0] for row in ledger(empty_db)]
    assert versions == sorted(set(versions)) and 9002 in versions


def test_lock_timeout_fails_clearly(empty_db, migrations_dir) -> None:
    runner(empty_db, migrations_dir).migrate()
    holder = psycopg.connect(empty_db, autocommit=True)
    try:
        holder.execute("SELECT pg_advisory_lock(%s)", (0x686F766572,))
        with pytest.raises(MigrationError, match="another migration run holds the lock"):
            runner(empty_db, migrations_dir, lock_timeout_s=1).migrate()
    finally:
        holder.close()


def test_engine_variants_are_chosen_per_engine(tmp_path) -> None:
    (tmp_path / "V0001__t.postgres.sql").write_text("SELECT 1;")
    (tmp_path / "V0001__t.redshift.sql").write_text("SELECT 2;")
    (tmp_path / "V0002__shared.sql").write_text("SELECT 3;")
    assert [m.path.name for m in discover("redshift", tmp_path)] == [
        "V0001__t.redshift.sql", "V0002__shared.sql"]
    assert [m.path.name for m in discover("postgres", tmp_path)] == [
        "V0001__t.postgres.sql", "V0002__shared.sql"]
    (tmp_path / "V0003__pg_only.postgres.sql").write_text("SELECT 4;")
    with pytest.raises(MigrationError, match="V0003__pg_only has no redshift variant"):
        discover("redshift", tmp_path)


def indexes(dsn: str, table: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname || '.' ||"
                            " tablename = %s", (table,)).fetchall()
    return {r[0] for r in rows}


def test_a_migration_can_declare_it_runs_outside_a_transaction(empty_db, migrations_dir) -> None:
    # PostgreSQL refuses CREATE INDEX CONCURRENTLY in a transaction block, as Redshift
    # refuses ALTER COLUMN ... TYPE: the marker on the first line makes such a file work.
    (migrations_dir / "V9003__concurrent_index.sql").write_text(
        "-- hover:no-transaction\n"
        "-- Built without blocking writers.\n"
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS dead_letters_query_idx"
        " ON platform.dead_letters (query_name);\n"
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS dead_letters_loaded_idx"
        " ON platform.dead_letters (loaded_at);\n")
    applied = runner(empty_db, migrations_dir).migrate()
    assert applied[-1].version == 9003
    assert {"dead_letters_query_idx", "dead_letters_loaded_idx"} <= indexes(
        empty_db, "platform.dead_letters")
    assert ledger(empty_db)[-1][:2] == (9003, "concurrent_index")
    # The next migration runs in a transaction again (its failure rolls back).
    (migrations_dir / "V9004__broken.sql").write_text(
        "CREATE TABLE fleet.after_marker (id int);\nSELECT no_such_function();\n")
    with pytest.raises(MigrationError, match="the migration was rolled back"):
        runner(empty_db, migrations_dir).migrate()
    assert "after_marker" not in tables(empty_db, "fleet")


def test_without_the_marker_such_a_statement_fails_clearly(empty_db, migrations_dir) -> None:
    runner(empty_db, migrations_dir).migrate()
    (migrations_dir / "V9005__needs_marker.sql").write_text(
        "CREATE INDEX CONCURRENTLY dead_letters_x_idx ON platform.dead_letters (error);\n")
    with pytest.raises(MigrationError, match="cannot run inside a transaction block"):
        runner(empty_db, migrations_dir).migrate()


def test_a_failed_no_transaction_migration_says_what_stays_applied(empty_db,
                                                                   migrations_dir) -> None:
    runner(empty_db, migrations_dir).migrate()
    (migrations_dir / "V9006__half.sql").write_text(
        "-- hover:no-transaction\n"
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS half_idx ON platform.dead_letters (error);\n"
        "CREATE INDEX CONCURRENTLY broken_idx ON platform.no_such_table (x);\n")
    with pytest.raises(MigrationError, match="statements 1 to 1 stay applied"):
        runner(empty_db, migrations_dir).migrate()
    assert 9006 not in [row[0] for row in ledger(empty_db)]
    # Fixed and run again: the idempotent first statement is harmless the second time.
    (migrations_dir / "V9006__half.sql").write_text(
        "-- hover:no-transaction\n"
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS half_idx ON platform.dead_letters (error);\n")
    assert [a.version for a in runner(empty_db, migrations_dir).migrate()] == [9006]
