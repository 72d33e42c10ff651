"""Airflow's streaming supervisor on real Kafka, Spark, PostgreSQL and Elasticsearch.

Each test has its own topic, its own migrated warehouse database, its own job config (its
checkpoint in tmp) and jobs dir (pid and log files), so it neither sees nor disturbs the
platform's own sink jobs. Most rounds call the supervisor directly; one runs the
``streaming_supervisor`` DAG with ``airflow dags test``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from hoverboard.streaming.launcher import LocalProcessLauncher
from hoverboard.streaming.policy import Policy
from hoverboard.streaming.registry import discover_jobs
from hoverboard.streaming.supervisor import StreamingSupervisor

from stack.process import PidRecord, wait_until
from tests.support import alerts_with, fetch, produce, scratch_database, scratch_topic, telemetry

REPO = Path(__file__).resolve().parents[2]
WAREHOUSE_CONN_ID = "streamtest_warehouse"


@pytest.fixture
def warehouse(stack_env, monkeypatch):
    """An empty migrated database; the driver (HOVER_WAREHOUSE_DSN) and the supervisor (an
    Airflow connection) both point at it. Yields (dsn, connection JSON)."""
    with scratch_database(stack_env["HOVER_WAREHOUSE_DSN"], "suptest") as dsn:
        name = dsn.rsplit("/", 1)[1]
        connection = stack_env["AIRFLOW_CONN_WAREHOUSE_DEFAULT"].replace(
            '"warehouse"', f'"{name}"')
        assert connection != stack_env["AIRFLOW_CONN_WAREHOUSE_DEFAULT"]
        monkeypatch.setenv("HOVER_WAREHOUSE_DSN", dsn)
        monkeypatch.setenv(f"AIRFLOW_CONN_{WAREHOUSE_CONN_ID.upper()}", connection)
        yield dsn, connection


@pytest.fixture
def topic(stack_env):
    with scratch_topic(stack_env["HOVER_KAFKA_BOOTSTRAP"], "suptest") as name:
        yield name


@pytest.fixture
def jobs_dir(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "jobs"
    monkeypatch.setenv("HOVER_SPARK_JOBS_DIR", str(path))
    return path


@pytest.fixture
def job_conf(tmp_path, topic, jobs_dir):
    """Writes the job config (``message_type`` chooses a crashing one); stops every job
    it started at the end, paused or not."""
    written: list[Path] = []

    def write(name: str, message_type: str = "hoverboard") -> Path:
        path = tmp_path / f"{name}.conf"
        path.write_text(
            "[sink]\n"
            f"query_name = {name}\nmessage_type = {message_type}\ntopic = {topic}\n"
            f"schema_subject = {message_type}-value\nschema_version = latest\n"
            "trigger_seconds = 1\nmax_offsets_per_trigger = 1000\n"
            f"starting_offsets = earliest\ncheckpoint_location = {tmp_path / name}-checkpoint\n")
        written.append(path)
        return path

    yield write
    launcher = LocalProcessLauncher(jobs_dir=jobs_dir, stop_timeout_s=20)
    for path in written:
        for job in discover_jobs(str(path)).values():
            launcher.stop(job)


def supervisor(pattern: Path, **policy) -> StreamingSupervisor:
    return StreamingSupervisor(
        policy=Policy(**policy), jobs=str(pattern), warehouse_conn_id=WAREHOUSE_CONN_ID,
        launcher=LocalProcessLauncher(stop_timeout_s=20))


def one_round(sup: StreamingSupervisor) -> dict:
    try:
        statuses = sup.supervise()
    finally:
        sup.close()
    sup.raise_for_errors(statuses)
    [status] = statuses
    return status.row()


def events(dsn: str, job: str) -> list[tuple]:
    return fetch(dsn, "SELECT event, reason, pid FROM platform.stream_job_events"
                 " WHERE job = %s ORDER BY at", (job,))


def count(dsn: str) -> int:
    return fetch(dsn, "SELECT count(*) FROM fleet.hoverboard")[0][0]


def job_log(jobs_dir: Path, name: str) -> str:
    path = jobs_dir / f"{name}.log"
    return path.read_text()[-4000:] if path.exists() else "(no log)"


def alive(jobs_dir: Path, name: str) -> bool:
    record = PidRecord.read(jobs_dir / f"{name}.pid")
    return record is not None and record.alive()


def test_killed_job_is_restarted_by_the_next_supervisor_run(airflow_env, stack_env, warehouse,
                                                            topic, jobs_dir, job_conf) -> None:
    dsn, connection = warehouse
    bootstrap, es = stack_env["HOVER_KAFKA_BOOTSTRAP"], stack_env["HOVER_ELASTICSEARCH_URL"]
    name = f"killtest_{uuid.uuid4().hex[:8]}"
    conf = job_conf(name)
    first = one_round(supervisor(conf))
    assert (first["state"], first["action"]) == ("stopped", "started")
    pid = first["pid"]
    events_before = telemetry(600, boards=20)
    produce(bootstrap, topic, "hoverboard", events_before[:400])
    assert wait_until(lambda: count(dsn) == 400, 150), job_log(jobs_dir, name)
    # The driver logs a line per batch; Spark's own per-batch INFO lines stay out of it.
    first_log = (jobs_dir / f"{name}.log").read_text()
    assert f"{name} batch " in first_log and "Streaming query made progress" not in first_log

    os.killpg(pid, signal.SIGKILL)  # the driver and its JVM
    assert wait_until(lambda: not alive(jobs_dir, name), 30)
    produce(bootstrap, topic, "hoverboard", events_before[400:])

    run = subprocess.run(
        [str(Path(sys.executable).with_name("airflow")), "dags", "test", "streaming_supervisor",
         "-c", json.dumps({"jobs": str(conf)})],
        env={**airflow_env, "AIRFLOW_CONN_WAREHOUSE_DEFAULT": connection,
             "HOVER_WAREHOUSE_DSN": dsn, "HOVER_SPARK_JOBS_DIR": str(jobs_dir),
             # The dead job's log is past this: the round rotates it before the restart.
             "HOVER_SPARK_JOB_LOG_MAX_BYTES": "1000"},
        capture_output=True, text=True, timeout=300)
    output = run.stdout + run.stderr
    (jobs_dir / "dags-test.out").write_text(output)  # kept with the job's log, for failures
    assert run.returncode == 0, output[-5000:]
    # The task log shows the status table, with the restart.
    [row] = [ln.split() for ln in output.splitlines() if ln.startswith(name)]
    assert row[:2] == [name, "stopped"] and "restarted" in row, row
    new_pid = PidRecord.read(jobs_dir / f"{name}.pid").pid
    assert new_pid != pid and alive(jobs_dir, name)

    assert wait_until(lambda: count(dsn) == 600, 150), job_log(jobs_dir, name)
    rows = fetch(dsn, "SELECT id, to_char(event_time AT TIME ZONE 'UTC',"
                 " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM fleet.hoverboard")
    assert len(rows) == 600  # exactly the produced rows: no duplicates ...
    assert set(rows) == {(e["id"], e["event_time"]) for e in events_before}  # ... no gaps
    assert [(e, r) for e, r, _ in events(dsn, name)] == [("started", "first start"),
                                                        ("started", "not running")]

    restarts = [a for a in alerts_with(es, name) if a["event"]["action"] == "job_restarted"]
    by_reason = {a["details"]["reason"]: a for a in restarts}
    assert set(by_reason) == {"first start", "not running"}, restarts
    alert = by_reason["not running"]
    assert alert["log"]["level"] == "warning"
    assert alert["service"]["name"] == "airflow"
    assert alert["airflow"]["dag_id"] == "streaming_supervisor"
    assert alert["airflow"]["task_id"] == "supervise"
    assert alert["airflow"]["run_id"].startswith("manual__")
    assert alert["airflow"]["try_number"] == 1
    assert alert["details"]["pid"] == new_pid
    # Why it ended, for the operator: the round emptied the log before the restart, so the
    # tail comes from the rotated copy, which holds the first run's batches.
    assert alert["details"]["previous_log_tail"].strip()
    assert f"{name} batch " in (jobs_dir / f"{name}.log.1").read_text()

    # A running job's log rotated under it: the job goes on writing, at the start of the
    # emptied log (its descriptor appends), and the old lines are in the copy.
    [job] = discover_jobs(str(conf)).values()
    rotating = LocalProcessLauncher(jobs_dir=jobs_dir, log_max_bytes=1, log_backups=2)
    assert rotating.rotate_log(job)
    assert f"{name} batch " in (jobs_dir / f"{name}.log.1").read_text()
    assert (jobs_dir / f"{name}.log.2").exists()
    produce(bootstrap, topic, "hoverboard", telemetry(620, boards=20)[600:])  # new keys
    assert wait_until(lambda: count(dsn) == 620, 150), job_log(jobs_dir, name)
    after = (jobs_dir / f"{name}.log").read_bytes()
    assert not after.startswith(b"\0") and f"{name} batch ".encode() in after

    # Stopped by an operator (streaming_control): the supervisor leaves it stopped.
    control = supervisor(conf)
    try:
        assert control.stop(name).action == "stopped"
    finally:
        control.close()
    assert not alive(jobs_dir, name)
    row = one_round(supervisor(conf))
    assert (row["state"], row["action"], row["running"]) == ("held", "none", False)
    assert events(dsn, name)[-1][:2] == ("stopped", "manual")


def test_paused_job_gives_a_lag_alert_and_is_restarted_only_once_stalled(
        stack_env, warehouse, topic, jobs_dir, job_conf) -> None:
    dsn, _ = warehouse
    bootstrap, es = stack_env["HOVER_KAFKA_BOOTSTRAP"], stack_env["HOVER_ELASTICSEARCH_URL"]
    name = f"pausetest_{uuid.uuid4().hex[:8]}"
    conf = job_conf(name)
    patient = {"stall_after_s": 3600, "lag_alert_threshold": 50, "max_restarts_per_hour": 3}
    pid = one_round(supervisor(conf, **patient))["pid"]
    records = telemetry(300, boards=20)
    produce(bootstrap, topic, "hoverboard", records[:100])
    assert wait_until(lambda: count(dsn) == 100, 150), job_log(jobs_dir, name)

    os.killpg(pid, signal.SIGSTOP)
    try:
        produce(bootstrap, topic, "hoverboard", records[100:])
        # Lagging but within stall_after_s: a lag alert, no restart.
        row = one_round(supervisor(conf, **patient))
        assert (row["state"], row["action"], row["pid"]) == ("running", "none", pid)
        assert row["alerts"] == ["job_lag"]
        assert row["lag_total"] == 200 and sum(row["lag"].values()) == 200
        [lag_alert] = [a for a in alerts_with(es, name) if a["event"]["action"] == "job_lag"]
        assert lag_alert["details"]["lag_total"] == 200
        assert lag_alert["details"]["lag"] == row["lag"]
        assert lag_alert["details"]["threshold"] == 50
        assert [e for e, *_ in events(dsn, name)] == ["started", "lag"]

        # No batch for longer than a (now short) stall_after_s: stopped and started again.
        assert wait_until(lambda: one_idle(dsn, name) > 2, 10)
        row = one_round(supervisor(conf, **{**patient, "stall_after_s": 2}))
        assert (row["state"], row["action"]) == ("stalled", "restarted (stalled)")
        assert row["pid"] != pid and not alive_pid(pid)
    finally:
        if alive_pid(pid):
            os.killpg(pid, signal.SIGCONT)
    assert [(e, r) for e, r, _ in events(dsn, name)] == [
        ("started", "first start"), ("lag", None), ("lag", None), ("stopped", "stalled"),
        ("started", "stalled")]  # the stalled round saw the lag too
    # (That the new driver resumes without gaps or duplicates: the killed-job test.)
    assert alive(jobs_dir, name)
    restart = [a for a in alerts_with(es, name) if a["event"]["action"] == "job_restarted"
               and a["details"]["reason"] == "stalled"]
    assert len(restart) == 1 and restart[0]["details"]["previous_pid"] == pid


def one_idle(dsn: str, job: str) -> float:
    [(seconds,)] = fetch(dsn, "SELECT EXTRACT(EPOCH FROM now() - max(batch_time))"
                         " FROM platform.stream_progress WHERE query_name = %s", (job,))
    return float(seconds)


def alive_pid(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_job_crashing_on_every_start_is_started_at_most_n_times_and_alerted_once(
        stack_env, warehouse, topic, jobs_dir, job_conf) -> None:
    dsn, _ = warehouse
    es = stack_env["HOVER_ELASTICSEARCH_URL"]
    name = f"crashtest_{uuid.uuid4().hex[:8]}"
    conf = job_conf(name, message_type="nosuchtype")  # no schema, no table mapping
    actions = []
    for _ in range(4):
        row = one_round(supervisor(conf, max_restarts_per_hour=2))
        actions.append(row["action"])
        assert wait_until(lambda: not alive(jobs_dir, name), 120), job_log(jobs_dir, name)
    assert actions == ["started", "restarted", "not restarted: crash loop alerted",
                       "not restarted: crash loop"]
    assert [e for e, *_ in events(dsn, name)] == ["started", "started", "crash_loop"]
    [alert] = [a for a in alerts_with(es, name) if a["event"]["action"] == "job_crash_loop"]
    assert alert["log"]["level"] == "error"
    assert alert["details"]["starts_last_hour"] == 2
    assert "nosuchtype" in alert["details"]["log_tail"]
