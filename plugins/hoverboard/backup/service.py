"""Backups, verification, retention and restores, the same for every engine.

* **backup** a table's day (event tables, by their event time in UTC) or a full snapshot:
  the engine writes Parquet files into a run folder with the run's manifest, the catalog
  records the run. The day's ``manifest.json`` is replaced at once only when the folder
  holds no verified backup; otherwise the new backup waits for its verification, and a
  re-run with fewer rows than the verified backup is held beside it (see :mod:`.layout`).
* **verify** reads the manifest and every file back (size, SHA-256, rows, checksum per
  file) and compares the rows with the source table. The source is live, so the comparison
  is made on what cannot have changed since the backup: source rows loaded before the
  backup's ``settled_before`` (its start minus ``settle_seconds``, which covers loads that
  were still in flight) against the backed-up rows whose natural key has no row loaded or
  updated since. Events arriving late and customers updated since drop out of both sides,
  instead of failing the check; a missing, extra or altered row does not. A backup that
  passes is published (unless held) and only then are the folder's older runs deleted.
* **retention** deletes backups whose day is more than ``keep_days`` before the reference
  day, but never the latest verified backup of a table (nor, when none is verified, the
  latest backup at all).
* **restore** loads backups into ``restore_<table>.<table>`` (or another schema, or the
  table itself: ``in_place``), one backup per transaction through a staging table: rows
  are replaced by natural key (idempotent), and the staging rows and the restored rows
  must match the manifest's count and checksum before anything is committed.
"""

from __future__ import annotations

import getpass
import logging
import socket
import tempfile
import uuid
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from psycopg import sql

from hoverboard.backup import catalog, files
from hoverboard.backup.checksum import Checksum, row_hashes
from hoverboard.backup.engines import Engine, PostgresEngine, RedshiftEngine
from hoverboard.backup.layout import Layout, new_backup_id
from hoverboard.backup.manifest import Column, Manifest
from hoverboard.backup.store import ObjectStore
from hoverboard.backup.tables import LOADED_AT, BackupTable, backup_table

log = logging.getLogger(__name__)

DEFAULT_SETTLE_SECONDS = 60
DEFAULT_KEEP_DAYS = 30
COLUMNS = ("SELECT column_name, data_type FROM information_schema.columns"
           " WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position")


class BackupError(RuntimeError):
    """A backup or restore that cannot be done as asked (missing backup, bad arguments)."""


class BackupMismatch(RuntimeError):
    """Verification found a difference. ``retryable``: the backup differs from the source,
    which a load still in flight may explain; otherwise the store does not hold what the
    manifest says (or no longer this run's backup), which no retry changes."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class BackupRowsDropped(BackupError):
    """A re-run found fewer rows than the verified backup of the same day: both are kept,
    the verified one stays published. ``details`` (counts, ids, places; never a row's
    values) go into the alert."""

    def __init__(self, where: str, location: str, verified: Manifest, held: Manifest) -> None:
        missing = verified.rows - held.rows
        super().__init__(
            f"{where}: the re-run found {held.rows} rows where the verified backup "
            f"{verified.backup_id} has {verified.rows} ({missing} fewer). Both are kept at "
            f"{location}; the verified one stays published. If rows were lost in the "
            "warehouse, restore them from the verified backup (warehouse_restore with "
            "in_place); if they were removed on purpose, re-run the backup with "
            "accept_fewer_rows (the new backup replaces the old one once verified)")
        self.details = {
            "table": verified.table, "kind": verified.kind, "day": verified.day.isoformat(),
            "location": location, "verified_backup_id": verified.backup_id,
            "verified_rows": verified.rows, "held_backup_id": held.backup_id,
            "held_rows": held.rows, "missing_rows": missing}


@dataclass(frozen=True)
class Verification:
    backup_id: str
    table: str
    day: date
    rows: int
    checksum: str
    source_rows: int
    source_checksum: str
    left_out: int  # keys loaded or updated since the backup, excluded from the comparison

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "day": self.day.isoformat()}


def default_run_id() -> str:
    return f"cli:{getpass.getuser()}@{socket.gethostname()}"


def _start_of(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _timestamp(value: datetime) -> sql.Composed:
    return sql.SQL("CAST({} AS TIMESTAMPTZ)").format(sql.Literal(value.isoformat()))


class RestoreSQL:
    """The statements restoring one backup through the staging table ``stage``: rows are
    replaced by natural key (``DELETE ... USING`` then ``INSERT``: the same on both
    engines), and ``staged``/``applied``/``restored`` select what is checked against the
    manifest.

    With ``version`` (tables where the latest version of a key wins: customer's
    ``updated_at``), a row the table holds in a newer version than the backup's stays: the
    same order as the loader's merge (version, then ``source_offset``, a missing offset
    first), so a restore never rolls a profile back. The backup's row replaces one of the
    same version too: that repairs a damaged row and changes nothing in an intact one.
    ``applied`` selects the staged rows that are written (all of them without ``version``)."""

    def __init__(self, target: sql.Identifier, stage: str, columns: Sequence[str],
                 key: Sequence[str], version: str | None = None,
                 added: Sequence[str] = ()) -> None:
        self.stage = sql.Identifier(stage)
        cols = sql.SQL(", ").join(map(sql.Identifier, columns))
        match = sql.SQL(" AND ").join(
            sql.SQL("{t}.{k} = {s}.{k}").format(t=target, s=self.stage, k=sql.Identifier(k))
            for k in key)
        if version is None:
            newer = same_version = None
        else:
            v = sql.Identifier(version)
            offset = sql.Identifier("source_offset")
            newer = sql.SQL(
                "({t}.{v} > {s}.{v} OR ({t}.{v} = {s}.{v} AND COALESCE({t}.{o}, -1) >"
                " COALESCE({s}.{o}, -1)))").format(t=target, s=self.stage, v=v, o=offset)
            same_version = sql.SQL(
                "{t}.{v} = {s}.{v} AND COALESCE({t}.{o}, -1) = COALESCE({s}.{o}, -1)").format(
                t=target, s=self.stage, v=v, o=offset)
        self.create_stage = sql.SQL("CREATE TEMP TABLE {} (LIKE {} INCLUDING DEFAULTS)").format(
            self.stage, target).as_string(None)
        # Columns the table gained after the backup was taken (a later schema version's
        # field): the stage drops them, so it has the backup's columns in its order (what
        # Redshift's COPY of Parquet needs), and the restored rows get their defaults (NULL).
        self.drop_added = [sql.SQL("ALTER TABLE {} DROP COLUMN {}").format(
            self.stage, sql.Identifier(c)).as_string(None) for c in added]
        self.staged = sql.SQL("SELECT {} FROM {}").format(cols, self.stage)
        self.applied = self.staged if newer is None else sql.SQL(
            "SELECT {cols} FROM {s} WHERE NOT EXISTS (SELECT 1 FROM {t} WHERE {match} AND "
            "{newer})").format(cols=cols, s=self.stage, t=target, match=match, newer=newer)
        self.delete = sql.SQL("DELETE FROM {t} USING {s} WHERE {match}{keep}").format(
            t=target, s=self.stage, match=match,
            keep=sql.SQL("") if newer is None else sql.SQL(" AND NOT {}").format(newer)
        ).as_string(None)
        # What the DELETE left of a key is newer than the backup: it stays.
        self.insert = sql.SQL(
            "INSERT INTO {t} ({cols}) SELECT {cols} FROM {s} WHERE NOT EXISTS (SELECT 1 FROM"
            " {t} WHERE {match})").format(t=target, cols=cols, s=self.stage,
                                          match=match).as_string(None)
        self.restored = sql.SQL(
            "SELECT {cols} FROM {t} WHERE EXISTS (SELECT 1 FROM {s} WHERE {match}{same})").format(
            cols=sql.SQL(", ").join(sql.SQL("{}.{}").format(target, sql.Identifier(c))
                                    for c in columns),
            t=target, s=self.stage, match=match,
            same=sql.SQL("") if same_version is None else sql.SQL(" AND {}").format(
                same_version))
        self.drop_stage = sql.SQL("DROP TABLE {}").format(self.stage).as_string(None)

    @staticmethod
    def scratch_table(schema: str, table: str, source: sql.Identifier) -> list[str]:
        """``schema.table`` shaped like ``source`` (same columns, order and defaults)."""
        return [sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                    sql.Identifier(schema)).as_string(None),
                sql.SQL("CREATE TABLE IF NOT EXISTS {} (LIKE {} INCLUDING DEFAULTS)").format(
                    sql.Identifier(schema, table), source).as_string(None)]


class BackupService:
    """Backups of the warehouse behind ``connect`` (a DB-API connection factory) into
    ``store`` under ``layout``, with ``engine`` doing the engine-specific steps."""

    def __init__(self, connect: Callable[[], Any], engine: Engine, store: ObjectStore,
                 layout: Layout, *, run_id: str | None = None,
                 settle_seconds: float = DEFAULT_SETTLE_SECONDS) -> None:
        if store.bucket != layout.bucket:
            raise ValueError(f"store bucket {store.bucket} is not the layout's {layout.bucket}")
        self.connect = connect
        self.engine = engine
        self.store = store
        self.layout = layout
        self.run_id = run_id or default_run_id()
        self.settle = timedelta(seconds=settle_seconds)

    @classmethod
    def from_connections(cls, *, conn_id: str, aws_conn_id: str, bucket: str, prefix: str,
                         iam_role: str | None = None, **kwargs: Any) -> BackupService:
        """The warehouse and store behind Airflow connection ids (operators, bin/restore)."""
        from hoverboard.hooks.warehouse import WarehouseHook

        warehouse = WarehouseHook(conn_id)
        layout = Layout(bucket, prefix)
        store = ObjectStore.from_connection(aws_conn_id, bucket)
        engine: Engine
        if warehouse.engine == "redshift":
            engine = RedshiftEngine(store, layout, iam_role)
        else:
            engine = PostgresEngine(store)
        return cls(warehouse.get_conn, engine, store, layout, **kwargs)

    # -- helpers ---------------------------------------------------------------------------
    def folder(self, table: BackupTable, day: date) -> str:
        return self.layout.folder(table.name, table.kind, day)

    def table_columns(self, conn: Any, schema: str, table: str) -> tuple[Column, ...]:
        with closing(conn.cursor()) as cur:
            cur.execute(COLUMNS, (schema, table))
            rows = cur.fetchall()
        if not rows:
            raise BackupError(f"table {schema}.{table} does not exist (or has no columns)")
        return tuple(Column(name, type_) for name, type_ in rows)

    @staticmethod
    def select(source: sql.Composable, columns: Sequence[str], table: BackupTable,
               day: date | None, *, loaded_before: datetime | None = None,
               since: datetime | None = None) -> sql.Composed:
        """``SELECT columns FROM source`` for ``day`` of an event table (UTC, by its time
        column; the whole table for snapshots), optionally only rows loaded before/since."""
        conditions = []
        if table.time_column and day is not None:
            time_column = sql.Identifier(table.time_column)
            conditions += [
                sql.SQL("{} >= {}").format(time_column, _timestamp(_start_of(day))),
                sql.SQL("{} < {}").format(time_column,
                                          _timestamp(_start_of(day + timedelta(days=1)))),
            ]
        if loaded_before is not None:
            conditions.append(sql.SQL("{} < {}").format(sql.Identifier(LOADED_AT),
                                                        _timestamp(loaded_before)))
        if since is not None:
            conditions.append(sql.SQL("{} >= {}").format(sql.Identifier(LOADED_AT),
                                                         _timestamp(since)))
        query = sql.SQL("SELECT {} FROM {}").format(
            sql.SQL(", ").join(map(sql.Identifier, columns)), source)
        if conditions:
            query = sql.SQL("{} WHERE {}").format(query, sql.SQL(" AND ").join(conditions))
        return query

    def manifest(self, table: BackupTable, day: date) -> Manifest | None:
        """The published backup in ``table``'s folder for ``day``, if there is one."""
        return self._read_manifest(self.layout.manifest_key(self.folder(table, day)))

    def backup_days(self, table: BackupTable) -> list[date]:
        """Days (or snapshot dates) of ``table`` with a folder in the store, oldest first."""
        folders = self.store.list_folders(self.layout.kind_prefix(table.name, table.kind))
        return sorted(d for f in folders if (d := self.layout.folder_day(f)) is not None)

    # -- backup ----------------------------------------------------------------------------
    def backup(self, name: str, day: date, *, accept_fewer_rows: bool = False) -> Manifest:
        """Back up ``day`` of an event table, or a snapshot of a snapshot table labelled
        with ``day``, into a run folder of its own.

        When the folder holds no verified backup, the new one is published at once.
        Otherwise it waits beside the verified one (``pending``) and :meth:`verify`
        publishes it; the verified copy stays the folder's until then. A re-run that finds
        fewer rows than the verified backup (a bad DELETE in the source, say) is ``held``:
        kept beside it, never published, and :class:`BackupRowsDropped` raised, unless
        ``accept_fewer_rows`` (the rows were removed on purpose)."""
        table = backup_table(name)
        folder = self.folder(table, day)
        backup_id = new_backup_id()
        run = f"run={backup_id}/"
        with closing(self.connect()) as conn:
            columns = self.table_columns(conn, table.schema, table.table)
            with closing(conn.cursor()) as cur:
                version = catalog.schema_version(cur)
            started = self.engine.now(conn)
            conn.rollback()
            select = self.select(table.identifier, [c.name for c in columns], table, day)
            try:
                with tempfile.TemporaryDirectory(prefix="hover-backup-") as tmp:
                    entries = self.engine.export(conn, select, columns, folder, run, Path(tmp))
            except BaseException:
                conn.rollback()
                self.store.delete_prefix(folder + run)  # nothing refers to it
                raise
            conn.rollback()  # the export only read
            manifest = Manifest(
                backup_id=backup_id, table=table.qualified, kind=table.kind, day=day,
                engine=self.engine.name, schema_version=version, columns=columns,
                key=table.key, time_column=table.time_column,
                settled_before=started - self.settle, created_at=datetime.now(UTC),
                run_id=self.run_id, files=tuple(entries))
            body = manifest.to_json()
            self.store.put_bytes(self.layout.run_manifest_key(folder, backup_id), body)
            verified = self._verified_published(conn, table, day)
            if verified is None:
                status = catalog.PUBLISHED
                # Publish: from this PUT on, readers see the new backup.
                self.store.put_bytes(self.layout.manifest_key(folder), body)
            elif manifest.rows < verified.rows and not accept_fewer_rows:
                status = catalog.HELD
            else:
                status = catalog.PENDING
            with closing(conn.cursor()) as cur:
                catalog.record_backup(cur, manifest, self.layout.uri(folder), status)
            conn.commit()
        where = f"{table.qualified} {table.kind} {day}"
        log.info("backed up %s: %d rows in %d file(s), %d bytes, checksum %s, at %s (%s)",
                 where, manifest.rows, len(manifest.files), manifest.bytes, manifest.checksum,
                 self.layout.uri(self.layout.run_folder(folder, backup_id)), {
                     catalog.PUBLISHED: "published",
                     catalog.PENDING: f"published once verified; until then the verified "
                                      f"backup {verified and verified.backup_id} stays",
                     catalog.HELD: "held: fewer rows than the verified backup"}[status])
        if status == catalog.HELD:
            assert verified is not None
            raise BackupRowsDropped(where, self.layout.uri(folder), verified, manifest)
        return manifest

    def _verified_published(self, conn: Any, table: BackupTable, day: date) -> Manifest | None:
        """The folder's published backup when it passed its verification, else None."""
        try:
            published = self.manifest(table, day)
        except BackupMismatch:
            log.warning("%s: the published manifest is unreadable; the new backup replaces "
                        "it", self.layout.uri(self.folder(table, day)), exc_info=True)
            return None
        if published is None:
            return None
        with closing(conn.cursor()) as cur:
            state = catalog.state(cur, published.backup_id)
        conn.rollback()
        return published if state is not None and state[1] else None

    def _run_manifest(self, table: BackupTable, day: date, backup_id: str) -> Manifest | None:
        """A run's own manifest (published or not), if the run's folder still exists."""
        return self._read_manifest(self.layout.run_manifest_key(self.folder(table, day),
                                                                backup_id))

    def _read_manifest(self, key: str) -> Manifest | None:
        """The manifest stored at ``key``, None if there is none; unreadable is an error."""
        body = self.store.get_bytes(key)
        if body is None:
            return None
        try:
            return Manifest.from_json(body, where=self.layout.uri(key))
        except (ValueError, KeyError, TypeError) as exc:
            raise BackupMismatch(f"{self.layout.uri(key)} is not a readable manifest: {exc}",
                                 retryable=False) from exc

    def _publish_verified(self, conn: Any, table: BackupTable, manifest: Manifest,
                          published: Manifest | None) -> list[str]:
        """``manifest`` passed its verification: make it the folder's backup (unless it is
        held), then delete the runs before it; returns the keys deleted."""
        folder = self.folder(table, manifest.day)
        location = self.layout.uri(folder)
        with closing(conn.cursor()) as cur:
            state = catalog.state(cur, manifest.backup_id)
        conn.rollback()
        if state is not None and state[0] == catalog.HELD:
            return []  # it stays beside the verified backup, for a person to decide
        if published is None or published.backup_id != manifest.backup_id:
            self.store.put_bytes(self.layout.manifest_key(folder), manifest.to_json())
        with closing(conn.cursor()) as cur:
            replaced = catalog.record_promotion(cur, manifest, location)
        conn.commit()
        # Only now, with a verified backup published, do the runs made before it go (runs
        # made since, waiting or held, stay).
        older = [k for k in self.store.list_keys(folder)
                 if self.layout.run_id_of(k[len(folder):]) in replaced]
        self.store.delete_keys(older)
        return older

    def summary(self, name: str, manifest: Manifest) -> dict[str, Any]:
        """What a backup task returns (and the verify task reads)."""
        folder = self.folder(backup_table(name), manifest.day)
        return {"backup_id": manifest.backup_id, "table": manifest.table, "kind": manifest.kind,
                "day": manifest.day.isoformat(), "location": self.layout.uri(folder),
                "rows": manifest.rows, "bytes": manifest.bytes, "checksum": manifest.checksum}

    # -- verify ----------------------------------------------------------------------------
    def _changed_keys(self, conn: Any, table: BackupTable, manifest: Manifest) -> np.ndarray:
        """Hashes of the natural keys with rows loaded (or updated) since the backup."""
        select = self.select(table.identifier, table.key, table, manifest.day,
                              since=manifest.settled_before)
        with closing(conn.cursor()) as cur:
            cur.execute(select.as_string(None))
            rows = cur.fetchall()
        if not rows:
            return np.empty(0, dtype=np.uint64)
        keys = pa.table({k: pa.array([r[i] for r in rows]) for i, k in enumerate(table.key)})
        return np.unique(row_hashes(keys, table.key))

    def verify(self, name: str, day: date, backup_id: str | None = None) -> Verification:
        """Check the published backup of ``name``/``day`` (or the run ``backup_id``, published
        or waiting) against the store and the source; raises :class:`BackupMismatch` naming
        what differs. The catalog records the result; a backup that passes is published."""
        table = backup_table(name)
        folder = self.folder(table, day)
        where = f"{table.qualified} {table.kind} {day}"
        published = manifest = self.manifest(table, day)
        if backup_id and (published is None or published.backup_id != backup_id):
            manifest = self._run_manifest(table, day, backup_id)  # waiting or held
            if manifest is None:
                raise BackupMismatch(
                    f"{where}: backup {backup_id} was replaced by "
                    f"{published.backup_id if published else 'nothing'} before it was "
                    "verified; verify that one (its run has a verify task)", retryable=False)
        if manifest is None:
            raise BackupMismatch(f"{where}: no backup (no {self.layout.uri(folder)}manifest.json)",
                                 retryable=False)
        has_loaded_at = LOADED_AT in manifest.column_names
        with closing(self.connect()) as conn:
            changed = (self._changed_keys(conn, table, manifest) if has_loaded_at
                       else np.empty(0, dtype=np.uint64))
            source = self.engine.checksum(
                conn, self.select(table.identifier, manifest.column_names, table, day,
                                   loaded_before=manifest.settled_before if has_loaded_at
                                   else None),
                manifest.columns)
            conn.rollback()
            problems, stored, compared = self._check_files(manifest, folder, table, changed)
            retryable = False
            if problems:
                problems.append("the store no longer holds what was backed up: re-run the "
                                "backup of this day while the source still has its rows")
            elif (compared.rows, compared.total) != (source.rows, source.total):
                retryable = True
                problems.append(
                    f"source {table.qualified} (rows loaded before "
                    f"{manifest.settled_before.isoformat()}) has {source.rows} rows, checksum "
                    f"{source.hexdigest}; the backup has {compared.rows} rows, checksum "
                    f"{compared.hexdigest} ({changed.size} key(s) loaded or updated since the "
                    "backup left out of both); if the source is right, re-run the backup of "
                    "this day; if it lost rows, restore them from the backup (warehouse_restore "
                    "with in_place)")
            error = (f"{where}, backup {manifest.backup_id} at {self.layout.uri(folder)}: "
                     + "; ".join(problems)) if problems else None
            with closing(conn.cursor()) as cur:
                catalog.record_verification(cur, manifest.backup_id, error)
            conn.commit()
            removed = [] if error else self._publish_verified(conn, table, manifest, published)
        if error:
            raise BackupMismatch(error, retryable=retryable)
        result = Verification(manifest.backup_id, table.qualified, day, stored.rows,
                              stored.hexdigest, source.rows, source.hexdigest, int(changed.size))
        if changed.size:
            log.warning("%s: %d key(s) were loaded or updated after the backup (late events or "
                        "newer versions): they are not in it; re-run the day to include them",
                        where, changed.size)
        log.info("verified %s, backup %s: %d rows, checksum %s, match the source (%d rows "
                 "compared)%s", where, manifest.backup_id, stored.rows, stored.hexdigest,
                 source.rows, f"; published, {len(removed)} object(s) of earlier runs removed"
                 if removed else "")
        return result

    def _check_files(self, manifest: Manifest, folder: str, table: BackupTable,
                     changed: np.ndarray) -> tuple[list[str], Checksum, Checksum]:
        problems: list[str] = []
        stored, compared = Checksum(), Checksum()
        with tempfile.TemporaryDirectory(prefix="hover-verify-") as tmp:
            path = Path(tmp) / "file.parquet"
            for entry in manifest.files:
                try:
                    size, sha256 = self.store.download(folder + entry.path, path)
                except Exception as exc:  # noqa: BLE001 - reported with the file's name
                    problems.append(f"{entry.path}: cannot be read from the store ({exc})")
                    continue
                report = files.inspect(path, size, sha256, manifest.column_names,
                                       key=manifest.key, exclude=changed)
                found = []
                if (size, sha256) != (entry.bytes, entry.sha256):
                    found.append(f"{size} bytes, SHA-256 {sha256[:16]}... in the store where the "
                                 f"manifest has {entry.bytes} bytes, {entry.sha256[:16]}...")
                if report.error:
                    found.append(f"not readable: {report.error}")
                elif (report.rows, report.content.hexdigest) != (entry.rows, entry.checksum):
                    found.append(f"{report.rows} rows, checksum {report.content.hexdigest} in the "
                                 f"file where the manifest has {entry.rows} rows, checksum "
                                 f"{entry.checksum}")
                if found:
                    problems.append(f"{entry.path}: " + ", ".join(found))
                stored = stored + report.content
                compared = compared + report.compared
        return problems, stored, compared

    # -- retention -------------------------------------------------------------------------
    def retention(self, names: Sequence[str], reference_day: date,
                  keep_days: int = DEFAULT_KEEP_DAYS) -> list[str]:
        """Delete backups of days before ``reference_day - keep_days``, except each
        table's latest verified backup; returns the locations deleted."""
        if keep_days < 0:
            raise BackupError(f"keep_days must be >= 0, not {keep_days}")
        cutoff = reference_day - timedelta(days=keep_days)
        deleted = []
        with closing(self.connect()) as conn:
            for name in names:
                table = backup_table(name)
                days = self.backup_days(table)
                with closing(conn.cursor()) as cur:
                    keep = catalog.latest_verified(cur, table.qualified, table.kind)
                conn.rollback()
                if keep is None:  # nothing verified yet: keep the newest backup there is
                    published = [d for d in days if self.store.get_bytes(
                        self.layout.manifest_key(self.folder(table, d))) is not None]
                    keep = max(published, default=None)
                for day in days:
                    if day >= cutoff or day == keep:
                        continue
                    folder = self.folder(table, day)
                    # The manifest first: from then on no reader trusts the folder.
                    self.store.delete_keys([self.layout.manifest_key(folder)])
                    self.store.delete_prefix(folder)
                    with closing(conn.cursor()) as cur:
                        catalog.mark_deleted(cur, table.qualified, table.kind,
                                             self.layout.uri(folder))
                    conn.commit()
                    deleted.append(self.layout.uri(folder))
                log.info("retention %s: kept %s and everything since %s", table.qualified,
                         keep or "nothing older", cutoff)
        log.info("retention deleted %d backup(s): %s", len(deleted), deleted or "none")
        return deleted

    # -- restore ---------------------------------------------------------------------------
    def restore(self, name: str, *, days: Sequence[date] = (), snapshot: date | None = None,
                latest_snapshot: bool = False, target_schema: str | None = None,
                in_place: bool = False) -> list[dict[str, Any]]:
        """Restore backups of ``name`` (event tables: ``days``; snapshot tables:
        ``snapshot`` or ``latest_snapshot``) into ``target_schema`` (default
        ``restore_<name>``) or, with ``in_place``, into the table itself."""
        table = backup_table(name)
        if table.kind == "day":
            if not days or snapshot or latest_snapshot:
                raise BackupError(f"{table.qualified} is backed up by day: give the day(s)")
            wanted = sorted(set(days))
        else:
            if days or bool(snapshot) == latest_snapshot:
                raise BackupError(f"{table.qualified} is backed up as snapshots: give one "
                                  "snapshot date or ask for the latest")
            wanted = [snapshot] if snapshot else self.backup_days(table)[-1:]
        manifests = [(d, self.manifest(table, d)) for d in wanted]
        missing = [d.isoformat() for d, m in manifests if m is None]
        if missing or not manifests:
            raise BackupError(f"no backup of {table.qualified} for {missing or 'any date'} under "
                              f"{self.layout.uri(self.layout.kind_prefix(name, table.kind))}")
        schema = table.schema if in_place else (target_schema or f"restore_{name}")
        target = sql.Identifier(schema, table.table)
        results = []
        with closing(self.connect()) as conn:
            if not in_place:
                with closing(conn.cursor()) as cur:
                    for statement in RestoreSQL.scratch_table(schema, table.table,
                                                              table.identifier):
                        cur.execute(statement)
                conn.commit()
            columns = self.table_columns(conn, schema, table.table)
            conn.rollback()
            for _, manifest in manifests:
                assert manifest is not None
                results.append(self._restore_one(conn, table, manifest, target, columns))
        return results

    def _restore_one(self, conn: Any, table: BackupTable, manifest: Manifest,
                     target: sql.Identifier, columns: Sequence[Column]) -> dict[str, Any]:
        where = f"{table.qualified} {manifest.kind} {manifest.day} (backup {manifest.backup_id})"
        names = [c.name for c in columns]
        added = [name for name in names if name not in manifest.column_names]
        if [name for name in names if name not in added] != manifest.column_names:
            raise BackupError(
                f"{where}: its columns {manifest.column_names} (schema version "
                f"{manifest.schema_version}) are not {target.as_string(None)}'s "
                f"{names} (the table may only have gained columns since); restore into a new "
                "scratch schema")
        statements = RestoreSQL(target, f"restore_stage_{uuid.uuid4().hex[:8]}",
                                manifest.column_names, manifest.key, table.version_by, added)
        expected = manifest.content

        def check(what: str, got: Checksum, want: Checksum = expected,
                  of: str = "the manifest has") -> None:
            if (got.rows, got.total) != (want.rows, want.total):
                raise BackupMismatch(
                    f"{where}: {what} has {got.rows} rows, checksum {got.hexdigest}; "
                    f"{of} {want.rows} rows, checksum {want.hexdigest}; nothing was restored",
                    retryable=False)

        def run(statement: str) -> None:
            with closing(conn.cursor()) as cur:
                cur.execute(statement)

        try:
            run(statements.create_stage)
            for statement in statements.drop_added:
                run(statement)
            with tempfile.TemporaryDirectory(prefix="hover-restore-") as tmp:
                self.engine.load(conn, statements.stage, manifest,
                                 self.folder(table, manifest.day), Path(tmp))
            check("the staged data",
                  self.engine.checksum(conn, statements.staged, manifest.columns))
            applied = (expected if statements.applied is statements.staged
                       else self.engine.checksum(conn, statements.applied, manifest.columns))
            run(statements.delete)
            run(statements.insert)
            check(f"{target.as_string(None)} after the restore",
                  self.engine.checksum(conn, statements.restored, manifest.columns),
                  applied, "the backup's rows to write have")
            run(statements.drop_stage)
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        kept = expected.rows - applied.rows
        log.info("restored %s into %s: %d rows, checksum %s (matches the manifest)%s", where,
                 target.as_string(None), applied.rows, applied.hexdigest,
                 f"; {kept} row(s) kept, newer in the table than in the backup" if kept else "")
        return {"table": table.qualified, "kind": manifest.kind, "day": manifest.day.isoformat(),
                "backup_id": manifest.backup_id, "target": target.as_string(None),
                "rows": applied.rows, "checksum": applied.hexdigest, "kept_newer": kept}
