"""``bin/platform``: the whole platform on this machine, running its main job end to end.

1. the local stack (Kafka, PostgreSQL, S3, Elasticsearch, the registry, two ingest
   instances behind NGINX, Airflow's four processes, Superset with its dashboards);
2. the schemas registered; the warehouse migrated by the ``warehouse_migrations`` DAG;
3. the streaming sinks started under Airflow's supervision (``streaming_supervisor``);
   ``data_quality`` and ``warehouse_backup`` unpaused, and run once as soon as data landed;
4. the fleet simulator pushing a fleet's data through NGINX until Ctrl-C.

``bin/platform fault stop-sink [JOB]`` and ``bin/platform fault bad-data`` break something
on purpose, to watch the supervisor restart it and the alerts arrive.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime

import requests

from runtime.settings import warehouse_dsn
from stack import envfile
from stack.config import REPO_ROOT
from stack.orchestrator import LocalStack
from stack.process import PidRecord, StackError, stop, wait_until

#: The pid file name of a detached simulator (``bin/platform --detach``).
SIMULATOR = "simulator"
UNPAUSED = ("streaming_supervisor", "data_quality", "warehouse_backup")


class AirflowApi:
    """The few calls of Airflow's REST API the runner needs."""

    def __init__(self, env: dict[str, str]) -> None:
        self.url = env["HOVER_AIRFLOW_URL"]
        self.session = requests.Session()
        token = self.session.post(f"{self.url}/auth/token", json={
            "username": env["HOVER_AIRFLOW_USER"], "password": env["HOVER_AIRFLOW_PASSWORD"]},
            timeout=30)
        token.raise_for_status()
        self.session.headers["Authorization"] = f"Bearer {token.json()['access_token']}"

    def dag_ids(self) -> set[str]:
        body = self.session.get(f"{self.url}/api/v2/dags", params={"limit": 100}, timeout=30)
        return {d["dag_id"] for d in body.json().get("dags", [])}

    def unpause(self, dag_id: str) -> None:
        self.session.patch(f"{self.url}/api/v2/dags/{dag_id}", json={"is_paused": False},
                           timeout=30).raise_for_status()

    def trigger(self, dag_id: str, conf: dict | None = None, *,
                logical_date: datetime | None = None) -> str:
        """A manual run; with ``logical_date`` it gets a data interval (the backup of the
        day before needs one), without it none."""
        when = logical_date.isoformat() if logical_date else None
        response = self.session.post(f"{self.url}/api/v2/dags/{dag_id}/dagRuns", json={
            "logical_date": when, "conf": conf or {}}, timeout=30)
        response.raise_for_status()
        return response.json()["dag_run_id"]

    def state(self, dag_id: str, run_id: str) -> str:
        """The run's state; "unknown" when the API did not answer (a busy machine, or the
        metadata database restarting): callers poll, and ask again."""
        try:
            return self.session.get(f"{self.url}/api/v2/dags/{dag_id}/dagRuns/{run_id}",
                                    timeout=30).json()["state"]
        except (requests.RequestException, ValueError, KeyError):
            return "unknown"

    def run_and_wait(self, dag_id: str, timeout: float = 600) -> str:
        self.unpause(dag_id)
        run_id = self.trigger(dag_id)
        wait_until(lambda: self.state(dag_id, run_id) in ("success", "failed"), timeout, 2)
        return self.state(dag_id, run_id)


def _say(text: str) -> None:
    print(f"[platform] {text}", flush=True)


def _warehouse_rows(env: dict[str, str]) -> int:
    import psycopg

    try:
        with psycopg.connect(warehouse_dsn(env), connect_timeout=5) as conn:
            return conn.execute("SELECT count(*) FROM fleet.hoverboard").fetchone()[0]
    except psycopg.Error:
        return 0


def start_platform(stack: LocalStack, say=_say, echo=print) -> tuple[dict[str, str], AirflowApi]:
    """Steps 1-3: the stack up, schemas registered, warehouse migrated, sinks starting under
    ``streaming_supervisor``. Returns the stack's environment and an Airflow API client."""
    say("starting the local stack")
    stack.up(echo=echo)
    env = envfile.load(stack.config.env_file)
    os.environ.update(env)

    from schemas.registry import SchemaRegistryClient, register_all

    registered = register_all(SchemaRegistryClient(env["HOVER_SCHEMA_REGISTRY_URL"]))
    say(f"schemas registered: {', '.join(sorted({v.subject for v, _ in registered}))}")

    airflow = AirflowApi(env)
    say("waiting for Airflow to parse the platform's DAGs")
    wanted = {p.stem for p in (REPO_ROOT / "dags").glob("*.py")}
    if not wait_until(lambda: wanted <= airflow.dag_ids(), 300, 2):
        raise StackError(f"Airflow did not load {sorted(wanted - airflow.dag_ids())}; "
                         f"see {stack.config.log_file('airflow_dag_processor')}")
    state = airflow.run_and_wait("warehouse_migrations")
    if state != "success":
        raise StackError("warehouse_migrations failed; see its task log in the Airflow UI")
    say("warehouse migrated (warehouse_migrations: success)")
    for dag_id in UNPAUSED:
        airflow.unpause(dag_id)
    airflow.trigger("streaming_supervisor")
    say("streaming sinks starting under streaming_supervisor")
    return env, airflow


def up(args: argparse.Namespace) -> int:
    stack = LocalStack()
    env, airflow = start_platform(stack)

    simulator = subprocess.Popen(
        [sys.executable, "-m", "simulator", "--url", env["HOVER_INGEST_URL"],
         "--boards", str(args.boards), "--customers", str(args.customers),
         "--speedup", str(args.speedup), "--invalid-share", "0.01", "--faulty-share", "0.05",
         "--progress-interval", "30"],
        cwd=REPO_ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    _print_where(stack, env)
    if wait_until(lambda: _warehouse_rows(env) > 0 or simulator.poll() is not None, 300, 5):
        _say(f"rows are landing in the warehouse ({_warehouse_rows(env)} telemetry rows)")
        airflow.trigger("data_quality")
        airflow.trigger("warehouse_backup", logical_date=datetime.now(UTC))
        _say("data_quality and warehouse_backup triggered once now (then hourly / daily)")
    if args.detach:
        record = PidRecord.of(simulator.pid)
        if record is not None:  # bin/stack down stops it
            record.write(stack.config.pid_file(SIMULATOR))
        _say(f"detached: the simulator keeps running (pid {simulator.pid}); "
             "stop everything with bin/stack down")
        return 0
    _say("running; Ctrl-C stops the simulator, the sinks and the stack")
    try:
        simulator.wait()
    except KeyboardInterrupt:
        pass
    finally:
        _shutdown(stack, simulator)
    return 0


def _shutdown(stack: LocalStack, simulator: subprocess.Popen) -> None:
    if simulator.poll() is None:
        simulator.send_signal(signal.SIGINT)
        try:
            simulator.wait(30)
        except subprocess.TimeoutExpired:
            simulator.kill()
    stop_platform(stack)
    stack.down(echo=print)


def stop_platform(stack: LocalStack, say=_say) -> None:
    """Stop what the platform started beside the stack's services: a detached simulator
    and the streaming jobs the supervisor runs on this machine (before their Kafka and
    warehouse go away, which would only make them fail)."""
    record = PidRecord.read(stack.config.pid_file(SIMULATOR))
    if record is not None and stop(record, sig=signal.SIGINT, timeout=30):
        say(f"stopped the simulator (pid {record.pid})")
    stack.config.pid_file(SIMULATOR).unlink(missing_ok=True)
    if not stack.config.env_file.exists():
        return  # never started: no job can run
    from hoverboard.streaming.launcher import LocalProcessLauncher
    from hoverboard.streaming.registry import discover_jobs

    os.environ.update(envfile.load(stack.config.env_file))  # the jobs' configs name it
    launcher = LocalProcessLauncher()
    stopped = [job.name for job in discover_jobs().values() if launcher.stop(job) is not None]
    for name in stopped:
        say(f"stopped streaming job {name}")
    if stopped:
        _record_stops(stopped, say)


def _record_stops(jobs: list[str], say) -> None:
    """Tell the supervisor the jobs were stopped on purpose: a start ended before its first
    batch would otherwise count towards a crash loop, and after a few quick
    ``bin/platform`` / ``bin/stack down`` cycles it would hold the job back."""
    import psycopg
    from hoverboard.streaming.state import StreamState

    state = StreamState(lambda: psycopg.connect(warehouse_dsn(os.environ), connect_timeout=5),
                        "postgres")
    try:
        for name in jobs:
            state.record(name, "stopped", at=datetime.now(UTC), reason="platform stopped")
    except Exception as exc:  # noqa: BLE001 - the stack's stop goes on whatever this meets
        say(f"the stops are not recorded in the warehouse ({type(exc).__name__}); the "
            "supervisor may count them as failed starts")
    finally:
        state.close()


def _print_where(stack: LocalStack, env: dict[str, str]) -> None:
    env_file = stack.config.env_file
    print(f"""
Where everything is (every address and credential: {env_file})
  Airflow UI          {env['HOVER_AIRFLOW_URL']}   user {env['HOVER_AIRFLOW_USER']}, password: \
grep HOVER_AIRFLOW_PASSWORD {env_file}
  Ingest API (NGINX)  {env['HOVER_INGEST_URL']}/ingest/<hoverboard|customer|trip>   \
key: $HOVER_INGEST_API_KEYS
  Superset            {env['HOVER_SUPERSET_URL']}   user {env['HOVER_SUPERSET_USER']}, password: \
grep HOVER_SUPERSET_PASSWORD {env_file}   (dashboards: Fleet operations, Trips and customers)
  Warehouse           set -a; . {env_file}; set +a; psql "$(.venv/bin/python -m runtime.settings)"
  Alerts              bin/alerts --since now-1h    (Elasticsearch {env['HOVER_ELASTICSEARCH_URL']})
  Customer web app    {env['HOVER_CUSTOMER_WEB_URL']}/sign-in   sign in as a simulated customer: \
take an email from
                      psql "$(.venv/bin/python -m runtime.settings)" \\
                        -c "SELECT email FROM fleet.customer LIMIT 5"
                      the sign-in link arrives in the caught mail: ls -t {env['HOVER_MAILDIR']}/new
  Schema registry     {env['HOVER_SCHEMA_REGISTRY_URL']}/subjects
  S3 store            {env['HOVER_S3_ENDPOINT']} bucket {env['HOVER_BACKUP_BUCKET']}
  Services            bin/stack status | bin/stack logs <service> | bin/stack stats
  Break something     bin/platform fault stop-sink hoverboard_sink | bin/platform fault bad-data
""", flush=True)


def fault(args: argparse.Namespace) -> int:
    stack = LocalStack()
    env = envfile.load(stack.config.env_file)
    os.environ.update(env)
    if args.kind == "stop-sink":
        from hoverboard.streaming.launcher import LocalProcessLauncher
        from hoverboard.streaming.registry import find_job

        name = args.target or "hoverboard_sink"
        handle = LocalProcessLauncher().running(find_job(name))
        if handle is None or handle.pid is None:
            raise StackError(f"{name} is not running (streaming_supervisor starts it)")
        os.killpg(handle.pid, signal.SIGKILL)  # a crash, not a clean stop
        _say(f"killed {name} (pid {handle.pid}); the next streaming_supervisor run "
             "restarts it and raises an alert (bin/alerts)")
        return 0
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": env["HOVER_KAFKA_BOOTSTRAP"]})
    bad = [b"{not json", json.dumps({"id": 1, "charge": 900}).encode()]
    for value in bad:  # straight to Kafka, as another producer could: the API would refuse
        producer.produce("hoverboard", key=b"1", value=value)
    producer.flush(30)
    _say(f"wrote {len(bad)} invalid records to the hoverboard topic: expect rows in "
         "platform.dead_letters and a dead_letters alert (bin/alerts)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bin/platform", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("up", help="start everything and run the main job (the default)")
    run.add_argument("--boards", type=int, default=50)
    run.add_argument("--customers", type=int, default=20)
    run.add_argument("--speedup", type=float, default=5.0)
    run.add_argument("--detach", action="store_true", help="return once everything runs")
    broken = sub.add_parser("fault", help="inject a fault on purpose")
    broken.add_argument("kind", choices=["stop-sink", "bad-data"])
    broken.add_argument("target", nargs="?", help="stop-sink: the job (default hoverboard_sink)")
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0].startswith("-"):
        argv = ["up", *argv]  # "up" is the default command
    args = parser.parse_args(argv)
    try:
        return fault(args) if args.command == "fault" else up(args)
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
