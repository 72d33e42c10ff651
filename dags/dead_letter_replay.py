"""
### Dead letter replay

The records the streaming sinks could not load wait in `platform.dead_letters` (warehouse
`warehouse_default`). Triggered by hand, with these params:

* **action**: `list` (default; values masked), `replay` (after a fix: a new schema version,
  a fixed warehouse column) or `discard` (with a **reason**, kept with each letter).
* which letters: **letters** (`topic:partition:offset`, as listed), and/or the filters
  **query** (e.g. `trip_sink`), **topic**, **since** (`24h`, `7d`, a date), **error** (text
  of the reason), **status**; **replay_all** to act on every pending letter.

A replay validates with the latest schema (or **schema_version**) and loads through the
sink's loader, merging on the natural key: a letter that is already a row changes nothing.
Each letter is marked `replayed` in the same transaction as its row; one that fails again
stays `pending` with the new reason, and the task fails naming it. From a shell, with
`show` and corrected values: `bin/dead-letters --help`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, Param
from hoverboard.dag_defaults import DEFAULT_ARGS
from hoverboard.operators.dead_letters import ACTIONS, DeadLetterOperator

with DAG(
    dag_id="dead_letter_replay",
    doc_md=__doc__,
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={**DEFAULT_ARGS, "retries": 1, "execution_timeout": timedelta(minutes=30)},
    tags=["streaming", "warehouse", "dead-letters"],
    params={
        "action": Param("list", type="string", enum=list(ACTIONS)),
        "letters": Param("", type="string", description="topic:partition:offset, ..."),
        "query": Param("", type="string", description="the sink's query_name"),
        "topic": Param("", type="string"),
        "since": Param("", type="string", description="24h, 7d or YYYY-MM-DD[THH:MM]"),
        "error": Param("", type="string", description="text the reason contains"),
        "status": Param("", type="string", enum=["", "pending", "replayed", "discarded"]),
        "replay_all": Param(False, type="boolean",
                            description="replay/discard every pending letter"),
        "reason": Param("", type="string", description="discard: why (kept)"),
        "schema_version": Param("latest", type="string"),
        "message_type": Param("", type="string", description="if no sink config names it"),
        "limit": Param(1000, type="integer", minimum=1),
    },
):
    DeadLetterOperator(
        task_id="dead_letters",
        action="{{ params.action }}",
        letters="{{ params.letters }}",
        query="{{ params.query }}",
        topic="{{ params.topic }}",
        since="{{ params.since }}",
        error="{{ params.error }}",
        status="{{ params.status }}",
        replay_all="{{ params.replay_all }}",
        reason="{{ params.reason }}",
        schema_version="{{ params.schema_version }}",
        message_type="{{ params.message_type }}",
        limit="{{ params.limit }}",
    )
