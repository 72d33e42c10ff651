"""The streaming supervisor's logic without services: decisions, lag, history, the spark-submit
command and environment, the job registry, the status table, and its SQL as Redshift."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hoverboard.streaming import state
from hoverboard.streaming.lag import compute_lag
from hoverboard.streaming.policy import (
    CRASH_LOOP_ALERT,
    LAG_ALERT,
    RESTART_ALERT,
    Observation,
    Policy,
    decide,
)
from hoverboard.streaming.registry import discover_jobs
from hoverboard.streaming.state import JobHistory, LatestEvent

from tests.support.redshift import parse_redshift

POLICY = Policy(stall_after_s=300, lag_alert_threshold=1000, max_restarts_per_hour=3)
T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def obs(**changes) -> Observation:
    base = {"running": True, "lag_total": 0, "idle_s": 5.0, "starts_last_hour": 1,
            "ever_started": True, "crash_loop_reported": False, "held": False}
    return Observation(**{**base, **changes})


# -- decide -----------------------------------------------------------------------------------
def test_a_healthy_job_is_left_alone() -> None:
    decision = decide(obs(), POLICY)
    assert (decision.state, decision.stop, decision.start, decision.alerts) == \
        ("running", False, False, ())
    assert decision.action == "none"


def test_a_job_never_started_is_started_with_an_alert() -> None:
    decision = decide(obs(running=False, idle_s=None, starts_last_hour=0, ever_started=False),
                      POLICY)
    assert (decision.state, decision.stop, decision.start) == ("stopped", False, True)
    assert decision.reason == "first start"
    assert decision.alerts == (RESTART_ALERT,)
    assert decision.action == "started"


def test_a_dead_job_is_restarted_with_an_alert() -> None:
    decision = decide(obs(running=False, starts_last_hour=2), POLICY)
    assert (decision.stop, decision.start, decision.reason) == (False, True, "not running")
    assert decision.alerts == (RESTART_ALERT,)
    assert decision.action == "restarted"


def test_lag_above_the_threshold_alerts_without_a_restart() -> None:
    decision = decide(obs(lag_total=1001, idle_s=100.0), POLICY)
    assert (decision.state, decision.stop, decision.start) == ("running", False, False)
    assert decision.alerts == (LAG_ALERT,)
    # At the threshold: no alert (strictly above).
    assert decide(obs(lag_total=1000, idle_s=100.0), POLICY).alerts == ()


def test_a_stalled_job_is_stopped_and_started() -> None:
    decision = decide(obs(lag_total=10, idle_s=301.0), POLICY)
    assert (decision.state, decision.stop, decision.start, decision.reason) == \
        ("stalled", True, True, "stalled")
    assert decision.alerts == (RESTART_ALERT,)
    assert decision.action == "restarted (stalled)"
    # ... with a lag alert too when the lag is large.
    assert set(decide(obs(lag_total=5000, idle_s=301.0), POLICY).alerts) == \
        {LAG_ALERT, RESTART_ALERT}


def test_no_data_is_not_a_stall_and_an_unknown_lag_decides_nothing() -> None:
    assert decide(obs(lag_total=0, idle_s=86400.0), POLICY).state == "running"
    assert decide(obs(lag_total=None, idle_s=86400.0), POLICY).state == "running"
    assert decide(obs(lag_total=None, idle_s=86400.0), POLICY).alerts == ()
    # idle exactly at the limit is not yet a stall
    assert decide(obs(lag_total=5, idle_s=300.0), POLICY).state == "running"


def test_too_many_starts_is_a_crash_loop_alerted_once() -> None:
    first = decide(obs(running=False, starts_last_hour=3), POLICY)
    assert (first.state, first.stop, first.start) == ("crash_loop", False, False)
    assert first.alerts == (CRASH_LOOP_ALERT,)
    assert first.action == "not restarted: crash loop alerted"
    later = decide(obs(running=False, starts_last_hour=3, crash_loop_reported=True), POLICY)
    assert (later.state, later.start, later.alerts) == ("crash_loop", False, ())
    assert later.action == "not restarted: crash loop"
    # One start below the limit is still allowed.
    assert decide(obs(running=False, starts_last_hour=2), POLICY).start


def test_a_stalled_job_out_of_restarts_is_left_running_and_reported() -> None:
    decision = decide(obs(lag_total=5000, idle_s=900.0, starts_last_hour=3), POLICY)
    assert (decision.state, decision.stop, decision.start) == ("crash_loop", False, False)
    assert set(decision.alerts) == {LAG_ALERT, CRASH_LOOP_ALERT}


def test_a_job_stopped_by_an_operator_stays_stopped() -> None:
    decision = decide(obs(running=False, held=True), POLICY)
    assert (decision.state, decision.start, decision.alerts) == ("held", False, ())
    # ... but it is still watched once someone starts it.
    assert decide(obs(running=True, held=True, lag_total=10, idle_s=900.0), POLICY).start


def test_policy_rejects_nonsense() -> None:
    for bad in ({"stall_after_s": 0}, {"lag_alert_threshold": -1},
                {"max_restarts_per_hour": 0}):
        with pytest.raises(ValueError):
            Policy(**bad)


# -- lag and history -------------------------------------------------------------------------
def test_lag_per_partition() -> None:
    end = {0: 100, 1: 50, 2: 10, 3: 7}
    earliest = {0: 0, 1: 20, 2: 0, 3: 7}
    committed = {0: 90, 1: 5, 2: 10}  # 1: below retention; 3: never read
    assert compute_lag(committed, earliest, end) == {0: 10, 1: 30, 2: 0, 3: 0}
    assert compute_lag({}, {}, {0: 3}) == {0: 3}
    assert compute_lag({0: 12}, {0: 0}, {0: 10}) == {0: 0}  # never negative


def test_history_holds_and_crash_loop_memory() -> None:
    def history(**latest) -> JobHistory:
        return JobHistory(0, {k: LatestEvent(*v) for k, v in latest.items()})

    later = T0 + timedelta(minutes=1)
    assert not history().ever_started
    assert history(stopped=("manual", later), started=("first start", T0)).held
    assert not history(stopped=("manual", T0), started=("manual", later)).held
    assert not history(stopped=("stalled", later), started=("not running", T0)).held
    assert history(crash_loop=(None, later), started=("not running", T0)).crash_loop_reported
    assert not history(crash_loop=(None, T0),
                       started=("manual", later)).crash_loop_reported  # a new episode


def test_supervisor_sql_parses_as_redshift() -> None:
    for statement in (state.INSERT_EVENT["redshift"], state.COUNT_EVENTS_SINCE,
                      state.LATEST_EVENTS, state.LATEST_PROGRESS["redshift"]):
        parse_redshift(statement)
    assert all("%s" in s for s in (*state.INSERT_EVENT.values(), state.COUNT_EVENTS_SINCE,
                                   state.LATEST_EVENTS, *state.LATEST_PROGRESS.values()))


# -- registry, command, environment, table ------------------------------------------------------
def conf(path: Path, name: str, topic: str = "t") -> Path:
    path.write_text(f"[sink]\nquery_name = {name}\nmessage_type = trip\ntopic = {topic}\n"
                    f"schema_subject = trip-value\ncheckpoint_location = {path.parent}/cp\n")
    return path


def test_registry_finds_the_sink_configs(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HOVER_SPARK_CHECKPOINTS", str(tmp_path))
    monkeypatch.delenv("HOVER_STREAMING_JOBS", raising=False)
    assert {"hoverboard_sink", "customer_sink", "trip_sink"} <= set(discover_jobs())
    conf(tmp_path / "b.conf", "job_b", "topic_b")
    conf(tmp_path / "a.conf", "job_a")
    jobs = discover_jobs(str(tmp_path / "*.conf"))
    assert list(jobs) == ["job_a", "job_b"]
    assert jobs["job_b"].topic == "topic_b"
    assert jobs["job_b"].config_path == (tmp_path / "b.conf").resolve()
    monkeypatch.setenv("HOVER_STREAMING_JOBS", str(tmp_path / "a.conf"))
    assert list(discover_jobs()) == ["job_a"]
    assert list(discover_jobs("  ")) == ["job_a"]  # an empty DAG param: the environment's
    conf(tmp_path / "c.conf", "job_a")
    with pytest.raises(ValueError, match="unique"):
        discover_jobs(str(tmp_path / "*.conf"))
    with pytest.raises(ValueError, match="no streaming job configuration"):
        discover_jobs(str(tmp_path / "*.nothing"))


def test_spark_submit_command_and_environment(tmp_path, monkeypatch) -> None:
    from hoverboard.streaming.launcher import SINK_APPLICATION, LocalProcessLauncher
    from hoverboard.streaming.registry import Job

    monkeypatch.setenv("AIRFLOW_CONN_SPARK_DEFAULT",
                       json.dumps({"conn_type": "spark", "host": "local[2]"}))
    monkeypatch.setenv("HOVER_SPARK_JARS", "/jars/a.jar,/jars/b.jar")
    monkeypatch.setenv("HOVER_SPARK_MASTER", "local[7]")
    monkeypatch.setenv("PYTHONPATH", "/somewhere")
    job = Job("trip_sink", tmp_path / "trip.conf", "trip", "trip")
    launcher = LocalProcessLauncher(jobs_dir=tmp_path)
    argv = launcher.command(job)
    assert Path(argv[0]).name == "spark-submit"
    assert argv[1:] == ["--master", "local[2]", "--jars", "/jars/a.jar,/jars/b.jar",
                        "--name", "trip_sink", str(SINK_APPLICATION),
                        "--config", str(tmp_path / "trip.conf")]
    env = launcher.environment()
    assert not any(k.startswith("AIRFLOW") for k in env)  # Airflow's secrets stay in Airflow
    assert "HOVER_SPARK_MASTER" not in env  # the connection's master wins
    assert env["PYTHONPATH"].split(":")[0] == str(SINK_APPLICATION.parents[1])
    assert "/somewhere" in env["PYTHONPATH"].split(":")
    assert env["HOVER_SPARK_JARS"] == "/jars/a.jar,/jars/b.jar"
    assert Path(env["PYSPARK_PYTHON"]).exists()

    monkeypatch.setenv("AIRFLOW_CONN_SPARK_DEFAULT", json.dumps(
        {"conn_type": "spark", "host": "spark://m", "port": 7077,
         "extra": {"deploy-mode": "cluster"}}))
    with pytest.raises(ValueError, match="cluster"):
        launcher.command(job)


def test_status_table_is_readable() -> None:
    from hoverboard.streaming.supervisor import JobStatus, format_table

    status = JobStatus("trip_sink", "trip", True, 4242, T0, T0, 12.3, {0: 5},
                       {0: 9, 1: 3}, {0: 4, 1: 3}, 1, state="running", action="none")
    broken = JobStatus("hoverboard_sink", "hoverboard", False, None, None, None, None, {},
                       None, None, 0, state="stopped", error="lag unknown: boom")
    rows = [status.row(), broken.row()]
    json.dumps(rows)  # XCom-safe
    assert rows[0]["lag_total"] == 7 and rows[0]["lag"] == {"0": 4, "1": 3}
    table = format_table(rows).splitlines()
    assert table[0].split()[:3] == ["job", "state", "pid"]
    assert "trip_sink" in table[2] and "4242" in table[2] and "p0: 4" in table[2]
    assert "stopped (error)" in table[3] and "?" in table[3]
    assert table[-1] == "hoverboard_sink: ERROR lag unknown: boom"


def test_a_job_log_is_rotated_under_its_running_writer(tmp_path) -> None:
    from hoverboard.streaming.launcher import LocalProcessLauncher
    from hoverboard.streaming.registry import Job

    job = Job("rotating_sink", tmp_path / "rotating_sink.conf", "hoverboard", "hoverboard")
    launcher = LocalProcessLauncher(jobs_dir=tmp_path, log_max_bytes=100, log_backups=2)
    path = launcher.log_file(job)
    with path.open("ab", buffering=0) as writer:  # the job's descriptor, as spawn opens it
        writer.write(b"".join(b"first %02d\n" % i for i in range(20)))
        assert launcher.rotate_log(job)
        assert path.stat().st_size == 0
        assert launcher.log_tail(job, 3) == "first 17\nfirst 18\nfirst 19"  # from the copy
        writer.write(b"second\n")
        assert path.read_bytes() == b"second\n"  # at the start, not at the old offset
        assert not launcher.rotate_log(job)  # under the limit
        for round_ in ("third", "fourth"):
            writer.write(round_.encode() * 30 + b"\n")
            assert launcher.rotate_log(job)
    copies = sorted(p.name for p in tmp_path.glob("rotating_sink.log.*"))
    assert copies == ["rotating_sink.log.1", "rotating_sink.log.2"]  # the oldest went
    assert (tmp_path / "rotating_sink.log.1").read_text().startswith("fourth")
    assert (tmp_path / "rotating_sink.log.2").read_text() == "second\n" + "third" * 30 + "\n"


def test_log_settings_from_the_environment_are_checked(monkeypatch) -> None:
    from hoverboard.streaming.launcher import LocalProcessLauncher

    from spark.sink_job import spark_log_level

    monkeypatch.setenv("HOVER_SPARK_JOB_LOG_MAX_BYTES", "1048576")
    monkeypatch.setenv("HOVER_SPARK_JOB_LOG_BACKUPS", "0")
    launcher = LocalProcessLauncher()
    assert (launcher.log_max_bytes, launcher.log_backups) == (1048576, 0)
    monkeypatch.setenv("HOVER_SPARK_JOB_LOG_MAX_BYTES", "64M")
    with pytest.raises(ValueError, match="HOVER_SPARK_JOB_LOG_MAX_BYTES='64M' is not an integer"):
        LocalProcessLauncher()
    assert spark_log_level() == "WARN"
    monkeypatch.setenv("HOVER_SPARK_LOG_LEVEL", "info")
    assert spark_log_level() == "INFO"
    monkeypatch.setenv("HOVER_SPARK_LOG_LEVEL", "LOUD")
    with pytest.raises(ValueError, match="HOVER_SPARK_LOG_LEVEL='LOUD'"):
        spark_log_level()


def test_warehouse_addresses_compare_by_database_not_by_spelling() -> None:
    from hoverboard.hooks.warehouse import dsn_address, same_database

    uri = dsn_address("postgresql://hover:secret@localhost:5433/warehouse?sslmode=disable")
    assert uri == ("localhost", 5433, "warehouse")
    assert dsn_address("host=127.0.0.1 port=5433 dbname=warehouse user=hover") == (
        "127.0.0.1", 5433, "warehouse")
    assert dsn_address("postgresql:///warehouse") == ("", 5432, "warehouse")
    assert same_database(uri, ("127.0.0.1", 5433, "warehouse"))  # one server, two names
    assert not same_database(uri, ("127.0.0.1", 5433, "warehouse_test"))
    assert not same_database(uri, ("127.0.0.1", 5432, "warehouse"))
    assert not same_database(("/run/postgresql", 5432, "w"), ("127.0.0.1", 5432, "w"))


def test_supervisor_refuses_jobs_that_would_write_where_it_does_not_read(
        tmp_path, monkeypatch) -> None:
    from hoverboard.streaming.launcher import LocalProcessLauncher
    from hoverboard.streaming.supervisor import StreamingSupervisor, SupervisionError

    conf = tmp_path / "refused_sink.conf"
    conf.write_text("[sink]\nquery_name = refused_sink\nmessage_type = hoverboard\n"
                    "topic = hoverboard\nschema_subject = hoverboard-value\n"
                    f"checkpoint_location = {tmp_path / 'checkpoint'}\n")
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE_CHECK", json.dumps(
        {"conn_type": "postgres", "host": "localhost", "port": 5433, "schema": "warehouse"}))
    launcher = LocalProcessLauncher(jobs_dir=tmp_path)

    def supervisor() -> StreamingSupervisor:
        return StreamingSupervisor(jobs=str(conf), warehouse_conn_id="warehouse_check",
                                   launcher=launcher)

    monkeypatch.setenv("HOVER_WAREHOUSE_DSN", "postgresql://hover@127.0.0.1:5433/scratch")
    with pytest.raises(SupervisionError, match=r"jobs write to database 'scratch' on "
                                               r"127\.0\.0\.1:5433 .* read from database "
                                               r"'warehouse' on localhost:5433"):
        supervisor().supervise()
    with pytest.raises(SupervisionError, match="point both at the same warehouse"):
        supervisor().start("refused_sink")
    assert not launcher.log_file(discover_jobs(str(conf))["refused_sink"]).exists()  # not started

    monkeypatch.setenv("HOVER_WAREHOUSE_DSN", "postgresql://hover@127.0.0.1:5433/warehouse")
    supervisor().check_warehouse()  # the same database, spelt differently
