"""The SQL backups would send to Redshift, parsed with sqlglot's Redshift dialect.

``UNLOAD`` is not modelled by sqlglot (it falls back to a generic ``Command``): the whole
statement is checked against its exact shape, and the query inside it, unquoted, is parsed
for real. No statement may carry access keys: Redshift reads and writes S3 with an IAM role.
"""

from __future__ import annotations

import re
from datetime import date

import pytest
import sqlglot
from hoverboard.backup import catalog
from hoverboard.backup.engines import RedshiftEngine
from hoverboard.backup.layout import Layout
from hoverboard.backup.service import COLUMNS, BackupService, RestoreSQL
from hoverboard.backup.tables import backup_table
from psycopg import sql
from sqlglot import exp

from tests.support.redshift import parse_redshift

ROLE = "arn:aws:iam::123456789012:role/hover-backup"
LAYOUT = Layout("hoverboard-backups", "warehouse")
HOVERBOARD_COLUMNS = ["id", "event_time", "elevation", "temperature", "latitude", "longitude",
                      "humidity", "charge", "speed", "isdocked", "weight", "acceleration",
                      "magneticfield", "source_topic", "source_partition", "source_offset",
                      "received_at", "loaded_at"]
UNLOAD = re.compile(
    r"^UNLOAD \('(?P<query>(?:[^']|'')*)'\) TO 's3://hoverboard-backups/(?P<key>[^']+)part_'"
    r" IAM_ROLE '(?P<role>arn:aws:iam::\d{12}:role/[\w+=,.@-]+)' FORMAT AS PARQUET"
    r" MANIFEST VERBOSE MAXFILESIZE 256 MB$")
FORBIDDEN = re.compile(r"ACCESS_KEY|SECRET|SESSION_TOKEN|CREDENTIALS|aws_access", re.I)


def engine() -> RedshiftEngine:
    return RedshiftEngine(store=None, layout=LAYOUT, iam_role=ROLE)  # type: ignore[arg-type]


def unload_for(name: str, day: date, **kw) -> str:
    table = backup_table(name)
    columns = HOVERBOARD_COLUMNS if name == "hoverboard" else ["id", "loaded_at"]
    select = BackupService.select(table.identifier, columns, table, day, **kw)
    return engine().unload_statement(select, LAYOUT.folder(name, table.kind, day) + "run=X/")


def test_unload_of_a_day_has_its_exact_shape() -> None:
    statement = unload_for("hoverboard", date(2026, 11, 26))
    parsed = sqlglot.parse_one(statement, read="redshift")
    assert isinstance(parsed, exp.Command) and parsed.name == "UNLOAD"
    match = UNLOAD.match(statement)
    assert match, statement
    assert match["key"] == "warehouse/hoverboard/dt=2026-11-26/run=X/"
    assert match["role"] == ROLE
    assert not FORBIDDEN.search(statement)

    query = parse_redshift(match["query"].replace("''", "'"))
    assert isinstance(query, exp.Select)
    assert [c.name for c in query.expressions] == HOVERBOARD_COLUMNS
    assert query.find(exp.Table).sql(dialect="redshift") == '"fleet"."hoverboard"'
    assert query.args["where"].this == parse_redshift(
        "SELECT 1 WHERE \"event_time\" >= CAST('2026-11-26T00:00:00+00:00' AS TIMESTAMPTZ)"
        " AND \"event_time\" < CAST('2026-11-27T00:00:00+00:00' AS TIMESTAMPTZ)"
    ).args["where"].this


def test_unload_of_a_snapshot_and_of_a_verification_parse() -> None:
    from datetime import UTC, datetime

    snapshot = unload_for("customer", date(2026, 11, 26))
    match = UNLOAD.match(snapshot)
    assert match and match["key"] == "warehouse/customer/snapshot/dt=2026-11-26/run=X/"
    assert "WHERE" not in match["query"]
    parse_redshift(match["query"].replace("''", "'"))

    verify = unload_for("trip", date(2026, 11, 26),
                        loaded_before=datetime(2026, 11, 27, 0, 4, tzinfo=UTC))
    match = UNLOAD.match(verify)
    assert match, verify
    query = parse_redshift(match["query"].replace("''", "'"))
    loaded_before = parse_redshift(
        "SELECT 1 WHERE \"loaded_at\" < CAST('2026-11-27T00:04:00+00:00' AS TIMESTAMPTZ)")
    assert loaded_before.args["where"].this in list(query.find_all(exp.LT))
    assert not FORBIDDEN.search(verify)


def test_unload_refuses_a_query_it_cannot_quote_safely() -> None:
    select = sql.SQL("SELECT {} FROM t").format(sql.Literal("a\\b"))
    with pytest.raises(ValueError, match="backslash"):
        engine().unload_statement(select, "x/")


def test_redshift_engine_needs_an_iam_role() -> None:
    with pytest.raises(ValueError, match="backup_iam_role"):
        RedshiftEngine(store=None, layout=LAYOUT, iam_role="")  # type: ignore[arg-type]


def test_copy_for_restores_parses_with_the_role() -> None:
    statement = engine().copy_statement(sql.Identifier("restore_stage_1a2b3c4d"),
                                        "s3://hoverboard-backups/warehouse/_tmp/x/copy.manifest")
    parsed = parse_redshift(statement)
    assert isinstance(parsed, exp.Copy)
    assert parsed.args["credentials"].args["iam_role"].name == ROLE
    assert not FORBIDDEN.search(statement)
    assert statement.endswith("FORMAT AS PARQUET MANIFEST")


@pytest.mark.parametrize("name", ["hoverboard", "trip", "customer"])
def test_restore_statements_parse(name) -> None:
    table = backup_table(name)
    target = sql.Identifier(f"restore_{name}", table.table)
    statements = RestoreSQL(target, "restore_stage_1a2b3c4d", ["id", "loaded_at"], table.key,
                            table.version_by, added=["battery_cycles"])
    kinds = [type(parse_redshift(s)).__name__ for s in (
        statements.create_stage, *statements.drop_added, statements.delete, statements.insert,
        statements.staged.as_string(None), statements.applied.as_string(None),
        statements.restored.as_string(None), statements.drop_stage)]
    assert kinds == ["Create", "Alter", "Delete", "Insert", "Select", "Select", "Select", "Drop"]
    # Customers: the latest profile wins, as in the loader; events: every backed-up row.
    assert ("updated_at" in statements.delete) == (name == "customer")
    assert statements.create_stage.startswith("CREATE TEMP TABLE")


def test_catalog_and_helper_statements_parse() -> None:
    scratch = RestoreSQL.scratch_table("restore_trip", "trip", sql.Identifier("fleet", "trip"))
    assert [type(parse_redshift(s)).__name__ for s in scratch] == ["Create", "Create"]
    for statement in (*catalog.STATEMENTS, COLUMNS, *RedshiftEngine.NOW_STATEMENTS):
        parse_redshift(statement)
