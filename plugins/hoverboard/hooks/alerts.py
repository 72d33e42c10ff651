"""Hook writing the platform's alerts to Elasticsearch through an Airflow connection."""

from __future__ import annotations

import logging
from functools import cached_property
from typing import Any

from airflow.sdk import BaseHook

log = logging.getLogger(__name__)


class AlertHook(BaseHook):
    """The alert writer (``alerts.AlertWriter``) for an ``elasticsearch`` connection.

    The client is the official one, from the elasticsearch provider's
    ``ElasticsearchPythonHook``; host, port, scheme and credentials come from the connection.
    Sending never fails the caller: while Elasticsearch is unreachable, or when the
    connection cannot even be read, alerts are spooled locally and delivered with the next
    one that gets through (see ``alerts.writer``).

    :param elasticsearch_conn_id: Airflow connection of the Elasticsearch cluster.
    """

    conn_name_attr = "elasticsearch_conn_id"
    default_conn_name = "elasticsearch_default"
    conn_type = "elasticsearch"
    hook_name = "Hoverboard alerts (Elasticsearch)"

    def __init__(self, elasticsearch_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.elasticsearch_conn_id = elasticsearch_conn_id

    def get_conn(self) -> Any:
        """The Elasticsearch client of the connection."""
        from airflow.providers.elasticsearch.hooks.elasticsearch import ElasticsearchPythonHook

        conn = self.get_connection(self.elasticsearch_conn_id)
        scheme = conn.schema or "http"
        url = f"{scheme}://{conn.host}:{conn.port or 9200}"
        conn_args: dict[str, Any] = {"request_timeout": 5, "max_retries": 1}
        if conn.login:
            conn_args["basic_auth"] = (conn.login, conn.password or "")
        return ElasticsearchPythonHook(hosts=[url], es_conn_args=conn_args).get_conn

    @cached_property
    def writer(self):
        """The writer on the connection's client; without a usable connection, a writer that
        only spools (the alert is not lost, and the log says why)."""
        from alerts.writer import AlertWriter

        try:
            return AlertWriter(self.get_conn())
        except Exception:  # noqa: BLE001 - no connection: the spool keeps the alerts
            log.exception("cannot use the alert connection %r; alerts are spooled",
                          self.elasticsearch_conn_id)
            return AlertWriter(client=None)

    def send(self, doc: dict[str, Any]) -> bool:
        """Index ``doc``: True when delivered, False when spooled (sent once Elasticsearch
        is back). Never raises."""
        delivered = self.writer.send(doc)
        if not delivered:
            log.warning("alert %s (%s) spooled; it is sent when Elasticsearch is back",
                        doc["event"]["id"], doc["event"].get("action"))
        return delivered

    def deliver_spooled(self) -> int:
        """Send what was spooled while Elasticsearch was down (by any process sharing the
        spool); how many were delivered. Never raises: what cannot be sent stays spooled."""
        try:
            return self.writer.flush()
        except Exception:  # noqa: BLE001 - the spool keeps them for the next try
            log.exception("delivering spooled alerts failed; they stay spooled")
            return 0
