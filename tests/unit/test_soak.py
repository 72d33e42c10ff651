"""The soak's pure parts: its fault schedule, its 10 s windows, which alert shows a fault."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from benchmarks.soak import SINK_JOBS, Fault, Injected, first_alert, natural_keys, plan, windows

T = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def alert(service: str, action: str, after_s: float, **labels: str) -> dict:
    return {"@timestamp": (T + timedelta(seconds=after_s)).isoformat(),
            "service": {"name": service}, "event": {"action": action}, "labels": labels}


def test_the_full_schedule_has_every_kind_once_and_each_sink_driver() -> None:
    faults = plan(1200, brokers=3, instances=2)
    kinds = [f.kind for f in faults]
    for kind in ("broker", "spark_host", "ingest_instance", "postgres_restart",
                 "elasticsearch_outage", "s3_during_backup"):
        assert kinds.count(kind) == 1, kind
    assert {f.target for f in faults if f.kind == "sink_driver"} == set(SINK_JOBS)
    # The leader is the broker killed on three; the last instance, not the only one.
    assert next(f for f in faults if f.kind == "broker").target == "leader"
    assert next(f for f in faults if f.kind == "ingest_instance").target == "ingest_2"
    # Faults in the first 70 % of the run, in order; the rest shows the recovery.
    assert [f.at_s for f in faults] == sorted(f.at_s for f in faults)
    assert 120 <= faults[0].at_s and faults[-1].at_s <= 840


def test_elasticsearch_stays_down_two_minutes_in_the_full_run() -> None:
    faults = plan(1200, brokers=1, instances=2)
    assert next(f for f in faults if f.kind == "elasticsearch_outage").hold_s == 120


def test_the_short_schedule_kills_one_sink_driver_and_a_shorter_outage() -> None:
    faults = plan(180, brokers=1, instances=2, short=True)
    assert next(f for f in faults if f.kind == "broker").target == "kafka"
    assert sum(f.kind == "sink_driver" for f in faults) == 1
    assert next(f for f in faults if f.kind == "elasticsearch_outage").hold_s == 36


def test_windows_count_acks_latency_failures_and_lag() -> None:
    acked = [0.5, 1.0, 9.9, 10.1]
    requests = [(0.1, 0.010, 201), (0.2, 0.030, 201), (11.0, 2.0, 503), (12.0, 0.02, None)]
    lag = [(5.0, 40), (6.0, 10), (15.0, None)]
    first, second = windows(0.0, 19.0, acked, requests, lag)
    assert (first.acked_per_s, first.requests, first.non_2xx, first.sink_lag) == (0.3, 2, 0, 40)
    assert (first.p50_ms, first.p99_ms) == (10.0, 30.0)
    assert (second.acked_per_s, second.non_2xx, second.sink_lag) == (0.1, 2, None)


def test_an_alert_counts_for_its_fault_within_60_s_and_for_its_target_only() -> None:
    sink = Injected(Fault(100, "sink_driver", "trip_sink"), started=T)
    alerts = [alert("airflow", "job_restarted", 5, job="hoverboard_sink"),
              alert("airflow", "job_restarted", 42, job="trip_sink")]
    assert first_alert(sink, alerts) == (42.0, "airflow/job_restarted")
    assert first_alert(sink, [alert("airflow", "job_restarted", 61, job="trip_sink")]) is None
    instance = Injected(Fault(100, "ingest_instance", "ingest_2"), started=T)
    assert first_alert(instance, [alert("ingest_api", "instance_started", 12,
                                        instance="ingest_1")]) is None


def test_the_elasticsearch_outage_needs_an_alert_raised_while_it_was_down() -> None:
    outage = Injected(Fault(100, "elasticsearch_outage", "elasticsearch", 120), started=T)
    assert first_alert(outage, [alert("airflow", "job_restarted", 130)]) is None
    assert first_alert(outage, [alert("airflow", "job_restarted", 70)]) == (
        70.0, "airflow/job_restarted")
    # Down for longer than planned (a slow restart): raised while down is what counts.
    longer = Injected(outage.fault, started=T, restored=T + timedelta(seconds=200))
    assert first_alert(longer, [alert("airflow", "job_restarted", 150)]) == (
        150.0, "airflow/job_restarted")
    assert first_alert(longer, [alert("airflow", "job_restarted", 210)]) is None


def test_natural_keys_are_the_tables_keys_as_stored() -> None:
    from tests.support import sample

    event = sample("hoverboard", id=7, event_time="2026-12-03T13:00:00+01:00")
    assert natural_keys("hoverboard", [event]) == [(7, datetime(2026, 12, 3, 12, 0, tzinfo=UTC))]


def test_skipped_kinds_are_left_out() -> None:
    faults = plan(120, brokers=1, instances=1, short=True,
                  skip=frozenset({"s3_during_backup", "elasticsearch_outage"}))
    assert {f.kind for f in faults} == {"broker", "sink_driver", "spark_host", "ingest_instance",
                                        "postgres_restart"}
    assert next(f for f in faults if f.kind == "ingest_instance").target == "ingest_1"
