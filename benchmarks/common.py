"""What every benchmark shares: JSON-line output, progress on stderr, small statistics."""

from __future__ import annotations

import asyncio
import gc
import statistics
import sys
import time
from collections.abc import Callable, Coroutine, Iterable
from pathlib import Path
from typing import Any, TypeVar

import orjson


def emit(record: dict) -> None:
    """One result: a JSON line on stdout (progress goes to stderr)."""
    sys.stdout.write(orjson.dumps(record).decode() + "\n")
    sys.stdout.flush()


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


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


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
