"""``platform.backup_catalog`` (migration V0004): one row per backup run, with what it
holds, where, its verification, and what became of it. ``status``:

* ``published``: the folder's ``manifest.json`` is this backup's (restores read it);
* ``pending``: a re-run's backup waiting for its verification beside the verified backup it
  is to replace (it is published only once verified);
* ``held``: a re-run that found fewer rows than the verified backup of the same day: kept
  beside it, never published on its own (see ``BackupService.backup``);
* ``replaced``: a later backup of the same folder took its place;
* ``deleted``: retention removed the folder.

No migration is needed for the two new states: ``status`` is a plain ``varchar(16)``.

Statements take their values as DB-API parameters (``%s``: psycopg and redshift_connector
alike); their Redshift parse is tested in tests/unit/test_backup_redshift_sql.py.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from hoverboard.backup.manifest import Manifest

CATALOG = "platform.backup_catalog"

INSERT = (
    f"INSERT INTO {CATALOG} (backup_id, table_name, kind, day, snapshot_date, row_count,"
    " byte_count, file_count, checksum, location, schema_version, status, created_at,"
    " verified, run_id)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, false, %s)"
)
MARK_REPLACED = (
    f"UPDATE {CATALOG} SET status = 'replaced'"
    " WHERE table_name = %s AND kind = %s AND location = %s AND status = 'published'"
    " AND backup_id <> %s"
)
#: A verified backup took the folder: the runs made before it (published, waiting or held)
#: are replaced, and removed from the store.
MARK_SUPERSEDED = (
    f"UPDATE {CATALOG} SET status = 'replaced'"
    " WHERE table_name = %s AND kind = %s AND location = %s"
    " AND status IN ('published', 'pending', 'held')"
    f" AND created_at < (SELECT created_at FROM {CATALOG} WHERE backup_id = %s)"
)
REPLACED = (
    f"SELECT backup_id FROM {CATALOG}"
    " WHERE table_name = %s AND kind = %s AND location = %s AND status = 'replaced'"
)
SET_STATUS = f"UPDATE {CATALOG} SET status = %s WHERE backup_id = %s"
STATE = f"SELECT status, verified FROM {CATALOG} WHERE backup_id = %s"
RECORD_VERIFICATION = (
    f"UPDATE {CATALOG} SET verified = %s, verified_at = %s, verify_error = %s"
    " WHERE backup_id = %s"
)
LATEST_VERIFIED = (
    f"SELECT MAX(COALESCE(day, snapshot_date)) FROM {CATALOG}"
    " WHERE table_name = %s AND kind = %s AND status = 'published' AND verified"
)
MARK_DELETED = (
    f"UPDATE {CATALOG} SET status = 'deleted', deleted_at = %s"
    " WHERE table_name = %s AND kind = %s AND location = %s AND status <> 'deleted'"
)
SCHEMA_VERSION = "SELECT MAX(version) FROM platform.schema_migrations"

STATEMENTS = (INSERT, MARK_REPLACED, MARK_SUPERSEDED, REPLACED, SET_STATUS, STATE,
              RECORD_VERIFICATION,
              LATEST_VERIFIED, MARK_DELETED, SCHEMA_VERSION)
PUBLISHED, PENDING, HELD = "published", "pending", "held"


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _naive_utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def schema_version(cur: Any) -> int:
    cur.execute(SCHEMA_VERSION)
    row = cur.fetchone()
    if not row or row[0] is None:
        raise RuntimeError("platform.schema_migrations is empty: migrate the warehouse first "
                           "(bin/migrate or the warehouse_migrations DAG)")
    return int(row[0])


def record_backup(cur: Any, manifest: Manifest, location: str, status: str = PUBLISHED) -> None:
    """The new backup with its ``status``; when published, the backup it replaced (same
    folder) marked so."""
    if status == PUBLISHED:
        cur.execute(MARK_REPLACED, (manifest.table, manifest.kind, location,
                                    manifest.backup_id))
    cur.execute(INSERT, (
        manifest.backup_id, manifest.table, manifest.kind,
        manifest.day if manifest.kind == "day" else None,
        manifest.day if manifest.kind == "snapshot" else None,
        manifest.rows, manifest.bytes, len(manifest.files), manifest.checksum, location,
        manifest.schema_version, status, _naive_utc(manifest.created_at), manifest.run_id,
    ))


def state(cur: Any, backup_id: str) -> tuple[str, bool] | None:
    """``(status, verified)`` of a backup, or None when the catalog does not know it."""
    cur.execute(STATE, (backup_id,))
    row = cur.fetchone()
    return (row[0], bool(row[1])) if row else None


def record_promotion(cur: Any, manifest: Manifest, location: str) -> set[str]:
    """``manifest``'s backup, verified, is now the folder's: it is published, the ones made
    before it are replaced. Returns the ids of every replaced backup of the folder."""
    cur.execute(MARK_REPLACED, (manifest.table, manifest.kind, location, manifest.backup_id))
    cur.execute(MARK_SUPERSEDED, (manifest.table, manifest.kind, location, manifest.backup_id))
    cur.execute(SET_STATUS, (PUBLISHED, manifest.backup_id))
    cur.execute(REPLACED, (manifest.table, manifest.kind, location))
    return {row[0] for row in cur.fetchall()}


def record_verification(cur: Any, backup_id: str, error: str | None) -> None:
    cur.execute(RECORD_VERIFICATION, (error is None, _utc_now(),
                                      None if error is None else error[:4000], backup_id))


def latest_verified(cur: Any, table: str, kind: str) -> date | None:
    cur.execute(LATEST_VERIFIED, (table, kind))
    row = cur.fetchone()
    return row[0] if row else None


def mark_deleted(cur: Any, table: str, kind: str, location: str) -> None:
    cur.execute(MARK_DELETED, (_utc_now(), table, kind, location))
