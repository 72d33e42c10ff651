"""What every benchmark shares: JSON-line output, progress on stderr, small statistics."""

from __future__ import annotations

import asyncio
import functools
import gc
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Iterable
from pathlib import Path
from typing import Any, TypeVar

import orjson

#: The load generators a line can name besides wrk (see ``wrk_generator``).
PYTHON_HTTP = "python asyncio HTTP generator (benchmarks)"
PYTHON_PRODUCER = "python confluent-kafka producer (benchmarks)"
IN_PROCESS = "none: timed in-process (python)"
SQL_SEEDED = "none: rows made by SQL in the warehouse"


def emit(record: dict, *, generator: str) -> None:
    """One result: a JSON line on stdout (progress goes to stderr), saying which load
    generator and which machine produced it, so figures from two machines or two
    generators are never compared unknowingly."""
    line = {**record, "generator": generator, "machine": machine()}
    sys.stdout.write(orjson.dumps(line).decode() + "\n")
    sys.stdout.flush()


def describe_machine(*, cores: int | None, cpuinfo: str, meminfo: str,
                     kernel: str) -> dict[str, Any]:
    """Cores, CPU model, memory (GiB) and kernel, from ``/proc/cpuinfo`` and
    ``/proc/meminfo`` texts ("unknown"/None where they say nothing)."""
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines()
                  if line.startswith("model name")), "unknown")
    total = re.search(r"^MemTotal:\s+(\d+) kB", meminfo, re.M)
    return {"cores": cores, "cpu_model": model,
            "memory_gib": round(int(total[1]) / 2**20, 1) if total else None,
            "kernel": kernel or "unknown"}


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


@functools.cache
def machine() -> dict[str, Any]:
    """This machine, as ``describe_machine`` puts it."""
    return describe_machine(cores=os.cpu_count(), cpuinfo=_read("/proc/cpuinfo"),
                            meminfo=_read("/proc/meminfo"),
                            kernel=f"{platform.system()} {platform.release()}")


def wrk_label(banner: str) -> str:
    """``wrk 4.1.0`` from the banner ``wrk -v`` prints (``wrk 4.1.0 [epoll] Copyright...``)."""
    match = re.search(r"\bwrk (\S+)", banner)
    return f"wrk {match[1]}" if match else "wrk (version unknown)"


@functools.cache
def wrk_generator() -> str | None:
    """The installed wrk with its version, or None when there is none."""
    path = shutil.which("wrk")
    if path is None:
        return None
    done = subprocess.run([path, "-v"], capture_output=True, text=True, timeout=10,
                          check=False)
    return wrk_label(done.stdout + done.stderr)


def make_log(name: str) -> Callable[[str], None]:
    def log(message: str) -> None:
        print(f"[{name} {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
    return log


T = TypeVar("T")


def run_load(load: Coroutine[Any, Any, T]) -> T:
    """Run a load generator with this process's garbage collector off.

    A collection in the generator (tens of thousands of tasks and results alive) froze every
    request in flight for 40-140 ms, and the latency figures charged it to the server. This
    was found once, with a script outside the repository that timestamped the slow requests
    of a 1,000 req/s run: they all fell in such pauses while the server's workers and the
    broker were busy as usual, and with the collector off that run's p99 went from 28 to
    15 ms. The ``fixed_rate`` line of ``benchmarks.ingest_bench`` shows the current figures.
    One collection first, so the run starts clean."""
    gc.collect()
    gc.disable()
    try:
        return asyncio.run(load)
    finally:
        gc.enable()


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def r(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, -(-len(sorted_values) * p // 100))
    return sorted_values[int(min(rank, len(sorted_values))) - 1]


def interrupt_as_keyboard(signum, frame) -> None:
    """SIGTERM handler: clean up (servers, topics, databases) exactly as for Ctrl-C."""
    raise KeyboardInterrupt


def running_stack():
    """The running local stack's configuration and its generated environment (stack.env),
    or exit saying how to start it."""
    from stack import envfile
    from stack.config import StackConfig

    config = StackConfig.from_env()
    if not config.env_file.exists():
        raise SystemExit(f"{config.env_file} missing: start the stack first (bin/stack up)")
    return config, envfile.load(config.env_file)


def api_keys(env: dict[str, str]) -> list[str]:
    """The ingest API keys of a stack environment, in order."""
    return [k.strip() for k in env.get("HOVER_INGEST_API_KEYS", "").split(",") if k.strip()]
