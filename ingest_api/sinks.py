"""Where accepted events go, and the proof that they got there.

A sink's ``send`` returns one :class:`Delivery` per event only once the event is durably
stored (or has definitely failed), within a bounded time. The HTTP layer answers 2xx only
for events whose delivery succeeded.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple, Protocol

from confluent_kafka import KafkaError, Producer

from schemas.keys import JAVA_COMPATIBLE_PARTITIONER

log = logging.getLogger(__name__)


# Named tuples rather than dataclasses: one of each is made per record on the hot path, and a
# tuple costs a fraction of a frozen dataclass to build.
class OutgoingEvent(NamedTuple):
    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]] | tuple = ()
    #: The validated event and its type, for sinks that write rows rather than bytes.
    message_type: str = ""
    record: dict | None = None


class Delivery(NamedTuple):
    ok: bool
    partition: int | None = None
    offset: int | None = None
    error: str | None = None


class Sink(Protocol):
    def send(self, events: list[OutgoingEvent]) -> list[Delivery]: ...
    def readiness_problem(self, topics: tuple[str, ...] = ()) -> str | None: ...
    def close(self, timeout: float = 10.0) -> None: ...


class _PendingBatch:
    """Delivery reports of one request, filled in by the producer's poll thread."""

    def __init__(self, size: int) -> None:
        self.results: list[Delivery | None] = [None] * size
        self._remaining = size
        self._lock = threading.Lock()
        self.done = threading.Event()
        if size == 0:
            self.done.set()

    def resolve(self, index: int, delivery: Delivery) -> None:
        with self._lock:
            if self.results[index] is None:
                self.results[index] = delivery
                self._remaining -= 1
                if self._remaining == 0:
                    self.done.set()

    def on_delivery(self, index: int, err: KafkaError | None, msg) -> None:
        if err is not None:
            self.resolve(index, Delivery(False, error=f"{err.name()}: {err.str()}"))
        else:
            self.resolve(index, Delivery(True, msg.partition(), msg.offset()))


class KafkaSink:
    """One idempotent producer per process (``acks=all``) shared by all request threads.

    Requests do not serialize on Kafka round trips: each request produces its records and
    waits on its own event while the producer is polled for delivery reports in the
    background, so many requests wait for their acknowledgements at once and librdkafka
    batches their records together.

    Under gunicorn's gevent worker (the served configuration) requests are greenlets on one
    OS thread, so the producer is polled by a greenlet, never blocking: a blocking poll would
    stall every request of the worker. Anywhere else (tests, a threaded server) a thread
    polls with a timeout.
    """

    #: How often a cooperative poller looks for delivery reports while records are in flight.
    POLL_INTERVAL_S = 0.0005

    def __init__(self, bootstrap_servers: str, *, ack_timeout_s: float,
                 extra_config: dict | None = None) -> None:
        self.ack_timeout_s = ack_timeout_s
        self._config = {
            "bootstrap.servers": bootstrap_servers,
            "acks": "all",
            "enable.idempotence": True,
            "partitioner": JAVA_COMPATIBLE_PARTITIONER,
            # librdkafka reports failure after this: the bound on a request's wait.
            "message.timeout.ms": int(ack_timeout_s * 1000),
            "linger.ms": 2,
            "compression.type": "lz4",
            "error_cb": self._on_error,
            # librdkafka's own log lines go through Python logging (JSON, levelled).
            "logger": logging.getLogger("ingest_api.kafka"),
            **(extra_config or {}),
        }
        self._lock = threading.Lock()
        self._producer: Producer | None = None
        self._owner_pid: int | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._broken = False
        self.undelivered = 0

    # The producer is created in the process that uses it: gunicorn forks workers after
    # importing the app, and a producer's threads do not survive a fork.
    def _get(self) -> Producer:
        with self._lock:
            if self._producer is None or self._owner_pid != os.getpid() or self._broken:
                if self._producer is not None and self._owner_pid == os.getpid():
                    self._producer.flush(1)
                self._producer = Producer(self._config)
                self._owner_pid = os.getpid()
                self._broken = False
                self._stop.clear()
                threading.Thread(target=self._poll_loop, args=(self._producer,),
                                 name="kafka-poll", daemon=True).start()
            return self._producer

    def _poll_loop(self, producer: Producer) -> None:
        if not _cooperative():
            while not self._stop.is_set() and producer is self._producer:
                producer.poll(0.05)
            return
        import gevent

        while not self._stop.is_set() and producer is self._producer:
            producer.poll(0)
            if len(producer):  # records queued or awaiting their acknowledgement
                gevent.sleep(self.POLL_INTERVAL_S)
            else:  # idle: sleep until send() has something in flight
                self._wake.clear()
                self._wake.wait(1.0)

    def _on_error(self, err: KafkaError) -> None:
        if err.fatal():
            # An idempotent producer that hit a fatal error cannot send again: replace it.
            log.error("fatal Kafka producer error, replacing the producer: %s", err)
            self._broken = True
        else:
            log.warning("Kafka producer: %s", err)

    def send(self, events: list[OutgoingEvent]) -> list[Delivery]:
        producer = self._get()
        batch = _PendingBatch(len(events))
        # Once a record of a key could not be queued, later records of that key in the
        # batch are not sent either: a retry must not find record n+1 stored without n.
        refused_keys: set[bytes] = set()
        for index, event in enumerate(events):
            if event.key in refused_keys:
                batch.resolve(index, Delivery(False, error="an earlier record of this key "
                                                           "was not stored"))
                continue
            try:
                producer.produce(event.topic, value=event.value, key=event.key,
                                 headers=event.headers,
                                 on_delivery=partial(batch.on_delivery, index))
            except BufferError:
                refused_keys.add(event.key)
                batch.resolve(index, Delivery(False, error="producer queue full"))
            except Exception as exc:  # noqa: BLE001 - KafkaException, bad topic...
                refused_keys.add(event.key)
                batch.resolve(index, Delivery(False, error=str(exc)))
        self._wake.set()
        # message.timeout.ms makes librdkafka report every record by then; the margin
        # covers the poll interval.
        batch.done.wait(self.ack_timeout_s + 1.0)
        results = [
            r if r is not None else Delivery(False, error="no acknowledgement in time")
            for r in batch.results
        ]
        self.undelivered += sum(1 for r in results if not r.ok)
        return results

    def _flush(self, producer: Producer, timeout: float) -> int:
        if not _cooperative():
            return producer.flush(timeout)
        # Delivery reports resolve gevent events, which only this thread may touch: flush
        # here, a little at a time, rather than in a thread of gevent's pool.
        import gevent

        deadline = time.monotonic() + timeout
        while (left := producer.flush(0)) and time.monotonic() < deadline:
            gevent.sleep(self.POLL_INTERVAL_S)
        return left

    def queue_depth(self) -> int:
        producer = self._producer
        return len(producer) if producer is not None and self._owner_pid == os.getpid() else 0

    def readiness_problem(self, topics: tuple[str, ...] = ()) -> str | None:
        try:
            metadata = _off_the_event_loop(self._get().list_topics, timeout=2)
        except Exception as exc:  # noqa: BLE001
            return f"Kafka unreachable: {exc}"
        if not metadata.brokers:
            return "Kafka unreachable: no broker answered"
        missing = [t for t in topics if t not in metadata.topics]
        if missing:
            return f"Kafka topics missing: {', '.join(missing)}"
        return None

    def close(self, timeout: float = 10.0) -> None:
        producer = self._producer
        if producer is None or self._owner_pid != os.getpid():
            return
        left = self._flush(producer, timeout)
        self._stop.set()
        self._wake.set()
        # Let the producer go: librdkafka's threads would otherwise keep reconnecting (and
        # logging) for as long as the process lives.
        with self._lock:
            if self._producer is producer:
                self._producer = None
        if left:
            log.error("closing the Kafka producer with %d records undelivered", left)


class WarehouseSink:
    """The seed's Version 1: accepted events go straight into the warehouse, with no Kafka.

    The same loader as the Spark sink (``loader/``): one bulk load and merge per request,
    committed before the request is answered, idempotent on the natural key.
    """

    def __init__(self, loader_factory) -> None:
        self._loader_factory = loader_factory
        self._loader = None
        self._owner_pid: int | None = None
        self._lock = threading.Lock()

    def _get(self):
        with self._lock:  # a connection pool must not be shared across a fork either
            if self._loader is None or self._owner_pid != os.getpid():
                self._loader = self._loader_factory()
                self._owner_pid = os.getpid()
            return self._loader

    def send(self, events: list[OutgoingEvent]) -> list[Delivery]:
        from loader.tables import rows_from_events, table_spec

        by_type: dict[str, list[int]] = {}
        for index, event in enumerate(events):
            by_type.setdefault(event.message_type, []).append(index)
        results: list[Delivery] = [Delivery(False, error="not loaded")] * len(events)
        for message_type, indexes in by_type.items():
            batch = [events[i] for i in indexes]
            try:
                rows = rows_from_events(
                    table_spec(message_type), [e.record for e in batch],
                    received_at=[_received_at(e) for e in batch])
                self._get().load(table_spec(message_type), rows)
                outcome = Delivery(True)
            except Exception as exc:  # noqa: BLE001 - any failure: not stored, 503
                log.error("warehouse load of %d %s events failed: %s", len(batch),
                          message_type, exc)
                outcome = Delivery(False, error=f"warehouse: {type(exc).__name__}")
            for i in indexes:
                results[i] = outcome
        return results

    def readiness_problem(self, topics: tuple[str, ...] = ()) -> str | None:
        try:
            self._get().run(lambda cursor: cursor.execute("SELECT 1"))
        except Exception as exc:  # noqa: BLE001
            return f"warehouse unreachable: {type(exc).__name__}: {exc}"
        return None

    def close(self, timeout: float = 10.0) -> None:
        if self._loader is not None and self._owner_pid == os.getpid():
            self._loader.close()


def _received_at(event: OutgoingEvent):
    from datetime import UTC, datetime

    from schemas.headers import RECEIVED_AT

    for name, value in event.headers:
        if name == RECEIVED_AT:
            return datetime.fromtimestamp(int(value) / 1000, UTC)
    return None


def _cooperative() -> bool:
    """Whether this process runs greenlets on a gevent-patched ``threading`` (gunicorn's
    gevent worker patches before it loads the app)."""
    try:
        from gevent import monkey
    except ImportError:
        return False
    return monkey.is_module_patched("threading")


def _off_the_event_loop(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a blocking librdkafka call that serves no callbacks (metadata) so that it does not
    stall the worker's other requests: in gevent's thread pool when cooperative, inline
    otherwise."""
    if not _cooperative():
        return call(*args, **kwargs)
    import gevent

    return gevent.get_hub().threadpool.apply(call, args, kwargs)
