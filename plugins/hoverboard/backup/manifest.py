"""``manifest.json``: what a backup holds, written last, read first.

Paths of the files are relative to the backup's folder, so a folder copied elsewhere
(another bucket, a restore drill) stays readable. The checksum is explained in
:mod:`.checksum`; each file also carries its own row count, checksum, size and SHA-256, so
a verification names the file that is wrong.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

from hoverboard.backup.checksum import ALGORITHM, Checksum

FORMAT = "hoverboard-backup/1"


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # the warehouse's type name (information_schema.columns.data_type)


@dataclass(frozen=True)
class FileEntry:
    path: str  # relative to the backup folder: run=<backup id>/part-00000.parquet
    rows: int
    bytes: int
    sha256: str
    checksum: str  # this file's rows, see hoverboard.backup.checksum

    @property
    def content(self) -> Checksum:
        return Checksum.parse(self.rows, self.checksum)


@dataclass(frozen=True)
class Manifest:
    backup_id: str
    table: str  # schema.table
    kind: str  # "day" | "snapshot"
    day: date  # the day backed up, or the day whose run took the snapshot
    engine: str
    schema_version: int
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    time_column: str | None
    settled_before: datetime  # rows loaded from here on are not compared with the source
    created_at: datetime  # UTC
    run_id: str
    files: tuple[FileEntry, ...] = field(default_factory=tuple)
    format: str = FORMAT
    checksum_algorithm: str = ALGORITHM

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)

    @property
    def bytes(self) -> int:
        return sum(f.bytes for f in self.files)

    @property
    def content(self) -> Checksum:
        total = Checksum()
        for entry in self.files:
            total = total + entry.content
        return total

    @property
    def checksum(self) -> str:
        return self.content.hexdigest

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def to_json(self) -> bytes:
        body: dict[str, Any] = asdict(self)
        body.update(day=self.day.isoformat(), settled_before=self.settled_before.isoformat(),
                    created_at=self.created_at.isoformat(), rows=self.rows, bytes=self.bytes,
                    checksum=self.checksum)
        return json.dumps(body, indent=1).encode()

    @classmethod
    def from_json(cls, data: bytes | str, *, where: str = "manifest") -> Manifest:
        body = json.loads(data)
        if body.get("format") != FORMAT:
            raise ValueError(f"{where}: format {body.get('format')!r}, expected {FORMAT!r}")
        if body.get("checksum_algorithm") != ALGORITHM:
            raise ValueError(f"{where}: checksum algorithm {body.get('checksum_algorithm')!r} "
                             f"is not {ALGORITHM!r}")
        manifest = cls(
            backup_id=body["backup_id"], table=body["table"], kind=body["kind"],
            day=date.fromisoformat(body["day"]), engine=body["engine"],
            schema_version=int(body["schema_version"]),
            columns=tuple(Column(**c) for c in body["columns"]), key=tuple(body["key"]),
            time_column=body.get("time_column"),
            settled_before=datetime.fromisoformat(body["settled_before"]),
            created_at=datetime.fromisoformat(body["created_at"]), run_id=body["run_id"],
            files=tuple(FileEntry(**f) for f in body["files"]),
        )
        if (manifest.rows, manifest.checksum) != (body["rows"], body["checksum"]):
            raise ValueError(f"{where}: totals ({body['rows']} rows, {body['checksum']}) do not "
                             f"match its files ({manifest.rows} rows, {manifest.checksum})")
        return manifest
