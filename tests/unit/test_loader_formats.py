"""What the loaders write for the warehouse to read: the staged CSV (nulls, empty strings,
timestamps) and dead letters too large for Redshift's VARBYTE."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone

import pyarrow as pa
import pytest

from loader import bookkeeping
from loader.base import CSV_NULL, to_csv
from loader.tables import TableSpec, parse_date_time, rows_from_events, table_spec

SPEC = TableSpec("t", "s.t", key=("name",), mode="insert", range_by="name",
                 columns=(("name", "/name"), ("note", "/note"), ("at", "/at")))


def csv_line(**columns) -> str:
    count = len(next(iter(columns.values())))
    metadata = {"source_topic": pa.nulls(count, pa.string()),
                "source_partition": pa.nulls(count, pa.int32()),
                "source_offset": pa.nulls(count, pa.int64()),
                "received_at": pa.nulls(count, pa.timestamp("ms", tz="UTC"))}
    return to_csv(SPEC, pa.table({**columns, **metadata})).decode()


def test_a_null_and_an_empty_string_are_told_apart_without_relying_on_quotes() -> None:
    text = csv_line(name=pa.array(["a", "b"]), note=pa.array([None, ""]),
                    at=pa.nulls(2, pa.timestamp("us", tz="UTC")))
    first, second = text.splitlines()
    # Redshift's CSV COPY reads an empty VARCHAR field as '' unless told: a null is the
    # marker COPY is told about (NULL AS), an empty string a quoted "".
    assert first.split(",")[:2] == ['"a"', CSV_NULL]
    assert second.split(",")[:2] == ['"b"', '""']
    assert first.endswith(",".join([CSV_NULL] * 5))  # at and the four metadata columns


def test_a_string_equal_to_the_null_marker_stays_a_quoted_string() -> None:
    text = csv_line(name=pa.array([CSV_NULL]), note=pa.array(["x"]),
                    at=pa.nulls(1, pa.timestamp("us", tz="UTC")))
    assert text.startswith(f'"{CSV_NULL}","x",')


@pytest.mark.parametrize("column, expected", [
    (pa.array([datetime(2026, 11, 27, 9, 5, 7, 123456, tzinfo=UTC)],
              pa.timestamp("us", tz="UTC")), '"2026-11-27T09:05:07.123456Z"'),
    (pa.array([datetime(2026, 11, 27, 11, 5, 7, 500000, tzinfo=timezone(timedelta(hours=2)))],
              pa.timestamp("ms", tz="Europe/Berlin")), '"2026-11-27T09:05:07.500000Z"'),
    (pa.array([datetime(2026, 11, 27, 9, 5, 7)], pa.timestamp("s")),
     '"2026-11-27T09:05:07.000000Z"'),
])
def test_timestamps_are_written_in_one_documented_form(column, expected) -> None:
    # Redshift's TIMEFORMAT 'auto' documents ISO 8601 as 2019-02-11T05:09:12.195Z: UTC,
    # "T", fractional seconds, "Z". Always six digits, whatever the column's unit or zone.
    text = csv_line(name=pa.array(["a"]), note=pa.array(["n"]), at=column)
    assert text.split(",")[2] == expected


def test_the_timestamp_text_is_strftime_s_in_the_documented_form_over_the_whole_range() -> None:
    """The loader builds the text from Arrow's cast (cheaper per value than ``strftime``);
    over the warehouse's whole range it must be what ``CSV_TIMESTAMP_FORMAT`` says."""
    import random

    import pyarrow.compute as pc

    from loader.base import CSV_TIMESTAMP_FORMAT, _pinned_timestamps

    rng = random.Random(7)
    low, high = datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, 999999,
                                                         tzinfo=UTC)
    span_us = (high - low) // timedelta(microseconds=1)
    instants = [low, high, datetime(1970, 1, 1, tzinfo=UTC)] + [
        low + timedelta(microseconds=rng.randrange(span_us)) for _ in range(20_000)]
    column = pa.array(instants, pa.timestamp("us", tz="UTC"))
    written = _pinned_timestamps(pa.table({"at": column})).column("at")
    assert written.to_pylist() == pc.strftime(column, format=CSV_TIMESTAMP_FORMAT).to_pylist()


def test_event_date_times_become_utc_timestamps_whatever_the_offset() -> None:
    assert parse_date_time("2026-11-27T11:00:00.5+02:00") == datetime(
        2026, 11, 27, 9, 0, 0, 500000, tzinfo=UTC)
    assert parse_date_time("2026-11-27T09:00:00.123456789Z") == datetime(
        2026, 11, 27, 9, 0, 0, 123456, tzinfo=UTC)
    spec = table_spec("trip")
    assert set(spec.time_columns) == {"start_time", "end_time"}
    event = {"hoverboard_id": 1, "customer_id": 2,
             "start_time_and_date": "2026-11-27T10:00:00+01:00",
             "end_time_and_date": "2026-11-27T09:30:00Z", "trip_duration": 30.0,
             "start_location": {"latitude": 1.0, "longitude": 2.0},
             "end_location": {"latitude": 1.5, "longitude": 2.5}}
    rows = rows_from_events(spec, [event], received_at=[None])
    line = to_csv(spec, rows).decode()
    assert '"2026-11-27T09:00:00.000000Z","2026-11-27T09:30:00.000000Z"' in line


def test_a_too_large_dead_letter_keeps_its_head_length_and_hash() -> None:
    kafka_max = 1024 * 1024 + 12  # Kafka's default message.max.bytes
    value = bytes(range(256)) * (kafka_max // 256) + b"tail" * 3
    stored, length, digest = bookkeeping.fit_raw_value(value)
    assert len(stored) == bookkeeping.MAX_RAW_VALUE_BYTES == 1_024_000
    assert stored == value[:1_024_000]
    assert (length, digest) == (len(value), hashlib.sha256(value).hexdigest())
    assert bookkeeping.fit_raw_value(b"{}") == (b"{}", 2, hashlib.sha256(b"{}").hexdigest())
    assert bookkeeping.fit_raw_value(None) == (None, None, None)


def test_dead_letters_go_in_as_few_statements_as_their_size_allows() -> None:
    big = b"x" * 1_000_000
    rows = [bookkeeping.stored_dead_letter(("t", 0, n, "q", None, big, "bad", None))
            for n in range(20)]
    chunks = list(bookkeeping._statement_chunks(rows))
    assert [len(c) for c in chunks] == [8, 8, 4]  # 8 MiB of parameters at most
    small = [bookkeeping.stored_dead_letter(("t", 0, n, "q", b"k", b"{}", "e", None))
             for n in range(500)]
    assert len(list(bookkeeping._statement_chunks(small))) == 1
