"""The model registry in the warehouse (``ml.models``) and the ground truth
(``ml.fault_labels``): the statements, one set for both engines (every parameter cast to its
column's type, which PostgreSQL and Redshift both read)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

MODEL_NAME = "board_failure"

NEXT_VERSION = ("SELECT COALESCE(MAX(version), 0) + 1 FROM ml.models"
                " WHERE model_name = CAST(%s AS varchar(100))")
SELECT_PROMOTED = (
    "SELECT version, model_uri, features, metrics FROM ml.models"
    " WHERE model_name = CAST(%s AS varchar(100)) AND status = 'promoted'"
    " ORDER BY version DESC LIMIT 1")
INSERT_MODEL = (
    "INSERT INTO ml.models (model_name, version, trained_at, model_uri, features, metrics,"
    " holdout_start, holdout_end, status, gate_decision, promoted_at) VALUES ("
    "CAST(%s AS varchar(100)), CAST(%s AS integer), CAST(%s AS timestamptz),"
    " CAST(%s AS varchar(1024)), CAST(%s AS varchar(4000)), CAST(%s AS varchar(65535)),"
    " CAST(%s AS timestamptz), CAST(%s AS timestamptz), CAST(%s AS varchar(16)),"
    " CAST(%s AS varchar(4000)), CAST(%s AS timestamptz))")
RETIRE_PROMOTED = (
    "UPDATE ml.models SET status = 'retired' WHERE model_name = CAST(%s AS varchar(100))"
    " AND status = 'promoted'")
SELECT_LABELS = "SELECT board_id, onset, fault FROM ml.fault_labels"
DELETE_LABEL = ("DELETE FROM ml.fault_labels WHERE board_id = CAST(%s AS bigint)"
                " AND onset = CAST(%s AS timestamptz)")
INSERT_LABEL = (
    "INSERT INTO ml.fault_labels (board_id, onset, fault, source) VALUES (CAST(%s AS bigint),"
    " CAST(%s AS timestamptz), CAST(%s AS varchar(32)), CAST(%s AS varchar(200)))")


@dataclass(frozen=True)
class ModelRecord:
    model_name: str
    version: int
    trained_at: datetime
    model_uri: str
    features: tuple[str, ...]
    metrics: dict[str, Any]  # candidate, baseline and promoted (if any), on one holdout
    holdout_start: datetime
    holdout_end: datetime
    promoted: bool
    gate_decision: str


@dataclass(frozen=True)
class Promoted:
    version: int
    model_uri: str
    features: tuple[str, ...]


def next_version(cursor, model_name: str = MODEL_NAME) -> int:
    cursor.execute(NEXT_VERSION, (model_name,))
    return int(cursor.fetchone()[0])


def promoted(cursor, model_name: str = MODEL_NAME) -> Promoted | None:
    cursor.execute(SELECT_PROMOTED, (model_name,))
    row = cursor.fetchone()
    if row is None:
        return None
    return Promoted(int(row[0]), row[1], tuple(json.loads(row[2])))


def record(cursor, model: ModelRecord) -> None:
    """Store a trained model with the gate's decision; a promoted one retires the model
    promoted before it, in the same transaction."""
    if model.promoted:
        cursor.execute(RETIRE_PROMOTED, (model.model_name,))
    cursor.execute(INSERT_MODEL, (
        model.model_name, model.version, model.trained_at, model.model_uri,
        json.dumps(list(model.features)), json.dumps(model.metrics, sort_keys=True, default=str),
        model.holdout_start, model.holdout_end,
        "promoted" if model.promoted else "candidate", model.gate_decision[:4000],
        model.trained_at if model.promoted else None))


def store_labels(cursor, labels: list[dict[str, Any]], source: str) -> int:
    """The simulator's ``--labels`` lines (faulty boards only are stored), replacing a
    label with the same board and onset. Returns how many were stored."""
    stored = 0
    for label in labels:
        if not label.get("fault"):
            continue
        cursor.execute(DELETE_LABEL, (label["board_id"], label["onset"]))
        cursor.execute(INSERT_LABEL, (label["board_id"], label["onset"], label["fault"],
                                      source[:200]))
        stored += 1
    return stored
