"""What differs between the warehouse engines: getting rows out into Parquet files in the
store, reading a query's checksum, and loading backup files into a table.

* :class:`PostgresEngine` streams ``COPY (SELECT ...) TO STDOUT (FORMAT csv)`` through
  pyarrow's streaming CSV reader into Parquet files of bounded size, each uploaded while the
  next one is written; memory stays bounded by the CSV block and one row group.
* :class:`RedshiftEngine` lets the cluster write the files: ``UNLOAD ('SELECT ...') TO
  's3://...' IAM_ROLE '...' FORMAT AS PARQUET MANIFEST VERBOSE`` (an IAM role, never keys),
  then reads the files back once for their checksums; loads are ``COPY ... FORMAT AS
  PARQUET MANIFEST``.

Engines run statements on the connection they are given and never commit: transactions
belong to :class:`hoverboard.backup.service.BackupService`.
"""

from __future__ import annotations

import io
import json
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg import sql

from hoverboard.backup import files
from hoverboard.backup.checksum import Checksum
from hoverboard.backup.layout import Layout
from hoverboard.backup.manifest import Column, FileEntry, Manifest
from hoverboard.backup.store import ObjectStore

#: Arrow types of the warehouse types (information_schema names); anything else travels as
#: its text form, which COPY reads back.
ARROW_TYPES = {
    "bigint": pa.int64(),
    "integer": pa.int32(),
    "smallint": pa.int16(),
    "double precision": pa.float64(),
    "real": pa.float32(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "timestamp with time zone": pa.timestamp("us", tz="UTC"),
    "timestamp without time zone": pa.timestamp("us"),
}
CSV_BLOCK_BYTES = 8 << 20


class Engine(Protocol):
    name: str

    def now(self, conn: Any) -> datetime:
        """The warehouse's clock (UTC): the one ``loaded_at`` is written with."""
        ...

    def export(self, conn: Any, select: sql.Composable, columns: Sequence[Column],
               folder: str, run: str, work_dir: Path) -> list[FileEntry]:
        """Write the rows of ``select`` as Parquet files under ``folder + run``."""
        ...

    def checksum(self, conn: Any, select: sql.Composable,
                 columns: Sequence[Column]) -> Checksum:
        """Rows and content checksum of ``select``, computed as for backup files."""
        ...

    def load(self, conn: Any, target: sql.Composable, manifest: Manifest, folder: str,
             work_dir: Path) -> None:
        """Append the backup's rows to ``target`` (columns as in the manifest)."""
        ...


def arrow_schema(columns: Sequence[Column]) -> pa.Schema:
    return pa.schema([(c.name, ARROW_TYPES.get(c.type, pa.string())) for c in columns])


def _columns_sql(columns: Sequence[str]) -> sql.Composed:
    return sql.SQL(", ").join(map(sql.Identifier, columns))


class _CopyStream(io.RawIOBase):
    """A read-only file over ``COPY ... TO STDOUT``, for pyarrow's CSV reader."""

    def __init__(self, copy: Any) -> None:
        self._copy = copy
        self._buffer = bytearray()
        self._eof = False

    def readable(self) -> bool:
        return True

    def empty(self) -> bool:
        """Whether the COPY returns no rows at all (pyarrow refuses an empty CSV)."""
        if not self._buffer and not self._eof:
            chunk = self._copy.read()
            if chunk:
                self._buffer += chunk
            else:
                self._eof = True
        return not self._buffer and self._eof

    def read(self, size: int = -1) -> bytes:
        while not self._eof and (size < 0 or len(self._buffer) < size):
            chunk = self._copy.read()
            if not chunk:
                self._eof = True
            else:
                self._buffer += chunk
        if size < 0 or size >= len(self._buffer):
            data, self._buffer = bytes(self._buffer), bytearray()
            return data
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def readinto(self, target: Any) -> int:
        data = self.read(len(target))
        target[:len(data)] = data
        return len(data)


class PostgresEngine:
    name = "postgres"

    def __init__(self, store: ObjectStore, *, rows_per_file: int = files.ROWS_PER_FILE,
                 compression: str = files.COMPRESSION) -> None:
        self.store = store
        self.rows_per_file = rows_per_file
        self.compression = compression

    def now(self, conn: Any) -> datetime:
        with conn.cursor() as cur:
            cur.execute("SELECT now()")
            return cur.fetchone()[0].astimezone(UTC)

    @staticmethod
    def _session(cur: Any) -> None:
        # The text forms pyarrow parses: UTC offsets, ISO dates, shortest exact floats.
        for statement in ("SET LOCAL TimeZone = 'UTC'", "SET LOCAL DateStyle = 'ISO, YMD'",
                          "SET LOCAL extra_float_digits = 1"):
            cur.execute(statement)

    def _batches(self, conn: Any, select: sql.Composable,
                 schema: pa.Schema) -> Iterator[pa.RecordBatch]:
        statement = sql.SQL("COPY ({}) TO STDOUT (FORMAT csv)").format(select)
        with conn.cursor() as cur:
            self._session(cur)
            with cur.copy(statement) as copy:
                stream = _CopyStream(copy)
                if stream.empty():
                    return
                reader = pacsv.open_csv(
                    stream,
                    read_options=pacsv.ReadOptions(column_names=schema.names,
                                                   block_size=CSV_BLOCK_BYTES),
                    parse_options=pacsv.ParseOptions(newlines_in_values=True),
                    convert_options=pacsv.ConvertOptions(
                        column_types=schema, true_values=["t"], false_values=["f"],
                        null_values=[""], strings_can_be_null=True,
                        quoted_strings_can_be_null=False),
                )
                yield from reader

    def export(self, conn: Any, select: sql.Composable, columns: Sequence[Column],
               folder: str, run: str, work_dir: Path) -> list[FileEntry]:
        schema = arrow_schema(columns)
        uploads: list[Future[FileEntry]] = []
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="backup-upload")

        def upload(written: files.WrittenFile) -> FileEntry:
            size, sha256 = written.path.stat().st_size, files.sha256_of(written.path)
            self.store.upload_file(written.path, folder + run + written.name)
            written.path.unlink()
            return FileEntry(path=run + written.name, rows=written.rows, bytes=size,
                             sha256=sha256, checksum=written.content.hexdigest)

        def ship(written: files.WrittenFile) -> None:
            # At most one file waits for the upload in progress: disk use stays bounded.
            if len(uploads) >= 2:
                uploads[-2].result()
            uploads.append(pool.submit(upload, written))

        try:
            writer = files.PartWriter(work_dir, schema, schema.names, on_file=ship,
                                      rows_per_file=self.rows_per_file,
                                      compression=self.compression)
            for batch in self._batches(conn, select, schema):
                writer.write(batch)
            writer.close()
            return [u.result() for u in uploads]
        finally:
            pool.shutdown(wait=True)

    def checksum(self, conn: Any, select: sql.Composable,
                 columns: Sequence[Column]) -> Checksum:
        schema = arrow_schema(columns)
        total = Checksum()
        for batch in self._batches(conn, select, schema):
            total.update(batch, schema.names)
        return total

    def load(self, conn: Any, target: sql.Composable, manifest: Manifest, folder: str,
             work_dir: Path) -> None:
        names = manifest.column_names
        statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(
            target, _columns_sql(names))
        path = work_dir / "restore.parquet"
        with conn.cursor() as cur:
            self._session(cur)
            for entry in manifest.files:
                size, sha256 = self.store.download(folder + entry.path, path)
                if (size, sha256) != (entry.bytes, entry.sha256):
                    raise ValueError(
                        f"{folder + entry.path}: {size} bytes, SHA-256 {sha256[:16]}... in the "
                        f"store; the manifest says {entry.bytes} bytes, {entry.sha256[:16]}...")
                with cur.copy(statement) as copy:
                    for batch in files.read_batches(path, names):
                        buffer = io.BytesIO()
                        pacsv.write_csv(batch, buffer, pacsv.WriteOptions(
                            include_header=False, quoting_style="needed"))
                        copy.write(buffer.getbuffer())
                path.unlink()


class RedshiftEngine:
    """Redshift writes and reads the files itself, authorised by an IAM role the cluster
    may assume (``iam_role``: its ARN); no access keys ever appear in the SQL."""

    name = "redshift"
    MAX_FILE_SIZE = "256 MB"

    def __init__(self, store: ObjectStore, layout: Layout, iam_role: str | None) -> None:
        if not iam_role:
            raise ValueError(
                "backups of a Redshift warehouse need the ARN of an IAM role the cluster can "
                "assume for S3 (UNLOAD/COPY ... IAM_ROLE): set the Airflow Variable "
                "backup_iam_role or pass iam_role")
        self.store = store
        self.layout = layout
        self.iam_role = iam_role

    #: GETDATE() is in the session's time zone (UTC only by default: a user's or the
    #: cluster's setting moves it), and it is what stamps loaded_at. The session is pinned to
    #: UTC first, as the loader pins its own, so the cut-off and loaded_at share one clock.
    NOW_STATEMENTS = ("SET TIME ZONE 'UTC'", "SELECT GETDATE()")

    def now(self, conn: Any) -> datetime:
        cur = conn.cursor()
        for statement in self.NOW_STATEMENTS:
            cur.execute(statement)
        return cur.fetchone()[0].replace(tzinfo=UTC)  # a TIMESTAMP, now in UTC

    def unload_statement(self, select: sql.Composable, key_prefix: str) -> str:
        """``UNLOAD`` of ``select`` into ``s3://<bucket>/<key_prefix>part_...parquet``.

        The query is text inside a string literal (UNLOAD takes no bind parameters): it is
        composed with psycopg.sql (identifiers quoted, values as literals) and quoted whole.
        """
        query = select.as_string(None)
        if "\\" in query:
            raise ValueError(f"refusing to UNLOAD a query with a backslash: {query}")
        return sql.SQL(
            "UNLOAD ({query}) TO {uri} IAM_ROLE {role} FORMAT AS PARQUET MANIFEST VERBOSE "
            "MAXFILESIZE {size}"
        ).format(query=sql.Literal(query), uri=sql.Literal(self.layout.uri(key_prefix + "part_")),
                 role=sql.Literal(self.iam_role),
                 size=sql.SQL(self.MAX_FILE_SIZE)).as_string(None)

    def copy_statement(self, target: sql.Composable, manifest_uri: str) -> str:
        return sql.SQL("COPY {target} FROM {uri} IAM_ROLE {role} FORMAT AS PARQUET MANIFEST"
                       ).format(target=target, uri=sql.Literal(manifest_uri),
                                role=sql.Literal(self.iam_role)).as_string(None)

    def _execute_unload(self, conn: Any, statement: str, select: sql.Composable,
                        key_prefix: str) -> None:
        conn.cursor().execute(statement)

    def _unload(self, conn: Any, select: sql.Composable, key_prefix: str) -> list[str]:
        """UNLOAD, then the keys of the files written (from Redshift's own manifest)."""
        self._execute_unload(conn, self.unload_statement(select, key_prefix), select,
                             key_prefix)
        written = self.store.get_bytes(key_prefix + "part_manifest")
        if written is None:
            raise RuntimeError(f"UNLOAD wrote no manifest at {self.layout.uri(key_prefix)}")
        return [self.layout.key_of(e["url"]) for e in json.loads(written)["entries"]]

    def _execute_copy(self, conn: Any, statement: str, target: sql.Composable,
                      manifest_key: str) -> None:
        # Parquet columns map by position: the target has the manifest's column order.
        conn.cursor().execute(statement)

    def _inspect(self, keys: Sequence[str], columns: Sequence[str],
                 work_dir: Path) -> list[tuple[str, files.FileReport]]:
        reports = []
        path = work_dir / "unloaded.parquet"
        for key in keys:
            size, sha256 = self.store.download(key, path)
            report = files.inspect(path, size, sha256, columns)
            if report.error:
                raise RuntimeError(f"{self.layout.uri(key)}: {report.error}")
            reports.append((key, report))
            path.unlink()
        return reports

    def export(self, conn: Any, select: sql.Composable, columns: Sequence[Column],
               folder: str, run: str, work_dir: Path) -> list[FileEntry]:
        keys = self._unload(conn, select, folder + run)
        return [FileEntry(path=key[len(folder):], rows=r.rows, bytes=r.bytes, sha256=r.sha256,
                          checksum=r.content.hexdigest)
                for key, r in self._inspect(keys, [c.name for c in columns], work_dir)]

    def checksum(self, conn: Any, select: sql.Composable,
                 columns: Sequence[Column]) -> Checksum:
        scratch = self.layout.scratch(uuid.uuid4().hex)
        try:
            keys = self._unload(conn, select, scratch)
            with tempfile.TemporaryDirectory(prefix="hover-verify-") as tmp:
                total = Checksum()
                for _, report in self._inspect(keys, [c.name for c in columns], Path(tmp)):
                    total = total + report.content
                return total
        finally:
            self.store.delete_prefix(scratch)

    def load(self, conn: Any, target: sql.Composable, manifest: Manifest, folder: str,
             work_dir: Path) -> None:
        if not manifest.files:
            return
        scratch = self.layout.scratch(uuid.uuid4().hex)
        entries = [{"url": self.layout.uri(folder + f.path), "mandatory": True,
                    "meta": {"content_length": f.bytes}} for f in manifest.files]
        try:
            self.store.put_bytes(scratch + "copy.manifest", json.dumps({"entries": entries})
                                 .encode())
            self._execute_copy(conn, self.copy_statement(
                target, self.layout.uri(scratch + "copy.manifest")), target,
                scratch + "copy.manifest")
        finally:
            self.store.delete_prefix(scratch)
