"""PostgreSQL loader: COPY into a temporary staging table, then one INSERT ... ON CONFLICT."""

from __future__ import annotations

import pyarrow as pa
from psycopg import sql
from psycopg_pool import ConnectionPool

from loader.base import InTransaction, csv_chunks
from loader.tables import TableSpec


def merge_statement(spec: TableSpec, stage: str) -> sql.Composed:
    """The set-based statement moving a staged batch into the table, idempotently.

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
    ).format(target=target, columns=columns, key=key, stage=sql.Identifier(stage),
             order=order, conflict=conflict)


class PostgresLoader:
    engine = "postgres"

    def __init__(self, dsn: str, *, max_connections: int = 4) -> None:
        # A pool: ingest instances load from many request threads at once.
        self.pool = ConnectionPool(dsn, min_size=1, max_size=max_connections, open=True,
                                   kwargs={"application_name": "hoverboard-loader"})

    def load(self, spec: TableSpec, rows: pa.Table, *,
             in_transaction: InTransaction | None = None) -> int:
        stage = f"stage_{spec.table_name}"
        columns = sql.SQL(", ").join(map(sql.Identifier, spec.load_columns))
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            written = 0
            if rows.num_rows:
                cur.execute(sql.SQL(
                    "CREATE TEMP TABLE {stage} (LIKE {target} INCLUDING DEFAULTS) ON COMMIT DROP"
                ).format(stage=sql.Identifier(stage),
                         target=sql.Identifier(spec.schema_name, spec.table_name)))
                copy = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(
                    sql.Identifier(stage), columns)
                with cur.copy(copy) as pipe:
                    for chunk in csv_chunks(spec, rows):
                        pipe.write(chunk)
                cur.execute(merge_statement(spec, stage))
                written = cur.rowcount
            if in_transaction is not None:
                in_transaction(cur, written)
        return written

    def run(self, work):
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            return work(cur)

    def close(self) -> None:
        self.pool.close()
