"""Every statement we would send to Redshift parses with a real Redshift-dialect parser.

Redshift cannot run here; sqlglot's ``redshift`` dialect stands in for its parser (see
tests/support/redshift.py for the statements it cannot model and the shapes allowed there).
"""

from __future__ import annotations

import pytest
import sqlglot
from hoverboard.warehouse import migrations
from hoverboard.warehouse.migrations import discover
from sqlglot import exp

from tests.support.redshift import parse_redshift


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
    tables = {}
    for migration in discover("redshift"):
        for statement in migration.statements:
            parsed = parse_redshift(statement)
            if isinstance(parsed, exp.Create) and parsed.kind == "TABLE":
                tables[parsed.this.this.sql()] = parsed
    for name in ("fleet.hoverboard", "fleet.customer", "fleet.trip"):
        props = tables[name].args["properties"].sql(dialect="redshift")
        assert "DISTSTYLE" in props and "SORTKEY" in props, f"{name}: {props}"


def test_both_engines_create_the_same_columns() -> None:
    def columns(engine: str) -> dict[str, list[str]]:
        found = {}
        for migration in discover(engine):
            for statement in migration.statements:
                parsed = sqlglot.parse_one(statement, read=engine)
                if isinstance(parsed, exp.Create) and parsed.kind == "TABLE":
                    found[parsed.this.this.sql()] = [
                        c.name for c in parsed.this.expressions if isinstance(c, exp.ColumnDef)]
        return found

    assert columns("postgres") == columns("redshift")


@pytest.mark.parametrize("message_type", ["hoverboard", "customer", "trip"])
def test_loader_statements_parse_as_redshift(message_type) -> None:
    from loader.redshift import copy_statement, load_statements
    from loader.tables import table_spec

    spec = table_spec(message_type)
    before, after = load_statements(spec, "stage_x")
    statements = [*before, copy_statement(spec, "stage_x", "s3://bucket/staging/x.csv.gz",
                                          "arn:aws:iam::123456789012:role/hover-loader"), *after]
    kinds = [type(parse_redshift(s)).__name__ for s in statements]
    assert kinds[0] == "Create" and kinds[1] == "Copy"
    assert ("Merge" in kinds) == (spec.mode == "latest")
    copy = statements[1]
    assert "IAM_ROLE 'arn:aws:iam::123456789012:role/hover-loader'" in copy
    assert "ACCESS_KEY_ID" not in copy and "SECRET_ACCESS_KEY" not in copy


def test_bookkeeping_statements_parse_as_redshift() -> None:
    from loader import bookkeeping

    for statement in (bookkeeping.INSERT_DEAD_LETTER["redshift"], bookkeeping.DELETE_PROGRESS,
                      bookkeeping.INSERT_PROGRESS["redshift"], bookkeeping.LATEST_OFFSETS):
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
