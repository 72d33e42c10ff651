"""Structured JSON logs on stderr, one object per line, with the request id when there is one."""

from __future__ import annotations

import logging

from flask import g, has_request_context
from pythonjsonlogger.json import JsonFormatter


class _RequestContext(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if has_request_context():
            record.request_id = g.get("request_id")
        return True


def configure(level: str = "INFO", instance: str | None = None) -> None:
    """``instance`` names the ingest instance on every line (several run behind NGINX)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter(
        "{asctime}{levelname}{name}{message}", style="{",
        rename_fields={"asctime": "@timestamp", "levelname": "level", "name": "logger"},
        static_fields={"instance": instance} if instance else None,
    ))
    handler.addFilter(_RequestContext())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
