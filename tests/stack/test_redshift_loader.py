"""The Redshift loader's own code path, run for real where it can be: staging to the S3 store
(s3proxy), then its dedup/INSERT/MERGE statements on PostgreSQL (which has MERGE too).
Only ``COPY ... FROM 's3://...' IAM_ROLE`` cannot run outside Redshift: here the staged
object is read back from the store and copied in by the client (its SQL is parsed in
tests/unit/test_redshift_sql.py)."""

from __future__ import annotations

import gzip
import hashlib
import json
import uuid
from datetime import UTC, datetime

import boto3
import psycopg
import pyarrow as pa
import pytest
from botocore.config import Config
from psycopg import sql

from loader.base import to_csv
from loader.bookkeeping import record_dead_letters
from loader.postgres import PostgresLoader, copy_from_stdin
from loader.redshift import RedshiftLoader
from loader.tables import TableSpec, rows_from_events, table_spec
from runtime.settings import warehouse_dsn
from tests.support import sample, scratch_database


class ClientCopyRedshiftLoader(RedshiftLoader):
    """COPY FROM STDIN of the staged object, with the same null marker as Redshift's COPY."""

    def copy_into_stage(self, cursor, spec, stage, key) -> None:
        body = gzip.decompress(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())
        with cursor.copy(copy_from_stdin(sql.Identifier(stage), spec.load_columns)) as pipe:
            pipe.write(body)

    def copy_manifest_into_stage(self, cursor, spec, stage, manifest_key) -> None:
        """What Redshift's COPY ... MANIFEST does: every file the manifest lists."""
        manifest = json.loads(
            self.s3.get_object(Bucket=self.bucket, Key=manifest_key)["Body"].read())
        for entry in manifest["entries"]:
            key = entry["url"].removeprefix(f"s3://{self.bucket}/")
            self.copy_into_stage(cursor, spec, stage, key)


@pytest.fixture
def warehouse(stack_env):
    with scratch_database(warehouse_dsn(stack_env), "rstest") as dsn:
        yield dsn


@pytest.fixture
def loader(stack_env, warehouse):
    s3 = boto3.client("s3", endpoint_url=stack_env["HOVER_S3_ENDPOINT"],
                      config=Config(s3={"addressing_style": "path"}))
    prefix = f"staging-test/{uuid.uuid4().hex[:8]}"
    return ClientCopyRedshiftLoader(
        lambda: psycopg.connect(warehouse), s3,
        f"s3://{stack_env['HOVER_BACKUP_BUCKET']}/{prefix}", "arn:aws:iam::0:role/test"), prefix


def count(dsn: str, query: str) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute(query).fetchone()[0]


def test_event_table_load_is_idempotent(loader, warehouse, stack_env) -> None:
    redshift, prefix = loader
    spec = table_spec("hoverboard")
    events = [sample("hoverboard", id=1 + i % 5, event_time=f"2026-11-27T09:{i:02d}:00Z")
              for i in range(40)]
    rows = rows_from_events(spec, events + events[:10],  # duplicates inside the batch too
                            received_at=[datetime.now(UTC)] * 50)
    assert redshift.load(spec, rows) == 40
    assert redshift.load(spec, rows) == 0
    assert count(warehouse, "SELECT count(*) FROM fleet.hoverboard") == 40
    # The staged objects are removed after each load.
    listed = redshift.s3.list_objects_v2(Bucket=redshift.bucket, Prefix=prefix)
    assert listed.get("KeyCount", 0) == 0


def test_latest_version_wins_through_merge(loader, warehouse) -> None:
    redshift, _ = loader
    spec = table_spec("customer")

    def load(*versions):
        events = [sample("customer", id=cid, updated_at=f"2026-11-27T{h:02d}:00:00Z",
                         customer_email=f"v{h}@x.example") for cid, h in versions]
        return redshift.load(spec, rows_from_events(spec, events,
                                                    received_at=[None] * len(events)))

    assert load((1, 9), (1, 11), (1, 10), (2, 9)) == 2
    assert load((1, 8)) == 0  # older than what is stored: ignored
    assert load((1, 12), (2, 9)) == 1  # newer for 1; the same version for 2 changes nothing
    with psycopg.connect(warehouse) as conn:
        rows = conn.execute("SELECT id, email FROM fleet.customer ORDER BY id").fetchall()
    assert rows == [(1, "v12@x.example"), (2, "v9@x.example")]
    with psycopg.connect(warehouse) as conn:
        [(one, two)] = conn.execute(
            "SELECT max(loaded_at) FILTER (WHERE id = 1), max(loaded_at) FILTER (WHERE id = 2)"
            " FROM fleet.customer").fetchall()
    assert one > two  # the updated row says when it was loaded


def test_a_replayed_event_outside_the_new_batch_range_is_still_not_duplicated(
        loader, warehouse) -> None:
    # The merge scans the table only within the batch's event-time range: a replayed event
    # lies inside the range of the batch that carries it, so it is still found.
    redshift, _ = loader
    spec = table_spec("hoverboard")
    first = [sample("hoverboard", id=7, event_time=f"2026-11-27T08:{m:02d}:00Z") for m in range(5)]
    later = [sample("hoverboard", id=7, event_time=f"2026-11-27T10:{m:02d}:00Z") for m in range(5)]
    assert redshift.load(spec, rows_from_events(spec, first, received_at=[None] * 5)) == 5
    assert redshift.load(spec, rows_from_events(spec, later, received_at=[None] * 5)) == 5
    mixed = first[2:3] + later[4:] + [sample("hoverboard", id=7,
                                             event_time="2026-11-27T09:30:00.25+01:00")]
    assert redshift.load(spec, rows_from_events(spec, mixed, received_at=[None] * 3)) == 1
    with psycopg.connect(warehouse) as conn:
        assert conn.execute("SELECT count(*), count(DISTINCT event_time) FROM fleet.hoverboard"
                            ).fetchone() == (11, 11)
        assert conn.execute("SELECT count(*) FROM fleet.hoverboard WHERE event_time ="
                            " '2026-11-27T08:30:00.25Z'").fetchone()[0] == 1


def test_ingest_rows_keep_their_nulls_through_the_staged_csv(loader, warehouse) -> None:
    # Rows from ingest (Version 1) carry no Kafka position: NULL, not '' and not 0.
    redshift, _ = loader
    spec = table_spec("customer")
    event = sample("customer", id=41, updated_at="2026-11-27T09:00:00Z")
    assert redshift.load(spec, rows_from_events(spec, [event], received_at=[None])) == 1
    with psycopg.connect(warehouse) as conn:
        assert conn.execute(
            "SELECT source_topic IS NULL, source_partition IS NULL, received_at IS NULL"
            " FROM fleet.customer WHERE id = 41").fetchone() == (True, True, True)


def test_a_null_and_an_empty_string_round_trip_through_the_csv_writer(warehouse) -> None:
    spec = TableSpec("t", "public.roundtrip", key=("id",), mode="insert", range_by="id",
                     columns=(("id", "/id"), ("note", "/note")))
    rows = pa.table({"id": [1, 2, 3], "note": [None, "", "<null>"],
                     "source_topic": [None, "", "t"], "source_partition": [None, 0, 1],
                     "source_offset": pa.array([None, 5, 6], pa.int64()),
                     "received_at": pa.array([None, datetime(2026, 11, 27, tzinfo=UTC), None],
                                             pa.timestamp("ms", tz="UTC"))})
    with psycopg.connect(warehouse) as conn:
        conn.execute("CREATE TABLE public.roundtrip (id int, note varchar(10), source_topic"
                     " varchar(10), source_partition int, source_offset bigint,"
                     " received_at timestamptz)")
        with conn.cursor() as cur, cur.copy(copy_from_stdin(
                sql.Identifier("public", "roundtrip"), spec.load_columns)) as pipe:
            pipe.write(to_csv(spec, rows))
        got = conn.execute("SELECT note, source_topic, source_partition, received_at"
                           " FROM public.roundtrip ORDER BY id").fetchall()
    assert got == [(None, None, None, None), ("", "", 0, datetime(2026, 11, 27, tzinfo=UTC)),
                   ("<null>", "t", 1, None)]


def test_a_dead_letter_larger_than_varbyte_allows_is_cut_with_its_length_and_hash(
        warehouse) -> None:
    value = b'{"id": "' + b"x" * (1024 * 1024) + b'"}'  # over Kafka's default too, by a bit
    letters = [("t", 0, n, "q", b"k", value if n == 3 else b"{", f"bad {n}", None)
               for n in range(1, 5)]
    redshift_like = PostgresLoader(warehouse, max_connections=1)
    try:
        for _ in range(2):  # a replayed batch writes nothing twice
            redshift_like.run(lambda cur: record_dead_letters(cur, "postgres", letters))
    finally:
        redshift_like.close()
    with psycopg.connect(warehouse) as conn:
        rows = conn.execute("SELECT source_offset, octet_length(raw_value), raw_value_length,"
                            " raw_value_sha256 FROM platform.dead_letters ORDER BY 1").fetchall()
    assert [r[0] for r in rows] == [1, 2, 3, 4]
    assert rows[2][1:] == (1_024_000, len(value), hashlib.sha256(value).hexdigest())
    assert rows[0][1:3] == (1, 1)


def test_a_batch_staged_by_executors_in_s3_is_one_manifest_copy(loader, warehouse) -> None:
    """loader.staged on Redshift's path: tasks write files under the batch's prefix, the
    driver COPYs the files of the tasks that succeeded (manifest) and merges them once."""
    from loader.staged import S3Staging, StagedLoad, stage_partition
    from schemas import latest
    from tests.support.streaming import batch_rows

    loader, prefix = loader
    # The bookkeeping in its PostgreSQL form: Redshift's (JSON_PARSE, VARBYTE casts) does
    # not exist here and is parsed in tests/unit/test_redshift_sql.py; the staging, manifest
    # and merge are Redshift's.
    loader.engine = "postgres"
    staging = S3Staging(loader.bucket, prefix, loader.iam_role, lambda: loader.s3)
    load = StagedLoad(staging=staging, spec=table_spec("hoverboard"),
                      schema=latest("hoverboard").schema, loader=loader,
                      query_name="staged_rs", run_id=lambda: "run-1")
    rows = batch_rows("hoverboard", [sample("hoverboard", id=i) for i in range(1, 7)], 0,
                      topic="staged_rs")
    plan = load.begin(0)
    stage_partition(plan, rows.slice(0, 3))  # a task whose result Spark discarded (retried)
    summaries = [stage_partition(plan, part) for part in (rows.slice(0, 3), rows.slice(3))]
    result = load.commit(plan, summaries, started=0.0)

    assert (result.input_rows, result.written, result.dead_letters) == (6, 6, 0)
    assert count(warehouse, "SELECT count(*) FROM fleet.hoverboard") == 6
    assert count(warehouse, "SELECT count(*) FROM platform.stream_progress") == 1
    left = loader.s3.list_objects_v2(Bucket=loader.bucket, Prefix=f"{prefix}/batches/")
    assert left.get("KeyCount", 0) == 0  # the batch's files and manifest are gone
    assert load.begin(0) is None  # committed: a replay changes nothing
