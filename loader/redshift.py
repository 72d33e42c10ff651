"""Redshift loader: the documented bulk path. The batch is written to S3 as gzipped CSV,
``COPY``-ed into a temporary staging table with an IAM role (never keys in the SQL), reduced
to one row per natural key, then inserted (event tables) or ``MERGE``-d (latest-wins tables).

Every statement comes from :func:`load_statements`; the tests parse them with a Redshift
parser and run this same class against PostgreSQL (which has ``MERGE`` too), with only the
``COPY ... FROM 's3://...'`` step replaced by a client-side copy of the staged object.
"""

from __future__ import annotations

import gzip
import os
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlparse

import pyarrow as pa
from psycopg import sql

from loader.base import InTransaction, to_csv
from loader.tables import TableSpec

RANK = "hover_rank"


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


def copy_statement(spec: TableSpec, stage: str, s3_uri: str, iam_role: str) -> str:
    return _text(sql.SQL(
        "COPY {stage} ({columns}) FROM {uri} IAM_ROLE {role} FORMAT AS CSV GZIP "
        "TIMEFORMAT 'auto'"
    ).format(stage=_ident(stage), columns=_cols(spec.load_columns),
             uri=sql.Literal(s3_uri), role=sql.Literal(iam_role)))


def load_statements(spec: TableSpec, stage: str) -> tuple[list[str], list[str]]:
    """(statements before the COPY, statements after it). The last "after" statement's
    row count is the number of rows written, except for ``latest`` tables, where it is a
    ``SELECT COUNT(*)`` run before the MERGE."""
    target = _ident(spec.schema_name, spec.table_name)
    columns = _cols(spec.load_columns)
    before = [_text(sql.SQL("CREATE TEMP TABLE {} (LIKE {} INCLUDING DEFAULTS)").format(
        _ident(stage), target))]
    if spec.mode == "insert":
        ranked = sql.SQL(
            "SELECT {columns}, ROW_NUMBER() OVER (PARTITION BY {key} ORDER BY source_offset)"
            " AS {rank} FROM {stage}"
        ).format(columns=columns, key=_cols(spec.key), rank=_ident(RANK), stage=_ident(stage))
        after = [_text(sql.SQL(
            "INSERT INTO {target} ({columns}) SELECT {s_columns} FROM ({ranked}) s "
            "WHERE s.{rank} = 1 AND NOT EXISTS (SELECT 1 FROM {target} t WHERE {match})"
        ).format(target=target, columns=columns, s_columns=_cols(spec.load_columns, "s"),
                 ranked=ranked, rank=_ident(RANK), match=_key_match(spec, "t", "s")))]
        return before, after
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
        "AND NOT EXISTS (SELECT 1 FROM {target} t WHERE {match} AND (t.{version} > s.{version}"
        " OR (t.{version} = s.{version} AND COALESCE(t.source_offset, -1) >="
        " COALESCE(s.source_offset, -1))))"
    ).format(latest=_ident(latest), s_columns=_cols(with_loaded, "s"), ranked=ranked,
             rank=_ident(RANK), target=target, match=_key_match(spec, "t", "s"),
             version=version)
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
    return before, [_text(newer), count, _text(merge)]


class RedshiftLoader:
    engine = "redshift"

    def __init__(self, connect: Callable[[], Any], s3_client: Any, staging_uri: str,
                 iam_role: str) -> None:
        parsed = urlparse(staging_uri)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise ValueError(f"staging location must be s3://bucket/prefix, not {staging_uri!r}")
        self.connect = connect
        self.s3 = s3_client
        self.bucket = parsed.netloc
        self.prefix = parsed.path.strip("/")
        self.iam_role = iam_role

    @classmethod
    def from_environment(cls) -> RedshiftLoader:
        import boto3
        import redshift_connector

        dsn = urlparse(os.environ["HOVER_WAREHOUSE_DSN"])

        def connect():
            return redshift_connector.connect(
                host=dsn.hostname, port=dsn.port or 5439, database=dsn.path.lstrip("/"),
                user=unquote(dsn.username or ""), password=unquote(dsn.password or ""))

        return cls(connect, boto3.client("s3"), os.environ["HOVER_REDSHIFT_STAGING"],
                   os.environ["HOVER_REDSHIFT_IAM_ROLE"])

    def _stage_object(self, spec: TableSpec, rows: pa.Table) -> str:
        key = f"{self.prefix}/{spec.table_name}/{uuid.uuid4().hex}.csv.gz".lstrip("/")
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=gzip.compress(to_csv(spec, rows)))
        return key

    def copy_into_stage(self, cursor, spec: TableSpec, stage: str, key: str) -> None:
        cursor.execute(copy_statement(spec, stage, f"s3://{self.bucket}/{key}", self.iam_role))

    def load(self, spec: TableSpec, rows: pa.Table, *,
             in_transaction: InTransaction | None = None) -> int:
        stage = f"stage_{spec.table_name}_{uuid.uuid4().hex[:8]}"
        key = self._stage_object(spec, rows) if rows.num_rows else None
        conn = self.connect()
        try:
            cursor = conn.cursor()
            written = 0
            if key is not None:
                before, after = load_statements(spec, stage)
                for statement in before:
                    cursor.execute(statement)
                self.copy_into_stage(cursor, spec, stage, key)
                for statement in after:
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
            if key is not None:
                self.s3.delete_object(Bucket=self.bucket, Key=key)

    def run(self, work):
        conn = self.connect()
        try:
            result = work(conn.cursor())
            conn.commit()
            return result
        finally:
            conn.close()

    def close(self) -> None:
        """Connections are per load: nothing held."""
