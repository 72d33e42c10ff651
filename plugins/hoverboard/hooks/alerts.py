"""Hook writing the platform's alerts to Elasticsearch through an Airflow connection."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from airflow.sdk import BaseHook


class AlertHook(BaseHook):
    """The alert writer (``alerts.AlertWriter``) for an ``elasticsearch`` connection.

    The client is the official one, from the elasticsearch provider's
    ``ElasticsearchPythonHook``; host, port, scheme and credentials come from the connection.

    :param elasticsearch_conn_id: Airflow connection of the Elasticsearch cluster.
    """

    conn_name_attr = "elasticsearch_conn_id"
    default_conn_name = "elasticsearch_default"
    conn_type = "elasticsearch"
    hook_name = "Hoverboard alerts (Elasticsearch)"

    def __init__(self, elasticsearch_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.elasticsearch_conn_id = elasticsearch_conn_id

    @cached_property
    def writer(self):
        from airflow.providers.elasticsearch.hooks.elasticsearch import ElasticsearchPythonHook

        from alerts.writer import AlertWriter

        conn = self.get_connection(self.elasticsearch_conn_id)
        scheme = conn.schema or "http"
        url = f"{scheme}://{conn.host}:{conn.port or 9200}"
        conn_args: dict[str, Any] = {"request_timeout": 5, "max_retries": 1}
        if conn.login:
            conn_args["basic_auth"] = (conn.login, conn.password or "")
        client = ElasticsearchPythonHook(hosts=[url], es_conn_args=conn_args).get_conn
        return AlertWriter(client)

    def send(self, doc: dict[str, Any]) -> bool:
        return self.writer.send(doc)
