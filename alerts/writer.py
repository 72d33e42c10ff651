"""Sending alerts to Elasticsearch with the official client, never losing one."""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from alerts.document import INDEX_PREFIX, TEMPLATE_NAME, index_for, index_template

log = logging.getLogger(__name__)


def default_spool() -> Path:
    configured = os.environ.get("HOVER_ALERT_SPOOL")
    if configured:
        return Path(configured)
    if os.environ.get("HOVER_STACK_HOME"):
        return Path(os.environ["HOVER_STACK_HOME"]) / "alert-spool"
    return Path.home() / ".cache" / "hoverboard-platform" / "alert-spool"


class AlertWriter:
    """Writes alert documents; spools them locally while Elasticsearch is unreachable.

    :param client: an ``elasticsearch.Elasticsearch`` client (the Airflow hook builds one
        from a connection; services build one from ``HOVER_ELASTICSEARCH_URL``).
    :param spool_dir: where undeliverable alerts wait (JSON lines, one file per process
        group, appended under a file lock).
    """

    def __init__(self, client: Any, *, spool_dir: Path | None = None) -> None:
        self.client = client
        self.spool_dir = spool_dir or default_spool()
        self._template_ready = False

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> AlertWriter:
        from elasticsearch import Elasticsearch

        return cls(Elasticsearch(url, request_timeout=5, max_retries=1, retry_on_timeout=True),
                   **kwargs)

    def ensure_template(self) -> None:
        if not self._template_ready:
            body = index_template()
            self.client.indices.put_index_template(
                name=TEMPLATE_NAME, index_patterns=body["index_patterns"],
                priority=body["priority"], template=body["template"])
            self._template_ready = True

    def _index(self, doc: dict[str, Any]) -> None:
        self.ensure_template()
        self.client.index(index=index_for(datetime.fromisoformat(doc["@timestamp"])),
                          id=doc["event"]["id"], document=doc)

    def send(self, doc: dict[str, Any]) -> bool:
        """Index ``doc`` (and anything spooled before it). Never raises: on failure the
        alert is spooled and False returned."""
        try:
            self._index(doc)
        except Exception as exc:  # noqa: BLE001 - any failure: keep the alert for later
            log.warning("Elasticsearch unreachable (%s); alert %s spooled in %s",
                        type(exc).__name__, doc["event"]["id"], self.spool_dir)
            self._spool(doc)
            return False
        self.flush()
        return True

    # -- the spool -------------------------------------------------------------------------
    @contextmanager
    def _locked_spool(self) -> Iterator[Path]:
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        path = self.spool_dir / "alerts.jsonl"
        with open(self.spool_dir / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield path

    def _spool(self, doc: dict[str, Any]) -> None:
        try:
            with self._locked_spool() as path, path.open("a") as fh:
                fh.write(json.dumps(doc) + "\n")
        except OSError:
            log.exception("cannot spool alert %s either; it is only in this log: %s",
                          doc["event"]["id"], json.dumps(doc))

    def spooled(self) -> int:
        path = self.spool_dir / "alerts.jsonl"
        return sum(1 for _ in path.open()) if path.exists() else 0

    def flush(self) -> int:
        """Send spooled alerts; returns how many were delivered. Ids make this idempotent."""
        path = self.spool_dir / "alerts.jsonl"
        if not path.exists():
            return 0
        with self._locked_spool() as path:
            if not path.exists():  # another writer delivered it while this one waited
                return 0
            lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
            delivered = 0
            for number, line in enumerate(lines):
                try:
                    self._index(json.loads(line))
                except Exception:  # noqa: BLE001 - still down: keep the rest
                    path.write_text("".join(ln + "\n" for ln in lines[number:]))
                    return delivered
                delivered += 1
            path.unlink()
        if delivered:
            log.info("delivered %d spooled alert(s)", delivered)
        return delivered

    def search(self, *, since: str = "now-24h", severity: str | None = None,
               text: str | None = None, size: int = 50) -> list[dict[str, Any]]:
        filters: list[dict[str, Any]] = [{"range": {"@timestamp": {"gte": since}}}]
        if severity:
            filters.append({"term": {"log.level": severity}})
        # lenient: a word is not an error for the numeric fields among airflow.*
        must = [{"simple_query_string": {"query": text, "lenient": True, "fields": [
            "message", "error.message", "airflow.*", "labels.*"]}}] if text else []
        result = self.client.search(
            index=f"{INDEX_PREFIX}-*", size=size, sort=[{"@timestamp": "desc"}],
            query={"bool": {"filter": filters, "must": must}}, ignore_unavailable=True)
        return [hit["_source"] for hit in result["hits"]["hits"]]
