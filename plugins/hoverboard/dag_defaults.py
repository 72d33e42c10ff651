"""What every DAG of the platform shares, so no DAG file repeats it."""

from __future__ import annotations

from datetime import timedelta

from hoverboard.notifiers.alerts import ElasticsearchAlertNotifier

OWNER = "data-platform"

#: default_args of every platform DAG: owner, retries with backoff, a time limit, and an
#: alert in Elasticsearch for every retry (warning) and final failure (error).
DEFAULT_ARGS = {
    "owner": OWNER,
    "retries": 2,
    "retry_delay": timedelta(seconds=30),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=10),
    "execution_timeout": timedelta(minutes=30),
    "on_failure_callback": [ElasticsearchAlertNotifier(severity="error",
                                                       action="task_failed")],
    "on_retry_callback": [ElasticsearchAlertNotifier(severity="warning",
                                                     action="task_retry")],
}
