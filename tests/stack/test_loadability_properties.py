"""Accepted means loadable, as a property: events generated from the v1 schemas, biased
toward what warehouses refuse (NUL, non-ASCII text up to maxLength, extreme offsets and
years, the ends of every range), go through the real validator and the real batch path
(``loader.batch``) into a scratch PostgreSQL database. Each accepted event is a row or a
dead letter, and every batch commits. The same events go through the Redshift checks,
with Redshift's columns read from its migrations (sqlglot's redshift dialect).

Seeded and derandomized (the same events on every run); ``HOVER_PROPERTY_BATCHES`` sets the
number of batches per type (default 150 batches of 15 to 25 events, about 3,000 generated
and 2,000 to 2,700 accepted per type; fewer for a quick local run).
"""

from __future__ import annotations

import itertools
import os

import psycopg
import pytest
from hoverboard.warehouse.migrations import discover
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema
from sqlglot import exp

from loader.batch import BatchLoad
from loader.limits import TableLimits, limits_from_catalog, row_problems
from loader.postgres import PostgresLoader
from loader.tables import table_spec
from runtime.settings import warehouse_dsn
from schemas import latest, message_types
from schemas.validation import EMAIL_PATTERN, EventValidator
from tests.support import scratch_database
from tests.support.redshift import parse_redshift
from tests.support.streaming import batch_rows

BATCHES = int(os.environ.get("HOVER_PROPERTY_BATCHES", "150"))
SETTINGS = settings(max_examples=BATCHES, derandomize=True, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])
KEYS = {"hoverboard": ("id",), "customer": ("id",), "trip": ("customer_id",)}


@st.composite
def date_times(draw) -> str:
    """RFC 3339 date-times, often at the ends of time: years 1 and 9999, offsets up to
    ±23:59, fractions finer than a microsecond."""
    year = draw(st.sampled_from([1, 9999, 1970, 2026]) | st.integers(1, 9999))
    month, day = draw(st.sampled_from([(1, 1), (12, 31), (2, 28)])
                      | st.tuples(st.integers(1, 12), st.integers(1, 28)))
    clock = draw(st.sampled_from([(0, 0, 0), (23, 59, 59)])
                 | st.tuples(st.integers(0, 23), st.integers(0, 59), st.integers(0, 59)))
    fraction = draw(st.sampled_from(["", ".5", ".999999", ".9999995", ".000000001"]))
    offset = draw(st.sampled_from(["Z", "+00:00", "+05:00", "-05:00", "+14:00", "-12:00",
                                   "+15:59", "+16:00", "-23:59", "+23:59"]))
    return (f"{year:04d}-{month:02d}-{day:02d}T{clock[0]:02d}:{clock[1]:02d}:{clock[2]:02d}"
            f"{fraction}{offset}")


def text_fields(schema: dict, path: tuple = ()):
    """(path, maxLength) of the schema's free-text fields (no format)."""
    for name, node in schema.get("properties", {}).items():
        if node.get("type") == "object":
            yield from text_fields(node, (*path, name))
        elif node.get("type") == "string" and "format" not in node:
            yield (*path, name), node.get("maxLength", 100)


@st.composite
def events(draw, message_type: str) -> dict:
    schema = latest(message_type).schema
    event = draw(from_schema(schema, custom_formats={
        "date-time": date_times(), "email": st.from_regex(EMAIL_PATTERN, fullmatch=True)}))
    # Half the events get a hard text value: what differs between engines and encodings.
    fields = list(text_fields(schema))
    if fields and draw(st.booleans()):
        path, longest = draw(st.sampled_from(fields))
        value = draw(st.sampled_from(["Ada\x00", "\x00", "é" * longest, "😀" * longest,
                                      "a" * longest, "é" * (longest // 2)]))
        parent = event
        for part in path[:-1]:
            parent = parent[part]
        parent[path[-1]] = value
    return event


def redshift_limits(table: str, *, before: int | None = None) -> TableLimits:
    """The table's columns as the Redshift migrations define them (CREATE TABLE, then any
    ALTER COLUMN ... TYPE), in information_schema's terms; with ``before``, as the
    migrations numbered lower than that left them."""
    names = {exp.DataType.Type.BIGINT: "bigint", exp.DataType.Type.INT: "integer",
             exp.DataType.Type.SMALLINT: "smallint", exp.DataType.Type.DOUBLE: "double precision",
             exp.DataType.Type.FLOAT: "real", exp.DataType.Type.VARCHAR: "character varying",
             exp.DataType.Type.CHAR: "character", exp.DataType.Type.BOOLEAN: "boolean",
             exp.DataType.Type.TIMESTAMPTZ: "timestamp with time zone",
             exp.DataType.Type.TIMESTAMP: "timestamp without time zone",
             exp.DataType.Type.DECIMAL: "numeric"}

    def described(kind: exp.DataType) -> tuple:
        size = [int(e.name) for e in kind.expressions]
        name = names.get(kind.this, kind.sql("redshift").lower())
        if name in ("character varying", "character"):
            return name, (size or [256])[0], None, None
        return name, None, *(size + [None, None])[:2]

    columns: dict[str, list] = {}
    for migration in discover("redshift"):
        if before is not None and migration.version >= before:
            continue
        for statement in migration.statements:
            parsed = parse_redshift(statement)
            target = parsed.find(exp.Table)
            if target is None or f"{target.db}.{target.name}" != table:
                continue
            if isinstance(parsed, exp.Create):
                for column in parsed.find_all(exp.ColumnDef):
                    not_null = any(isinstance(c.kind, exp.NotNullColumnConstraint)
                                   for c in column.constraints)
                    columns[column.name] = [column.name, *described(column.kind),
                                            "NO" if not_null else "YES"]
            if isinstance(parsed, exp.Alter):  # ADD COLUMN (a later schema version's field)
                for column in parsed.args.get("actions") or ():
                    if isinstance(column, exp.ColumnDef):
                        not_null = any(isinstance(c.kind, exp.NotNullColumnConstraint)
                                       for c in column.constraints)
                        columns[column.name] = [column.name, *described(column.kind),
                                                "NO" if not_null else "YES"]
            for change in parsed.find_all(exp.AlterColumn):
                if change.args.get("dtype") is not None:
                    name, length, precision, scale = described(change.args["dtype"])
                    columns[change.name][1:5] = [name, length, precision, scale]
    return limits_from_catalog(table, [tuple(c) for c in columns.values()])


@pytest.fixture(scope="module")
def warehouse(stack_env):
    with scratch_database(warehouse_dsn(stack_env), "properties") as dsn:
        yield dsn


# hypothesis-jsonschema warns that our formats replace its own: that is the point.
@pytest.mark.filterwarnings("ignore:Overriding standard format")
@pytest.mark.parametrize("message_type", message_types())
def test_every_accepted_event_is_a_row_or_a_dead_letter(warehouse, message_type) -> None:
    spec = table_spec(message_type)
    schema = latest(message_type).schema
    validator = EventValidator(schema)
    loader = PostgresLoader(warehouse)
    load = BatchLoad(spec=spec, schema=schema, loader=loader,
                     query_name=f"properties_{message_type}")
    redshift = redshift_limits(spec.table)
    # Before V0009 sized Redshift's VARCHARs in bytes for the schema's character limits.
    redshift_in_characters = redshift_limits(spec.table, before=9)
    batch_ids, next_offset = itertools.count(), [0]
    seen = {"accepted": 0, "refused": 0, "rows": 0, "letters": 0, "redshift_letters": 0,
            "redshift_before_v0009": 0, "edge_years": 0}

    @SETTINGS
    @given(st.lists(events(message_type), min_size=15, max_size=25))
    def check(batch: list[dict]) -> None:
        accepted = [event for event in batch if not validator.errors(event)]
        seen["refused"] += len(batch) - len(accepted)
        if not accepted:
            return
        first = next_offset[0]
        next_offset[0] += len(accepted)
        for n, event in enumerate(accepted, first):  # a key per event (ids at both ends)
            for field in KEYS[message_type]:
                event[field] = n + 1 if n % 2 else 2**63 - 1 - n
        rows = batch_rows(message_type, accepted, first)
        result = load(rows, next(batch_ids))  # raises if the batch did not commit
        seen["accepted"] += len(accepted)
        seen["edge_years"] += sum(b'"0001-' in raw or b'"9999-' in raw
                                  for raw in rows["raw_value"].to_pylist())
        seen["letters"] += len(result.letters)
        lettered = {letter[2] for letter in result.letters}
        loaded = {offset for (offset,) in fetch(
            warehouse, f"SELECT source_offset FROM {spec.table} WHERE source_offset"
            f" = ANY(%s)", ([o for o in rows["source_offset"].to_pylist()],))}
        seen["rows"] += len(loaded)
        # Each accepted event is exactly one of: a row, a dead letter.
        assert loaded | lettered == set(rows["source_offset"].to_pylist())
        assert not loaded & lettered
        # The same events against Redshift's columns: each loadable or refused with a
        # reason, never an error of the check itself.
        checked = row_problems(rows.select(list(spec.load_columns)), redshift,
                               engine="redshift", pointers=dict(spec.columns))
        assert len(checked) == rows.num_rows
        seen["redshift_letters"] += sum(p is not None for p in checked)
        seen["redshift_before_v0009"] += sum(p is not None for p in row_problems(
            rows.select(list(spec.load_columns)), redshift_in_characters, engine="redshift",
            pointers=dict(spec.columns)))

    try:
        check()
    finally:
        loader.close()
    # The generator reached the hard cases: accepted events in years 1 and 9999 loaded.
    assert seen["accepted"] >= BATCHES and seen["rows"] > 0 and seen["edge_years"] > 0, seen
    [(progress,)] = fetch(warehouse, "SELECT count(*) FROM platform.stream_progress"
                          " WHERE query_name = %s", (f"properties_{message_type}",))
    assert progress > 0
    # What the API accepts, Redshift's columns hold as PostgreSQL's do (issue 16's V0009) ...
    assert seen["redshift_letters"] == seen["letters"], seen
    if message_type == "customer":  # ... where 100 x "é" broke the varchar(100) of V0001
        assert seen["refused"] > 0 and seen["redshift_before_v0009"] > seen["letters"], seen


def fetch(dsn: str, query: str, params=()) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(query, params).fetchall()
