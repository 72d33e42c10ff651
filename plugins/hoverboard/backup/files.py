"""Reading and writing the Parquet files of a backup, in bounded memory."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from hoverboard.backup.checksum import Checksum, row_hashes

ROWS_PER_FILE = 500_000
ROW_GROUP_ROWS = 131_072
READ_BATCH_ROWS = 65_536
COMPRESSION = "snappy"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class WrittenFile:
    path: Path
    name: str
    rows: int
    content: Checksum


class PartWriter:
    """Writes batches into ``part-00000.parquet``, ``part-00001.parquet``, ... in
    ``directory``, starting a new file every ``rows_per_file`` rows; calls ``on_file``
    with each finished file (to upload it while the next one is written)."""

    def __init__(self, directory: Path, schema: pa.Schema, columns: Sequence[str], *,
                 on_file: Callable[[WrittenFile], None], rows_per_file: int = ROWS_PER_FILE,
                 row_group_rows: int = ROW_GROUP_ROWS, compression: str = COMPRESSION) -> None:
        self.directory = directory
        self.schema = schema
        self.columns = list(columns)
        self.on_file = on_file
        self.rows_per_file = rows_per_file
        self.row_group_rows = row_group_rows
        self.compression = compression
        self._writer: pq.ParquetWriter | None = None
        self._current: WrittenFile | None = None
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0
        self._count = 0

    def write(self, batch: pa.RecordBatch) -> None:
        while batch.num_rows:
            if self._current is None:
                name = f"part-{self._count:05d}.parquet"
                self._count += 1
                self._current = WrittenFile(self.directory / name, name, 0, Checksum())
                self._writer = pq.ParquetWriter(self._current.path, self.schema,
                                                compression=self.compression,
                                                use_dictionary=self._dictionary_columns())
            room = self.rows_per_file - self._current.rows - self._pending_rows
            head, batch = batch.slice(0, room), batch.slice(room)
            self._pending.append(head)
            self._pending_rows += head.num_rows
            if self._pending_rows >= self.row_group_rows:
                self._flush()
            if self._current.rows + self._pending_rows >= self.rows_per_file:
                self._finish()

    def _dictionary_columns(self) -> list[str]:
        # Dictionary encoding pays off for repetitive text (topics, names); tried on
        # measurements (random floats) it costs ten times the rest of the write.
        return [f.name for f in self.schema if pa.types.is_string(f.type)
                or pa.types.is_large_string(f.type) or pa.types.is_binary(f.type)]

    def _flush(self) -> None:
        if not self._pending:
            return
        table = pa.Table.from_batches(self._pending, self.schema)
        self._pending, self._pending_rows = [], 0
        assert self._writer is not None and self._current is not None
        self._writer.write_table(table, row_group_size=self.row_group_rows)
        self._current.rows += table.num_rows
        self._current.content.update(table, self.columns)

    def _finish(self) -> None:
        self._flush()
        if self._writer is not None and self._current is not None:
            self._writer.close()
            done, self._writer, self._current = self._current, None, None
            self.on_file(done)

    def close(self) -> None:
        self._finish()


@dataclass
class FileReport:
    """What reading one file back found."""

    bytes: int
    sha256: str
    rows: int = 0
    content: Checksum = field(default_factory=Checksum)
    compared: Checksum = field(default_factory=Checksum)  # without the excluded keys
    error: str | None = None  # not a readable Parquet file, or a column is missing


def read_batches(path: Path, columns: Sequence[str]) -> Iterator[pa.RecordBatch]:
    parquet = pq.ParquetFile(path)
    missing = [c for c in columns if c not in parquet.schema_arrow.names]
    if missing:
        raise ValueError(f"columns {missing} are missing (the file has "
                         f"{parquet.schema_arrow.names})")
    yield from parquet.iter_batches(batch_size=READ_BATCH_ROWS, columns=list(columns))


def inspect(path: Path, size: int, sha256: str, columns: Sequence[str], *,
            key: Sequence[str] = (), exclude: np.ndarray | None = None) -> FileReport:
    """Row count and checksums of a downloaded file; with ``exclude`` (sorted key hashes),
    ``compared`` leaves out the rows whose natural key hashes into it."""
    report = FileReport(size, sha256)
    try:
        for batch in read_batches(path, columns):
            hashes = row_hashes(batch, columns)
            report.rows += batch.num_rows
            report.content = report.content + _sum(hashes)
            if exclude is not None and exclude.size:
                keep = ~np.isin(row_hashes(batch, key), exclude, assume_unique=False)
                hashes = hashes[keep]
            report.compared = report.compared + _sum(hashes)
    except Exception as exc:  # noqa: BLE001 - a broken file is a finding, reported by name
        report.error = f"{type(exc).__name__}: {exc}"
    return report


def _sum(hashes: np.ndarray) -> Checksum:
    return Checksum(int(hashes.size), int(hashes.sum(dtype=np.uint64)))
