"""Executor-side load, driver-side commit: one micro-batch staged by many workers, committed
by one transaction. No Spark in here (``spark/sink_job.py`` calls it through ``mapInArrow``).

1. The driver (:meth:`StagedLoad.begin`) drops whatever an earlier attempt of this query left
   in the staging area (a failed or crashed attempt: only one driver runs a query) and
   creates the batch's staging area, named by query and batch id. A batch id whose progress
   is already committed is skipped: replaying it changes nothing.
2. Each executor (:func:`stage_batches`, one call per partition) judges its rows exactly as
   ``loader.batch`` does (the API's validator, then the table's limits), writes the valid
   rows and the dead letters straight into the staging area and returns only a
   :class:`PartitionSummary` (counts, highest offset per Kafka partition, file names).
3. The driver (:meth:`StagedLoad.commit`) merges the staged rows into the table, moves the
   staged dead letters, records the progress and drops the staging area, in ONE
   transaction: the exactly-once rule of ``loader.batch`` is unchanged.

Staging per engine:

* PostgreSQL: unlogged tables ``staging.stage_<query>_b<batch>`` (rows, ``LIKE`` the target)
  and ``..._dl`` (dead letters), COPY-ed by each task on its own connection. A retried task
  may stage its rows twice: the merge keeps one row per key, the dead letters one per offset.
* Redshift: each task writes a gzipped CSV under ``<staging>/batches/<query>/b<batch>/``;
  the driver writes a manifest listing the files of the tasks that succeeded (a retried
  task's first file is not in it) and runs one ``COPY ... MANIFEST`` with the IAM role,
  then the same merge as ``loader.redshift``. Dead letters are few and carry raw bytes:
  they come back to the driver in the summary and are written as today.
"""

from __future__ import annotations

import base64
import gc
import gzip
import hashlib
import json
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
from psycopg import sql

from loader.base import csv_chunks, to_csv
from loader.batch import BatchLoad, problems, split
from loader.bookkeeping import (
    COMMITTED,
    DEAD_LETTERS,
    STORED_DEAD_LETTER_COLUMNS,
    TABLES,
    BatchProgress,
    record_dead_letters,
    record_progress,
    stored_dead_letter,
)
from loader.concurrency import first_line
from loader.limits import TableLimits
from loader.outage import WarehouseUnreachable, is_connection_loss
from loader.postgres import copy_from_stdin, merge_statement
from loader.tables import TableSpec
from schemas.validation import EventValidator

STAGING_SCHEMA = "staging"
#: What a partition's summary keeps of its first dead letter's error (for the alert).
FIRST_ERROR_CHARS = 500


def query_tag(query_name: str) -> str:
    """A query's part of its staging names: identifiers are short (63 bytes in PostgreSQL)
    and query names are not, so a digest of the name."""
    return hashlib.sha256(query_name.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class StagedBatch:
    """Where one attempt of one batch of one query stages its rows."""

    query_name: str
    batch_id: int

    @property
    def prefix(self) -> str:
        """What every staging name of this query starts with."""
        return f"stage_{query_tag(self.query_name)}_b"

    @property
    def rows_table(self) -> str:
        return f"{self.prefix}{self.batch_id}"

    @property
    def letters_table(self) -> str:
        return f"{self.rows_table}_dl"


@dataclass(frozen=True)
class PartitionSummary:
    """All a task sends back to the driver."""

    input_rows: int = 0
    valid_rows: int = 0
    dead_letters: int = 0
    #: (Kafka partition, highest offset seen) per Kafka partition in this Spark partition.
    max_offsets: tuple[tuple[int, int], ...] = ()
    #: (Kafka partition, offset, error) of the first dead letter, for the alert.
    first_letter: tuple[int, int, str] | None = None
    #: Staged files (Redshift).
    files: tuple[str, ...] = ()
    #: Dead letters in ``DEAD_LETTER_COLUMNS`` order, where the engine stages none (Redshift).
    letters: tuple[tuple, ...] = ()

    def to_json(self) -> str:
        body = {"input_rows": self.input_rows, "valid_rows": self.valid_rows,
                "dead_letters": self.dead_letters, "max_offsets": self.max_offsets,
                "first_letter": self.first_letter, "files": self.files,
                "letters": [_letter_json(letter) for letter in self.letters]}
        return json.dumps(body)

    @classmethod
    def from_json(cls, text: str) -> PartitionSummary:
        body = json.loads(text)
        return cls(input_rows=body["input_rows"], valid_rows=body["valid_rows"],
                   dead_letters=body["dead_letters"],
                   max_offsets=tuple(tuple(p) for p in body["max_offsets"]),
                   first_letter=tuple(body["first_letter"]) if body["first_letter"] else None,
                   files=tuple(body["files"]),
                   letters=tuple(_letter_from_json(letter) for letter in body["letters"]))


def _letter_json(letter: tuple) -> list:
    topic, partition, offset, query, key, value, error, received_at = letter
    return [topic, partition, offset, query, _b64(key), _b64(value), error,
            received_at.isoformat() if received_at is not None else None]


def _letter_from_json(item: list) -> tuple:
    topic, partition, offset, query, key, value, error, received_at = item
    return (topic, partition, offset, query, _unb64(key), _unb64(value), error,
            datetime.fromisoformat(received_at) if received_at is not None else None)


def _b64(value: bytes | None) -> str | None:
    return None if value is None else base64.b64encode(value).decode()


def _unb64(value: str | None) -> bytes | None:
    return None if value is None else base64.b64decode(value)


@dataclass(frozen=True)
class PostgresStaging:
    """Staging tables in the warehouse; executors reach it with ``dsn``."""

    dsn: str = field(repr=False)  # has the password: never in a log line
    engine = "postgres"

    def prepare(self, cursor, spec: TableSpec, batch: StagedBatch) -> None:
        self.clear(cursor, batch)
        cursor.execute(sql.SQL(
            "CREATE UNLOGGED TABLE {} (LIKE {} INCLUDING DEFAULTS)").format(
            sql.Identifier(STAGING_SCHEMA, batch.rows_table),
            sql.Identifier(spec.schema_name, spec.table_name)))
        cursor.execute(sql.SQL("CREATE UNLOGGED TABLE {} (LIKE {} INCLUDING DEFAULTS)").format(
            sql.Identifier(STAGING_SCHEMA, batch.letters_table),
            sql.Identifier(*DEAD_LETTERS.split("."))))

    def clear(self, cursor, batch: StagedBatch) -> None:
        """Drop every staging table of the query (this batch's earlier attempt, or any
        batch's crashed attempt)."""
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s"
                       " AND starts_with(tablename, %s)", (STAGING_SCHEMA, batch.prefix))
        for (name,) in cursor.fetchall():
            cursor.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(
                sql.Identifier(STAGING_SCHEMA, name)))

    def write(self, spec: TableSpec, batch: StagedBatch, good: pa.Table,
              letters: Sequence[tuple]) -> PartitionSummary:
        """On an executor: COPY one partition's rows and dead letters, one transaction. A
        lost connection is raised as ``WarehouseUnreachable`` for the driver to see."""
        try:
            return self._write(spec, batch, good, letters)
        except Exception as exc:
            if is_connection_loss(exc):
                raise WarehouseUnreachable(f"staging {batch.rows_table}: {first_line(exc)}") \
                    from exc
            raise

    def _write(self, spec: TableSpec, batch: StagedBatch, good: pa.Table,
               letters: Sequence[tuple]) -> PartitionSummary:
        import psycopg

        with psycopg.connect(self.dsn, application_name="hoverboard-stager") as conn, \
                conn.cursor() as cur:
            if good.num_rows:
                copy = copy_from_stdin(sql.Identifier(STAGING_SCHEMA, batch.rows_table),
                                       spec.load_columns)
                with cur.copy(copy) as pipe:
                    for chunk in csv_chunks(spec, good):
                        pipe.write(chunk)
            if letters:
                copy = sql.SQL("COPY {} ({}) FROM STDIN").format(
                    sql.Identifier(STAGING_SCHEMA, batch.letters_table),
                    sql.SQL(", ").join(map(sql.Identifier, STORED_DEAD_LETTER_COLUMNS)))
                with cur.copy(copy) as pipe:
                    for letter in letters:
                        pipe.write_row(stored_dead_letter(letter))
        return PartitionSummary()

    def merge(self, cursor, spec: TableSpec, batch: StagedBatch,
              summaries: Sequence[PartitionSummary]) -> int:
        """On the driver, in the commit's transaction: rows written."""
        cursor.execute(merge_statement(spec, sql.Identifier(STAGING_SCHEMA, batch.rows_table)))
        written = cursor.rowcount
        columns = sql.SQL(", ").join(map(sql.Identifier, STORED_DEAD_LETTER_COLUMNS))
        cursor.execute(sql.SQL(
            "INSERT INTO {target} ({columns}) SELECT DISTINCT ON (source_topic,"
            " source_partition, source_offset) {columns} FROM {stage}"
            " ORDER BY source_topic, source_partition, source_offset"
            " ON CONFLICT (source_topic, source_partition, source_offset) DO NOTHING").format(
            target=sql.Identifier(*DEAD_LETTERS.split(".")), columns=columns,
            stage=sql.Identifier(STAGING_SCHEMA, batch.letters_table)))
        self.clear(cursor, batch)
        return written


@dataclass(frozen=True)
class S3Staging:
    """Redshift: files under ``s3://bucket/prefix/batches/<query>/b<batch>/`` and a manifest.

    :param client: makes an S3 client (on the driver and on each executor): a picklable
        callable such as ``loader.staged.s3_client_from_environment``.
    """

    bucket: str
    prefix: str
    iam_role: str
    client: Callable[[], Any] = field(repr=False)
    engine = "redshift"

    def batch_prefix(self, batch: StagedBatch) -> str:
        return "/".join(p for p in (self.prefix, "batches", query_tag(batch.query_name),
                                    f"b{batch.batch_id}") if p)

    def prepare(self, cursor, spec: TableSpec, batch: StagedBatch) -> None:
        self.clear(cursor, batch)

    def clear(self, cursor, batch: StagedBatch) -> None:
        """Delete every staged file of the query (earlier or crashed attempts)."""
        s3 = self.client()
        query_prefix = self.batch_prefix(batch).rsplit("/", 1)[0] + "/"
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                Prefix=query_prefix):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", ())]
            if keys:
                s3.delete_objects(Bucket=self.bucket, Delete={"Objects": keys})

    def write(self, spec: TableSpec, batch: StagedBatch, good: pa.Table,
              letters: Sequence[tuple]) -> PartitionSummary:
        if not good.num_rows:
            return PartitionSummary(letters=tuple(letters))
        key = f"{self.batch_prefix(batch)}/part-{uuid.uuid4().hex}.csv.gz"
        self.client().put_object(Bucket=self.bucket, Key=key,
                                 Body=gzip.compress(to_csv(spec, good)))
        return PartitionSummary(files=(key,), letters=tuple(letters))

    def manifest(self, batch: StagedBatch, summaries: Sequence[PartitionSummary]) -> str:
        """Writes the batch's manifest (the files of the successful tasks); its key."""
        entries = [{"url": f"s3://{self.bucket}/{key}", "mandatory": True}
                   for summary in summaries for key in summary.files]
        key = f"{self.batch_prefix(batch)}/manifest.json"
        self.client().put_object(Bucket=self.bucket, Key=key,
                                 Body=json.dumps({"entries": entries}).encode())
        return key


def s3_client_from_environment():
    """The S3 client ``loader.redshift`` uses (boto3's settings from the environment)."""
    import boto3

    return boto3.client("s3")


@dataclass(frozen=True)
class StagePlan:
    """Everything an executor needs for its partitions of one batch (pickled with the task)."""

    spec: TableSpec
    schema: Mapping[str, Any]
    limits: TableLimits
    query_name: str
    batch: StagedBatch
    staging: PostgresStaging | S3Staging

    @property
    def engine(self) -> str:
        return self.staging.engine


_VALIDATORS: dict[str, EventValidator] = {}


def _validator(schema: Mapping[str, Any]) -> EventValidator:
    """One compiled validator per schema and Python worker (workers are reused)."""
    key = json.dumps(schema, sort_keys=True)
    if key not in _VALIDATORS:
        _VALIDATORS[key] = EventValidator(schema)
        # The worker's start-up objects (pyspark, pyarrow, psycopg, this validator) live as
        # long as it does, yet each full garbage collection walked them all, most of a warm
        # worker's CPU in small batches (README, the sink's figures). Frozen, they are
        # skipped, as in the ingest API's workers.
        gc.freeze()
    return _VALIDATORS[key]


def stage_partition(plan: StagePlan, rows: pa.Table) -> PartitionSummary:
    """One partition on an executor: judge, stage, summarise."""
    if rows.num_rows == 0:
        return PartitionSummary()
    found = problems(rows, plan.spec, plan.schema, _validator(plan.schema), plan.limits,
                     plan.engine)
    good, letters = split(rows, found, plan.spec, plan.limits, plan.query_name)
    staged = plan.staging.write(plan.spec, plan.batch, good, letters)
    per_partition = rows.group_by("source_partition").aggregate([("source_offset", "max")])
    max_offsets = tuple(zip(per_partition["source_partition"].to_pylist(),
                            per_partition["source_offset_max"].to_pylist(), strict=True))
    first = letters[0] if letters else None
    return PartitionSummary(
        input_rows=rows.num_rows, valid_rows=good.num_rows, dead_letters=len(letters),
        max_offsets=max_offsets,
        first_letter=(first[1], first[2], first[6][:FIRST_ERROR_CHARS]) if first else None,
        files=staged.files, letters=staged.letters)


#: The schema of what ``stage_batches`` yields (``mapInArrow``'s output).
SUMMARY_SCHEMA = pa.schema([("summary", pa.string())])
SUMMARY_DDL = "summary string"


def stage_batches(plan: StagePlan, batches: Iterable[pa.RecordBatch]
                  ) -> Iterator[pa.RecordBatch]:
    """``mapInArrow``'s function: a partition's Arrow batches in, one summary row out."""
    collected = list(batches)
    rows = pa.Table.from_batches(collected) if collected else pa.table({})
    summary = stage_partition(plan, rows)
    yield pa.RecordBatch.from_pydict({"summary": [summary.to_json()]}, schema=SUMMARY_SCHEMA)


@dataclass(frozen=True)
class StagedResult:
    input_rows: int
    written: int
    dead_letters: int
    first_letter: tuple[int, int, str] | None
    end_offsets: Mapping[int, int]
    committed_before: bool = False


class StagedLoad(BatchLoad):
    """The driver's side of one query's batches (one instance per query). Reuses
    ``BatchLoad``'s limits, offsets and run id; the rows never come to the driver."""

    def __init__(self, *, staging: PostgresStaging | S3Staging, **kwargs) -> None:
        super().__init__(**kwargs)
        self.staging = staging

    def begin(self, batch_id: int) -> StagePlan | None:
        """The plan for the executors, with the staging area ready; None when this batch id
        of this run is committed already (a replay: nothing to do)."""
        run_id = self.run_id()
        batch = StagedBatch(self.query_name, batch_id)
        limits = self.limits

        def prepare(cursor) -> bool:
            cursor.execute(COMMITTED, (self.query_name, run_id, batch_id))
            if cursor.fetchone() is not None:
                self.staging.clear(cursor, batch)
                # Committed by an attempt whose connection broke before it heard so: its
                # offsets are the warehouse's now, not the ones this process kept.
                self._offsets = None
                return False
            self.staging.prepare(cursor, self.spec, batch)
            return True

        if not self.loader.run(prepare):
            return None
        return StagePlan(spec=self.spec, schema=self.schema, limits=limits,
                         query_name=self.query_name, batch=batch, staging=self.staging)

    def commit(self, plan: StagePlan, summaries: Sequence[PartitionSummary], *,
               started: float) -> StagedResult:
        """Merge, dead letters, progress and dropping the staging area: one transaction."""
        input_rows = sum(s.input_rows for s in summaries)
        letters = sum(s.dead_letters for s in summaries)
        first = next((s.first_letter for s in summaries if s.first_letter), None)
        offsets = dict(self._known_offsets())
        for summary in summaries:
            for partition, last in summary.max_offsets:
                offsets[partition] = max(offsets.get(partition, 0), last + 1)
        run_id = self.run_id()
        batch = plan.batch
        if input_rows == 0:  # nothing read (as before: no progress row for an empty batch)
            self.loader.run(lambda cursor: self.staging.clear(cursor, batch))
            return StagedResult(0, 0, 0, None, offsets)

        def bookkeeping(cursor, written: int) -> None:
            elapsed = time.monotonic() - started
            record_progress(cursor, self.loader.engine, BatchProgress(
                query_name=self.query_name, run_id=run_id, batch_id=batch.batch_id,
                input_rows=input_rows, rows_written=written, dead_letters=letters,
                rows_per_second=input_rows / elapsed if elapsed > 0 else None,
                end_offsets=offsets, batch_time=datetime.now(UTC)))

        if isinstance(self.staging, PostgresStaging):
            def work(cursor) -> int:
                written = self.staging.merge(cursor, self.spec, batch, summaries)
                bookkeeping(cursor, written)
                return written

            written = self.loader.run(work)
        else:
            written = self._commit_manifest(batch, summaries, bookkeeping)
        self._offsets = offsets
        return StagedResult(input_rows, written, letters, first, offsets)

    def _commit_manifest(self, batch: StagedBatch, summaries: Sequence[PartitionSummary],
                         bookkeeping: Callable[[Any, int], None]) -> int:
        """Redshift: one ``COPY ... MANIFEST`` of the staged files, in ``loader.redshift``'s
        load transaction (locks, merge), with the dead letters and progress."""
        manifest = self.staging.manifest(batch, summaries)
        letters = [letter for summary in summaries for letter in summary.letters]

        def in_transaction(cursor, written: int) -> None:
            record_dead_letters(cursor, self.loader.engine, letters)
            bookkeeping(cursor, written)

        try:
            if not any(summary.files for summary in summaries):
                return self.loader.load(self.spec, pa.table({}), in_transaction=in_transaction,
                                        also_lock=TABLES)
            return self.loader.load_manifest(self.spec, manifest,
                                             in_transaction=in_transaction, also_lock=TABLES)
        finally:
            self.staging.clear(None, batch)


def staging_for(loader: Any) -> PostgresStaging | S3Staging:
    """The staging area of a loader's warehouse: its own tables for PostgreSQL, its S3
    staging location for Redshift."""
    if loader.engine == "postgres":
        return PostgresStaging(loader.dsn)
    if loader.engine == "redshift":
        return S3Staging(loader.bucket, loader.prefix, loader.iam_role,
                         s3_client_from_environment)
    raise ValueError(f"no staging area for a {loader.engine} loader")
