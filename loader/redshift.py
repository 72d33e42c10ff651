"""Redshift loader: the documented bulk path. The batch is written to S3 as gzipped CSV,
``COPY``-ed into a temporary staging table with an IAM role (never keys in the SQL), reduced
to one row per natural key, then inserted (event tables) or ``MERGE``-d (latest-wins tables).

A load is one transaction: ``LOCK`` of every table it writes (first, in the global order of
``loader.concurrency``), staging table, COPY, the batch's range of the leading sort key
column, then the merge restricted to that range; a serialization failure (error 1023) runs
it again. Every statement comes from :func:`before_copy`, :func:`copy_statement`,
:func:`range_statement` and :func:`after_copy`; the tests parse them with a Redshift
parser and run this same class against PostgreSQL (which has ``MERGE`` too), with only the
``COPY ... FROM 's3://...'`` step replaced by a client-side copy of the staged object.
"""

from __future__ import annotations

import gzip
import os
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

import pyarrow as pa
from psycopg import sql

from loader.base import CSV_NULL, InTransaction, to_csv
from loader.concurrency import (
    DEFAULT_RETRY,
    RetryCounter,
    RetryPolicy,
    lock_statement,
    run_with_retry,
)
from loader.tables import TableSpec

RANK = "hover_rank"
#: Run once per connection: GETDATE()/SYSDATE follow the session's time zone.
SESSION_TIME_ZONE = "SET TIME ZONE 'UTC'"


def _text(composed: sql.Composable) -> str:
    return composed.as_string(None)


def _ident(*names: str) -> sql.Identifier:
    return sql.Identifier(*names)


def _cols(columns, prefix: str | None = None) -> sql.Composed:
    return sql.SQL(", ").join(
        sql.SQL("{}.{}").format(_ident(prefix), _ident(c)) if prefix else _ident(c)
        for c in columns)


def _key_match(spec: TableSpec, left: str, right: str) -> sql.Composed:
    return sql.SQL(" AND ").join(
        sql.SQL("{}.{} = {}.{}").format(_ident(left), _ident(k), _ident(right), _ident(k))
        for k in spec.key)


def copy_statement(spec: TableSpec, stage: str, s3_uri: str, iam_role: str, *,
                   manifest: bool = False) -> str:
    """COPY of the staged CSV, reading it as ``loader.base.to_csv`` wrote it: nulls are the
    ``CSV_NULL`` marker (Redshift would read an empty VARCHAR field as ''), timestamps one
    of the forms ``TIMEFORMAT 'auto'`` documents. ``manifest``: ``s3_uri`` is a manifest
    listing the files (a batch staged by many executors, ``loader.staged``)."""
    return _text(sql.SQL(
        "COPY {stage} ({columns}) FROM {uri} IAM_ROLE {role} FORMAT AS CSV GZIP "
        "NULL AS {null} TIMEFORMAT 'auto'" + (" MANIFEST" if manifest else "")
    ).format(stage=_ident(stage), columns=_cols(spec.load_columns),
             uri=sql.Literal(s3_uri), role=sql.Literal(iam_role), null=sql.Literal(CSV_NULL)))


def literal(value: Any) -> str:
    """A bound of a batch's range as SQL text: timestamps in the CSV's pinned form and
    cast, so the predicate compares the sort key column with a constant (what lets
    Redshift skip blocks by their zone maps); numbers as they are."""
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        text = aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return _text(sql.SQL("CAST({} AS timestamptz)").format(sql.Literal(text)))
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"range bounds are timestamps or integers, not {value!r}")
    return str(value)


def range_statement(spec: TableSpec, stage: str) -> str:
    """The staged batch's minimum and maximum of ``spec.range_by``."""
    column = _ident(spec.range_by)
    return _text(sql.SQL("SELECT MIN({c}), MAX({c}) FROM {stage}").format(
        c=column, stage=_ident(stage)))


def _in_range(spec: TableSpec, alias: str, bounds: tuple[Any, Any]) -> sql.Composed:
    low, high = bounds
    return sql.SQL("{}.{} BETWEEN {} AND {}").format(
        _ident(alias), _ident(spec.range_by), sql.SQL(literal(low)), sql.SQL(literal(high)))


def before_copy(spec: TableSpec, stage: str, *, also_lock: Sequence[str] = ()) -> list[str]:
    """What a load runs before its COPY: the locks (first, one statement, global order),
    then the staging table."""
    return [lock_statement((spec.table, *also_lock)),
            _text(sql.SQL("CREATE TEMP TABLE {} (LIKE {} INCLUDING DEFAULTS)").format(
                _ident(stage), _ident(spec.schema_name, spec.table_name)))]


def after_copy(spec: TableSpec, stage: str, bounds: tuple[Any, Any]) -> list[str]:
    """What a load runs after its COPY and :func:`range_statement`, given the batch's range
    (``bounds``). The last statement's row count is the number of rows written, except for
    ``latest`` tables, where it is a ``SELECT COUNT(*)`` run before the MERGE."""
    target = _ident(spec.schema_name, spec.table_name)
    columns = _cols(spec.load_columns)
    if spec.mode == "insert":
        ranked = sql.SQL(
            "SELECT {columns}, ROW_NUMBER() OVER (PARTITION BY {key} ORDER BY source_offset)"
            " AS {rank} FROM {stage}"
        ).format(columns=columns, key=_cols(spec.key), rank=_ident(RANK), stage=_ident(stage))
        return [_text(sql.SQL(
            "INSERT INTO {target} ({columns}) SELECT {s_columns} FROM ({ranked}) s "
            "WHERE s.{rank} = 1 AND NOT EXISTS (SELECT 1 FROM {target} t WHERE {in_range}"
            " AND {match})"
        ).format(target=target, columns=columns, s_columns=_cols(spec.load_columns, "s"),
                 ranked=ranked, rank=_ident(RANK), in_range=_in_range(spec, "t", bounds),
                 match=_key_match(spec, "t", "s")))]
    version = _ident(spec.version_by)
    latest = f"{stage}_latest"
    # loaded_at travels along: the staging table's default stamped it at COPY time, and an
    # updated row must say when it was loaded, like the PostgreSQL loader's.
    with_loaded = (*spec.load_columns, "loaded_at")
    ranked = sql.SQL(
        "SELECT {columns}, ROW_NUMBER() OVER (PARTITION BY {key} ORDER BY {version} DESC,"
        " source_offset DESC) AS {rank} FROM {stage}"
    ).format(columns=_cols(with_loaded), key=_cols(spec.key), version=version,
             rank=_ident(RANK), stage=_ident(stage))
    # Only rows newer than what the table has: the MERGE then applies them all.
    newer = sql.SQL(
        "CREATE TEMP TABLE {latest} AS SELECT {s_columns} FROM ({ranked}) s WHERE s.{rank} = 1 "
        "AND NOT EXISTS (SELECT 1 FROM {target} t WHERE {in_range} AND {match} AND"
        " (t.{version} > s.{version} OR (t.{version} = s.{version} AND"
        " COALESCE(t.source_offset, -1) >= COALESCE(s.source_offset, -1))))"
    ).format(latest=_ident(latest), s_columns=_cols(with_loaded, "s"), ranked=ranked,
             rank=_ident(RANK), target=target, in_range=_in_range(spec, "t", bounds),
             match=_key_match(spec, "t", "s"), version=version)
    updates = sql.SQL(", ").join(
        sql.SQL("{} = s.{}").format(_ident(c), _ident(c))
        for c in with_loaded if c not in spec.key)
    merge = sql.SQL(
        "MERGE INTO {target} USING {latest} s ON {match} "
        "WHEN MATCHED THEN UPDATE SET {updates} "
        "WHEN NOT MATCHED THEN INSERT ({columns}) VALUES ({s_columns})"
    ).format(target=target, latest=_ident(latest),
             match=sql.SQL(" AND ").join(
                 sql.SQL("{}.{} = s.{}").format(target, _ident(k), _ident(k)) for k in spec.key),
             updates=updates, columns=_cols(with_loaded), s_columns=_cols(with_loaded, "s"))
    count = _text(sql.SQL("SELECT COUNT(*) FROM {}").format(_ident(latest)))
    return [_text(newer), count, _text(merge)]


class RedshiftLoader:
    """:param connect: a new DB-API connection per transaction (not in autocommit).
    :param retry_policy: how a transaction failing with error 1023 is run again.
    :param retries: counts those retries (a sink or ingest instance exposes it)."""

    engine = "redshift"

    def __init__(self, connect: Callable[[], Any], s3_client: Any, staging_uri: str,
                 iam_role: str, *, retry_policy: RetryPolicy = DEFAULT_RETRY,
                 retries: RetryCounter | None = None) -> None:
        parsed = urlparse(staging_uri)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise ValueError(f"staging location must be s3://bucket/prefix, not {staging_uri!r}")
        self.connect = connect
        self.s3 = s3_client
        self.bucket = parsed.netloc
        self.prefix = parsed.path.strip("/")
        self.iam_role = iam_role
        self.retry_policy = retry_policy
        self.retries = retries or RetryCounter()

    @classmethod
    def from_environment(cls) -> RedshiftLoader:
        import boto3
        import redshift_connector

        from runtime.settings import warehouse_connection

        warehouse = warehouse_connection()

        def connect():
            conn = redshift_connector.connect(
                host=warehouse.host, port=warehouse.port or 5439, database=warehouse.database,
                user=warehouse.login, password=warehouse.password)
            # GETDATE() and SYSDATE (the tables' loaded_at defaults) are in the session's
            # time zone, which a user's settings can change: pin it to UTC.
            conn.cursor().execute(SESSION_TIME_ZONE)
            conn.commit()
            return conn

        return cls(connect, boto3.client("s3"), os.environ["HOVER_REDSHIFT_STAGING"],
                   os.environ["HOVER_REDSHIFT_IAM_ROLE"])

    def _stage_object(self, spec: TableSpec, rows: pa.Table) -> str:
        key = f"{self.prefix}/{spec.table_name}/{uuid.uuid4().hex}.csv.gz".lstrip("/")
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=gzip.compress(to_csv(spec, rows)))
        return key

    def copy_into_stage(self, cursor, spec: TableSpec, stage: str, key: str) -> None:
        cursor.execute(copy_statement(spec, stage, f"s3://{self.bucket}/{key}", self.iam_role))

    def copy_manifest_into_stage(self, cursor, spec: TableSpec, stage: str,
                                 manifest_key: str) -> None:
        cursor.execute(copy_statement(spec, stage, f"s3://{self.bucket}/{manifest_key}",
                                      self.iam_role, manifest=True))

    def load_manifest(self, spec: TableSpec, manifest_key: str, *,
                      in_transaction: InTransaction | None = None,
                      also_lock: Sequence[str] = ()) -> int:
        """Like :meth:`load`, for a batch already staged in S3 by many writers and listed
        in a manifest (``loader.staged``): one ``COPY ... MANIFEST``, the same merge."""
        return run_with_retry(
            lambda: self._load_once(spec, manifest_key, in_transaction, also_lock,
                                    manifest=True),
            policy=self.retry_policy, counter=self.retries, what=f"load into {spec.table}")

    def load(self, spec: TableSpec, rows: pa.Table, *,
             in_transaction: InTransaction | None = None,
             also_lock: Sequence[str] = ()) -> int:
        # Staged once: a retried transaction COPYs the same object again.
        key = self._stage_object(spec, rows) if rows.num_rows else None
        try:
            return run_with_retry(
                lambda: self._load_once(spec, key, in_transaction, also_lock),
                policy=self.retry_policy, counter=self.retries, what=f"load into {spec.table}")
        finally:
            if key is not None:
                self.s3.delete_object(Bucket=self.bucket, Key=key)

    def _load_once(self, spec: TableSpec, key: str | None,
                   in_transaction: InTransaction | None, also_lock: Sequence[str], *,
                   manifest: bool = False) -> int:
        stage = f"stage_{spec.table_name}_{uuid.uuid4().hex[:8]}"
        conn = self.connect()
        try:
            cursor = conn.cursor()
            before = before_copy(spec, stage, also_lock=also_lock)
            cursor.execute(before[0])  # the locks, before anything reads
            written = 0
            if key is not None:
                for statement in before[1:]:
                    cursor.execute(statement)
                if manifest:
                    self.copy_manifest_into_stage(cursor, spec, stage, key)
                else:
                    self.copy_into_stage(cursor, spec, stage, key)
                cursor.execute(range_statement(spec, stage))
                bounds = tuple(cursor.fetchone())
                for statement in after_copy(spec, stage, bounds):
                    cursor.execute(statement)
                    if statement.startswith("SELECT COUNT(*)"):
                        written = int(cursor.fetchone()[0])
                    elif spec.mode == "insert":
                        written = max(cursor.rowcount, 0)
            if in_transaction is not None:
                in_transaction(cursor, written)
            conn.commit()
            return written
        except Exception:
            conn.rollback()
            raise
        finally:
            conn.close()

    def run(self, work):
        def once():
            conn = self.connect()
            try:
                result = work(conn.cursor())
                conn.commit()
                return result
            except Exception:
                conn.rollback()
                raise
            finally:
                conn.close()

        return run_with_retry(once, policy=self.retry_policy, counter=self.retries,
                              what="warehouse transaction")

    def close(self) -> None:
        """Connections are per load: nothing held."""
