"""Versioned DDL migrations of the warehouse, for Redshift and PostgreSQL alike.

Files live in ``sql/migrations`` as ``V<version>__<name>.sql`` when one text serves both
engines, or as per-engine variants ``V<version>__<name>.postgres.sql`` /
``V<version>__<name>.redshift.sql`` where they differ (distribution and sort keys,
encodings, MERGE): the difference stays explicit, with no SQL translated on the fly.

The runner keeps a ledger (``platform.schema_migrations``: version, name, checksum, applied
at, duration, applied by), applies each pending migration in a transaction of its own
(unless its first line is ``-- hover:no-transaction``: see :data:`NO_TRANSACTION`),
stops before applying anything if an applied file has changed since, and holds a lock for
the whole run so two runs never interleave (the second waits, then finds nothing to do).

It takes any DB-API connection factory: the Airflow operator passes the provider hook's,
the command line (``bin/migrate``) the same through the connection id.
"""

from __future__ import annotations

import getpass
import hashlib
import logging
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlparse

from runtime.settings import asset

log = logging.getLogger(__name__)

MIGRATIONS_DIR = asset("sql", "migrations")
ENGINES = ("postgres", "redshift")
_FILE = re.compile(r"^V(?P<version>\d+)__(?P<name>[a-z0-9_]+)(?:\.(?P<engine>[a-z]+))?\.sql$")

LEDGER_SCHEMA = "platform"
LEDGER = f"{LEDGER_SCHEMA}.schema_migrations"
LOCK_TABLE = f"{LEDGER_SCHEMA}.migration_lock"
# Arbitrary constant naming our advisory lock in PostgreSQL ("hover" in ASCII).
_ADVISORY_LOCK_ID = 0x686F766572

# The runner's own statements, valid on both engines (the Redshift parse is tested).
LEDGER_DDL = (
    f"CREATE SCHEMA IF NOT EXISTS {LEDGER_SCHEMA}",
    f"CREATE TABLE IF NOT EXISTS {LEDGER} ("
    " version integer NOT NULL PRIMARY KEY,"
    " name varchar(200) NOT NULL,"
    " checksum char(64) NOT NULL,"
    " applied_at timestamp NOT NULL,"  # UTC
    " duration_ms integer NOT NULL,"
    " applied_by varchar(200) NOT NULL)",
    f"CREATE TABLE IF NOT EXISTS {LOCK_TABLE} (id integer)",
)
SELECT_APPLIED = f"SELECT version, name, checksum FROM {LEDGER} ORDER BY version"
# Parameters cast to their columns' types: nothing depends on how a driver types them.
INSERT_APPLIED = (
    f"INSERT INTO {LEDGER} (version, name, checksum, applied_at, duration_ms, applied_by)"
    " VALUES (CAST(%s AS integer), CAST(%s AS varchar(200)), CAST(%s AS char(64)),"
    " CAST(%s AS timestamp), CAST(%s AS integer), CAST(%s AS varchar(200)))"
)
REDSHIFT_LOCK = f"LOCK {LOCK_TABLE}"

#: A migration whose first line is this runs outside a transaction block, one statement
#: at a time, each committed as it runs: for statements the engine refuses inside one
#: (Redshift's ALTER TABLE ... ALTER COLUMN ... TYPE, PostgreSQL's CREATE INDEX
#: CONCURRENTLY). A failure cannot roll back the statements before it, so such a migration
#: must be safe to run again from the start (each statement idempotent).
NO_TRANSACTION = "-- hover:no-transaction"


class MigrationError(RuntimeError):
    """A run that must stop; the message names the file (and statement) at fault."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path
    sql: str

    @property
    def checksum(self) -> str:
        # Line endings normalised: a checkout on another OS is not a changed migration.
        return hashlib.sha256(self.sql.replace("\r\n", "\n").encode()).hexdigest()

    @property
    def transactional(self) -> bool:
        first = self.sql.lstrip("\ufeff").split("\n", 1)[0].strip()
        return first != NO_TRANSACTION

    @property
    def statements(self) -> list[str]:
        return [
            s.strip().rstrip(";")
            for s in sqlparse.split(self.sql)
            if sqlparse.format(s, strip_comments=True).strip()
        ]


@dataclass(frozen=True)
class AppliedMigration:
    version: int
    name: str
    checksum: str
    duration_ms: int


def discover(engine: str, directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migrations for ``engine`` in version order, per-engine variants preferred."""
    if engine not in ENGINES:
        raise MigrationError(f"unknown engine {engine!r}; expected one of {ENGINES}")
    by_version: dict[int, dict[str | None, Path]] = {}
    names: dict[int, str] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _FILE.match(path.name)
        if not match:
            raise MigrationError(
                f"{path.name}: not a migration file name; expected V<version>__<name>.sql or "
                f"V<version>__<name>.<engine>.sql"
            )
        version, name, variant = int(match["version"]), match["name"], match["engine"]
        if variant is not None and variant not in ENGINES:
            raise MigrationError(f"{path.name}: unknown engine {variant!r}")
        if names.setdefault(version, name) != name:
            raise MigrationError(
                f"version {version} is used by two names: {names[version]}, {name}"
            )
        by_version.setdefault(version, {})[variant] = path
    migrations = []
    for version in sorted(by_version):
        variants = by_version[version]
        path = variants.get(engine) or variants.get(None)
        if path is None:
            raise MigrationError(
                f"V{version:04d}__{names[version]} has no {engine} variant and no shared file"
            )
        migrations.append(Migration(version, names[version], path, path.read_text()))
    return migrations


class MigrationRunner:
    def __init__(self, connect: Callable[[], Any], engine: str, *,
                 directory: Path = MIGRATIONS_DIR, applied_by: str | None = None,
                 lock_timeout_s: float = 300.0) -> None:
        self.connect = connect
        self.engine = engine
        self.directory = directory
        self.applied_by = applied_by or f"{getpass.getuser()}@{socket.gethostname()}"
        self.lock_timeout_s = lock_timeout_s

    # -- ledger ----------------------------------------------------------------------------
    def _ensure_ledger(self, conn) -> None:
        try:
            self._create_ledger(conn)
        except Exception:
            # Another run created it at the same moment (CREATE ... IF NOT EXISTS is not
            # atomic across sessions): fine if it exists now.
            conn.rollback()
            self._create_ledger(conn)

    def _create_ledger(self, conn) -> None:
        with conn.cursor() as cur:
            for statement in LEDGER_DDL:
                cur.execute(statement)
        conn.commit()

    def applied(self, conn) -> dict[int, tuple[str, str]]:
        """version -> (name, checksum) of every applied migration."""
        with conn.cursor() as cur:
            cur.execute(SELECT_APPLIED)
            rows = cur.fetchall()
        conn.commit()
        return {int(v): (n, c.strip()) for v, n, c in rows}

    def _check_history(self, migrations: list[Migration], applied: dict[int, tuple[str, str]]):
        on_disk = {m.version: m for m in migrations}
        for version, (name, checksum) in applied.items():
            migration = on_disk.get(version)
            if migration is None:
                raise MigrationError(
                    f"V{version:04d}__{name} is applied but its file is missing from "
                    f"{self.directory}; restore it (applied migrations are never removed)"
                )
            if migration.checksum != checksum:
                raise MigrationError(
                    f"{migration.path.name} changed after it was applied (checksum "
                    f"{checksum[:12]} in the ledger, {migration.checksum[:12]} on disk); "
                    "revert the edit and add a new migration instead"
                )

    # -- lock ------------------------------------------------------------------------------
    def _acquire_lock(self):
        conn = self.connect()
        deadline = time.monotonic() + self.lock_timeout_s
        if self.engine == "postgres":
            conn.autocommit = True
            with conn.cursor() as cur:
                while True:
                    cur.execute("SELECT pg_try_advisory_lock(%s)", (_ADVISORY_LOCK_ID,))
                    if cur.fetchone()[0]:
                        return conn
                    if time.monotonic() > deadline:
                        conn.close()
                        raise MigrationError(
                            f"another migration run holds the lock for over "
                            f"{self.lock_timeout_s:.0f}s; nothing was applied"
                        )
                    log.info("another migration run is in progress; waiting for it")
                    time.sleep(0.5)
        # Redshift has no advisory locks: an open transaction holding a table lock serves.
        with conn.cursor() as cur:
            cur.execute(REDSHIFT_LOCK)
        return conn

    # -- runs ------------------------------------------------------------------------------
    def pending(self) -> list[Migration]:
        """What a run would apply now (the dry run); also validates the history."""
        migrations = discover(self.engine, self.directory)
        conn = self.connect()
        try:
            self._ensure_ledger(conn)
            applied = self.applied(conn)
        finally:
            conn.close()
        self._check_history(migrations, applied)
        return [m for m in migrations if m.version not in applied]

    def migrate(self) -> list[AppliedMigration]:
        migrations = discover(self.engine, self.directory)
        if self.engine == "redshift":
            # Its lock is a table lock: the table must exist before locking.
            conn = self.connect()
            try:
                self._ensure_ledger(conn)
            finally:
                conn.close()
        lock = self._acquire_lock()
        try:
            conn = self.connect()
            try:
                self._ensure_ledger(conn)
                # Read the ledger only under the lock: a run that waited sees what the
                # other applied and has nothing left to do.
                applied = self.applied(conn)
                self._check_history(migrations, applied)
                done = []
                for migration in migrations:
                    if migration.version not in applied:
                        done.append(self._apply(conn, migration))
                return done
            finally:
                conn.close()
        finally:
            if self.engine == "redshift":
                lock.rollback()
            lock.close()

    def _apply(self, conn, migration: Migration) -> AppliedMigration:
        started = time.monotonic()
        statements = migration.statements
        if not migration.transactional:
            conn.autocommit = True  # no transaction is open: applied() and _apply commit
        try:
            with conn.cursor() as cur:
                for number, statement in enumerate(statements, 1):
                    try:
                        cur.execute(statement)
                    except Exception as exc:
                        conn.rollback()
                        outcome = ("the migration was rolled back" if migration.transactional
                                   else f"statements 1 to {number - 1} stay applied (it runs "
                                   "outside a transaction); fix it and run again")
                        raise MigrationError(
                            f"{migration.path.name}: statement {number} of {len(statements)} "
                            f"failed, {outcome}: {exc}\n{statement}"
                        ) from exc
        finally:
            if not migration.transactional:
                conn.autocommit = False
        with conn.cursor() as cur:
            duration_ms = int((time.monotonic() - started) * 1000)
            cur.execute(
                INSERT_APPLIED,
                (migration.version, migration.name, migration.checksum,
                 datetime.now(UTC).replace(tzinfo=None), duration_ms, self.applied_by),
            )
        conn.commit()
        log.info("applied %s in %d ms", migration.path.name, duration_ms)
        return AppliedMigration(migration.version, migration.name, migration.checksum,
                                duration_ms)
