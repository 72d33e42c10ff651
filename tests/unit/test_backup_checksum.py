"""The backup checksum, manifest and layout: no service behind them."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import numpy as np
import pyarrow as pa
import pytest
from hoverboard.backup.checksum import Checksum
from hoverboard.backup.layout import Layout
from hoverboard.backup.manifest import Column, FileEntry, Manifest

ROWS = [
    {"id": 1, "at": datetime(2026, 11, 26, 9, 0, 0, 123456, tzinfo=UTC), "x": 0.1,
     "ok": True, "s": "Ann, \"the\" 'best'", "n": None},
    {"id": 2, "at": datetime(2026, 11, 26, 9, 0, 1, tzinfo=UTC), "x": -0.0, "ok": False,
     "s": "", "n": 3},
    {"id": 3, "at": datetime(2026, 11, 26, 23, 59, 59, 999999, tzinfo=UTC), "x": 1e-300,
     "ok": True, "s": "Zoë 北京\nline", "n": -7},
]
COLUMNS = ["id", "at", "x", "ok", "s", "n"]


def table(rows: list[dict], **types: pa.DataType) -> pa.Table:
    schema = pa.schema([("id", types.get("id", pa.int64())),
                        ("at", types.get("at", pa.timestamp("us", tz="UTC"))),
                        ("x", pa.float64()), ("ok", pa.bool_()),
                        ("s", types.get("s", pa.string())), ("n", pa.int32())])
    return pa.Table.from_pylist(rows, schema)


def checksum(rows: list[dict], **types) -> Checksum:
    return Checksum.of(table(rows, **types).to_batches(max_chunksize=1), COLUMNS)


def test_row_order_and_file_boundaries_do_not_matter() -> None:
    many = [{**r, "id": r["id"] + 10 * i} for i in range(50) for r in ROWS]
    reference = Checksum.of([table(many)], COLUMNS)
    rng = np.random.default_rng(7)
    for _ in range(5):
        shuffled = [many[i] for i in rng.permutation(len(many))]
        cut = int(rng.integers(1, len(many)))
        files = [Checksum.of([table(shuffled[:cut])], COLUMNS),
                 Checksum.of(table(shuffled[cut:]).to_batches(max_chunksize=7), COLUMNS)]
        assert files[0] + files[1] == reference
    assert reference.rows == 150


def test_arrow_types_do_not_matter_only_values() -> None:
    reference = checksum(ROWS)
    assert checksum(ROWS, id=pa.int32()) == reference
    assert checksum(ROWS, at=pa.timestamp("us")) == reference  # naive, same instant
    assert checksum(ROWS, s=pa.large_string()) == reference
    millis = [{**r, "at": r["at"].replace(microsecond=0)} for r in ROWS]
    assert checksum(millis, at=pa.timestamp("ms", tz="UTC")) == checksum(millis)
    dictionary = table(ROWS)
    dictionary = dictionary.set_column(4, "s", dictionary.column("s").dictionary_encode())
    assert Checksum.of([dictionary], COLUMNS) == reference


@pytest.mark.parametrize("change", [
    {"x": 0.0},  # -0.0 is not 0.0: the bits are kept
    {"x": 0.10000000000000002},  # one ulp
    {"s": None},  # NULL is not ''
    {"n": None},
    {"ok": True},
    {"at": datetime(2026, 11, 26, 9, 0, 1, 1, tzinfo=UTC)},  # one microsecond
])
def test_any_changed_value_changes_the_checksum(change) -> None:
    changed = [ROWS[0], {**ROWS[1], **change}, ROWS[2]]
    assert checksum(changed).total != checksum(ROWS).total


def test_duplicates_and_swapped_columns_are_visible() -> None:
    assert checksum(ROWS + ROWS[:1]) != checksum(ROWS)
    doubled = checksum(ROWS + ROWS)
    assert doubled.total != 0 and doubled.total != checksum(ROWS).total  # unlike XOR
    a = pa.table({"p": [1, 2], "q": [2, 1]})
    b = pa.table({"p": [2, 1], "q": [1, 2]})
    c = pa.table({"p": [1, 1], "q": [2, 2]})
    assert Checksum.of([a], ["p", "q"]) == Checksum.of([b], ["p", "q"])  # same rows
    assert Checksum.of([a], ["p", "q"]) != Checksum.of([c], ["p", "q"])


def test_long_strings_hash_position_by_position() -> None:
    assert checksum([{**ROWS[0], "s": "ab" * 500}]) != checksum([{**ROWS[0], "s": "ba" * 500}])


def manifest(**changes) -> Manifest:
    fields = dict(
        backup_id="20261127T000512Z-1a2b3c4d", table="fleet.trip", kind="day",
        day=date(2026, 11, 26), engine="postgres", schema_version=4,
        columns=(Column("id", "bigint"),), key=("id",), time_column="start_time",
        settled_before=datetime(2026, 11, 27, 0, 4, tzinfo=UTC),
        created_at=datetime(2026, 11, 27, 0, 5, tzinfo=UTC), run_id="airflow:x/y",
        files=(FileEntry("run=20261127T000512Z-1a2b3c4d/part-00000.parquet", 3, 100, "ab" * 32,
                         "00000000000000ff"),
               FileEntry("run=20261127T000512Z-1a2b3c4d/part-00001.parquet", 2, 90, "cd" * 32,
                         "0000000000000001")))
    fields.update(changes)
    return Manifest(**fields)


def test_manifest_round_trips_and_sums_its_files() -> None:
    m = manifest()
    body = json.loads(m.to_json())
    assert (body["rows"], body["bytes"], body["checksum"]) == (5, 190, "0000000000000100")
    assert body["checksum_algorithm"] == "rowhash64-sum/1"
    assert Manifest.from_json(m.to_json()) == m


def test_manifest_with_inconsistent_totals_is_refused() -> None:
    body = json.loads(manifest().to_json())
    body["rows"] = 6
    with pytest.raises(ValueError, match="do not match its files"):
        Manifest.from_json(json.dumps(body), where="s3://b/x/manifest.json")


def test_layout() -> None:
    layout = Layout("hoverboard-backups", "/warehouse/")
    assert layout.folder("hoverboard", "day", date(2026, 11, 26)) == \
        "warehouse/hoverboard/dt=2026-11-26/"
    folder = layout.folder("customer", "snapshot", date(2026, 11, 26))
    assert folder == "warehouse/customer/snapshot/dt=2026-11-26/"
    assert layout.manifest_key(folder) == folder + "manifest.json"
    assert layout.run_folder(folder, "X") == folder + "run=X/"
    assert layout.folder_day(folder) == date(2026, 11, 26)
    assert layout.folder_day("warehouse/customer/snapshot/") is None
    assert layout.uri(folder) == f"s3://hoverboard-backups/{folder}"
    assert Layout("b", "").folder("trip", "day", date(2026, 1, 2)) == "trip/dt=2026-01-02/"
