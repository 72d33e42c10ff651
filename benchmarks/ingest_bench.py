"""Benchmarks of the ingest API, each against a baseline measured in the same run.

    .venv/bin/python -m benchmarks.ingest_bench [--quick] [--only batch,single,rate,...]

Reads the running local stack's configuration (``bin/stack env``), creates scratch Kafka
topics, starts its own gunicorn servers (the ingest API on scratch copies of the message
files, and ``benchmarks.bare_app``) on free ports, and stops and deletes all of it at the
end. Prints one JSON object per measurement on stdout (progress goes to stderr):

- ``batch_ingest``: events/s the API accepts and acknowledges (POSTed JSON arrays, several
  clients) / events/s of a raw confluent-kafka producer with KafkaSink's settings sending
  the same keys and values. Goal >= 0.5.
- ``single_event``: closed-loop requests/s and latency, one event per request, at fixed
  concurrency / the bare Flask endpoint under the same gunicorn configuration. Goal >= 0.5.
- ``fixed_rate``: open loop at half the API's single-event capacity measured earlier in the
  same run (measured first when ``single`` is not run), latency measured from each
  request's scheduled send time (so queueing is not hidden by coordinated omission). A
  fixed number of requests/s would be a different load on each day's machine (the same
  machine type served the bare endpoint at 7,470 req/s one day and 3,081 another). Goal
  p99 <= 20 ms.
- ``validation``: microseconds per event, jsonschema (reference) and the hot path
  (``EventValidator.errors``, jsonschema-rs) per message type, and the cost of explaining
  an invalid event; ``service_path``: the API's per-record CPU without HTTP and Kafka;
  ``gc_pause``: a full garbage collection in a process holding the app, with and without
  the ``gc.freeze()`` that gunicorn.conf.py applies to each worker.
- ``memory``: resident memory per gunicorn worker after the load.
- ``tuning``: the single-event figures per gunicorn worker class (HOVER_INGEST_WORKER_CLASS)
  and number of workers (and threads, for gthread).

Every figure is the median of several runs (the machine is shared and small); ``runs``
holds each run. The load generator shares the machine's cores with the servers and the
broker: each line reports the CPU (in cores) of the servers, the broker, the generator and
the whole machine during the runs. Closed-loop HTTP load comes from ``wrk`` when it is
installed (C, cheap), else from the Python generator here; open-loop load always comes
from the Python generator (wrk cannot schedule at a fixed rate). Every line names its
generator (``wrk 4.1.0`` or the Python one) and the machine (cores, CPU model, memory,
kernel): ``bin/setup`` installs Debian's wrk, so two machines set up alike measure alike.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import timeit
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import orjson
import psutil
import requests
from confluent_kafka import Producer

from benchmarks.common import (
    IN_PROCESS,
    PYTHON_HTTP,
    PYTHON_PRODUCER,
    api_keys,
    emit,
    interrupt_as_keyboard,
    make_log,
    median,
    percentile,
    r,
    run_load,
    running_stack,
    wrk_generator,
)
from ingest_api.config import load_message_configs
from ingest_api.service import MessageType, ingest_records
from ingest_api.sinks import Delivery
from schemas import latest
from schemas.keys import JAVA_COMPATIBLE_PARTITIONER, key_bytes
from schemas.registry import ResolvedSchema
from schemas.validation import EventValidator
from tests.support import sample, scratch_topic

REPO = Path(__file__).resolve().parent.parent
GUNICORN_CONF = REPO / "ingest_api" / "gunicorn.conf.py"
MESSAGE_TYPES = ("hoverboard", "customer", "trip")
BATCH_PATH = SINGLE_PATH = "/ingest/hoverboard"

#: Goals, from what the last round measured on two shared cores: single events >= 0.5 of
#: the bare endpoint (the README's CPU budget shows 0.7 cannot fit while the broker shares
#: the cores), batches >= 0.5 of the raw producer, and p99 <= 20 ms in the open loop at
#: RATE_SHARE of the single-event capacity measured in the same run.
SINGLE_GOAL = 0.5
BATCH_GOAL = 0.5
RATE_P99_GOAL_MS = 20.0
RATE_SHARE = 0.5


def fixed_rate(capacity_rps: float, share: float = RATE_SHARE) -> int:
    """The open-loop rate (requests/s) for a single-event capacity measured in the same run:
    the same share of each day's machine, where a fixed figure would not be."""
    if not capacity_rps > 0:
        raise ValueError(f"no single-event capacity to take a share of ({capacity_rps} req/s):"
                         " did every request of the closed-loop run fail?")
    return max(1, round(capacity_rps * share))


@dataclass(frozen=True)
class Settings:
    runs: int  # repetitions of the batch and single-event measurements (medians reported)
    rate_runs: int
    batch_s: float
    batch_size: int
    batch_clients: int
    single_s: float
    connections: int
    rate_s: float
    warmup_s: float
    validation_number: int
    tuning: tuple[ServerConfig, ...]
    tuning_runs: int
    tuning_single_s: float
    tuning_rate_s: float


class ServerConfig(NamedTuple):
    """A gunicorn configuration under test; threads only matter to gthread workers."""

    worker_class: str
    workers: int
    threads: int = 1

    @property
    def tag(self) -> str:
        threads = f"t{self.threads}" if self.worker_class == "gthread" else ""
        return f"{self.worker_class}-w{self.workers}{threads}"


FULL = Settings(runs=5, rate_runs=3, batch_s=10, batch_size=500, batch_clients=8, single_s=10,
                connections=64, rate_s=20, warmup_s=3, validation_number=10000,
                tuning=tuple(ServerConfig("gevent", w) for w in (1, 2, 3))
                + tuple(ServerConfig("gthread", w, t) for w, t in ((1, 32), (2, 32), (2, 64))),
                tuning_runs=3,
                tuning_single_s=5, tuning_rate_s=8)
QUICK = Settings(runs=1, rate_runs=1, batch_s=4, batch_size=500, batch_clients=8, single_s=4,
                 connections=64, rate_s=5, warmup_s=1, validation_number=3000,
                 tuning=(ServerConfig("gevent", 1), ServerConfig("gevent", 2),
                         ServerConfig("gthread", 2, 32)), tuning_runs=1,
                 tuning_single_s=3,
                 tuning_rate_s=3)


log = make_log("ingest_bench")


# ---------------------------------------------------------------------------------------
# Stack, topics, servers
# ---------------------------------------------------------------------------------------

@dataclass
class Stack:
    env: dict[str, str]
    bootstrap: str
    n_part: int
    api_key: str
    kafka_pid: int | None

    @classmethod
    def load(cls) -> Stack:
        config, env = running_stack()
        keys = api_keys(env)
        if not keys:
            raise SystemExit(f"no HOVER_INGEST_API_KEYS in {config.env_file}")
        kafka_pid = None
        pid_file = config.run_dir / "kafka.pid"
        if pid_file.exists():
            try:
                kafka_pid = int(pid_file.read_text().split()[0])
                psutil.Process(kafka_pid)
            except (ValueError, IndexError, psutil.Error):
                kafka_pid = None
        return cls(env, env["HOVER_KAFKA_BOOTSTRAP"], int(env.get("HOVER_N_PART", 6)), keys[0],
                   kafka_pid)


class ScratchTopics:
    """One scratch topic per message type, same partition count as the stack's topics."""

    def __init__(self, stack: Stack, run_id: str) -> None:
        self.stack = stack
        self.run_id = run_id
        self.names: dict[str, str] = {}
        self.exits = ExitStack()

    def create(self) -> None:
        for t in MESSAGE_TYPES:
            self.names[t] = self.exits.enter_context(scratch_topic(
                self.stack.bootstrap, f"bench-{self.run_id}-{t}", self.stack.n_part))

    def delete(self) -> None:
        try:
            self.exits.close()
            log(f"deleted scratch topics {', '.join(self.names.values())}")
        except Exception as exc:  # noqa: BLE001 - report and go on cleaning up
            log(f"could not delete scratch topics {list(self.names.values())}: {exc}")

    def write_message_conf(self, folder: Path) -> str:
        """Message files serving every declared type into the scratch topics."""
        folder.mkdir(parents=True, exist_ok=True)
        for name in load_message_configs():
            (folder / f"{name}.conf").write_text(f"[{name}]\ntopic = {self.names[name]}\n")
        return str(folder / "*.conf")


def free_port(preferred: int) -> int:
    for port in [preferred, *range(preferred + 1, preferred + 200)]:
        if 18000 <= port <= 18100 or 19000 <= port <= 19300 or port == 15432:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise RuntimeError(f"no free port near {preferred}")


class Gunicorn:
    """A gunicorn master started by this benchmark with ingest_api/gunicorn.conf.py."""

    def __init__(self, label: str, app: str, port: int, env: dict[str, str], workdir: Path,
                 ready_path: str, config: ServerConfig | None = None):
        self.label, self.app, self.port, self.ready_path = label, app, port, ready_path
        self.env = dict(env)
        self.env.pop("GUNICORN_CMD_ARGS", None)
        self.env["HOVER_INGEST_BIND"] = f"127.0.0.1:{port}"
        self.env["HOVER_INGEST_NAME"] = f"bench-{label}"
        if config is not None:
            self.env["HOVER_INGEST_WORKER_CLASS"] = config.worker_class
            self.env["HOVER_INGEST_WORKERS"] = str(config.workers)
            self.env["HOVER_INGEST_THREADS"] = str(config.threads)
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None
        self.worker_procs: list[psutil.Process] = []

    @property
    def expected_workers(self) -> int:
        return int(self.env.get("HOVER_INGEST_WORKERS") or _conf_default("workers"))

    @property
    def threads(self) -> int:
        return int(self.env.get("HOVER_INGEST_THREADS") or _conf_default("threads"))

    @property
    def worker_class(self) -> str:
        return self.env.get("HOVER_INGEST_WORKER_CLASS") or _conf_default("worker_class")

    def params(self) -> dict:
        params = {"worker_class": self.worker_class, "workers": self.expected_workers}
        if self.worker_class == "gthread":
            params["threads"] = self.threads
        return params

    def start(self, timeout: float = 90) -> Gunicorn:
        prom = Path(tempfile.mkdtemp(prefix=f"prom-{self.label}-", dir=self.workdir))
        self.env["PROMETHEUS_MULTIPROC_DIR"] = str(prom)
        self.log_path = self.workdir / f"{self.label}-{self.port}.log"
        gunicorn = Path(sys.executable).parent / "gunicorn"
        with open(self.log_path, "ab") as log_file:
            self.proc = subprocess.Popen(
                [str(gunicorn), "-c", str(GUNICORN_CONF), self.app], cwd=REPO, env=self.env,
                stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{self.port}{self.ready_path}"
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.label} exited {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if requests.get(url, timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.label} not ready after {timeout} s:\n{self.log_tail()}")
            time.sleep(0.2)
        while len(self.workers()) < self.expected_workers and time.monotonic() < deadline:
            time.sleep(0.1)
        log(f"{self.label} up on :{self.port}, {self.params()}")
        return self

    def workers(self) -> list[psutil.Process]:
        try:
            found = psutil.Process(self.proc.pid).children()
        except psutil.Error:
            return []
        known = {p.pid for p in self.worker_procs}
        self.worker_procs += [p for p in found if p.pid not in known]
        return found

    def processes(self) -> list[psutil.Process]:
        return [psutil.Process(self.proc.pid), *self.workers()]

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.workers()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=25)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        for worker in self.worker_procs:  # only the workers this master forked
            try:
                if worker.is_running() and worker.ppid() in (self.proc.pid, 1):
                    worker.kill()
            except psutil.Error:
                pass
        log(f"{self.label} stopped")


SERVER_VARS = ("HOVER_INGEST_WORKER_CLASS", "HOVER_INGEST_WORKERS", "HOVER_INGEST_THREADS")


def _conf_default(name: str) -> str:
    """A setting of ingest_api/gunicorn.conf.py when the environment does not say."""
    namespace: dict = {}
    saved = {k: os.environ.pop(k) for k in SERVER_VARS if k in os.environ}
    had_prom = "PROMETHEUS_MULTIPROC_DIR" in os.environ
    try:
        with tempfile.TemporaryDirectory() as tmp:
            os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tmp)
            exec(compile(GUNICORN_CONF.read_text(), str(GUNICORN_CONF), "exec"), namespace)
    finally:
        os.environ.update(saved)
        if not had_prom:
            os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return str(namespace[name])


# ---------------------------------------------------------------------------------------
# CPU accounting
# ---------------------------------------------------------------------------------------

class CpuMeter:
    """CPU used during a run, in cores (1.0 = one core busy), by named groups of processes
    and by the whole machine (other engineers' work included)."""

    def __init__(self, groups: dict[str, list[psutil.Process]],
                 each: list[psutil.Process] = ()) -> None:
        self.groups = groups
        self.each = list(each)  # processes also reported one by one (gunicorn workers)

    @staticmethod
    def _cpu(procs: list[psutil.Process]) -> float:
        total = 0.0
        for p in procs:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.Error:
                pass
        return total

    def __enter__(self) -> CpuMeter:
        self.start = {name: self._cpu(procs) for name, procs in self.groups.items()}
        self.each0 = [self._cpu([p]) for p in self.each]
        self.machine0 = psutil.cpu_times()
        self.self0 = resource.getrusage(resource.RUSAGE_SELF)
        self.wall0 = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.wall = time.perf_counter() - self.wall0
        self.cores = {name: (self._cpu(procs) - self.start[name]) / self.wall
                      for name, procs in self.groups.items()}
        self.each_cores = sorted(((self._cpu([p]) - c0) / self.wall
                                  for p, c0 in zip(self.each, self.each0, strict=True)),
                                 reverse=True)
        m0, m1 = self.machine0, psutil.cpu_times()
        busy = lambda t: sum(t) - t.idle - getattr(t, "iowait", 0.0)  # noqa: E731
        self.cores["machine"] = (busy(m1) - busy(m0)) / self.wall
        s1 = resource.getrusage(resource.RUSAGE_SELF)
        self.self_cores = ((s1.ru_utime - self.self0.ru_utime)
                           + (s1.ru_stime - self.self0.ru_stime)) / self.wall


    def sample(self, generator: float, units: float) -> dict:
        """This run's CPU: cores per group, and microseconds per unit of work (request or
        event) per group (for the raw-producer baseline, the producer is the generator)."""
        cores = {**self.cores, "generator": generator}
        cores["others"] = max(0.0, cores["machine"] - generator
                              - sum(v for k, v in self.cores.items() if k != "machine"))
        rate = units / self.wall
        work = [k for k in self.cores if k != "machine"] + ["generator"]
        per_unit = {k: cores[k] / rate * 1e6 for k in work} if rate else {}
        return {"cores": cores, "us_per_unit": per_unit, "per_worker": self.each_cores}


def cpu_summary(samples: list[dict]) -> dict:
    """Medians over runs; ``others`` is the rest of the machine (other users' work)."""
    out = {"cores": {k: r(median(x["cores"][k] for x in samples)) for k in samples[0]["cores"]},
           "us_per_unit": {k: r(median(x["us_per_unit"][k] for x in samples), 1)
                           for k in samples[0]["us_per_unit"]}}
    if any(x["per_worker"] for x in samples):
        out["per_worker_cores_runs"] = [[r(c) for c in x["per_worker"]] for x in samples]
        # gthread workers keep the connections they accepted: one can end up with all of them
        out["runs_with_an_idle_worker"] = sum(
            1 for x in samples if len(x["per_worker"]) > 1 and sum(x["per_worker"]) >= 0.3
            and min(x["per_worker"]) < 0.05)
    return out


# ---------------------------------------------------------------------------------------
# Events and requests
# ---------------------------------------------------------------------------------------

def hoverboard_events(count: int, seed: int = 0) -> list[dict]:
    """Distinct valid telemetry events: many boards (so keys spread over partitions)."""
    events = []
    for i in range(count):
        n = seed * count + i
        events.append(sample(
            "hoverboard", id=1 + n % 50_000,
            event_time=f"2026-11-27T{(n // 3600) % 24:02d}:{(n // 60) % 60:02d}:{n % 60:02d}Z",
            speed=round((n * 7) % 800 / 10, 1), charge=round((n * 13) % 1000 / 10, 1),
            temperature=round(15 + (n % 200) / 10, 1)))
    return events


def http_request(port: int, path: str, body: bytes, api_key: str) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nX-API-Key: {api_key}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


class HttpConn:
    """A keep-alive HTTP/1.1 connection speaking just enough of the protocol: precomputed
    requests, responses framed by Content-Length. Cheap, so the generator steals little CPU."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self) -> HttpConn:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        return self

    async def send(self, raw: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            await self.connect()
        try:
            self.writer.write(raw)
            head = await self.reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            lower = head.lower()
            at = lower.find(b"\r\ncontent-length:")
            if at < 0:
                raise ConnectionError("response without Content-Length")
            length = int(lower[at + 17:lower.find(b"\r\n", at + 2)])
            body = await self.reader.readexactly(length)
            if b"\r\nconnection: close" in lower:
                self.close()
            return status, body
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            self.close()
            raise

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def _open_all(port: int, n: int) -> list[HttpConn]:
    return list(await asyncio.gather(*(HttpConn(port).connect() for _ in range(n))))


@dataclass
class LoadResult:
    requests: int
    errors: int
    elapsed: float
    latencies_s: list[float]  # sorted
    generator_cores: float
    lag_s: list[float] | None = None  # open loop: scheduled -> actually written, sorted
    statuses: dict[int, int] | None = None

    @property
    def rps(self) -> float:
        return self.requests / self.elapsed

    def ms(self, p: float) -> float:
        return percentile(self.latencies_s, p) * 1000


async def _closed_loop(port: int, reqs: list[bytes], connections: int, duration: float,
                       ok_status: int) -> LoadResult:
    conns = await _open_all(port, connections)
    latencies: list[float] = []
    errors = 0
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    deadline = start + duration

    async def client(i: int, conn: HttpConn) -> None:
        nonlocal errors
        j = i
        while time.perf_counter() < deadline:
            t = time.perf_counter()
            try:
                status, _ = await conn.send(reqs[j % len(reqs)])
            except (ConnectionError, asyncio.IncompleteReadError, ValueError):
                errors += 1
                continue
            latencies.append(time.perf_counter() - t)
            if status != ok_status:
                errors += 1
            j += connections

    await asyncio.gather(*(client(i, c) for i, c in enumerate(conns)))
    elapsed = time.perf_counter() - start
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    for c in conns:
        c.close()
    cpu = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
    latencies.sort()
    return LoadResult(len(latencies), errors, elapsed, latencies, cpu / elapsed)


def closed_loop_python(port: int, reqs: list[bytes], connections: int, duration: float,
                       ok_status: int) -> LoadResult:
    return run_load(_closed_loop(port, reqs, connections, duration, ok_status))


WRK_SCRIPT = r"""
local bodies = { %(bodies)s }
local reqs = {}
local n = 0
init = function(args)
  for i, body in ipairs(bodies) do
    reqs[i] = wrk.format("POST", "%(path)s", {["Content-Type"] = "application/json",
                                              ["X-API-Key"] = [==[%(key)s]==]}, body)
  end
end
request = function()
  n = n %% #reqs + 1
  return reqs[n]
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%%d,"duration_us":%%d,"connect":%%d,"read":%%d,"write":%%d,' ..
    '"status":%%d,"timeout":%%d,"p50_us":%%d,"p99_us":%%d,"max_us":%%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
"""


def write_wrk_script(folder: Path, bodies: list[bytes], path: str, api_key: str) -> Path:
    script = folder / f"wrk-{uuid.uuid4().hex[:8]}.lua"
    lua_bodies = ",\n".join(f"[==[{b.decode()}]==]" for b in bodies)
    script.write_text(WRK_SCRIPT % {"bodies": lua_bodies, "path": path, "key": api_key})
    script.chmod(0o600)
    return script


def closed_loop_wrk(port: int, script: Path, connections: int, duration: float,
                    threads: int = 1) -> LoadResult:
    """wrk's own latency percentiles; its CPU from the kernel's accounting of the child."""
    proc = subprocess.Popen(
        ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(duration))}s",
         "--timeout", "10s", "-s", str(script), f"http://127.0.0.1:{port}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    out = proc.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    line = next((ln for ln in out.splitlines() if ln.startswith("WRKJSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}):\n{out}")
    w = orjson.loads(line[8:])
    elapsed = w["duration_us"] / 1e6
    errors = w["connect"] + w["read"] + w["write"] + w["status"] + w["timeout"]
    result = LoadResult(w["requests"], errors, elapsed, [], (usage.ru_utime + usage.ru_stime)
                        / elapsed)
    result.wrk = w  # type: ignore[attr-defined]
    return result


def wrk_ms(result: LoadResult, p: int) -> float:
    wrk = getattr(result, "wrk", None)
    if wrk is not None:
        return wrk[f"p{p}_us"] / 1000
    return result.ms(p)


async def _open_loop(port: int, reqs: list[bytes], rate: float, duration: float,
                     connections: int) -> LoadResult:
    pool: asyncio.Queue[HttpConn] = asyncio.Queue()
    for conn in await _open_all(port, connections):
        pool.put_nowait(conn)
    total = int(rate * duration)
    interval = 1.0 / rate
    latencies: list[float] = []
    lags: list[float] = []
    statuses: dict[int, int] = {}
    errors = 0

    async def one(i: int, scheduled: float) -> None:
        nonlocal errors
        conn = await pool.get()
        try:
            status, _ = await conn.send(reqs[i % len(reqs)])
            statuses[status] = statuses.get(status, 0) + 1
            if status >= 300:
                errors += 1
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            errors += 1
        finally:
            pool.put_nowait(conn)
        # From the time the request should have been sent: waiting for a free connection
        # and the generator's own delay count as latency, as they would for a sensor.
        latencies.append(time.perf_counter() - scheduled)

    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter() + 0.05
    tasks = []
    for i in range(total):
        scheduled = start + i * interval
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        lags.append(time.perf_counter() - scheduled)
        tasks.append(asyncio.create_task(one(i, scheduled)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    while not pool.empty():
        pool.get_nowait().close()
    cpu = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
    latencies.sort()
    lags.sort()
    return LoadResult(len(latencies), errors, elapsed, latencies, cpu / elapsed, lags, statuses)


def open_loop(port: int, reqs: list[bytes], rate: float, duration: float,
              connections: int) -> LoadResult:
    return run_load(_open_loop(port, reqs, rate, duration, connections))


async def _batch_load(port: int, reqs: list[bytes], clients: int, duration: float
                      ) -> tuple[int, int, int, float, list[float]]:
    conns = await _open_all(port, clients)
    accepted = requests_done = errors = 0
    latencies: list[float] = []
    start = time.perf_counter()
    deadline = start + duration

    async def client(i: int, conn: HttpConn) -> None:
        nonlocal accepted, requests_done, errors
        j = i
        while time.perf_counter() < deadline:
            t = time.perf_counter()
            try:
                status, body = await conn.send(reqs[j % len(reqs)])
            except (ConnectionError, asyncio.IncompleteReadError, ValueError):
                errors += 1
                continue
            latencies.append(time.perf_counter() - t)
            requests_done += 1
            if status == 200:
                result = orjson.loads(body)
                accepted += result["accepted"]
                errors += result["rejected"] + result["failed"]
            else:
                errors += 1
            j += clients

    await asyncio.gather(*(client(i, c) for i, c in enumerate(conns)))
    elapsed = time.perf_counter() - start
    for c in conns:
        c.close()
    latencies.sort()
    return accepted, requests_done, errors, elapsed, latencies


# ---------------------------------------------------------------------------------------
# Measurements
# ---------------------------------------------------------------------------------------

def producer_config(bootstrap: str) -> dict:
    """KafkaSink's producer settings (ingest_api/sinks.py), without its logger hooks."""
    return {
        "bootstrap.servers": bootstrap,
        "acks": "all",
        "enable.idempotence": True,
        "partitioner": JAVA_COMPATIBLE_PARTITIONER,
        "message.timeout.ms": 5000,
        "linger.ms": 5,
        "compression.type": "lz4",
    }


def raw_producer_run(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]],
                     headers: list[tuple[str, bytes]], duration: float) -> dict:
    """Events/s a raw producer gets acknowledged: produce for ``duration``, then flush."""
    producer = Producer(producer_config(bootstrap))
    done = [0, 0]

    def on_delivery(err, _msg) -> None:
        done[1 if err is not None else 0] += 1

    for key, value in records[:1000]:  # metadata, producer id, connections
        producer.produce(topic, value=value, key=key, headers=headers)
    producer.flush(30)
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    deadline = start + duration
    produced = 0
    n = len(records)
    while time.perf_counter() < deadline:
        for _ in range(500):
            key, value = records[produced % n]
            while True:
                try:
                    producer.produce(topic, value=value, key=key, headers=headers,
                                     on_delivery=on_delivery)
                    break
                except BufferError:
                    producer.poll(0.005)
            produced += 1
        producer.poll(0)
    left = producer.flush(30)
    elapsed = time.perf_counter() - start
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
    return {"events_per_s": done[0] / elapsed, "acked": done[0], "failed": done[1] + left,
            "elapsed_s": elapsed, "producer_cores": cpu / elapsed}


def bench_batch(ctx: Context) -> None:
    s = ctx.settings
    log(f"batch ingest: {s.batch_clients} clients x {s.batch_size}-event arrays vs raw producer")
    events = hoverboard_events(s.batch_size * 16)
    chunks = [events[i:i + s.batch_size] for i in range(0, len(events), s.batch_size)]
    reqs = [http_request(ctx.api.port, BATCH_PATH, orjson.dumps(c), ctx.stack.api_key)
            for c in chunks]
    key_fields = ctx.message_key_fields["hoverboard"]
    records = [(key_bytes(e, key_fields), orjson.dumps(e)) for e in events]
    subject = latest("hoverboard").subject
    headers = [("hover-received-at", str(time.time_ns() // 10**6).encode()),
               ("hover-schema-subject", subject.encode()),
               ("hover-schema-version", str(latest("hoverboard").version).encode()),
               ("hover-request-id", uuid.uuid4().hex.encode())]
    topic = ctx.topics.names["hoverboard"]
    run_load(_batch_load(ctx.api.port, reqs, s.batch_clients, s.warmup_s))  # warm-up

    api_runs, raw_runs, api_cpu, raw_cpu, api_p50, api_p99, errors = [], [], [], [], [], [], 0
    for run in range(s.runs):
        with CpuMeter({"broker": ctx.broker}) as meter:
            raw = raw_producer_run(ctx.stack.bootstrap, topic, records, headers, s.batch_s)
        raw_runs.append(raw["events_per_s"])
        raw_cpu.append(meter.sample(meter.self_cores, raw["acked"]))
        errors += raw["failed"]
        with CpuMeter(ctx.groups(ctx.api), ctx.api.workers()) as meter:
            accepted, n_req, errs, elapsed, lat = run_load(
                _batch_load(ctx.api.port, reqs, s.batch_clients, s.batch_s))
        api_runs.append(accepted / elapsed)
        api_cpu.append(meter.sample(meter.self_cores, accepted))
        api_p50.append(percentile(lat, 50) * 1000)
        api_p99.append(percentile(lat, 99) * 1000)
        errors += errs
        log(f"  run {run + 1}: api {accepted / elapsed:,.0f} ev/s ({n_req} requests), "
            f"raw producer {raw['events_per_s']:,.0f} ev/s")
    value, baseline = median(api_runs), median(raw_runs)
    emit({"bench": "batch_ingest", "unit": "events/s", "value": r(value, 0),
          "baseline": r(baseline, 0),
          "baseline_name": "raw confluent-kafka producer, KafkaSink settings, same records",
          "ratio": r(value / baseline, 3), "goal": f">= {BATCH_GOAL}",
          "meets_goal": value / baseline >= BATCH_GOAL,
          "request_p50_ms": r(median(api_p50)), "request_p99_ms": r(median(api_p99)),
          "errors": errors, "runs": [r(v, 0) for v in api_runs],
          "baseline_runs": [r(v, 0) for v in raw_runs],
          "cpu": {"api": cpu_summary(api_cpu), "baseline": cpu_summary(raw_cpu)},
          "params": {"batch_size": s.batch_size, "clients": s.batch_clients,
                     "duration_s": s.batch_s, "runs": s.runs,
                     **ctx.api.params()}}, generator=f"{PYTHON_HTTP}; baseline: {PYTHON_PRODUCER}")


def single_event_requests(port: int, api_key: str, count: int = 1000) -> tuple[list[bytes],
                                                                               list[bytes]]:
    bodies = [orjson.dumps(e) for e in hoverboard_events(count, seed=7)]
    return bodies, [http_request(port, SINGLE_PATH, b, api_key) for b in bodies]


def closed_loop(ctx: Context, server: Gunicorn, duration: float, connections: int
                ) -> LoadResult:
    if ctx.use_wrk:
        return closed_loop_wrk(server.port, ctx.wrk_script, connections, duration)
    _, reqs = single_event_requests(server.port, ctx.stack.api_key)
    return closed_loop_python(server.port, reqs, connections, duration,
                              201)


def measure_single(ctx: Context, api: Gunicorn, bare: Gunicorn, duration: float, runs: int,
                   connections: int, warmup: bool = True) -> dict:
    """Alternating API and bare runs (so slow drifts of the machine hit both alike)."""
    if warmup:
        closed_loop(ctx, api, ctx.settings.warmup_s, connections)
        closed_loop(ctx, bare, ctx.settings.warmup_s, connections)
    out = {"api": [], "bare": [], "api_cpu": [], "bare_cpu": []}
    for _ in range(runs):
        for name, server in (("api", api), ("bare", bare)):
            with CpuMeter(ctx.groups(server), server.workers()) as meter:
                result = closed_loop(ctx, server, duration, connections)
            out[name].append(result)
            out[f"{name}_cpu"].append(meter.sample(result.generator_cores, result.requests))
    return out


def bench_single(ctx: Context) -> None:
    s = ctx.settings
    log(f"single events: closed loop, {s.connections} connections, api vs bare")
    m = measure_single(ctx, ctx.api, ctx.bare, s.single_s, s.runs, s.connections)
    api_rps = median(x.rps for x in m["api"])
    bare_rps = median(x.rps for x in m["bare"])
    ctx.capacity = api_rps
    emit({"bench": "single_event", "unit": "requests/s", "value": r(api_rps, 0),
          "baseline": r(bare_rps, 0),
          "baseline_name": "bare Flask endpoint (no key, validation, Kafka), same gunicorn config",
          "ratio": r(api_rps / bare_rps, 3), "goal": f">= {SINGLE_GOAL}",
          "meets_goal": api_rps / bare_rps >= SINGLE_GOAL,
          "p50_ms": r(median(wrk_ms(x, 50) for x in m["api"])),
          "p99_ms": r(median(wrk_ms(x, 99) for x in m["api"])),
          "baseline_p50_ms": r(median(wrk_ms(x, 50) for x in m["bare"])),
          "baseline_p99_ms": r(median(wrk_ms(x, 99) for x in m["bare"])),
          "errors": sum(x.errors for x in m["api"] + m["bare"]),
          "runs": [r(x.rps, 0) for x in m["api"]],
          "baseline_runs": [r(x.rps, 0) for x in m["bare"]],
          "cpu": {"api": cpu_summary(m["api_cpu"]),
                        "baseline": cpu_summary(m["bare_cpu"])},
          "params": {"connections": s.connections, "duration_s": s.single_s, "runs": s.runs,
                     **({"wrk_threads": 1} if ctx.use_wrk else {}), **ctx.api.params()}},
         generator=ctx.closed_loop_generator)


def measure_rate(ctx: Context, server: Gunicorn, duration: float, runs: int,
                 warmup: bool = True) -> dict:
    s = ctx.settings
    rate = ctx.rate()
    _, reqs = single_event_requests(server.port, ctx.stack.api_key)
    if warmup:
        open_loop(server.port, reqs, rate, s.warmup_s, s.connections)
    results, cpu = [], []
    for _ in range(runs):
        with CpuMeter(ctx.groups(server), server.workers()) as meter:
            result = open_loop(server.port, reqs, rate, duration, s.connections)
        results.append(result)
        cpu.append(meter.sample(result.generator_cores, result.requests))
    return {"results": results, "cpu": cpu}


def bench_rate(ctx: Context) -> None:
    s = ctx.settings
    log(f"fixed rate: open loop at {ctx.rate()} req/s ({RATE_SHARE} of the single-event "
        f"capacity, {ctx.capacity:,.0f} req/s) for {s.rate_s} s, api vs bare")
    runs_api, runs_bare = [], []
    cpu_api, cpu_bare = [], []
    for run in range(s.rate_runs):  # alternate, one run each at a time
        a = measure_rate(ctx, ctx.api, s.rate_s, 1, warmup=run == 0)
        b = measure_rate(ctx, ctx.bare, s.rate_s, 1, warmup=run == 0)
        runs_api += a["results"]
        cpu_api += a["cpu"]
        runs_bare += b["results"]
        cpu_bare += b["cpu"]
        log(f"  api p50 {a['results'][0].ms(50):.2f} ms p99 {a['results'][0].ms(99):.2f} ms; "
            f"bare p99 {b['results'][0].ms(99):.2f} ms")
    p99 = median(x.ms(99) for x in runs_api)
    bare_p99 = median(x.ms(99) for x in runs_bare)
    emit({"bench": "fixed_rate", "unit": "ms", "rate_per_s": ctx.rate(),
          "rate_is": f"{RATE_SHARE} x the single-event capacity measured in this run",
          "single_event_capacity_rps": r(ctx.capacity, 0),
          "achieved_rps": r(median(x.rps for x in runs_api), 0),
          "p50_ms": r(median(x.ms(50) for x in runs_api)), "p99_ms": r(p99),
          "p999_ms": r(median(x.ms(99.9) for x in runs_api)),
          "max_ms": r(median(x.latencies_s[-1] * 1000 for x in runs_api)),
          "baseline_p50_ms": r(median(x.ms(50) for x in runs_bare)),
          "baseline_p99_ms": r(bare_p99),
          "baseline_name": "bare Flask endpoint at the same rate",
          "ratio": r(p99 / bare_p99, 3), "ratio_is": "api p99 / bare p99",
          "goal": f"p99 <= {RATE_P99_GOAL_MS:g} ms", "meets_goal": p99 <= RATE_P99_GOAL_MS,
          "generator_lag_p99_ms": r(median(percentile(x.lag_s, 99) * 1000 for x in runs_api)),
          "errors": sum(x.errors for x in runs_api + runs_bare),
          "runs_p99_ms": [r(x.ms(99)) for x in runs_api],
          "baseline_runs_p99_ms": [r(x.ms(99)) for x in runs_bare],
          "cpu": {"api": cpu_summary(cpu_api), "baseline": cpu_summary(cpu_bare)},
          "params": {"duration_s": s.rate_s, "runs": s.rate_runs,
                     "max_connections": s.connections,
                     "latency_from": "each request's scheduled send time",
                     **ctx.api.params()}}, generator=PYTHON_HTTP)


def per_call_us(fn: Callable, arg, number: int, repeat: int = 7) -> tuple[float, float]:
    """Median and best of ``repeat`` timings, microseconds per call."""
    timer = timeit.Timer("fn(arg)", globals={"fn": fn, "arg": arg})
    times = [t / number * 1e6 for t in timer.repeat(repeat=repeat, number=number)]
    return median(times), min(times)


INVALID = {
    # three faults each: a wrong type, a range, a format (or a missing/extra field)
    "hoverboard": lambda: sample("hoverboard", id="17", speed=-3, event_time="2026-11-27 09:00"),
    "customer": lambda: {**{k: v for k, v in sample("customer").items() if k != "id"},
                         "customer_email": "marty-at-hillvalley", "shoe_size": 10},
    "trip": lambda: sample("trip", trip_duration=-1, customer_id=None,
                           end_time_and_date="yesterday"),
}


class NullSink:
    """Acknowledges at once: the API's own per-record work without Kafka."""

    def send(self, batch):
        return [Delivery(True, 0, i) for i in range(len(batch))]


def bench_validation(ctx: Context) -> None:
    n = ctx.settings.validation_number
    log("validation: jsonschema vs hot path, per message type")
    for name in MESSAGE_TYPES:
        schema = latest(name)
        validator = EventValidator(schema.schema)
        valid = sample(name)
        invalid = INVALID[name]()
        assert validator.errors(valid) == [] and validator.is_valid_reference(valid)
        explained = validator.errors(invalid)
        assert explained, f"{name}: the invalid sample is valid"
        reference, reference_best = per_call_us(validator.is_valid_reference, valid, n)
        reference_errors, _ = per_call_us(
            lambda e, v=validator: list(v._reference.iter_errors(e)), valid, n)
        hot, hot_best = per_call_us(validator.errors, valid, n)
        explain, explain_best = per_call_us(validator.errors, invalid, max(200, n // 20))
        emit({"bench": "validation", "message_type": name, "unit": "us/event",
              "value": r(hot, 3), "baseline": r(reference, 3),
              "baseline_name": "jsonschema is_valid with our format checker (reference)",
              "ratio": r(hot / reference, 4), "ratio_is": "hot path / jsonschema",
              "speedup": r(reference / hot, 1),
              "best_us": r(hot_best, 3), "baseline_best_us": r(reference_best, 3),
              "jsonschema_iter_errors_us": r(reference_errors, 3),
              "explain_invalid_us": r(explain, 1), "explain_invalid_best_us": r(explain_best, 1),
              "invalid_errors": len(explained), "explain_vs_hot": r(explain / hot, 1),
              "params": {"number": n, "repeat": 7, "schema_version": schema.version,
                         "statistic": "median of repeats (best_us: fastest repeat)"}},
             generator=IN_PROCESS)

    # The API's whole per-record work in ingest_records (validation, key, orjson.dumps,
    # outcome objects), with a sink that acknowledges at once.
    schema = latest("hoverboard")
    conf = load_message_configs()["hoverboard"]
    mtype = MessageType(conf, ResolvedSchema(schema.subject, schema.version, schema.schema,
                                             "files"), EventValidator(schema.schema))
    batch = hoverboard_events(500)
    sink = NullSink()
    per_batch, _ = per_call_us(lambda b: ingest_records(mtype, sink, b, request_id="bench"),
                               batch, max(5, n // 1000))
    hot, _ = per_call_us(mtype.validator.errors, batch[0], n)
    emit({"bench": "service_path", "message_type": "hoverboard", "unit": "us/event",
          "value": r(per_batch / len(batch), 3), "baseline": r(hot, 3),
          "baseline_name": "hot-path validation alone",
          "ratio": r(per_batch / len(batch) / hot, 2),
          "note": "ingest_records per record with an instant sink: validation, key, "
                  "orjson.dumps, outcome objects; no HTTP, no Kafka",
          "params": {"batch_size": len(batch)}}, generator=IN_PROCESS)
    bench_gc_pause()


def bench_gc_pause(repeat: int = 5) -> None:
    """A full garbage collection in a process holding the app, as a gunicorn worker does:
    a gevent worker answers nobody meanwhile. gunicorn.conf.py freezes the start-up objects
    (``post_worker_init``); the baseline is the same collection unfrozen."""
    import gc

    from ingest_api import create_app

    app = create_app({"API_KEYS": "gc-pause-" + "k" * 20, "KAFKA_BOOTSTRAP": "127.0.0.1:9",
                      "SCHEMA_REGISTRY_URL": None})

    def full_collection_ms() -> float:
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            gc.collect()
            times.append((time.perf_counter() - t0) * 1000)
        return median(times)

    tracked = len(gc.get_objects())
    unfrozen = full_collection_ms()
    gc.freeze()
    try:
        frozen = full_collection_ms()
    finally:
        gc.unfreeze()
    emit({"bench": "gc_pause", "unit": "ms", "value": r(frozen, 2), "baseline": r(unfrozen, 2),
          "baseline_name": "the same full collection without gc.freeze()",
          "tracked_objects": tracked, "params": {"repeat": repeat, "statistic": "median"}},
         generator=IN_PROCESS)
    del app


def bench_memory(ctx: Context) -> None:
    def per_worker(server: Gunicorn) -> list[dict]:
        out = []
        for p in server.workers():
            try:
                full = p.memory_full_info()
                out.append({"pid": p.pid, "rss_mib": r(full.rss / 2**20, 1),
                            "uss_mib": r(full.uss / 2**20, 1)})
            except psutil.Error:
                pass
        return out

    api, bare = per_worker(ctx.api), per_worker(ctx.bare)
    api_rss = median(w["rss_mib"] for w in api)
    bare_rss = median(w["rss_mib"] for w in bare)
    emit({"bench": "memory", "unit": "MiB RSS per worker", "value": r(api_rss, 1),
          "baseline": r(bare_rss, 1), "baseline_name": "bare Flask worker, same config",
          "ratio": r(api_rss / bare_rss, 2),
          "uss_mib": r(median(w["uss_mib"] for w in api), 1),
          "baseline_uss_mib": r(median(w["uss_mib"] for w in bare), 1),
          "workers": api, "baseline_workers": bare,
          "note": "after the batch, single-event and fixed-rate load; USS = memory not "
                  "shared with the master or other workers",
          "params": ctx.api.params()}, generator=PYTHON_HTTP)


def bench_tuning(ctx: Context) -> None:
    """Every configuration runs at once (idle servers cost next to nothing) and the runs go
    round-robin over them, so a change in the machine's other load hits all alike."""
    s = ctx.settings
    log(f"tuning: {[c.tag for c in s.tuning]}, {s.tuning_runs} rounds")
    servers: dict[ServerConfig, tuple[Gunicorn, Gunicorn]] = {}
    results = {c: {"api": [], "bare": [], "api_cpu": [], "bare_cpu": [], "rate": [],
                   "rate_cpu": []} for c in s.tuning}
    try:
        for config in s.tuning:
            servers[config] = (ctx.start_api(f"api-{config.tag}", config),
                               ctx.start_bare(f"bare-{config.tag}", config))
        for api, bare in servers.values():
            closed_loop(ctx, api, 1, s.connections)
            closed_loop(ctx, bare, 1, s.connections)
        for round_ in range(s.tuning_runs):
            order = list(s.tuning)
            order = order[round_ % len(order):] + order[:round_ % len(order)]
            for config in order:
                api, bare = servers[config]
                m = measure_single(ctx, api, bare, s.tuning_single_s, 1, s.connections,
                                   warmup=False)
                rate = measure_rate(ctx, api, s.tuning_rate_s, 1, warmup=False)
                for key in ("api", "bare", "api_cpu", "bare_cpu"):
                    results[config][key] += m[key]
                results[config]["rate"] += rate["results"]
                results[config]["rate_cpu"] += rate["cpu"]
                log(f"  round {round_ + 1} {config.tag}: "
                    f"{m['api'][0].rps:,.0f} req/s (bare {m['bare'][0].rps:,.0f}), "
                    f"{ctx.rate()} req/s p99 {rate['results'][0].ms(99):.1f} ms")
    finally:
        for api, bare in servers.values():
            api.stop()
            bare.stop()

    rows = []
    for config, m in results.items():
        api_rps = median(x.rps for x in m["api"])
        bare_rps = median(x.rps for x in m["bare"])
        row = {"bench": "tuning", **config._asdict(), "unit": "requests/s",
               "value": r(api_rps, 0),
               "baseline": r(bare_rps, 0),
               "ratio": r(api_rps / bare_rps, 3),
               "p50_ms": r(median(wrk_ms(x, 50) for x in m["api"])),
               "p99_ms": r(median(wrk_ms(x, 99) for x in m["api"])),
               "rate_p50_ms": r(median(x.ms(50) for x in m["rate"])),
               "rate_p99_ms": r(median(x.ms(99) for x in m["rate"])),
               "errors": sum(x.errors for x in m["api"] + m["bare"] + m["rate"]),
               "runs": [r(x.rps, 0) for x in m["api"]],
               "baseline_runs": [r(x.rps, 0) for x in m["bare"]],
               "rate_runs_p99_ms": [r(x.ms(99)) for x in m["rate"]],
               "cpu": {"api": cpu_summary(m["api_cpu"]), "baseline": cpu_summary(m["bare_cpu"]),
                       "api_at_rate": cpu_summary(m["rate_cpu"])},
               "params": {"connections": s.connections, "duration_s": s.tuning_single_s,
                          "runs": s.tuning_runs, "rate_per_s": ctx.rate(),
                          "rate_duration_s": s.tuning_rate_s}}
        rows.append(row)
        emit(row, generator=f"{ctx.closed_loop_generator}; {PYTHON_HTTP} at the fixed rate")
    best = max(rows, key=lambda x: (x["rate_p99_ms"] <= RATE_P99_GOAL_MS, x["value"]))
    default = ServerConfig(_conf_default("worker_class"), int(_conf_default("workers")),
                           int(_conf_default("threads")))
    current = next((x for x in rows if x["worker_class"] == default.worker_class
                    and x["workers"] == default.workers
                    and (default.worker_class != "gthread" or x["threads"] == default.threads)),
                   None)
    summary = {"bench": "tuning_best", "worker_class": best["worker_class"],
               "workers": best["workers"], "threads": best["threads"],
               "value": best["value"], "unit": "requests/s", "p99_ms": best["p99_ms"],
               "rate_p99_ms": best["rate_p99_ms"],
               "default": default._asdict(),
               "meets_rate_goal": best["rate_p99_ms"] <= RATE_P99_GOAL_MS,
               "rule": "highest closed-loop requests/s among configurations meeting "
                       f"p99 <= {RATE_P99_GOAL_MS:g} ms at the fixed rate ({ctx.rate()} "
                       "req/s) (among all when none does)",
               "table_columns": ["worker class", "workers", "threads", "requests/s",
                                 "ratio to bare",
                                 "closed-loop p50 ms", "closed-loop p99 ms",
                                 f"{ctx.rate()} req/s p50 ms",
                                 f"{ctx.rate()} req/s p99 ms"],
               "table": [[x["worker_class"], x["workers"], x["threads"], x["value"], x["ratio"],
                          x["p50_ms"], x["p99_ms"], x["rate_p50_ms"], x["rate_p99_ms"]]
                         for x in rows]}
    if current is not None:
        summary["default_value"] = current["value"]
        summary["gain_over_default"] = r(best["value"] / current["value"], 3)
        # Distinguishable only when every run of the best beats every run of the default.
        summary["beyond_noise"] = bool(best is not current
                                       and min(best["runs"]) > max(current["runs"]))
    emit(summary, generator=f"{ctx.closed_loop_generator}; {PYTHON_HTTP} at the fixed rate")


# ---------------------------------------------------------------------------------------
# Orchestration
# ---------------------------------------------------------------------------------------

class Context:
    def __init__(self, settings: Settings, stack: Stack, workdir: Path, topics: ScratchTopics,
                 port: int, use_wrk: bool) -> None:
        self.settings, self.stack, self.workdir, self.topics = settings, stack, workdir, topics
        self.port = port
        self.use_wrk = use_wrk
        self.closed_loop_generator = (wrk_generator() or "wrk") if use_wrk else PYTHON_HTTP
        self.capacity: float | None = None  # the API's single-event requests/s, this run
        self.servers: list[Gunicorn] = []
        self.message_conf = topics.write_message_conf(workdir / "conf")
        self.message_key_fields = {
            n: c.key_fields for n, c in load_message_configs(self.message_conf).items()}
        self.server_env = {**os.environ, **stack.env, "HOVER_INGEST_MESSAGE_CONF":
                           self.message_conf}
        for var in SERVER_VARS:
            self.server_env.pop(var, None)  # the configuration file's defaults unless tuned
        self.wrk_script: Path | None = None
        self.api: Gunicorn | None = None
        self.bare: Gunicorn | None = None
        try:
            self.broker = [psutil.Process(stack.kafka_pid)] if stack.kafka_pid else []
        except psutil.Error:
            self.broker = []

    def _start(self, label: str, app: str, ready: str,
               config: ServerConfig | None) -> Gunicorn:
        self.port = free_port(self.port + 1)
        server = Gunicorn(label, app, self.port, self.server_env, self.workdir, ready,
                          config)
        self.servers.append(server)
        return server.start()

    def start_api(self, label: str = "api", config: ServerConfig | None = None) -> Gunicorn:
        return self._start(label, "ingest_api.wsgi:app", "/ready", config)

    def start_bare(self, label: str = "bare", config: ServerConfig | None = None) -> Gunicorn:
        return self._start(label, "benchmarks.bare_app:app", "/health", config)

    def measure_capacity(self) -> None:
        """The API's single-event capacity, when ``single`` did not measure it: one
        closed-loop run (after a warm-up) of the same length as theirs."""
        s = self.settings
        log("single-event capacity first (the fixed rate is a share of it)")
        closed_loop(self, self.api, s.warmup_s, s.connections)
        self.capacity = closed_loop(self, self.api, s.single_s, s.connections).rps
        log(f"  {self.capacity:,.0f} req/s")

    def rate(self) -> int:
        """The fixed rate of this run (see ``fixed_rate``)."""
        if self.capacity is None:
            raise RuntimeError("no single-event capacity measured in this run yet")
        return fixed_rate(self.capacity)

    def groups(self, server: Gunicorn) -> dict[str, list[psutil.Process]]:
        return {"server": server.processes(), "broker": self.broker}

    def stop_all(self) -> None:
        for server in self.servers:
            try:
                server.stop()
            except Exception as exc:  # noqa: BLE001 - keep stopping the others
                log(f"stopping {server.label}: {exc}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs, one repetition")
    parser.add_argument("--only", default="batch,single,rate,validation,memory,tuning",
                        help="comma-separated subset of: batch,single,rate,validation,memory,"
                             "tuning")
    parser.add_argument("--port", type=int, default=28080,
                        help="first port to try for the servers (default 28080)")
    parser.add_argument("--generator", choices=("auto", "wrk", "python"), default="auto",
                        help="closed-loop load generator (auto: wrk when installed)")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    only = set(filter(None, args.only.split(",")))
    unknown = only - {"batch", "single", "rate", "validation", "memory", "tuning"}
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    use_wrk = args.generator == "wrk" or (args.generator == "auto" and shutil.which("wrk"))
    if args.generator == "wrk" and not shutil.which("wrk"):
        parser.error("wrk is not installed (apt-get install wrk)")

    signal.signal(signal.SIGTERM, interrupt_as_keyboard)
    emit({"bench": "run", "load_avg_1m": r(os.getloadavg()[0]),
          "python": sys.version.split()[0], "quick": args.quick,
          "gunicorn_defaults": {"workers": int(_conf_default("workers")),
                                "threads": int(_conf_default("threads"))}},
         generator=(wrk_generator() or "wrk") if use_wrk else PYTHON_HTTP)

    if only == {"validation"}:
        bench_validation(_ValidationOnly(settings))  # no stack needed
        return 0

    stack = Stack.load()
    run_id = f"{time.strftime('%H%M%S')}-{uuid.uuid4().hex[:6]}"
    workdir = Path(tempfile.mkdtemp(prefix="ingest-bench-"))
    topics = ScratchTopics(stack, run_id)
    ctx = None
    try:
        topics.create()
        log(f"scratch topics {', '.join(topics.names.values())}; work dir {workdir}")
        ctx = Context(settings, stack, workdir, topics, args.port - 1, bool(use_wrk))
        bodies, _ = single_event_requests(0, stack.api_key)
        if use_wrk:
            ctx.wrk_script = write_wrk_script(workdir, bodies, SINGLE_PATH, stack.api_key)
        if only & {"batch", "single", "rate", "memory", "tuning"}:
            ctx.api = ctx.start_api()
            ctx.bare = ctx.start_bare()
        if "batch" in only:
            bench_batch(ctx)
        if "single" in only:
            bench_single(ctx)
        if only & {"rate", "tuning"} and ctx.capacity is None:
            ctx.measure_capacity()
        if "rate" in only:
            bench_rate(ctx)
        if "memory" in only:
            bench_memory(ctx)
        if ctx.api is not None:
            ctx.api.stop()
            ctx.bare.stop()
        if "validation" in only:
            bench_validation(ctx)
        if "tuning" in only:
            bench_tuning(ctx)
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        if ctx is not None:
            ctx.stop_all()
        topics.delete()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0




class _ValidationOnly:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings




if __name__ == "__main__":
    sys.exit(main())
