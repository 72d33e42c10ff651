"""One simulation run: generate the fleet's events at the chosen pace, deliver them, drain,
and sum up what happened."""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp

from simulator.delivery import Sender, Stats
from simulator.model import MESSAGE_TYPES, Fleet, rfc3339

USER_AGENT = "hover-simulator/1"


@dataclass(frozen=True)
class Options:
    url: str
    api_key: str
    boards: int = 10
    customers: int = 10
    duration: float | None = None  # seconds of wall time to generate events for
    events: int | None = None  # stop after this many events
    speedup: float = 1.0  # simulated seconds per wall second (inf: no pacing)
    rate: float | None = None  # events per wall second, instead of the natural intervals
    invalid_share: float = 0.0
    faulty_share: float = 0.0
    fault_onset_within_s: float = 300.0  # faults start 30 s to this long after the start
    seed: int = 0
    start: datetime | None = None  # simulated start time (aware); None: now
    batch: int = 1
    batch_format: str = "ndjson"
    concurrency: int = 32
    timeout: float = 30.0  # per request
    give_up_after: float = 120.0  # per event, from its first try


@dataclass
class Run:
    """What a run leaves behind: the fleet (for its faults), the counters, its identity."""

    options: Options
    fleet: Fleet
    stats: Stats
    run_id: str
    interrupted: int = 0


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep; True if ``stop`` was set meanwhile."""
    try:
        await asyncio.wait_for(stop.wait(), seconds)
        return True
    except TimeoutError:
        return stop.is_set()


async def _generate(run: Run, sender: Sender, stop: asyncio.Event) -> None:
    options = run.options
    began = time.monotonic()
    for n, event in enumerate(run.fleet.events()):
        if stop.is_set() or (options.events is not None and n >= options.events):
            return
        if options.rate:
            due = began + n / options.rate
        else:
            due = began + event.sim_ms / 1000.0 / options.speedup
        wait = due - time.monotonic()
        if wait > 0.002:
            if await _sleep_unless(stop, wait):
                return
        elif n % 256 == 255:
            await asyncio.sleep(0)  # let the lanes run while catching up
        if not await sender.submit(event, stop):
            return


def _install_signals(on_signal: Callable[[], None]) -> list[int]:
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, on_signal)
            installed.append(sig)
    return installed


async def execute(run: Run, *, announce: Callable[[str], None] | None = None) -> Run:
    """Run the simulation to its end (count, duration, or a signal) and drain: every event
    generated ends accepted, rejected or failed, unless a second signal abandons the rest."""
    options = run.options
    announce = announce or (lambda text: print(text, file=sys.stderr))
    stop = asyncio.Event()
    workers: list[asyncio.Task] = []

    def on_signal() -> None:
        run.interrupted += 1
        stop.set()
        if run.interrupted == 1:
            announce(f"stopping: delivering the {run.stats.queued + run.stats.in_flight} events "
                     "on their way (again to abandon them)")
        else:
            for worker in workers:
                worker.cancel()

    installed = _install_signals(on_signal)
    connector = aiohttp.TCPConnector(limit=options.concurrency, ttl_dns_cache=300)
    timeout = aiohttp.ClientTimeout(total=options.timeout)
    run.stats.started = time.monotonic()
    try:
        async with aiohttp.ClientSession(connector=connector, timeout=timeout,
                                         headers={"User-Agent": USER_AGENT}) as session:
            sender = Sender(session, url=options.url, api_key=options.api_key, stats=run.stats,
                            run_id=run.run_id, concurrency=options.concurrency,
                            batch=options.batch, batch_format=options.batch_format,
                            give_up_after=options.give_up_after,
                            rng=random.Random(f"hover-sim:{options.seed}:retry"))
            workers.extend(asyncio.create_task(sender.work(lane)) for lane in sender.lanes)
            timer = (asyncio.get_running_loop().call_later(options.duration, stop.set)
                     if options.duration else None)
            try:
                await _generate(run, sender, stop)
            finally:
                if timer:
                    timer.cancel()
                sender.close()
                results = await asyncio.gather(*workers, return_exceptions=True)
            for result in results:
                if isinstance(result, Exception):
                    raise result
    finally:
        run.stats.finished = time.monotonic()
        loop = asyncio.get_running_loop()
        for sig in installed:
            loop.remove_signal_handler(sig)
    return run


def new_run(options: Options) -> Run:
    start = options.start
    if start is None:
        start = datetime.now().astimezone().replace(microsecond=0)
    fleet = Fleet(boards=options.boards, customers=options.customers, seed=options.seed,
                  start=start, invalid_share=options.invalid_share,
                  faulty_share=options.faulty_share,
                  fault_onset_within_s=options.fault_onset_within_s)
    return Run(options, fleet, Stats(), f"sim-{uuid.uuid4().hex[:12]}")


def summary(run: Run) -> dict[str, Any]:
    """Everything a run did, as one JSON-ready object."""
    stats, options, fleet = run.stats, run.options, run.fleet
    duration = stats.elapsed()
    generated = stats.generated.total()
    abandoned = generated - stats.done
    valid_not_stored = stats.valid_generated - stats.valid_stored
    return {
        "ok": valid_not_stored == 0,
        "run_id": run.run_id,
        "url": options.url,
        "seed": options.seed,
        "start": rfc3339(fleet.start_ms),
        "boards": options.boards,
        "customers": options.customers,
        "batch": options.batch,
        "duration_s": round(duration, 3),
        "simulated_s": round(stats.last_sim_ms / 1000, 3),
        "generated": generated,
        "valid": stats.valid_generated,
        "invalid": stats.invalid_generated.total(),
        "sent": stats.sent,
        "accepted": stats.accepted.total(),
        "rejected": stats.rejected.total(),
        "failed_after_retries": stats.failed.total(),
        "abandoned": abandoned,
        "valid_not_stored": valid_not_stored,
        "retried": stats.retried,
        "redelivered": stats.redelivered,
        "requests": stats.requests,
        "rate_eps": round(stats.done / duration, 1) if duration > 0 else 0.0,
        "by_type": {t: {"generated": stats.generated[t], "accepted": stats.accepted[t],
                        "rejected": stats.rejected[t], "failed": stats.failed[t]}
                    for t in MESSAGE_TYPES},
        "rejected_by_reason": dict(stats.rejected_by_reason.most_common()),
        "failed_by_reason": dict(stats.failed_by_reason.most_common()),
        "invalid_by_kind": dict(sorted(stats.invalid_generated.items())),
        "invalid_rejected": stats.invalid_rejected,
        "invalid_accepted": stats.invalid_accepted,
        "valid_rejected": stats.valid_rejected,
        "latency_ms": stats.latency_ms(),
        "faulty_boards": fleet.faults,
        "interrupted": run.interrupted > 0,
    }
