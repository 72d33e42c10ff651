"""PostgreSQL loader: COPY into a temporary staging table, then one INSERT ... ON CONFLICT."""

from __future__ import annotations

import pyarrow as pa
from psycopg import sql
from psycopg_pool import ConnectionPool

from loader.base import CSV_NULL, InTransaction, csv_chunks
from loader.concurrency import DEFAULT_RETRY, RetryCounter, RetryPolicy, run_with_retry
from loader.tables import TableSpec


def copy_from_stdin(table: sql.Composable, columns) -> sql.Composed:
    """``COPY ... FROM STDIN`` reading what ``loader.base.to_csv`` writes (its null marker)."""
    return sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv, NULL {})").format(
        table, sql.SQL(", ").join(map(sql.Identifier, columns)), sql.Literal(CSV_NULL))


def merge_statement(spec: TableSpec, stage: str | sql.Composable) -> sql.Composed:
    """The set-based statement moving a staged batch into the table, idempotently.
    ``stage``: a table name, or a composed (schema-qualified) identifier.

    Duplicates inside the batch are resolved first (``DISTINCT ON`` the key): the earliest
    offset for event tables, the newest version for ``latest`` tables.
    """
    columns = sql.SQL(", ").join(map(sql.Identifier, spec.load_columns))
    key = sql.SQL(", ").join(map(sql.Identifier, spec.key))
    target = sql.Identifier(spec.schema_name, spec.table_name)
    if spec.mode == "insert":
        order = sql.SQL("{}, source_offset").format(key)
        conflict = sql.SQL("DO NOTHING")
    else:
        version = sql.Identifier(spec.version_by)
        order = sql.SQL("{}, {} DESC, source_offset DESC NULLS LAST").format(key, version)
        updates = sql.SQL(", ").join(
            sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c))
            for c in spec.load_columns if c not in spec.key
        )
        # Only a newer version replaces a row: a late, older profile is ignored.
        conflict = sql.SQL(
            "DO UPDATE SET {updates}, loaded_at = now() WHERE "
            "({target}.{version}, coalesce({target}.source_offset, -1)) < "
            "(EXCLUDED.{version}, coalesce(EXCLUDED.source_offset, -1))"
        ).format(updates=updates, target=target, version=version)
    return sql.SQL(
        "INSERT INTO {target} ({columns}) SELECT DISTINCT ON ({key}) {columns} FROM {stage} "
        "ORDER BY {order} ON CONFLICT ({key}) {conflict}"
    ).format(target=target, columns=columns, key=key,
             stage=stage if isinstance(stage, sql.Composable) else sql.Identifier(stage),
             order=order, conflict=conflict)


class PostgresLoader:
    """:param isolation: the transactions' isolation level; ``serializable`` makes
        PostgreSQL behave like Redshift (what the concurrency tests use), and its
        serialization failures are retried like Redshift's."""

    engine = "postgres"

    def __init__(self, dsn: str, *, max_connections: int = 4, isolation: str | None = None,
                 retry_policy: RetryPolicy = DEFAULT_RETRY,
                 retries: RetryCounter | None = None) -> None:
        self.dsn = dsn  # executors stage batches on their own connections (loader.staged)
        kwargs: dict = {"application_name": "hoverboard-loader"}
        if isolation is not None:
            level = isolation.strip().lower().replace(" ", "\\ ")  # an options value escapes spaces
            kwargs["options"] = f"-c default_transaction_isolation={level}"
        # A pool: ingest instances load from many request threads at once.
        self.pool = ConnectionPool(dsn, min_size=1, max_size=max_connections, open=True,
                                   kwargs=kwargs)
        self.retry_policy = retry_policy
        self.retries = retries or RetryCounter()

    def load(self, spec: TableSpec, rows: pa.Table, *,
             in_transaction: InTransaction | None = None, also_lock=()) -> int:
        """``also_lock`` is accepted for the Loader interface: ``ON CONFLICT`` makes this
        path safe for concurrent writers without table locks."""
        return run_with_retry(lambda: self._load_once(spec, rows, in_transaction),
                              policy=self.retry_policy, counter=self.retries,
                              what=f"load into {spec.table}")

    def _load_once(self, spec: TableSpec, rows: pa.Table,
                   in_transaction: InTransaction | None) -> int:
        stage = f"stage_{spec.table_name}"
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            written = 0
            if rows.num_rows:
                cur.execute(sql.SQL(
                    "CREATE TEMP TABLE {stage} (LIKE {target} INCLUDING DEFAULTS) ON COMMIT DROP"
                ).format(stage=sql.Identifier(stage),
                         target=sql.Identifier(spec.schema_name, spec.table_name)))
                copy = copy_from_stdin(sql.Identifier(stage), spec.load_columns)
                with cur.copy(copy) as pipe:
                    for chunk in csv_chunks(spec, rows):
                        pipe.write(chunk)
                cur.execute(merge_statement(spec, stage))
                written = cur.rowcount
            if in_transaction is not None:
                in_transaction(cur, written)
        return written

    def run(self, work):
        def once():
            with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
                return work(cur)

        return run_with_retry(once, policy=self.retry_policy, counter=self.retries,
                              what="warehouse transaction")

    def close(self) -> None:
        self.pool.close()
