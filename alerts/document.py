"""The alert document and the index template that maps it."""

from __future__ import annotations

import hashlib
import json
import socket
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from alerts.redaction import redact, redact_values

INDEX_PREFIX = "hoverboard-alerts"
TEMPLATE_NAME = "hoverboard-alerts"


class Severity(str, Enum):
    """ECS log levels we use, with the numeric event.severity they map to."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"

    @property
    def number(self) -> int:
        return {"info": 6, "warning": 4, "error": 3, "critical": 2}[self.value]


def index_for(timestamp: datetime) -> str:
    return f"{INDEX_PREFIX}-{timestamp:%Y.%m}"


def alert_document(
    *,
    component: str,
    action: str,
    message: str,
    severity: Severity,
    details: Mapping[str, Any] | None = None,
    labels: Mapping[str, str] | None = None,
    airflow: Mapping[str, Any] | None = None,
    error: BaseException | str | None = None,
    timestamp: datetime | None = None,
    dedup_key: str | None = None,
) -> dict[str, Any]:
    """Build one alert.

    :param component: what sent it (``airflow``, ``ingest_api``, ``spark_sink``, ...).
    :param action: what happened, a stable slug (``task_failed``, ``dead_letters``, ...).
    :param dedup_key: what makes two sends the same alert (default: all the content plus
        the timestamp); it becomes the document id.

    ``message``, the error's text and every string in ``details`` are redacted
    (``alerts.redaction``): whatever a caller quotes from a record does not reach an alert.
    """
    when = timestamp or datetime.now(UTC)
    doc: dict[str, Any] = {
        "@timestamp": when.isoformat(),
        "message": redact(message),
        "log": {"level": severity.value},
        "event": {"kind": "alert", "action": action, "severity": severity.number,
                  "dataset": "hoverboard.alerts"},
        "service": {"name": component},
        "host": {"name": socket.gethostname()},
        "labels": {k: str(v) for k, v in (labels or {}).items()},
        "details": redact_values(dict(details or {})),
    }
    if airflow:
        doc["airflow"] = dict(airflow)
    if error is not None:
        doc["error"] = {"message": redact(str(error))[:8000],
                        "type": type(error).__name__ if isinstance(error, BaseException)
                        else "error"}
    identity = dedup_key or json.dumps(doc, sort_keys=True, default=str)
    doc["event"]["id"] = hashlib.sha256(identity.encode()).hexdigest()[:32]
    return doc


def index_template() -> dict[str, Any]:
    """Explicit mappings: keywords for what operators filter on, text for messages,
    ``details`` kept in the document but not indexed (free-form: its fields may differ in
    type from one alert to the next, which dynamic mapping would reject)."""
    keyword = {"type": "keyword", "ignore_above": 1024}
    return {
        "index_patterns": [f"{INDEX_PREFIX}-*"],
        "priority": 200,
        "template": {
            "settings": {"number_of_shards": 1, "number_of_replicas": 0},
            "mappings": {
                "dynamic": "strict",
                "properties": {
                    "@timestamp": {"type": "date"},
                    "message": {"type": "text", "fields": {"raw": keyword}},
                    "log": {"properties": {"level": keyword}},
                    "event": {"properties": {
                        "id": keyword, "kind": keyword, "action": keyword,
                        "dataset": keyword, "severity": {"type": "byte"}}},
                    "service": {"properties": {"name": keyword}},
                    "host": {"properties": {"name": keyword}},
                    "labels": {"type": "object", "dynamic": True},
                    "airflow": {"properties": {
                        "dag_id": keyword, "task_id": keyword, "run_id": keyword,
                        "map_index": {"type": "integer"}, "try_number": {"type": "integer"},
                        "max_tries": {"type": "integer"}, "log_url": keyword}},
                    "error": {"properties": {"message": {"type": "text"}, "type": keyword}},
                    "details": {"type": "object", "enabled": False},
                },
                # Labels are free keys but always strings: each one is a keyword.
                "dynamic_templates": [{"labels": {
                    "path_match": "labels.*",
                    "mapping": {"type": "keyword", "ignore_above": 1024}}}],
            },
        },
    }

