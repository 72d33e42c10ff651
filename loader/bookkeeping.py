"""Dead letters and streaming progress, written inside a load's transaction.

Both are keyed (dead letters by Kafka position, progress by query, run and batch id), so
a replayed micro-batch writes each of them once. A run is one checkpoint's sequence of
batches, named by Spark's query id: a new or lost checkpoint starts a new run, whose batch
ids start again at 0 and whose offsets owe nothing to the old run's. The SQL differs per
engine only where it must (upsert syntax, JSON type); the Redshift statements are parsed in
the tests.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

DEAD_LETTER_COLUMNS = ("source_topic", "source_partition", "source_offset", "query_name",
                       "raw_key", "raw_value", "error", "received_at")

INSERT_DEAD_LETTER = {
    "postgres": (
        "INSERT INTO platform.dead_letters (source_topic, source_partition, source_offset,"
        " query_name, raw_key, raw_value, error, received_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (source_topic, source_partition, source_offset) DO NOTHING"
    ),
    # Redshift has no ON CONFLICT: insert only what is not there yet.
    "redshift": (
        "INSERT INTO platform.dead_letters (source_topic, source_partition, source_offset,"
        " query_name, raw_key, raw_value, error, received_at)"
        " SELECT %s, %s, %s, %s, %s, %s, %s, %s WHERE NOT EXISTS (SELECT 1 FROM"
        " platform.dead_letters d WHERE d.source_topic = %s AND d.source_partition = %s"
        " AND d.source_offset = %s)"
    ),
}

DELETE_PROGRESS = (
    "DELETE FROM platform.stream_progress WHERE query_name = %s AND run_id = %s"
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
        " VALUES (%s, %s, %s, %s, %s, %s, %s, JSON_PARSE(%s), %s)"
    ),
}

LATEST_OFFSETS = (
    "SELECT end_offsets FROM platform.stream_progress WHERE query_name = %s AND run_id = %s"
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
    """Rows in DEAD_LETTER_COLUMNS order."""
    if not rows:
        return
    if engine == "redshift":
        rows = [(*row, row[0], row[1], row[2]) for row in rows]
    cursor.executemany(INSERT_DEAD_LETTER[engine], rows)


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
