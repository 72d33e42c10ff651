"""The alert hook keeps an alert it cannot deliver: with no usable Elasticsearch
connection at all, the notifier's alert still lands in the spool (sent once it is back)."""

from __future__ import annotations

import json
from types import SimpleNamespace

from alerts import AlertWriter


def test_an_alert_without_a_usable_connection_is_spooled_not_lost(tmp_path,
                                                                   monkeypatch) -> None:
    from hoverboard.notifiers.alerts import ElasticsearchAlertNotifier

    monkeypatch.setenv("HOVER_ALERT_SPOOL", str(tmp_path))
    monkeypatch.setenv("AIRFLOW_CONN_ALERTS_BROKEN", "{not json")  # unreadable
    ti = SimpleNamespace(dag_id="probe", task_id="fails", run_id="manual__1", map_index=-1,
                         try_number=1, max_tries=0, log_url=None)
    notifier = ElasticsearchAlertNotifier(elasticsearch_conn_id="alerts_broken")
    notifier.notify({"ti": ti, "exception": RuntimeError("probe failure")})

    assert AlertWriter(client=None, spool_dir=tmp_path).spooled() == 1
    spooled = json.loads((tmp_path / "alerts.jsonl").read_text())
    assert spooled["event"]["action"] == "task_failed"
    assert spooled["message"] == "probe.fails failed: probe failure"


def test_the_hook_says_whether_it_delivered(tmp_path, monkeypatch) -> None:
    from hoverboard.hooks.alerts import AlertHook

    from alerts import Severity, alert_document

    monkeypatch.setenv("HOVER_ALERT_SPOOL", str(tmp_path))
    monkeypatch.setenv("AIRFLOW_CONN_ALERTS_BROKEN", "{not json")
    doc = alert_document(component="airflow", action="probe", message="m",
                         severity=Severity.ERROR, dedup_key="probe/1")
    assert AlertHook("alerts_broken").send(doc) is False
    assert AlertWriter(client=None, spool_dir=tmp_path).spooled() == 1


def test_a_spool_another_process_delivered_while_this_one_waited_is_no_error(tmp_path) -> None:
    """Two writers (a notifier and the supervisor's spool delivery, say) flush the same
    spool: the one that waited for the lock finds the file gone, which is not a failure."""
    from contextlib import contextmanager

    from alerts import Severity, alert_document

    class DeliveredMeanwhile(AlertWriter):
        @contextmanager
        def _locked_spool(self):
            with super()._locked_spool() as path:
                path.unlink()  # the other writer delivered it while this one waited
                yield path

    AlertWriter(client=None, spool_dir=tmp_path)._spool(alert_document(
        component="airflow", action="probe", message="m", severity=Severity.ERROR,
        dedup_key="probe/2"))
    assert (tmp_path / "alerts.jsonl").exists()
    assert DeliveredMeanwhile(client=None, spool_dir=tmp_path).flush() == 0
