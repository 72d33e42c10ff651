"""``platform.backup_catalog`` (migration V0004): one row per backup run, with what it
holds, where, its verification, and what became of it (``published`` until a re-run of the
same day ``replaced`` it or retention ``deleted`` it).

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
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'published', %s, false, %s)"
)
MARK_REPLACED = (
    f"UPDATE {CATALOG} SET status = 'replaced'"
    " WHERE table_name = %s AND kind = %s AND location = %s AND status = 'published'"
    " AND backup_id <> %s"
)
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

STATEMENTS = (INSERT, MARK_REPLACED, RECORD_VERIFICATION, LATEST_VERIFIED, MARK_DELETED,
              SCHEMA_VERSION)


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


def record_backup(cur: Any, manifest: Manifest, location: str) -> None:
    """The new backup, published; the backup it replaced (same folder) marked so."""
    cur.execute(MARK_REPLACED, (manifest.table, manifest.kind, location, manifest.backup_id))
    cur.execute(INSERT, (
        manifest.backup_id, manifest.table, manifest.kind,
        manifest.day if manifest.kind == "day" else None,
        manifest.day if manifest.kind == "snapshot" else None,
        manifest.rows, manifest.bytes, len(manifest.files), manifest.checksum, location,
        manifest.schema_version, _naive_utc(manifest.created_at), manifest.run_id,
    ))


def record_verification(cur: Any, backup_id: str, error: str | None) -> None:
    cur.execute(RECORD_VERIFICATION, (error is None, _utc_now(),
                                      None if error is None else error[:4000], backup_id))


def latest_verified(cur: Any, table: str, kind: str) -> date | None:
    cur.execute(LATEST_VERIFIED, (table, kind))
    row = cur.fetchone()
    return row[0] if row else None


def mark_deleted(cur: Any, table: str, kind: str, location: str) -> None:
    cur.execute(MARK_DELETED, (_utc_now(), table, kind, location))
