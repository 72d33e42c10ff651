"""Every statement we would send to Redshift parses with a real Redshift-dialect parser, and
obeys the Redshift rules that a parser cannot see (loader/REDSHIFT.md lists their sources).

Redshift cannot run here; sqlglot's ``redshift`` dialect stands in for its parser. A
statement sqlglot cannot model falls back to a generic ``Command``: that is not a parse, so
it is only accepted for the statements listed below, checked by their exact shape.

The rules, for every statement the loader, the bookkeeping and the migrations send:
no ``ALTER COLUMN`` inside a transaction; locks first and in the one global order; a range
predicate with literal bounds on the leading sort key in every merge into an event table;
Redshift VARCHARs sized in bytes for every string limit of the schemas; every bound
parameter cast to its type; no timestamptz default from a TIMESTAMP function.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
import sqlglot
from hoverboard.warehouse import migrations
from hoverboard.warehouse.migrations import NO_TRANSACTION, discover
from sqlglot import exp

from loader import bookkeeping
from loader.base import CSV_NULL
from loader.concurrency import lock_order
from loader.redshift import (
    SESSION_TIME_ZONE,
    after_copy,
    before_copy,
    copy_statement,
    range_statement,
)
from loader.tables import table_spec
from schemas import latest
from tests.support.redshift import parse_redshift

MESSAGE_TYPES = ["hoverboard", "customer", "trip"]
S3_URI = "s3://bucket/staging/x.csv.gz"
ROLE = "arn:aws:iam::123456789012:role/hover-loader"



@pytest.mark.parametrize("migration", discover("redshift"), ids=lambda m: m.path.name)
def test_redshift_migrations_parse(migration) -> None:
    assert migration.statements
    for statement in migration.statements:
        parse_redshift(statement)


def test_runner_statements_parse_as_redshift() -> None:
    for statement in (*migrations.LEDGER_DDL, migrations.SELECT_APPLIED,
                      migrations.INSERT_APPLIED, migrations.REDSHIFT_LOCK):
        parse_redshift(statement)


def test_fleet_tables_have_a_physical_design() -> None:
    tables = redshift_tables()
    for name in ("fleet.hoverboard", "fleet.customer", "fleet.trip"):
        props = tables[name].args["properties"].sql(dialect="redshift")
        assert "DISTSTYLE" in props and "SORTKEY" in props, f"{name}: {props}"


def test_both_engines_create_the_same_columns() -> None:
    def columns(engine: str) -> dict[str, list[str]]:
        found = {}
        for migration in discover(engine):
            for statement in migration.statements:
                if "CREATE TABLE" not in statement:  # sqlglot cannot read ATTACH RLS POLICY
                    continue
                parsed = sqlglot.parse_one(statement, read=engine)
                if isinstance(parsed, exp.Create) and parsed.kind == "TABLE":
                    found[parsed.this.this.sql()] = [
                        c.name for c in parsed.this.expressions if isinstance(c, exp.ColumnDef)]
        return found

    assert columns("postgres") == columns("redshift")


def sample_bounds(spec) -> tuple:
    if spec.range_by in spec.time_columns:
        return (datetime(2026, 11, 27, 9, tzinfo=UTC), datetime(2026, 11, 27, 10, tzinfo=UTC))
    return (1, 500)


def load_statements(message_type: str, also_lock=()) -> list[str]:
    """Every statement one load sends, in the order RedshiftLoader sends them."""
    spec = table_spec(message_type)
    return [*before_copy(spec, "stage_x", also_lock=also_lock),
            copy_statement(spec, "stage_x", S3_URI, ROLE), range_statement(spec, "stage_x"),
            *after_copy(spec, "stage_x", sample_bounds(spec))]


def all_sent_statements() -> list[str]:
    """Everything the Redshift loader and the bookkeeping can send."""
    statements = [SESSION_TIME_ZONE]
    for message_type in MESSAGE_TYPES:
        statements += load_statements(message_type)
        statements += load_statements(message_type, also_lock=bookkeeping.TABLES)
        statements.append(copy_statement(table_spec(message_type), "stage_x", S3_URI, ROLE,
                                         manifest=True))
    return statements + [*bookkeeping_statements(), migrations.INSERT_APPLIED]


def bookkeeping_statements() -> list[str]:
    return [bookkeeping.dead_letter_statement("redshift", 1, (5, 5)),
            bookkeeping.dead_letter_statement("redshift", 3, (7, 90)),
            bookkeeping.DELETE_PROGRESS, bookkeeping.INSERT_PROGRESS["redshift"],
            bookkeeping.LATEST_OFFSETS]


@pytest.mark.parametrize("message_type", MESSAGE_TYPES)
def test_loader_statements_parse_as_redshift(message_type) -> None:
    spec = table_spec(message_type)
    statements = load_statements(message_type)
    kinds = [type(parse_redshift(s)).__name__ for s in statements]
    assert kinds[:4] == ["Command", "Create", "Copy", "Select"]  # LOCK first
    assert ("Merge" in kinds) == (spec.mode == "latest")
    copy = statements[2]
    assert f"IAM_ROLE '{ROLE}'" in copy
    assert "ACCESS_KEY_ID" not in copy and "SECRET_ACCESS_KEY" not in copy


@pytest.mark.parametrize("message_type", MESSAGE_TYPES)
def test_copy_reads_nulls_and_timestamps_as_the_writer_writes_them(message_type) -> None:
    copy = parse_redshift(copy_statement(table_spec(message_type), "stage_x", S3_URI, ROLE))
    options = copy.sql(dialect="redshift")
    # Without NULL AS, Redshift's CSV COPY loads an empty VARCHAR field as ''.
    assert f"NULL AS '{CSV_NULL}'" in options
    assert "TIMEFORMAT 'auto'" in options and "EMPTYASNULL" not in options


@pytest.mark.parametrize("message_type", MESSAGE_TYPES)
def test_a_batch_staged_by_executors_is_one_copy_of_its_manifest(message_type) -> None:
    """loader.staged: the files of the batch's tasks, listed in a manifest, one COPY."""
    statement = copy_statement(table_spec(message_type), "stage_x", S3_URI, ROLE,
                               manifest=True)
    options = parse_redshift(statement).sql(dialect="redshift")
    assert options.endswith(" MANIFEST") and f"IAM_ROLE '{ROLE}'" in options
    assert f"FROM '{S3_URI}'" in options and f"NULL AS '{CSV_NULL}'" in options


@pytest.mark.parametrize("also_lock", [(), bookkeeping.TABLES], ids=["ingest", "sink"])
@pytest.mark.parametrize("message_type", MESSAGE_TYPES)
def test_a_load_locks_every_table_it_writes_first_and_in_order(message_type, also_lock) -> None:
    spec = table_spec(message_type)
    first, *rest = load_statements(message_type, also_lock)
    locked = [t.replace('"', "") for t in first.removeprefix("LOCK ").split(", ")]
    assert locked == list(lock_order([spec.table, *also_lock]))
    assert not any(s.startswith("LOCK") for s in rest)
    # Everything written is locked: the target, and the bookkeeping tables of a sink.
    written = {spec.table} | set(also_lock)
    for statement in rest:
        parsed = parse_redshift(statement)
        if isinstance(parsed, exp.Insert | exp.Merge | exp.Update | exp.Delete):
            table = parsed.this if isinstance(parsed.this, exp.Table) else parsed.find(exp.Table)
            assert f"{table.db}.{table.name}" in written, statement


@pytest.mark.parametrize("message_type", MESSAGE_TYPES)
def test_merges_scan_only_the_batch_range_of_the_sort_key(message_type) -> None:
    spec = table_spec(message_type)
    checked = 0
    for statement in after_copy(spec, "stage_x", sample_bounds(spec)):
        parsed = parse_redshift(statement)
        for exists in parsed.find_all(exp.Exists):
            [target] = [t for t in exists.find_all(exp.Table)
                        if f"{t.db}.{t.name}" == spec.table]
            between = [b for b in exists.find_all(exp.Between)
                       if b.this.name == spec.range_by and b.this.table == target.alias]
            assert between, f"no range predicate on {spec.range_by}: {statement}"
            for bound in (between[0].args["low"], between[0].args["high"]):
                # Constants, not subqueries: what lets zone maps skip blocks.
                assert not list(bound.find_all(exp.Select, exp.Column)), statement
            checked += 1
    assert checked == 1


def test_range_columns_lead_the_redshift_sort_keys() -> None:
    created = redshift_tables()
    for message_type in MESSAGE_TYPES:
        spec = table_spec(message_type)
        props = created[spec.table].args["properties"].sql(dialect="redshift")
        sortkey = re.search(r"SORTKEY ?\(([^)]*)\)", props).group(1)
        assert sortkey.split(",")[0].strip() == spec.range_by, props


def test_dead_letters_are_one_statement_scanning_only_the_batch_offsets() -> None:
    statement = bookkeeping.dead_letter_statement("redshift", 3, (7, 90))
    parsed = parse_redshift(statement)
    assert isinstance(parsed, exp.Insert)
    assert statement.count("%s") == 3 * len(bookkeeping.STORED_DEAD_LETTER_COLUMNS)
    [between] = list(parsed.find(exp.Exists).find_all(exp.Between))
    assert (between.this.name, between.args["low"].name, between.args["high"].name) == (
        "source_offset", "7", "90")


def test_every_bound_parameter_is_cast_to_its_type() -> None:
    for statement in all_sent_statements():
        placeholders = statement.count("%s")
        cast = len(re.findall(r"CAST\(%s AS [a-z ]+(?:\(\d+\))?\)", statement))
        assert placeholders == cast, f"untyped parameter in:\n{statement}"


def test_no_statement_uses_a_leader_node_only_or_session_time_function() -> None:
    for statement in all_sent_statements():
        assert not re.search(r"CURRENT_TIMESTAMP|\bNOW\(|GETDATE|SYSDATE", statement, re.I)


def redshift_tables() -> dict[str, exp.Create]:
    tables = {}
    for migration in discover("redshift"):
        for statement in migration.statements:
            parsed = parse_redshift(statement)
            if isinstance(parsed, exp.Create) and parsed.kind == "TABLE":
                tables[parsed.this.this.sql()] = parsed
    return tables


def redshift_column_types() -> dict[tuple[str, str], exp.DataType]:
    """(table, column) -> type once every Redshift migration is applied."""
    types = {}
    for migration in discover("redshift"):
        for statement in migration.statements:
            parsed = parse_redshift(statement)
            if isinstance(parsed, exp.Create) and parsed.kind == "TABLE":
                for column in parsed.this.expressions:
                    if isinstance(column, exp.ColumnDef):
                        types[(parsed.this.this.sql(), column.name)] = column.args["kind"]
            elif isinstance(parsed, exp.Alter):
                table = parsed.this.sql()
                for action in parsed.args["actions"]:
                    if isinstance(action, exp.AlterColumn) and action.args.get("dtype"):
                        types[(table, action.name)] = action.args["dtype"]
                    elif isinstance(action, exp.ColumnDef):
                        types[(table, action.name)] = action.args["kind"]
    return types


def _schema_node(schema: dict, pointer: str) -> dict:
    node = schema
    for part in pointer.strip("/").split("/"):
        node = node["properties"][part]
    return node


def byte_limits() -> dict[tuple[str, str], int]:
    """(table, column) -> characters the schemas or the code allow in it."""
    limits = {("platform.dead_letters", "error"): bookkeeping.MAX_ERROR_CHARS}
    for message_type in MESSAGE_TYPES:
        spec = table_spec(message_type)
        schema = latest(message_type).schema
        for column, pointer in spec.columns:
            node = _schema_node(schema, pointer)
            if node.get("type") == "string" and "maxLength" in node:
                limits[(spec.table, column)] = node["maxLength"]
    return limits


def test_varchars_hold_every_schema_string_at_four_bytes_a_character() -> None:
    types = redshift_column_types()
    limits = byte_limits()
    assert {("fleet.customer", "first_name"), ("fleet.customer", "email")} <= set(limits)
    for (table, column), characters in limits.items():
        kind = types[(table, column)]
        assert kind.this == exp.DataType.Type.VARCHAR, (table, column, kind)
        size = int(kind.expressions[0].this.name)
        assert size >= 4 * characters, f"{table}.{column}: varchar({size}) < 4 x {characters}"


def test_alter_column_runs_only_outside_a_transaction() -> None:
    for migration in discover("redshift"):
        for statement in migration.statements:
            parsed = parse_redshift(statement)
            alters_type = isinstance(parsed, exp.Alter) and any(
                isinstance(a, exp.AlterColumn) and a.args.get("dtype")
                for a in parsed.args["actions"])
            if alters_type:
                assert not migration.transactional, (
                    f"{migration.path.name}: ALTER COLUMN ... TYPE needs a first line "
                    f"{NO_TRANSACTION!r} (Redshift refuses it in a transaction block)")


# Applied before the rule: Redshift cannot change a column's default (ALTER TABLE has no SET
# DEFAULT), and editing an applied file would stop the runner. GETDATE() is UTC there because
# every Redshift session of ours sets its time zone to UTC first (loader/REDSHIFT.md).
SESSION_TIME_DEFAULTS = {1, 2, 3, 5}


def test_timestamptz_defaults_do_not_come_from_timestamp_functions() -> None:
    for migration in discover("redshift"):
        if migration.version in SESSION_TIME_DEFAULTS:
            continue
        for statement in migration.statements:
            for column in parse_redshift(statement).find_all(exp.ColumnDef):
                text = column.sql(dialect="redshift").upper()
                if "TIMESTAMPTZ" in text or "WITH TIME ZONE" in text:
                    assert not re.search(r"DEFAULT (GETDATE|SYSDATE)", text), (
                        f"{migration.path.name}: {text} (GETDATE/SYSDATE are TIMESTAMP, in "
                        "the session's time zone)")


def test_bookkeeping_statements_parse_as_redshift() -> None:
    for statement in bookkeeping_statements():
        parse_redshift(statement)


def test_data_quality_checks_parse_as_redshift() -> None:
    from hoverboard.operators.quality import RESULT_DELETE, RESULT_INSERT
    from hoverboard.quality.checks import build_checks, load_config

    checks = build_checks(load_config())
    assert checks
    for check in checks:
        assert check.sql.count("%s") == 1, check.name  # exactly one parameter
        parse_redshift(check.sql.replace("%s", "'2026-11-27T10:00:00+00:00'"))
    for statement in (RESULT_DELETE, RESULT_INSERT):
        parse_redshift(statement)
