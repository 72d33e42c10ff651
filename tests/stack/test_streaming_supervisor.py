"""Airflow's streaming supervisor on real Kafka, Spark, PostgreSQL and Elasticsearch.

Each test has its own topic, its own migrated warehouse database, its own job config (its
checkpoint in tmp) and jobs dir (pid and log files), so it neither sees nor disturbs the
platform's own sink jobs. Most rounds call the supervisor directly; one runs the
``streaming_supervisor`` DAG with ``airflow dags test``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hoverboard.streaming.launcher import LocalProcessLauncher
from hoverboard.streaming.policy import Policy
from hoverboard.streaming.registry import discover_jobs
from hoverboard.streaming.supervisor import StreamingSupervisor, SupervisionError

from runtime.settings import WAREHOUSE_CONN_ENV, warehouse_dsn
from stack.process import PidRecord, wait_until
from tests.support import alerts_with, fetch, produce, scratch_database, scratch_topic, telemetry

REPO = Path(__file__).resolve().parents[2]
#: How long a driver may take to start and load (a few seconds on an idle machine; minutes
#: when six test sessions share its two cores).
LOAD_S = 420
WAREHOUSE_CONN_ID = "streamtest_warehouse"


@pytest.fixture
def warehouse(stack_env, monkeypatch):
    """An empty migrated database, and an Airflow connection of it for the supervisor (which
    hands it to the drivers it starts). Yields (dsn, connection JSON)."""
    with scratch_database(warehouse_dsn(stack_env), "suptest") as dsn:
        name = dsn.rsplit("/", 1)[1]
        connection = stack_env["AIRFLOW_CONN_WAREHOUSE_DEFAULT"].replace(
            '"warehouse"', f'"{name}"')
        assert connection != stack_env["AIRFLOW_CONN_WAREHOUSE_DEFAULT"]
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
    """Writes the job config (a ``schema_version`` neither the registry nor ``schemas/`` has
    makes one that crashes on start); stops every job it started at the end, paused or not."""
    written: list[Path] = []

    def write(name: str, message_type: str = "hoverboard", max_offsets: int = 1000,
              schema_version: str = "latest") -> Path:
        path = tmp_path / f"{name}.conf"
        path.write_text(
            "[sink]\n"
            f"query_name = {name}\nmessage_type = {message_type}\ntopic = {topic}\n"
            f"schema_subject = {message_type}-value\nschema_version = {schema_version}\n"
            f"trigger_seconds = 1\nmax_offsets_per_trigger = {max_offsets}\n"
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
    assert wait_until(lambda: count(dsn) == 400, LOAD_S), job_log(jobs_dir, name)
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
             "HOVER_SPARK_JOBS_DIR": str(jobs_dir),
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

    assert wait_until(lambda: count(dsn) == 600, LOAD_S), job_log(jobs_dir, name)
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
    assert wait_until(lambda: count(dsn) == 620, LOAD_S), job_log(jobs_dir, name)
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
    patient = {"stall_after_s": 3600, "lag_alert_threshold": 50, "max_failed_starts": 3}
    pid = one_round(supervisor(conf, **patient))["pid"]
    records = telemetry(300, boards=20)
    produce(bootstrap, topic, "hoverboard", records[:100])
    assert wait_until(lambda: count(dsn) == 100, LOAD_S), job_log(jobs_dir, name)

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
        # It loaded batches since its start: the round remembers it saw that start healthy.
        assert [e for e, *_ in events(dsn, name)] == ["started", "healthy", "lag"]

        # No batch for longer than a (now short) stall_after_s: stopped and started again.
        assert wait_until(lambda: one_idle(dsn, name) > 2, 10)
        row = one_round(supervisor(conf, **{**patient, "stall_after_s": 2}))
        assert (row["state"], row["action"]) == ("stalled", "restarted (stalled)")
        assert row["pid"] != pid and not alive_pid(pid)
    finally:
        if alive_pid(pid):
            os.killpg(pid, signal.SIGCONT)
    assert [(e, r) for e, r, _ in events(dsn, name)] == [
        ("started", "first start"), ("healthy", None), ("lag", None), ("lag", None),
        ("stopped", "stalled"), ("started", "stalled")]  # the stalled round saw the lag too
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


def dags_test(airflow_env: dict, connection: str, dsn: str, jobs_dir: Path,
              conf: dict) -> subprocess.CompletedProcess:
    """One streaming_supervisor run with ``airflow dags test``, on the test's warehouse."""
    run = subprocess.run(
        [str(Path(sys.executable).with_name("airflow")), "dags", "test", "streaming_supervisor",
         "-c", json.dumps(conf)],
        env={**airflow_env, "AIRFLOW_CONN_WAREHOUSE_DEFAULT": connection,
             "HOVER_SPARK_JOBS_DIR": str(jobs_dir)},
        capture_output=True, text=True, timeout=400)
    (jobs_dir / "dags-test.out").write_text(run.stdout + run.stderr)
    return run


# Four starts of a driver that fails (a minute each on a busy 2-core machine) and a DAG run.
@pytest.mark.timeout(2400)
def test_job_failing_on_start_is_a_crash_loop_that_fails_the_round_and_is_retried_later(
        airflow_env, stack_env, warehouse, topic, jobs_dir, job_conf) -> None:
    dsn, connection = warehouse
    es = stack_env["HOVER_ELASTICSEARCH_URL"]
    name = f"crashtest_{uuid.uuid4().hex[:8]}"
    # A schema version nobody has: every start fails before it reads a record.
    missing = "has no version 999"
    conf = job_conf(name, schema_version="999")
    limits = {"max_failed_starts": 2, "retry_after_s": 3600, "retry_max_s": 7200}
    actions = []
    for _ in range(2):  # the first start, and one restart: neither loads a batch
        row = one_round(supervisor(conf, **limits))
        actions.append(row["action"])
        assert wait_until(lambda: not alive(jobs_dir, name), LOAD_S), job_log(jobs_dir, name)
    assert actions == ["started", "restarted"]

    # The third round, as Airflow runs it: a crash loop; not restarted, and the task fails
    # with the job, the reason and the driver's last error in its log.
    run = dags_test(airflow_env, connection, dsn, jobs_dir,
                    {"jobs": str(conf), **limits})
    output = run.stdout + run.stderr
    assert run.returncode != 0, output[-5000:]
    assert f"streaming job {name} is stuck: crash loop: its last 2 starts made no progress" \
        in output, output[-5000:]
    assert missing in output.split(f"streaming job {name} is stuck", 1)[1]  # the log tail
    # Failed at once: a retry would find it stuck all the same.
    assert f"AirflowFailException: {name} is stuck: crash loop" in output
    assert output.count(f"streaming job {name} is stuck") == 1
    assert not alive(jobs_dir, name)
    [alert] = [a for a in alerts_with(es, name) if a["event"]["action"] == "job_crash_loop"]
    assert alert["log"]["level"] == "error"
    assert alert["details"]["failed_starts"] == 2
    assert missing in alert["details"]["log_tail"]

    # The back-off is over (a short one now): retried, and the round is still red.
    sup = supervisor(conf, **{**limits, "retry_after_s": 1})
    statuses = sup.supervise()
    sup.close()
    [status] = statuses
    assert (status.state, status.action) == ("crash_loop", "retried (crash loop)")
    assert status.stuck and missing in status.last_error
    with pytest.raises(SupervisionError, match=f"{name} is stuck: crash loop"):
        sup.raise_for_errors(statuses)
    assert wait_until(lambda: not alive(jobs_dir, name), LOAD_S), job_log(jobs_dir, name)
    # The retry failed too: the next retry waits twice as long (2 * 60 s here).
    row = round_row(supervisor(conf, **{**limits, "retry_after_s": 60}))
    assert row["state"] == "crash_loop" and row["failed_starts"] == 3
    waiting = int(row["action"].rsplit("retry in ", 1)[1].split()[0])
    assert 0 < waiting <= 120 and waiting > 120 - (time.time() - last_start(dsn, name)) - 5
    assert [e for e, *_ in events(dsn, name)] == ["started", "started", "crash_loop",
                                                 "started"]  # one alert for the episode
    # An operator's start is never held back by the back-off.
    control = supervisor(conf, **limits)
    try:
        assert control.start(name).action == "started"
    finally:
        control.close()
    assert events(dsn, name)[-1][:2] == ("started", "manual")


def round_row(sup: StreamingSupervisor) -> dict:
    """One round's row, whether or not the round fails (a stuck job)."""
    try:
        [status] = sup.supervise()
    finally:
        sup.close()
    return status.row()


def last_start(dsn: str, job: str) -> float:
    [(at,)] = fetch(dsn, "SELECT EXTRACT(EPOCH FROM max(at)) FROM platform.stream_job_events"
                    " WHERE job = %s AND event = 'started'", (job,))
    return float(at)


def session_environments(leader: int) -> list[dict[str, str]]:
    """The environment of every process in the driver's session (spark-submit, its JVM, the
    Python driver), from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) != leader:  # the session id
                continue
            raw = (stat.parent / "environ").read_bytes()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        found.append(dict(item.split("=", 1) for item in raw.decode().split("\0")
                          if "=" in item))
    return found


def assert_no_secret_in_driver(leader: int, dsn: str) -> None:
    """The worker's secrets (in this process's environment, as in an Airflow worker's) stay
    out of every process of a running driver; what it needs is there."""
    secrets = ("HOVER_AIRFLOW_DB_DSN", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
               "HOVER_AIRFLOW_PASSWORD", "HOVER_INGEST_API_KEYS", "AWS_SECRET_ACCESS_KEY",
               "AWS_ACCESS_KEY_ID", "AIRFLOW_CONN_AWS_DEFAULT")
    assert all(os.environ.get(k) for k in secrets)
    environments = session_environments(leader)
    assert len(environments) >= 2  # spark-submit's JVM and the Python driver at least
    for env in environments:
        assert not [k for k in secrets if k in env], sorted(env)
        # Of Airflow's settings, a driver gets only the warehouse connection it writes to.
        assert [k for k in env if k.startswith("AIRFLOW")] in ([], [WAREHOUSE_CONN_ENV]), \
            sorted(env)
    # ... the supervisor's own connection, so it writes where its progress is read.
    assert any(WAREHOUSE_CONN_ENV in env and warehouse_dsn(env) == dsn for env in environments)


@pytest.mark.timeout(2400)  # four driver starts
def test_kills_between_which_the_job_loads_are_no_crash_loop_and_no_secret_reaches_it(
        stack_env, warehouse, topic, jobs_dir, job_conf) -> None:
    dsn, _ = warehouse
    bootstrap, es = stack_env["HOVER_KAFKA_BOOTSTRAP"], stack_env["HOVER_ELASTICSEARCH_URL"]
    name = f"flaptest_{uuid.uuid4().hex[:8]}"
    conf = job_conf(name)
    records = telemetry(400, boards=20)
    produce(bootstrap, topic, "hoverboard", records[:100])  # the topic has its leaders then
    row = one_round(supervisor(conf))
    assert row["action"] == "started"

    # Killed twice and stopped once, each time after it loaded batches; a round sees it
    # running in between, as the 5-minute schedule would.
    ends = [(signal.SIGKILL, 100), (signal.SIGKILL, 200), (signal.SIGTERM, 300)]
    for sig, loaded in ends:
        if loaded > 100:
            produce(bootstrap, topic, "hoverboard", records[loaded - 100:loaded])
        assert wait_until(lambda n=loaded: count(dsn) == n, LOAD_S), job_log(jobs_dir, name)
        row = one_round(supervisor(conf))
        assert (row["state"], row["action"]) == ("running", "none")
        if loaded == 100:
            assert_no_secret_in_driver(row["pid"], dsn)
        os.killpg(row["pid"], sig)
        assert wait_until(lambda: not alive(jobs_dir, name), LOAD_S)
        row = one_round(supervisor(conf))  # raises if the job were stuck
        assert (row["state"], row["action"], row["failed_starts"]) == \
            ("stopped", "restarted", 0)
        assert row["stuck"] is None and "job_crash_loop" not in row["alerts"]
    produce(bootstrap, topic, "hoverboard", records[300:])
    assert wait_until(lambda: count(dsn) == 400, LOAD_S), job_log(jobs_dir, name)
    assert alive(jobs_dir, name)
    assert [(e, r) for e, r, _ in events(dsn, name) if e != "healthy"] == [
        ("started", "first start"), *[("started", "not running")] * 3]
    assert not [a for a in alerts_with(es, name) if a["event"]["action"] == "job_crash_loop"]


@pytest.mark.timeout(1200)  # two driver starts
def test_a_deleted_checkpoint_starts_a_new_run_neither_stalled_nor_misreported(
        stack_env, warehouse, topic, jobs_dir, job_conf) -> None:
    dsn, _ = warehouse
    bootstrap = stack_env["HOVER_KAFKA_BOOTSTRAP"]
    name = f"cptest_{uuid.uuid4().hex[:8]}"
    conf = job_conf(name, max_offsets=50)  # many small batches: batch ids up to 8 or more
    records = telemetry(500, boards=20)
    produce(bootstrap, topic, "hoverboard", records[:400])
    one_round(supervisor(conf))
    assert wait_until(lambda: count(dsn) == 400, LOAD_S), job_log(jobs_dir, name)
    [(old_run, old_batches)] = fetch(dsn, "SELECT run_id, max(batch_id) FROM"
                                     " platform.stream_progress GROUP BY run_id")
    assert old_batches >= 7

    # The checkpoint is lost; the job comes back with a new one (big batches now).
    [job] = discover_jobs(str(conf)).values()
    LocalProcessLauncher(stop_timeout_s=20).stop(job)
    shutil.rmtree(Path(conf).parent / f"{name}-checkpoint")
    conf = job_conf(name, max_offsets=1000)
    produce(bootstrap, topic, "hoverboard", records[400:])
    patient = {"stall_after_s": 5}
    row = one_round(supervisor(conf, **patient))
    assert row["action"] == "restarted"
    started = time.time()

    def new_run() -> list[tuple]:
        return fetch(dsn, "SELECT run_id, batch_id, end_offsets FROM platform.stream_progress"
                     " WHERE run_id <> %s", (old_run,))

    assert wait_until(lambda: count(dsn) == 500 and new_run(), LOAD_S), job_log(jobs_dir, name)
    [(run, batch_id, offsets)] = new_run()  # re-read everything in one batch, id 0
    assert batch_id == 0 and sum(offsets.values()) == 500
    # The old run's batches are kept, under their run.
    assert fetch(dsn, "SELECT max(batch_id) FROM platform.stream_progress WHERE run_id = %s",
                 (old_run,)) == [(old_batches,)]
    assert wait_until(lambda: time.time() - started > patient["stall_after_s"] + 1, 30)

    # Caught up: not stalled (idle from the new run's batch), no lag (its own offsets).
    row = one_round(supervisor(conf, **patient))
    assert (row["state"], row["action"], row["lag_total"]) == ("running", "none", 0), row
    assert row["run_id"] == run and row["committed"] == {str(p): o for p, o in offsets.items()}
    assert alive(jobs_dir, name)


def test_progress_of_a_new_run_neither_replaces_nor_borrows_the_old_runs(warehouse) -> None:
    """What a sink writes and what the supervisor reads, per run, on the real PostgreSQL."""
    import psycopg
    from hoverboard.streaming.state import StreamState

    from loader.bookkeeping import BatchProgress, latest_offsets, record_progress

    dsn, _ = warehouse
    t0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)

    def batch(run: str, batch_id: int, offsets: dict, at: datetime) -> None:
        with psycopg.connect(dsn) as conn, conn.cursor() as cursor:
            record_progress(cursor, "postgres", BatchProgress(
                "q", run, batch_id, 10, 10, 0, None, offsets, at))

    for i in range(6):  # the old checkpoint's run: batches 0..5, far ahead in Kafka
        batch("old", i, {0: 100 * (i + 1), 1: 100 * (i + 1)}, t0 + timedelta(seconds=i))
    batch("new", 0, {0: 50}, t0 + timedelta(minutes=5))  # the new checkpoint's first batch

    with psycopg.connect(dsn) as conn, conn.cursor() as cursor:
        assert latest_offsets(cursor, "q", "new") == {0: 50}  # not merged with the old run's
        assert latest_offsets(cursor, "q", "old") == {0: 600, 1: 600}
        assert latest_offsets(cursor, "q", "another") == {}
    assert fetch(dsn, "SELECT run_id, count(*) FROM platform.stream_progress"
                 " GROUP BY run_id ORDER BY run_id") == [("new", 1), ("old", 6)]
    state = StreamState(lambda: psycopg.connect(dsn), "postgres")
    try:
        latest = state.progress("q")  # the newest batch, though its id is the lowest
    finally:
        state.close()
    assert (latest.run_id, latest.batch_id, latest.end_offsets) == ("new", 0, {0: 50})
    assert latest.batch_time == t0 + timedelta(minutes=5)


def test_starts_stopped_on_purpose_are_read_back_as_such(warehouse) -> None:
    """``bin/stack down`` and ``streaming_control`` stop jobs on purpose; the supervisor's
    own stop of a stalled job is no such stop. The history, as the supervisor reads it."""
    import psycopg
    from hoverboard.streaming.state import StreamState

    dsn, _ = warehouse
    t0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    history = [("started", "first start"), ("stopped", "platform stopped"),
               ("started", "not running"), ("stopped", "stalled"), ("started", "stalled"),
               ("stopped", "manual"), ("started", "manual")]
    state = StreamState(lambda: psycopg.connect(dsn), "postgres")
    try:
        for i, (event, reason) in enumerate(history):
            state.record("q", event, at=t0 + timedelta(minutes=i), reason=reason)
        starts = state.starts("q", t0 + timedelta(minutes=10))
    finally:
        state.close()
    assert [(s.reason, s.stopped_on_purpose) for s in starts] == [
        ("manual", False), ("stalled", True), ("not running", False), ("first start", True)]


def test_two_supervisors_without_a_shared_disk_never_run_two_drivers(warehouse, job_conf,
                                                                     tmp_path) -> None:
    """Two Airflow workers: each its own jobs dir (pid files), one warehouse (the lease)."""
    conf = job_conf("lease_job")
    dsn, _ = warehouse
    launchers = [LocalProcessLauncher(jobs_dir=tmp_path / d, stop_timeout_s=20)
                 for d in ("jobs-a", "jobs-b")]
    [job] = discover_jobs(str(conf)).values()

    def sup(launcher, clock=None) -> StreamingSupervisor:
        return StreamingSupervisor(jobs=str(conf), warehouse_conn_id=WAREHOUSE_CONN_ID,
                                   launcher=launcher, lease_s=600, clock=clock)

    try:
        first = one_round(sup(launchers[0]))
        assert first["action"] == "started", first
        second = one_round(sup(launchers[1]))
        assert second["action"].startswith("none: leased to "), second
        assert str(tmp_path / "jobs-a") in second["action"]
        assert launchers[1].running(job) is None  # no second driver
        assert [e for e, _, _ in events(dsn, "lease_job")] == ["started"]

        # Supervisor A dies with its driver: its lease is not renewed, and once expired B
        # takes the job over.
        os.killpg(launchers[0].running(job).pid, signal.SIGKILL)
        later = datetime.now(UTC) + timedelta(seconds=601)
        taken = one_round(sup(launchers[1], clock=lambda: later))
        assert taken["action"] == "restarted", taken
        assert launchers[1].running(job) is not None
        [(holder,)] = fetch(dsn, "SELECT holder FROM platform.stream_leases"
                            " WHERE query_name = 'lease_job'")
        assert holder.endswith(str(tmp_path / "jobs-b"))
    finally:
        for launcher in launchers:
            launcher.stop(job)


def test_a_round_delivers_alerts_spooled_while_elasticsearch_was_down(
        stack_env, warehouse, job_conf, tmp_path, monkeypatch) -> None:
    """A driver killed during an outage spools its alert; with nothing else to say, the
    platform would keep it there. The next supervisor round sends it."""
    import psycopg
    from hoverboard.streaming.state import StreamState

    from alerts import AlertWriter, Severity, alert_document

    spool = tmp_path / "spool"
    monkeypatch.setenv("HOVER_ALERT_SPOOL", str(spool))
    token = uuid.uuid4().hex
    down = AlertWriter(client=None, spool_dir=spool)
    assert not down.send(alert_document(component="spark_sink", action="query_started",
                                        message=f"started during the outage {token}",
                                        severity=Severity.INFO))
    assert down.spooled() == 1
    # Another supervisor runs the job: this round only looks (no driver to wait for).
    conf = job_conf("spooltest_job")
    dsn, _ = warehouse
    state = StreamState(lambda: psycopg.connect(dsn), "postgres")
    try:
        state.take_lease("spooltest_job", "elsewhere", now=datetime.now(UTC), lease_s=600)
    finally:
        state.close()
    row = one_round(supervisor(conf))
    assert row["action"].startswith("none: leased to elsewhere"), row
    assert down.spooled() == 0
    [alert] = alerts_with(stack_env["HOVER_ELASTICSEARCH_URL"], token)
    assert alert["event"]["action"] == "query_started"
