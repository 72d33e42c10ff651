"""Where backups live in the object store, and how a run publishes one atomically.

::

    <prefix>/<table>/dt=YYYY-MM-DD/                   one day of an event table
    <prefix>/<table>/snapshot/dt=YYYY-MM-DD/          a full snapshot taken by that day's run
        manifest.json                                 the published backup: what readers use
        run=<backup id>/part-00000.parquet ...        the files of one run
        run=<backup id>/manifest.json                 that run's own manifest

A run writes its files and its own manifest into a folder of its own (``run=<backup id>/``),
which no reader trusts. It is published by copying its manifest to the folder's
``manifest.json`` with one PUT (atomic in S3: readers see the old manifest or the new one,
never a mix): at once when the folder holds no verified backup, otherwise only when its own
verification passed. Older ``run=`` folders are deleted only after a verification passed,
so a re-run never removes the last verified copy before its replacement is verified, and a
run that fails half-way leaves the published backup untouched. One writer per table and
day at a time (the backup DAG runs with ``max_active_runs=1``).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime

MANIFEST = "manifest.json"
DEFAULT_BUCKET = "hoverboard-backups"
DEFAULT_PREFIX = "warehouse"
KINDS = ("day", "snapshot")
_DT = re.compile(r"dt=(\d{4}-\d{2}-\d{2})/$")
_RUN = re.compile(r"^run=[0-9A-Za-z_.-]+/")


def new_backup_id(now: datetime | None = None) -> str:
    """Sortable and unique: ``20261127T000512Z-1a2b3c4d``."""
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Layout:
    """Keys of the backups under ``s3://<bucket>/<prefix>/``."""

    bucket: str = DEFAULT_BUCKET
    prefix: str = DEFAULT_PREFIX

    def __post_init__(self) -> None:
        if not self.bucket or "/" in self.bucket:
            raise ValueError(f"not a bucket name: {self.bucket!r}")
        object.__setattr__(self, "prefix", self.prefix.strip("/"))

    def _root(self) -> str:
        return f"{self.prefix}/" if self.prefix else ""

    def table_prefix(self, table: str) -> str:
        return f"{self._root()}{table}/"

    def kind_prefix(self, table: str, kind: str) -> str:
        """Where the ``dt=`` folders of one kind of backup of ``table`` are."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
        base = self.table_prefix(table)
        return base if kind == "day" else f"{base}snapshot/"

    def folder(self, table: str, kind: str, day: date) -> str:
        """The folder of one backup (holds ``manifest.json``)."""
        return f"{self.kind_prefix(table, kind)}dt={day.isoformat()}/"

    @staticmethod
    def run_folder(folder: str, backup_id: str) -> str:
        return f"{folder}run={backup_id}/"

    @staticmethod
    def manifest_key(folder: str) -> str:
        return folder + MANIFEST

    @classmethod
    def run_manifest_key(cls, folder: str, backup_id: str) -> str:
        """The manifest a run keeps in its own folder (published or not)."""
        return cls.run_folder(folder, backup_id) + MANIFEST

    @staticmethod
    def run_id_of(relative: str) -> str | None:
        """The backup id of a key relative to a day folder (``run=<id>/...``), else None."""
        match = _RUN.match(relative)
        return match[0][len("run="):-1] if match else None

    def scratch(self, token: str) -> str:
        """A temporary area (Redshift verification exports), deleted after use."""
        return f"{self._root()}_tmp/{token}/"

    def uri(self, key: str = "") -> str:
        return f"s3://{self.bucket}/{key}"

    def key_of(self, uri: str) -> str:
        head = f"s3://{self.bucket}/"
        if not uri.startswith(head):
            raise ValueError(f"{uri} is not in bucket {self.bucket}")
        return uri[len(head):]

    @staticmethod
    def folder_day(folder: str) -> date | None:
        """The date of a ``.../dt=YYYY-MM-DD/`` folder, else None."""
        match = _DT.search(folder)
        return date.fromisoformat(match[1]) if match else None

    @staticmethod
    def is_run_key(relative: str) -> bool:
        """Whether a key relative to a day folder is inside a ``run=`` folder."""
        return bool(_RUN.match(relative))
