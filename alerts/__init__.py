"""One alert format for the whole platform, written to Elasticsearch.

Airflow tasks (through the notifier in ``plugins/hoverboard/notifiers``), the ingest API and
the Spark sinks all send the same document (ECS field names: ``@timestamp``, ``message``,
``log.level``, ``event.*``, ``service.*``, ``host.name``, ``labels``; Airflow's fields under
``airflow.*``; free-form ``details``), so an operator searches one place for everything
that went wrong.

Indices are monthly, ``hoverboard-alerts-YYYY.MM``, under one index template with explicit
mappings (created by :meth:`AlertWriter.ensure_template`); in Kibana, one data view
``hoverboard-alerts-*`` with ``@timestamp`` as its time field covers them all.

Delivery: each alert has a deterministic id (so sending it twice stores it once). When
Elasticsearch cannot be reached the alert is appended to a local spool (JSON lines in
``HOVER_ALERT_SPOOL``) and sent with the next alert that gets through, or by
``bin/alerts flush``: an outage delays alerts, it does not lose them.
"""

from alerts.document import Severity, alert_document
from alerts.writer import AlertWriter

__all__ = ["AlertWriter", "Severity", "alert_document"]
