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
    Start,
    decide,
)
from hoverboard.streaming.registry import discover_jobs
from hoverboard.streaming.state import JobHistory, LatestEvent

from tests.support.redshift import parse_redshift

POLICY = Policy(stall_after_s=300, lag_alert_threshold=1000, max_failed_starts=3,
                max_same_reason=3, retry_after_s=300, retry_max_s=1800)
T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
ROUND = 300.0  # the DAG's schedule: a round every 5 minutes


def obs(**changes) -> Observation:
    base = {"running": True, "lag_total": 0, "idle_s": 5.0,
            "starts": (Start("first start", 3600.0, progressed=True, seen_healthy=True),),
            "crash_loop_alert_age_s": None, "held": False}
    return Observation(**{**base, **changes})


def failed(n: int, *, reason: str = "not running", latest_age_s: float = ROUND) -> tuple:
    """n starts, one per round, the latest ``latest_age_s`` ago, none of which loaded a batch
    (after an older start that did)."""
    return (*(Start(reason, latest_age_s + i * ROUND, progressed=False) for i in range(n)),
            Start("first start", latest_age_s + n * ROUND, progressed=True, seen_healthy=True))


def killed(n: int, *, reason: str = "not running") -> tuple:
    """n restarts in consecutive rounds, each of which loaded batches before it died."""
    return (*(Start(reason, ROUND + i * ROUND, progressed=True) for i in range(n)),
            Start("first start", (n + 1) * ROUND, progressed=True, seen_healthy=True))


# -- decide: the ordinary rounds -----------------------------------------------------------
def test_a_healthy_job_is_left_alone() -> None:
    decision = decide(obs(), POLICY)
    assert (decision.state, decision.stop, decision.start, decision.alerts) == \
        ("running", False, False, ())
    assert decision.action == "none" and decision.stuck is None


def test_a_job_never_started_is_started_with_an_alert() -> None:
    decision = decide(obs(running=False, idle_s=None, starts=()), POLICY)
    assert (decision.state, decision.stop, decision.start) == ("stopped", False, True)
    assert decision.reason == "first start"
    assert decision.alerts == (RESTART_ALERT,)
    assert decision.action == "started"


def test_a_dead_job_is_restarted_with_an_alert() -> None:
    decision = decide(obs(running=False), POLICY)
    assert (decision.stop, decision.start, decision.reason) == (False, True, "not running")
    assert decision.alerts == (RESTART_ALERT,)
    assert decision.action == "restarted" and decision.stuck is None


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


def test_a_job_stopped_by_an_operator_stays_stopped() -> None:
    decision = decide(obs(running=False, held=True), POLICY)
    assert (decision.state, decision.start, decision.alerts) == ("held", False, ())
    # ... but it is still watched once someone starts it.
    assert decide(obs(running=True, held=True, lag_total=10, idle_s=900.0), POLICY).start


def test_a_start_is_remembered_as_healthy_once_it_loaded_or_has_nothing_to_load() -> None:
    booting = Start("not running", 60.0, progressed=False)
    assert not decide(obs(starts=(booting,), lag_total=40), POLICY).mark_healthy
    assert decide(obs(starts=(booting,), lag_total=0), POLICY).mark_healthy
    loaded = Start("not running", 60.0, progressed=True)
    assert decide(obs(starts=(loaded,), lag_total=40), POLICY).mark_healthy
    remembered = Start("not running", 60.0, progressed=True, seen_healthy=True)
    assert not decide(obs(starts=(remembered,)), POLICY).mark_healthy  # once per start


# -- decide: crash loops are starts without progress, not starts per hour ---------------------
def test_restarts_after_which_the_job_loaded_batches_are_never_a_crash_loop() -> None:
    # Killed before each of the last ten rounds, but it loaded batches after every start.
    decision = decide(obs(running=False, starts=killed(10)), POLICY)
    assert (decision.state, decision.start, decision.reason) == ("stopped", True, "not running")
    assert CRASH_LOOP_ALERT not in decision.alerts and decision.failed_starts == 0


def test_starts_without_progress_below_the_limit_are_restarted() -> None:
    # A job that fails on start: its first start and one restart died without a batch.
    starts = (Start("not running", ROUND, progressed=False),
              Start("first start", 2 * ROUND, progressed=False))
    decision = decide(obs(running=False, starts=starts), POLICY)
    assert (decision.state, decision.start, decision.failed_starts) == ("stopped", True, 2)
    assert decision.stuck is None and CRASH_LOOP_ALERT not in decision.alerts


def test_starts_stopped_on_purpose_before_they_loaded_are_no_crash_loop() -> None:
    # bin/platform, then bin/stack down a minute later, three times: each start ended by a
    # stop on purpose before its first batch.
    stopped = tuple(Start("not running", 60.0 + i * ROUND, progressed=False,
                          stopped_on_purpose=True) for i in range(3))
    decision = decide(obs(running=False, starts=stopped), POLICY)
    assert (decision.state, decision.start, decision.failed_starts) == ("stopped", True, 0)
    assert CRASH_LOOP_ALERT not in decision.alerts and decision.stuck is None
    # Only the starts after the stop count: two failed since, below the limit.
    decision = decide(obs(running=False, starts=(*failed(2)[:2], *stopped)), POLICY)
    assert (decision.state, decision.failed_starts) == ("stopped", 2)


def test_a_running_job_that_has_not_loaded_yet_is_not_a_failed_start() -> None:
    decision = decide(obs(running=True, lag_total=5, idle_s=60.0,
                          starts=failed(3, latest_age_s=60.0)), POLICY)
    assert (decision.state, decision.stuck) == ("running", None)


def test_a_crash_loop_is_alerted_once_makes_the_round_fail_and_is_retried_later() -> None:
    # The third start without progress was a minute ago.
    first = decide(obs(running=False, starts=failed(3, latest_age_s=60.0)), POLICY)
    assert (first.state, first.stop, first.start) == ("crash_loop", False, False)
    assert first.alerts == (CRASH_LOOP_ALERT,)
    assert first.failed_starts == 3 and first.retry_in_s == 240.0
    assert first.stuck.startswith("crash loop: its last 3 starts made no progress")
    assert first.action == "not restarted: crash loop, retry in 240 s"
    # The next rounds: alerted already (after the episode's first failed start), still red.
    later = decide(obs(running=False, starts=failed(3, latest_age_s=120.0),
                       crash_loop_alert_age_s=60.0), POLICY)
    assert (later.state, later.start, later.alerts) == ("crash_loop", False, ())
    assert later.stuck is not None
    # Five minutes after the last start: retried (and still red until it makes progress).
    retry = decide(obs(running=False, starts=failed(3, latest_age_s=300.0),
                       crash_loop_alert_age_s=240.0), POLICY)
    assert (retry.state, retry.start, retry.reason) == ("crash_loop", True, "crash loop retry")
    assert retry.alerts == (RESTART_ALERT,) and retry.stuck is not None
    assert retry.action == "retried (crash loop)"


def test_the_back_off_doubles_with_every_failed_retry_up_to_its_ceiling() -> None:
    assert [POLICY.retry_delay(n) for n in range(1, 9)] == \
        [300, 300, 300, 600, 1200, 1800, 1800, 1800]

    def waits(failures: int, age_s: float) -> bool:
        return not decide(obs(running=False, starts=failed(failures, latest_age_s=age_s),
                              crash_loop_alert_age_s=age_s), POLICY).start

    assert waits(4, 599.0) and not waits(4, 600.0)
    assert waits(5, 1199.0) and not waits(5, 1200.0)
    assert waits(9, 1799.0) and not waits(9, 1800.0)  # never left for an hour


def test_a_new_crash_loop_after_progress_is_alerted_again() -> None:
    # Alerted an hour ago, then it recovered, and now fails again.
    decision = decide(obs(running=False, starts=failed(3, latest_age_s=60.0),
                          crash_loop_alert_age_s=3600.0), POLICY)
    assert CRASH_LOOP_ALERT in decision.alerts


def test_a_stalled_job_in_a_crash_loop_is_left_running_until_its_retry() -> None:
    stalled = {"lag_total": 5000, "idle_s": 900.0}
    waiting = decide(obs(**stalled, starts=failed(3, latest_age_s=100.0)), POLICY)
    assert (waiting.state, waiting.stop, waiting.start) == ("crash_loop", False, False)
    assert set(waiting.alerts) == {LAG_ALERT, CRASH_LOOP_ALERT}
    retry = decide(obs(**stalled, starts=failed(3, latest_age_s=900.0)), POLICY)
    assert (retry.stop, retry.start, retry.reason) == (True, True, "crash loop retry")


# -- decide: the same reason round after round is red, though the job is still restarted ------
def test_restarted_for_the_same_reason_n_rounds_in_a_row_is_stuck() -> None:
    third = decide(obs(running=False, starts=killed(2)), POLICY)
    assert (third.start, third.reason) == (True, "not running")
    assert third.stuck == "restarted for the same reason (not running) 3 rounds in a row"
    assert decide(obs(running=False, starts=killed(1)), POLICY).stuck is None
    stalled = decide(obs(lag_total=9, idle_s=400.0, starts=killed(2, reason="stalled")),
                     POLICY)
    assert (stalled.stop, stalled.start) == (True, True)
    assert stalled.stuck == "restarted for the same reason (stalled) 3 rounds in a row"


def test_a_round_that_saw_the_job_healthy_or_another_reason_breaks_the_row() -> None:
    healthy_between = (Start("not running", 300.0, progressed=True),
                       Start("not running", 900.0, progressed=True, seen_healthy=True),
                       Start("not running", 1200.0, progressed=True))
    assert decide(obs(running=False, starts=healthy_between), POLICY).stuck is None
    other_reason = (Start("not running", 300.0, progressed=True),
                    Start("stalled", 600.0, progressed=True),
                    Start("not running", 900.0, progressed=True))
    assert decide(obs(running=False, starts=other_reason), POLICY).stuck is None


def test_policy_rejects_nonsense() -> None:
    for bad in ({"stall_after_s": 0}, {"lag_alert_threshold": -1}, {"max_failed_starts": 0},
                {"max_same_reason": 0}, {"retry_after_s": 0},
                {"retry_after_s": 600, "retry_max_s": 300}):
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


def test_history_holds() -> None:
    def history(**latest) -> JobHistory:
        return JobHistory((), {k: LatestEvent(*v) for k, v in latest.items()})

    later = T0 + timedelta(minutes=1)
    assert not history().ever_started
    assert history(stopped=("manual", later), started=("first start", T0)).held
    assert not history(stopped=("manual", T0), started=("manual", later)).held
    assert not history(stopped=("stalled", later), started=("not running", T0)).held


def test_supervisor_sql_parses_as_redshift() -> None:
    for statement in (state.INSERT_EVENT["redshift"], state.LATEST_STARTS,
                      state.COUNT_BATCHES_BETWEEN, state.LATEST_EVENTS,
                      state.LATEST_PROGRESS["redshift"]):
        parse_redshift(statement)
    assert all("%s" in s for s in (*state.INSERT_EVENT.values(), state.LATEST_STARTS,
                                   state.COUNT_BATCHES_BETWEEN, state.LATEST_EVENTS,
                                   *state.LATEST_PROGRESS.values()))


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
    monkeypatch.delenv("HOVER_SPARK_ARCHIVE", raising=False)
    job = Job("trip_sink", tmp_path / "trip.conf", "trip", "trip")
    launcher = LocalProcessLauncher(jobs_dir=tmp_path)
    argv = launcher.command(job)
    assert Path(argv[0]).name == "spark-submit"
    assert argv[1:] == ["--master", "local[2]", "--jars", "/jars/a.jar,/jars/b.jar",
                        "--name", "trip_sink", str(SINK_APPLICATION),
                        "--config", str(tmp_path / "trip.conf"), "--type", "trip"]
    secrets = {"HOVER_AIRFLOW_DB_DSN": "postgresql://airflow:pw@db/airflow",
               "HOVER_AIRFLOW_PASSWORD": "admin-pw", "HOVER_INGEST_API_KEYS": "key-1",
               "AWS_ACCESS_KEY_ID": "AKIA0", "AWS_SECRET_ACCESS_KEY": "s3-secret",
               "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql://airflow:pw@db/airflow",
               "SOMETHING_ELSE": "x"}
    needed = {"HOVER_WAREHOUSE_ENGINE": "postgres",
              "HOVER_KAFKA_BOOTSTRAP": "127.0.0.1:9092", "HOVER_REDSHIFT_STAGING": "s3://b/p",
              "HOVER_SCHEMA_REGISTRY_URL": "http://registry", "HOVER_ALERT_SPOOL": "/spool",
              "HOVER_ELASTICSEARCH_URL": "http://es", "SPARK_LOCAL_IP": "127.0.0.1",
              "JAVA_HOME": "/jdk", "LANG": "C.UTF-8", "AWS_DEFAULT_REGION": "eu-west-1"}
    for name, value in {**secrets, **needed}.items():
        monkeypatch.setenv(name, value)
    # The worker's own warehouse setting is not what the driver gets: the supervisor's
    # connection is (the jobs write where their progress is read).
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE_DEFAULT", "postgres://hover:pw@elsewhere/other")
    env = launcher.environment("postgres://hover:pw@db:5432/warehouse")
    assert not set(secrets) & set(env)  # an allow-list: only what the driver needs
    # Airflow's secrets stay in Airflow; of its connections, the driver gets the warehouse.
    assert [k for k in env if k.startswith("AIRFLOW")] == ["AIRFLOW_CONN_WAREHOUSE_DEFAULT"]
    assert env["AIRFLOW_CONN_WAREHOUSE_DEFAULT"] == "postgres://hover:pw@db:5432/warehouse"
    assert {k: env[k] for k in needed} == needed
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


def test_on_a_cluster_the_executors_are_sent_the_packaged_archive(tmp_path, monkeypatch) -> None:
    from hoverboard.streaming.launcher import SINK_APPLICATION, LocalProcessLauncher
    from hoverboard.streaming.registry import Job

    monkeypatch.setenv("AIRFLOW_CONN_SPARK_DEFAULT",
                       json.dumps({"conn_type": "spark", "host": "spark://m", "port": 7077}))
    archive = tmp_path / "dist" / "hoverboard-jobs.tar.gz"
    archive.parent.mkdir()
    archive.write_bytes(b"")
    monkeypatch.setenv("HOVER_SPARK_ARCHIVE", str(archive))
    # The command line alone: no jars or driver classpath from a stack the suite started.
    monkeypatch.delenv("HOVER_SPARK_JARS", raising=False)
    monkeypatch.delenv("HOVER_SPARK_DRIVER_CLASSPATH", raising=False)
    job = Job("trip_sink", tmp_path / "trip.conf", "trip", "trip")
    launcher = LocalProcessLauncher(jobs_dir=tmp_path / "jobs")
    argv = launcher.command(job)
    assert argv[1:] == ["--master", "spark://m:7077",
                        "--conf", f"spark.archives={archive}#hoverboard",
                        "--conf", "spark.executorEnv.PYTHONPATH=hoverboard/site",
                        "--name", "trip_sink", str(SINK_APPLICATION),
                        "--config", str(tmp_path / "trip.conf"), "--type", "trip"]

    # A URL the cluster fetches is passed on as it is.
    monkeypatch.setenv("HOVER_SPARK_ARCHIVE", "s3a://artifacts/hoverboard-jobs.tar.gz")
    assert "spark.archives=s3a://artifacts/hoverboard-jobs.tar.gz#hoverboard" in \
        launcher.command(job)
    # spark-submit runs in the jobs dir: a relative or missing file is refused, not shipped.
    for wrong in ("dist/hoverboard-jobs.tar.gz", str(tmp_path / "missing.tar.gz")):
        monkeypatch.setenv("HOVER_SPARK_ARCHIVE", wrong)
        with pytest.raises(ValueError, match="bin/package-jobs"):
            launcher.command(job)


def test_status_table_is_readable() -> None:
    from hoverboard.streaming.supervisor import (
        JobStatus,
        StreamingSupervisor,
        SupervisionError,
        format_table,
    )

    status = JobStatus("trip_sink", "trip", True, 4242, T0, T0, 12.3, {0: 5},
                       {0: 9, 1: 3}, {0: 4, 1: 3}, state="running", action="none")
    broken = JobStatus("hoverboard_sink", "hoverboard", False, None, None, None, None, {},
                       None, None, state="stopped", error="lag unknown: boom")
    stuck = JobStatus("customer_sink", "customer", False, None, None, None, None, {}, None,
                      None, failed_starts=3, state="crash_loop",
                      action="not restarted: crash loop, retry in 240 s",
                      stuck="crash loop: its last 3 starts made no progress",
                      last_error="ValueError: no schema for 'nosuchtype'")
    rows = [status.row(), broken.row(), stuck.row()]
    json.dumps(rows)  # XCom-safe
    assert rows[0]["lag_total"] == 7 and rows[0]["lag"] == {"0": 4, "1": 3}
    table = format_table(rows).splitlines()
    assert table[0].split()[:3] == ["job", "state", "pid"]
    assert "trip_sink" in table[2] and "4242" in table[2] and "p0: 4" in table[2]
    assert "stopped (error)" in table[3] and "?" in table[3]
    assert "crash_loop (STUCK)" in table[4] and "retry in 240 s" in table[4]
    assert table[-1] == "hoverboard_sink: ERROR lag unknown: boom"
    report = stuck.stuck_report()
    assert report.startswith("streaming job customer_sink is stuck: crash loop: its last 3")
    assert "streaming_control" in report and report.endswith("no schema for 'nosuchtype'")
    with pytest.raises(SupervisionError, match=r"hoverboard_sink: lag unknown: boom; "
                                               r"customer_sink is stuck: crash loop"):
        StreamingSupervisor.raise_for_errors([status, broken, stuck])


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
