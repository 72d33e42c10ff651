"""The content checksum of a backup: the same rows give the same checksum, in any order.

Algorithm (``rowhash64-sum/1``): every row is canonicalised column by column (integers as
64-bit integers, floating point as its IEEE-754 bits with one NaN, booleans as 0/1,
timestamps as microseconds since the epoch in UTC, dates as days, decimals by their text,
text and bytes by their
UTF-8 bytes, NULL as a marker per column), hashed to 64 bits with the splitmix64 finaliser
(each column salted by its name and chained in the manifest's column order), and the row
hashes are **added modulo 2^64**. The checksum is that sum as 16 hex digits; the row count
is kept beside it.

Why an order-independent sum rather than sorting by the natural key and hashing: Redshift's
``UNLOAD ... PARALLEL`` writes files in no particular order and PostgreSQL's ``COPY`` streams
rows in storage order, so a sort would need the whole day in memory or a second, sorted
pass through the database. A sum is computed in one streaming pass, in bounded memory, is
vectorised (numpy over Arrow buffers, no Python per row), and combines: the checksum of a
day is the sum of its files' checksums, so a file can be checked on its own and named when
it is wrong. Addition (not XOR) keeps duplicates visible: a row written twice changes the
sum. It guards against loss and corruption, not against tampering (the manifest also holds
each file's SHA-256 for the bytes).

The canonical form depends on values only, not on Arrow types: int32 and int64, timestamps
in milliseconds or microseconds, with or without a time zone, hash alike, so Parquet
written by Redshift and by our PostgreSQL export compare equal.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

ALGORITHM = "rowhash64-sum/1"
_MASK = (1 << 64) - 1
_C1 = np.uint64(0xBF58476D1CE4E5B9)
_C2 = np.uint64(0x94D049BB133111EB)
_NAN_BITS = np.uint64(0x7FF8000000000000)
_NULL = np.uint64(0x6E756C6C6E756C6C)  # "nullnull"
_ROW_SEED = np.uint64(0x686F766572626F61)  # "hoverboa"
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)
_P = np.uint64(0x100000001B3)  # FNV-1a's 64-bit prime (odd)
_POWERS = np.ones(1, dtype=np.uint64)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser on a uint64 array (wrapping arithmetic)."""
    x = x ^ (x >> _S30)
    x = x * _C1
    x = x ^ (x >> _S27)
    x = x * _C2
    return x ^ (x >> _S31)


def _salt(name: str) -> np.uint64:
    return np.uint64(int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(),
                                    "little"))


def _powers(n: int) -> np.ndarray:
    """``_P**i`` modulo 2^64 for i < n (cached, grown on demand)."""
    global _POWERS
    if len(_POWERS) < n:
        size = max(n, 2 * len(_POWERS))
        powers = np.ones(size, dtype=np.uint64)
        np.multiply.accumulate(np.full(size - 1, _P, dtype=np.uint64), out=powers[1:])
        _POWERS = powers
    return _POWERS[:n]


def _bytes_u64(arr: pa.Array) -> np.ndarray:
    """A 64-bit value per string/binary element: a polynomial hash of its bytes
    (sum of byte * P^position, mod 2^64), mixed with its length. Vectorised over the
    Arrow buffers; low-cardinality columns are hashed once per distinct value."""
    if len(arr) > 64:
        encoded = pc.dictionary_encode(arr)
        if len(encoded.dictionary) * 4 < len(arr):
            indices = encoded.indices.fill_null(0).to_numpy(zero_copy_only=False)
            return _bytes_u64(encoded.dictionary)[indices]
    arr = arr.cast(pa.large_binary())
    _, offsets_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int64)[arr.offset:arr.offset + len(arr) + 1]
    start, end = int(offsets[0]), int(offsets[-1])
    lengths = np.diff(offsets)
    sums = np.zeros(len(arr), dtype=np.uint64)
    if end > start:
        data = np.frombuffer(data_buf, dtype=np.uint8)[start:end].astype(np.uint64)
        starts = offsets[:-1] - start
        position = np.arange(end - start, dtype=np.int64) - np.repeat(starts, lengths)
        contributions = (data + np.uint64(1)) * _powers(int(lengths.max()))[position]
        nonempty = lengths > 0
        sums[nonempty] = np.add.reduceat(contributions, starts[nonempty])
    return _mix(sums ^ _mix(lengths.astype(np.uint64) ^ _ROW_SEED))


def _values_u64(arr: pa.Array) -> np.ndarray:
    """The canonical 64-bit value of every element (NULLs: anything; masked later)."""
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if pa.types.is_decimal(arr.type):
        arr = pc.cast(arr, pa.string())  # its exact text: 1.50 stays 1.50
    if arr.null_count:
        arr = arr.fill_null(_placeholder(arr.type))
    t = arr.type
    if pa.types.is_boolean(t):
        return np.asarray(arr.cast(pa.uint8()), dtype=np.uint64)
    if pa.types.is_integer(t):
        return arr.cast(pa.int64()).to_numpy(zero_copy_only=False).view(np.uint64)
    if pa.types.is_floating(t):
        values = arr.cast(pa.float64()).to_numpy(zero_copy_only=False)
        bits = values.view(np.uint64).copy()
        bits[np.isnan(values)] = _NAN_BITS
        return bits
    if pa.types.is_timestamp(t):
        micros = arr.cast(pa.timestamp("us", tz=t.tz), safe=False).cast(pa.int64())
        return micros.to_numpy(zero_copy_only=False).view(np.uint64)
    if pa.types.is_date(t):
        days = arr.cast(pa.date32()).cast(pa.int32()).cast(pa.int64())
        return days.to_numpy(zero_copy_only=False).view(np.uint64)
    if (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t)
            or pa.types.is_large_binary(t)):
        return _bytes_u64(arr)
    raise TypeError(f"no canonical form for Arrow type {t}; extend hoverboard.backup.checksum")


def _placeholder(t: pa.DataType) -> pa.Scalar:
    """Any valid value of type ``t``: NULLs are filled with it, then masked."""
    if pa.types.is_boolean(t):
        return pa.scalar(False)
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return pa.scalar("", t)
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return pa.scalar(b"", t)
    if pa.types.is_date(t):
        return pa.scalar(0, pa.int32()).cast(t)
    return pa.scalar(0, pa.int64()).cast(t)


def row_hashes(batch: pa.RecordBatch | pa.Table, columns: Sequence[str]) -> np.ndarray:
    """One 64-bit hash per row of ``batch`` over ``columns`` (in that order)."""
    h = np.full(batch.num_rows, _ROW_SEED, dtype=np.uint64)
    for name in columns:
        column = batch.column(name)
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        salt = _salt(name)
        value = _mix(_values_u64(column) ^ salt)
        if column.null_count:
            valid = np.asarray(column.is_valid())
            value = np.where(valid, value, _NULL ^ salt)
        h = _mix(h ^ value)
    return h


@dataclass
class Checksum:
    """A running (rows, sum of row hashes mod 2^64); ``+`` combines two of them."""

    rows: int = 0
    total: int = 0

    def update(self, batch: pa.RecordBatch | pa.Table, columns: Sequence[str]) -> Checksum:
        if batch.num_rows:
            self.rows += batch.num_rows
            self.total = (self.total + int(row_hashes(batch, columns).sum(dtype=np.uint64))) \
                & _MASK
        return self

    def __add__(self, other: Checksum) -> Checksum:
        return Checksum(self.rows + other.rows, (self.total + other.total) & _MASK)

    @property
    def hexdigest(self) -> str:
        return f"{self.total:016x}"

    @classmethod
    def of(cls, batches: Iterable[pa.RecordBatch | pa.Table], columns: Sequence[str]) -> Checksum:
        result = cls()
        for batch in batches:
            result.update(batch, columns)
        return result

    @classmethod
    def parse(cls, rows: int, hexdigest: str) -> Checksum:
        return cls(rows, int(hexdigest, 16))
