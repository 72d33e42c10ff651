"""Delivering events to the ingest API: one ordered lane per key, retries that never reorder.

Every key (the partition key text of :mod:`schemas.keys`) is hashed to one of
``concurrency`` lanes; a lane sends one request at a time and starts the next only when the
previous one is final (accepted, rejected, or given up). That is the ordering guarantee: a
key's next event is never sent before its previous one was acknowledged.

A response decides each record's fate:

- 2xx: accepted (stored by Kafka). A batch answer lists a result per record.
- 502, 503, 504, 429, a connection error or a timeout: sent again after an exponential backoff
  with jitter, never earlier than ``Retry-After``, until ``give_up_after`` seconds have passed
  since the first try; then "failed after retries". In a batch answered 503 with per-record
  results, accepted and rejected records are final; failed records are sent again, and so is
  every accepted record *after* a failed record of the same key (resending only the failed one
  would put it behind its successor). Such a record reaches Kafka twice (``redelivered``);
  the warehouse keeps one row per natural key.
- other 4xx: rejected (not retried). Invalid events are expected to get 422.
- other 5xx: failed, not retried (a 500 is a bug to look at, not an outage).
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
import zlib
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import orjson

from simulator.model import MESSAGE_TYPES, SimEvent

RETRYABLE = frozenset({429, 502, 503, 504})
BACKOFF_BASE_S = 0.1
BACKOFF_CAP_S = 10.0


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delay-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def backoff_delay(attempt: int, retry_after: float | None, rng: random.Random, *,
                  base: float = BACKOFF_BASE_S, cap: float = BACKOFF_CAP_S) -> float:
    """Wait before retry number ``attempt`` (1 for the first): exponential with jitter in the
    upper half (``base * 2**(attempt-1)``, capped), and never less than ``Retry-After``, to
    which up to 20 % is added so that clients told the same delay do not return together."""
    ceiling = min(cap, base * 2 ** (attempt - 1))
    delay = rng.uniform(ceiling / 2, ceiling)
    if retry_after is not None:
        delay = max(delay, retry_after * rng.uniform(1.0, 1.2))
    return delay


@dataclass(slots=True)
class Pending:
    """One event on its way."""

    event: SimEvent
    body: bytes
    attempts: int = 0
    stored: bool = False  # acknowledged once; a later resend only keeps its key in order


def take_batch(queue: deque[Pending], limit: int) -> list[Pending]:
    """The next request's records from a lane's queue, keeping every key's order.

    The head of the queue, then further records of its type: first those of the head's own
    key (a batch of one board's telemetry), then, if there is room, other keys of the same
    type in queue order. Each key's records in the batch are its oldest waiting ones, in
    order; everything left stays in queue order.
    """
    head = queue.popleft()
    batch = [head]
    if limit <= 1 or not queue:
        return batch
    mtype, key = head.event.type, head.event.key
    for same_key_only in (True, False):
        kept: deque[Pending] = deque()
        while queue and len(batch) < limit:
            item = queue.popleft()
            if item.event.type == mtype and (item.event.key == key or not same_key_only):
                batch.append(item)
            else:
                kept.append(item)
        kept.extend(queue)
        queue.clear()
        queue.extend(kept)
    return batch


@dataclass
class Stats:
    """Counters of a run, updated by the sender, read by the progress display."""

    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    generated: Counter = field(default_factory=Counter)  # per type
    invalid_generated: Counter = field(default_factory=Counter)  # per kind of breakage
    valid_generated: int = 0
    valid_stored: int = 0
    accepted: Counter = field(default_factory=Counter)  # per type
    rejected: Counter = field(default_factory=Counter)  # per type
    failed: Counter = field(default_factory=Counter)  # per type
    rejected_by_reason: Counter = field(default_factory=Counter)
    failed_by_reason: Counter = field(default_factory=Counter)
    invalid_rejected: int = 0
    invalid_accepted: int = 0
    valid_rejected: int = 0
    sent: int = 0  # events sent at least once
    retried: int = 0  # events sent again
    redelivered: int = 0  # events Kafka got twice (resent to keep their key's order)
    requests: int = 0
    queued: int = 0
    in_flight: int = 0  # taken by a lane, not final yet (in a request or waiting to retry)
    last_sim_ms: int = 0
    latencies: deque = field(default_factory=lambda: deque(maxlen=50_000))
    #: Kept only when set to lists (a soak audits them; a plain run keeps nothing per event):
    #: every acknowledged event as (monotonic time of its 2xx, event), and every request as
    #: (monotonic start, seconds, HTTP status or None for no answer).
    acknowledged: list | None = None
    request_log: list | None = None

    @property
    def done(self) -> int:
        return self.accepted.total() + self.rejected.total() + self.failed.total()

    def elapsed(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    def count_generated(self, event: SimEvent) -> None:
        self.generated[event.type] += 1
        self.last_sim_ms = event.sim_ms
        if event.invalid:
            self.invalid_generated[event.invalid] += 1
        else:
            self.valid_generated += 1

    def settle(self, pending: Pending, outcome: str, reason: str = "") -> None:
        """Record the final fate of one event."""
        event = pending.event
        if pending.stored:
            outcome = "accepted"  # a resend to keep order failed, but the event is stored
        if outcome == "accepted":
            if self.acknowledged is not None:
                self.acknowledged.append((time.monotonic(), event))
            self.accepted[event.type] += 1
            if event.invalid:
                self.invalid_accepted += 1
            else:
                self.valid_stored += 1
        elif outcome == "rejected":
            self.rejected[event.type] += 1
            self.rejected_by_reason[reason] += 1
            if event.invalid:
                self.invalid_rejected += 1
            else:
                self.valid_rejected += 1
        else:
            self.failed[event.type] += 1
            self.failed_by_reason[reason] += 1
        self.in_flight -= 1

    def latency_ms(self) -> dict[str, float]:
        if not self.latencies:
            return {}
        ordered = sorted(self.latencies)

        def pct(p: float) -> float:
            return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 2)

        return {"p50": pct(0.50), "p95": pct(0.95), "p99": pct(0.99),
                "max": round(ordered[-1] * 1000, 2)}


@dataclass(frozen=True)
class Reply:
    status: int | None  # None: no HTTP answer (connection error, timeout)
    body: Any
    retry_after: float | None
    reason: str  # "422 schema-violation", "503 sink-unavailable", "connection ..."

    def items(self, expected: int) -> list[dict] | None:
        items = self.body.get("items") if isinstance(self.body, dict) else None
        if isinstance(items, list) and len(items) == expected:
            return items
        return None


class Lane:
    """The waiting events of the keys hashed to one worker, in generation order."""

    def __init__(self) -> None:
        self.queue: deque[Pending] = deque()
        self.wakeup = asyncio.Event()

    def put(self, pending: Pending) -> None:
        self.queue.append(pending)
        self.wakeup.set()


class Sender:
    """Sends events to ``url`` over one aiohttp session, one lane per worker."""

    def __init__(self, session: aiohttp.ClientSession, *, url: str, api_key: str,
                 stats: Stats, run_id: str, concurrency: int = 32, batch: int = 1,
                 batch_format: str = "ndjson", give_up_after: float = 120.0,
                 max_pending: int | None = None, rng: random.Random | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.session = session
        self.urls = {t: f"{url.rstrip('/')}/ingest/{t}" for t in MESSAGE_TYPES}
        self.api_key = api_key
        self.stats = stats
        self.run_id = run_id
        self.batch = batch
        self.content_type = ("application/x-ndjson" if batch_format == "ndjson"
                             else "application/json")
        self.batch_format = batch_format
        self.give_up_after = give_up_after
        self.lanes = [Lane() for _ in range(concurrency)]
        # Backpressure: the generator waits when this many events are queued or in flight.
        self.room = asyncio.Semaphore(max_pending or concurrency * max(batch, 1) * 4)
        self.rng = rng or random.Random()
        self.clock = clock
        self._closing = False
        self._request_seq = 0

    def lane_for(self, event: SimEvent) -> Lane:
        digest = zlib.crc32(f"{event.type}\x00{event.key}".encode())
        return self.lanes[digest % len(self.lanes)]

    async def submit(self, event: SimEvent, stop: asyncio.Event) -> bool:
        """Queue an event on its key's lane; False if ``stop`` was set while waiting for room."""
        if self.room.locked():
            acquire = asyncio.ensure_future(self.room.acquire())
            stopped = asyncio.ensure_future(stop.wait())
            await asyncio.wait({acquire, stopped}, return_when=asyncio.FIRST_COMPLETED)
            stopped.cancel()
            if not acquire.done():
                acquire.cancel()
                return False
            # Acquired and stopped at once: keep the event, it is counted as generated.
        else:
            await self.room.acquire()
        self.stats.count_generated(event)
        self.stats.queued += 1
        self.lane_for(event).put(Pending(event, orjson.dumps(event.record)))
        return True

    def close(self) -> None:
        """No more events: lanes finish what they hold, then their workers return."""
        self._closing = True
        for lane in self.lanes:
            lane.wakeup.set()

    async def work(self, lane: Lane) -> None:
        while True:
            if not lane.queue:
                if self._closing:
                    return
                lane.wakeup.clear()
                await lane.wakeup.wait()
                continue
            batch = take_batch(lane.queue, self.batch)
            self.stats.queued -= len(batch)
            self.stats.in_flight += len(batch)
            await self._deliver(batch)

    async def _deliver(self, batch: list[Pending]) -> None:
        deadline = self.clock() + self.give_up_after
        pending = batch
        attempt = 0
        while True:
            reply = await self._post(pending)
            retry = self._settle(pending, reply)
            if not retry:
                return
            attempt += 1
            delay = backoff_delay(attempt, reply.retry_after, self.rng)
            if self.clock() + delay > deadline:
                for item in retry:
                    self._final(item, "failed", reply.reason)
                return
            self.stats.retried += len(retry)
            await asyncio.sleep(delay)
            pending = retry

    def _final(self, pending: Pending, outcome: str, reason: str = "") -> None:
        self.stats.settle(pending, outcome, reason)
        self.room.release()

    def _settle(self, pending: list[Pending], reply: Reply) -> list[Pending]:
        """Settle what is final; return the records to send again, in order."""
        status = reply.status
        batched = self.batch > 1
        items = reply.items(len(pending)) if batched else None
        if status is None or status in RETRYABLE:
            if items is not None and status == 503:
                return self._settle_items(pending, items)
            return list(pending)
        if 200 <= status < 300:
            if items is not None:
                return self._settle_items(pending, items)
            for item in pending:
                self._final(item, "accepted")
        elif status == 422 and items is not None:
            return self._settle_items(pending, items)
        elif 400 <= status < 500:
            for item in pending:
                self._final(item, "rejected", reply.reason)
        else:
            for item in pending:
                self._final(item, "failed", f"{reply.reason} (not retried)")
        return []

    def _settle_items(self, pending: list[Pending], items: list[dict]) -> list[Pending]:
        retry: list[Pending] = []
        failed_keys: set[str] = set()
        for item, result in zip(pending, items, strict=True):
            outcome = result.get("result")
            if outcome == "accepted":
                if item.stored:
                    self.stats.redelivered += 1
                item.stored = True
                if item.event.key in failed_keys:
                    retry.append(item)  # its key has an earlier record to resend: follow it
                else:
                    self._final(item, "accepted")
            elif outcome == "rejected":
                self._final(item, "rejected", f"{result.get('status', 422)} schema-violation")
            else:
                failed_keys.add(item.event.key)
                retry.append(item)
        return retry

    async def _post(self, pending: list[Pending]) -> Reply:
        self._request_seq += 1
        first = pending[0].event
        if self.batch > 1:
            if self.batch_format == "ndjson":
                body = b"".join(p.body + b"\n" for p in pending)
            else:
                body = b"[" + b",".join(p.body for p in pending) + b"]"
            content_type = self.content_type
        else:
            body, content_type = pending[0].body, "application/json"
        headers = {
            "Content-Type": content_type,
            "X-API-Key": self.api_key,
            "X-Hover-Key": first.key,
            "X-Request-Id": f"{self.run_id}-{self._request_seq}",
        }
        for item in pending:
            if item.attempts == 0:
                self.stats.sent += 1
            item.attempts += 1
        self.stats.requests += 1
        started = time.perf_counter()
        status: int | None = None
        try:
            async with self.session.post(self.urls[first.type], data=body,
                                         headers=headers) as response:
                raw = await response.read()
                status = response.status
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                is_json = response.content_type.endswith("json")
        except (aiohttp.ClientError, TimeoutError) as exc:
            return Reply(None, None, None, f"connection {type(exc).__name__}")
        finally:
            took = time.perf_counter() - started
            self.stats.latencies.append(took)
            if self.stats.request_log is not None:
                self.stats.request_log.append((time.monotonic() - took, took, status))
        parsed: Any = None
        if is_json:
            try:
                parsed = orjson.loads(raw)
            except orjson.JSONDecodeError:
                parsed = None
        slug = ""
        if isinstance(parsed, dict) and isinstance(parsed.get("type"), str):
            slug = parsed["type"].rsplit("/", 1)[-1]
        return Reply(status, parsed, retry_after, f"{status} {slug}".strip())
