"""Alerts from long-running services (ingest API, Spark sinks), sent off the request path.

A service calls :meth:`AlertEmitter.emit`; a background thread writes the documents (or
spools them), so a slow or absent Elasticsearch never delays a request or a batch. Noisy
conditions (a sink outage seen by every request) are limited to one alert per key per
``min_interval_s``.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from typing import Any

from alerts.document import Severity, alert_document
from alerts.redaction import redact
from alerts.writer import AlertWriter

log = logging.getLogger(__name__)


class AlertEmitter:
    def __init__(self, component: str, writer: AlertWriter | None, *,
                 min_interval_s: float = 60.0, labels: dict[str, str] | None = None) -> None:
        self.component = component
        self.writer = writer
        self.min_interval_s = min_interval_s
        self.labels = labels or {}
        self._last: dict[str, float] = {}
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=1000)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_environment(cls, component: str, **kwargs: Any) -> AlertEmitter:
        """Writes to ``HOVER_ELASTICSEARCH_URL``; without it, alerts are only logged."""
        url = os.environ.get("HOVER_ELASTICSEARCH_URL")
        return cls(component, AlertWriter.from_url(url) if url else None, **kwargs)

    def emit(self, action: str, message: str, severity: Severity = Severity.WARNING, *,
             details: dict[str, Any] | None = None, rate_key: str | None = None,
             error: BaseException | str | None = None) -> bool:
        """Queue an alert; False when rate-limited or the queue is full (logged either way)."""
        log.log(logging.ERROR if severity in (Severity.ERROR, Severity.CRITICAL)
                else logging.WARNING if severity == Severity.WARNING else logging.INFO,
                "alert %s: %s", action, redact(message))  # logs hold no record values either
        if self.writer is None:
            return False
        if rate_key is not None:
            now = time.monotonic()
            with self._lock:
                if now - self._last.get(rate_key, -1e9) < self.min_interval_s:
                    return False
                self._last[rate_key] = now
        doc = alert_document(component=self.component, action=action, message=message,
                             severity=severity, details=details, labels=self.labels,
                             error=error)
        self._ensure_thread()
        try:
            self._queue.put_nowait(doc)
        except queue.Full:
            log.error("alert queue full, alert %s only logged", action)
            return False
        return True

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="alerts", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            doc = self._queue.get()
            if doc is None:
                return
            self.writer.send(doc)  # never raises: spools on failure
            self._queue.task_done()

    def close(self, timeout: float = 5.0) -> None:
        """Deliver (or spool) what is queued, then stop the thread."""
        if self._thread is None:
            return
        deadline = time.monotonic() + timeout
        while not self._queue.empty() and time.monotonic() < deadline:
            time.sleep(0.05)
        self._queue.put(None)
        self._thread.join(max(0.0, deadline - time.monotonic()))
