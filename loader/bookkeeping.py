"""Dead letters and streaming progress, written inside a load's transaction.

Both are keyed (dead letters by Kafka position, progress by query, run and batch id), so
a replayed micro-batch writes each of them once. A run is one checkpoint's sequence of
batches, named by Spark's query id: a new or lost checkpoint starts a new run, whose batch
ids start again at 0 and whose offsets owe nothing to the old run's. The SQL differs per
engine only where it must (upsert syntax, JSON type); the Redshift statements are parsed in
the tests.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

#: The tables the bookkeeping writes: a load that records them locks them too
#: (``Loader.load(..., also_lock=TABLES)``), with its target, at the start of its transaction.
DEAD_LETTERS = "platform.dead_letters"
STREAM_PROGRESS = "platform.stream_progress"
TABLES = (DEAD_LETTERS, STREAM_PROGRESS)

#: What a caller gives per dead letter, in this order.
DEAD_LETTER_COLUMNS = ("source_topic", "source_partition", "source_offset", "query_name",
                       "raw_key", "raw_value", "error", "received_at")
#: What is stored: the above, plus the raw value's original length and SHA-256, so a value
#: cut to fit (see :func:`fit_raw_value`) can still be told apart and matched with Kafka's.
STORED_DEAD_LETTER_COLUMNS = (*DEAD_LETTER_COLUMNS, "raw_value_length", "raw_value_sha256")

#: The declared size of Redshift's ``raw_value varbyte(1024000)`` (V0002; VARBYTE itself now
#: allows up to 16 MiB, but Redshift's ALTER COLUMN TYPE only resizes VARCHAR). Kafka's
#: default largest record (message.max.bytes, 1 MiB + 12 bytes) does not fit: a longer value
#: keeps its first MAX_RAW_VALUE_BYTES bytes, on both engines alike.
MAX_RAW_VALUE_BYTES = 1_024_000
#: Characters of the error text kept (the Redshift column holds 4 bytes per character).
MAX_ERROR_CHARS = 4000
#: Parameter bytes per dead-letter statement; more dead letters take more statements
#: (Redshift refuses statements over 16 MB, half of that leaves room for the SQL itself).
MAX_STATEMENT_BYTES = 8 * 1024 * 1024

# Redshift's types for the stored columns: every parameter is cast to its column's type, so
# nothing depends on how the driver types a bound value (bytes, timestamps).
_REDSHIFT_TYPES = {
    "source_topic": "varchar(249)", "source_partition": "integer", "source_offset": "bigint",
    "query_name": "varchar(200)", "raw_key": "varbyte(65535)",
    "raw_value": f"varbyte({MAX_RAW_VALUE_BYTES})", "error": "varchar(16000)",
    "received_at": "timestamptz", "raw_value_length": "integer", "raw_value_sha256": "char(64)",
}


def fit_raw_value(value: bytes | None) -> tuple[bytes | None, int | None, str | None]:
    """(the value as stored, its original length, the SHA-256 hex of the original): the
    value cut to ``MAX_RAW_VALUE_BYTES`` when longer, whole otherwise."""
    if value is None:
        return None, None, None
    value = bytes(value)
    return value[:MAX_RAW_VALUE_BYTES], len(value), hashlib.sha256(value).hexdigest()


def stored_dead_letter(row: Sequence) -> tuple:
    """A row in DEAD_LETTER_COLUMNS order as stored (STORED_DEAD_LETTER_COLUMNS)."""
    topic, partition, offset, query, key, value, error, received_at = row
    stored, length, digest = fit_raw_value(value)
    return (topic, partition, offset, query, key, stored, (error or "")[:MAX_ERROR_CHARS],
            received_at, length, digest)


def dead_letter_statement(engine: str, rows: int,
                          bounds: tuple[int, int] | None = None) -> str:
    """One statement inserting ``rows`` dead letters (parameters in STORED order, row after
    row) that are not stored yet. Redshift has no ON CONFLICT: the rows are a UNION ALL of
    cast parameters, kept where the table has no row at their position; that check scans
    only the batch's offsets (``bounds``: lowest and highest), which grow with time like the
    table's sort key, so zone maps skip the older blocks."""
    columns = ", ".join(STORED_DEAD_LETTER_COLUMNS)
    if engine == "postgres":
        values = ", ".join(["(" + ", ".join(["%s"] * len(STORED_DEAD_LETTER_COLUMNS)) + ")"]
                           * rows)
        return (f"INSERT INTO {DEAD_LETTERS} ({columns}) VALUES {values}"
                " ON CONFLICT (source_topic, source_partition, source_offset) DO NOTHING")
    if bounds is None:
        raise ValueError("Redshift's dead-letter statement needs the batch's offset bounds")
    row = "SELECT " + ", ".join(f"CAST(%s AS {_REDSHIFT_TYPES[c]}) AS {c}"
                                for c in STORED_DEAD_LETTER_COLUMNS)
    low, high = (int(b) for b in bounds)
    return (f"INSERT INTO {DEAD_LETTERS} ({columns}) SELECT "
            + ", ".join(f"s.{c}" for c in STORED_DEAD_LETTER_COLUMNS)
            + " FROM (" + " UNION ALL ".join([row] * rows) + ") s WHERE NOT EXISTS (SELECT 1"
            f" FROM {DEAD_LETTERS} d WHERE d.source_offset BETWEEN {low} AND {high}"
            " AND d.source_topic = s.source_topic AND d.source_partition = s.source_partition"
            " AND d.source_offset = s.source_offset)")


def _statement_chunks(rows: list[tuple]) -> Iterator[list[tuple]]:
    chunk: list[tuple] = []
    size = 0
    for row in rows:
        row_size = sum(len(v) if isinstance(v, bytes | str) else 8 for v in row)
        if chunk and size + row_size > MAX_STATEMENT_BYTES:
            yield chunk
            chunk, size = [], 0
        chunk.append(row)
        size += row_size
    if chunk:
        yield chunk


# query_name leads the table's sort key: the equality restricts the scan to its blocks.
DELETE_PROGRESS = (
    "DELETE FROM platform.stream_progress WHERE query_name = CAST(%s AS varchar(200))"
    " AND run_id = CAST(%s AS varchar(64)) AND batch_id = CAST(%s AS bigint)"
)
#: Whether a run's batch committed (its progress row exists): a replayed batch is skipped.
COMMITTED = (
    "SELECT 1 FROM platform.stream_progress WHERE query_name = %s AND run_id = %s"
    " AND batch_id = %s"
)

INSERT_PROGRESS = {
    "postgres": (
        "INSERT INTO platform.stream_progress (query_name, run_id, batch_id, input_rows,"
        " rows_written, dead_letters, rows_per_second, end_offsets, batch_time)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s)"
    ),
    "redshift": (
        "INSERT INTO platform.stream_progress (query_name, run_id, batch_id, input_rows,"
        " rows_written, dead_letters, rows_per_second, end_offsets, batch_time)"
        " VALUES (CAST(%s AS varchar(200)), CAST(%s AS varchar(64)), CAST(%s AS bigint),"
        " CAST(%s AS bigint), CAST(%s AS bigint), CAST(%s AS bigint),"
        " CAST(%s AS double precision), JSON_PARSE(CAST(%s AS varchar(65535))),"
        " CAST(%s AS timestamptz))"
    ),
}

LATEST_OFFSETS = (
    "SELECT end_offsets FROM platform.stream_progress WHERE query_name = CAST(%s AS varchar(200))"
    " AND run_id = CAST(%s AS varchar(64))"
    " ORDER BY batch_id DESC LIMIT 1"
)


@dataclass(frozen=True)
class BatchProgress:
    query_name: str
    run_id: str  # the streaming query's id (Spark's query.id): one per checkpoint
    batch_id: int
    input_rows: int
    rows_written: int
    dead_letters: int
    rows_per_second: float | None
    end_offsets: Mapping[int, int]  # partition -> next offset to read
    batch_time: datetime


def record_dead_letters(cursor, engine: str, rows: Sequence[Sequence]) -> None:
    """Rows in DEAD_LETTER_COLUMNS order, written with one multi-row statement (more only
    past MAX_STATEMENT_BYTES). A batch's dead letters come from one topic."""
    stored = [stored_dead_letter(row) for row in rows]
    for chunk in _statement_chunks(stored):
        offsets = [row[2] for row in chunk]
        statement = dead_letter_statement(engine, len(chunk), (min(offsets), max(offsets)))
        cursor.execute(statement, [value for row in chunk for value in row])


def record_progress(cursor, engine: str, progress: BatchProgress) -> None:
    # Delete-then-insert works on both engines: a replayed batch id replaces its own row.
    cursor.execute(DELETE_PROGRESS, (progress.query_name, progress.run_id, progress.batch_id))
    offsets = json.dumps({str(p): o for p, o in sorted(progress.end_offsets.items())})
    cursor.execute(INSERT_PROGRESS[engine], (
        progress.query_name, progress.run_id, progress.batch_id, progress.input_rows,
        progress.rows_written, progress.dead_letters, progress.rows_per_second, offsets,
        progress.batch_time))


def latest_offsets(cursor, query_name: str, run_id: str) -> dict[int, int]:
    """The next offset per partition after the run's last batch; {} for a new run."""
    cursor.execute(LATEST_OFFSETS, (query_name, run_id))
    row = cursor.fetchone()
    if row is None:
        return {}
    value = row[0] if isinstance(row[0], dict) else json.loads(row[0])
    return {int(p): int(o) for p, o in value.items()}
