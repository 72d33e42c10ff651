"""Where accepted events go, and the proof that they got there.

A sink's ``send`` returns one :class:`Delivery` per event only once the event is durably
stored (or has definitely failed), within a bounded time. The HTTP layer answers 2xx only
for events whose delivery succeeded.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, NamedTuple, Protocol

from confluent_kafka import KafkaError, Producer

from schemas.keys import JAVA_COMPATIBLE_PARTITIONER

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class OutgoingBatch:
    """The accepted events of one request: one type, one topic, one set of headers, and the
    events' keys, values and records in parallel lists (a request can carry thousands of
    events, and per-event objects were a measurable share of the hot path)."""

    topic: str
    message_type: str
    headers: list[tuple[str, bytes]]
    keys: list[bytes] = field(default_factory=list)
    values: list[bytes] = field(default_factory=list)
    #: The validated events, for sinks that write rows rather than bytes.
    records: list[dict] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.keys)


# A named tuple rather than a dataclass: one is made per record, and a tuple costs a fraction
# of a frozen dataclass to build.
class Delivery(NamedTuple):
    ok: bool
    partition: int | None = None
    offset: int | None = None
    error: str | None = None
    #: Why the sink will never store this record (FieldErrors: pointer and rule): a 422,
    #: not a 503 the client would retry forever.
    refused: tuple = ()


class Sink(Protocol):
    def send(self, batch: OutgoingBatch) -> list[Delivery]: ...
    def readiness_problem(self, topics: tuple[str, ...] = ()) -> str | None: ...
    def close(self, timeout: float = 10.0) -> None: ...


class _PendingBatch:
    """Delivery reports of one request, filled in by whoever polls the producer."""

    def __init__(self, size: int) -> None:
        self.results: list[Delivery | None] = [None] * size
        self._size = size
        # Counted with itertools.count, whose next() is atomic under the GIL: reports come
        # from the poll thread while the request thread resolves refused records, and a lock
        # per record was a visible cost.
        self._resolved = itertools.count(1)
        self.done = threading.Event()
        if size == 0:
            self.done.set()

    def resolve(self, index: int, delivery: Delivery) -> None:
        self.results[index] = delivery
        if next(self._resolved) == self._size:
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
            # Records of concurrent requests wait up to 5 ms to share a produce request:
            # the broker's cost is per request and per partition batch, not per record. Single
            # events in quick runs of benchmarks.ingest_bench --only single,rate (setting this
            # through HOVER_INGEST_KAFKA_PRODUCER_CONFIG): 2 ms gave 2,230 requests/s, 144 us
            # of broker CPU each and a p99 of 13 ms at 1,000 req/s; 5 ms gave 2,560/s, 101 us
            # and 15 ms; 10 ms gave 2,840/s but a p99 of 19 ms, too close to the 20 ms goal.
            "linger.ms": 5,
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
        producer = self._producer  # the common case, without the lock
        if producer is not None and self._owner_pid == os.getpid() and not self._broken:
            return producer
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

    def send(self, batch: OutgoingBatch) -> list[Delivery]:
        producer = self._get()
        pending = _PendingBatch(len(batch))
        produce, topic, headers, on_delivery = (producer.produce, batch.topic, batch.headers,
                                                pending.on_delivery)
        # Once a record of a key could not be queued, later records of that key in the
        # batch are not sent either: a retry must not find record n+1 stored without n.
        refused_keys: set[bytes] = set()
        for index, (key, value) in enumerate(zip(batch.keys, batch.values, strict=True)):
            if refused_keys and key in refused_keys:
                pending.resolve(index, Delivery(False, error="an earlier record of this key "
                                                             "was not stored"))
                continue
            try:
                produce(topic, value=value, key=key, headers=headers,
                        on_delivery=partial(on_delivery, index))
            except BufferError:
                refused_keys.add(key)
                pending.resolve(index, Delivery(False, error="producer queue full"))
            except Exception as exc:  # noqa: BLE001 - KafkaException, bad topic...
                refused_keys.add(key)
                pending.resolve(index, Delivery(False, error=str(exc)))
        self._wake.set()
        # message.timeout.ms makes librdkafka report every record by then; the margin
        # covers the poll interval.
        pending.done.wait(self.ack_timeout_s + 1.0)
        results = [
            r if r is not None else Delivery(False, error="no acknowledgement in time")
            for r in pending.results
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
    committed before the request is answered, idempotent on the natural key. A record one
    of the table's columns cannot hold (``loader.limits``, from the warehouse catalog) is
    refused, answered 422 with its field, and the rest of the request is loaded.
    """

    def __init__(self, loader_factory) -> None:
        self._loader_factory = loader_factory
        self._loader = None
        self._owner_pid: int | None = None
        self._lock = threading.Lock()
        self._limits: dict = {}

    def _get(self):
        with self._lock:  # a connection pool must not be shared across a fork either
            if self._loader is None or self._owner_pid != os.getpid():
                self._loader = self._loader_factory()
                self._owner_pid = os.getpid()
                retries = getattr(self._loader, "retries", None)
                if retries is not None:  # serialization retries show in /metrics
                    from ingest_api.metrics import WAREHOUSE_RETRIES

                    retries.on_retry = WAREHOUSE_RETRIES.inc
                self._limits = {}
            return self._loader

    def _table_limits(self, loader, spec):
        """The table's columns from the warehouse catalog, once per loader and table."""
        from loader.limits import read_limits

        limits = self._limits.get(spec.table)
        if limits is None:
            limits = loader.run(lambda cursor: read_limits(cursor, spec.table))
            self._limits[spec.table] = limits
        return limits

    def send(self, batch: OutgoingBatch) -> list[Delivery]:
        import pyarrow as pa

        from loader.limits import TIMESTAMP_TYPES, violations
        from loader.tables import rows_from_events, table_spec, utc_timestamps
        from schemas.validation import FieldError

        spec = table_spec(batch.message_type)
        try:
            rows = rows_from_events(spec, batch.records,
                                    received_at=[_received_at(batch.headers)] * len(batch))
            loader = self._get()
            limits = self._table_limits(loader, spec)
            # What a column cannot hold would fail the whole load: refuse those records
            # (422, naming the field) and load the rest.
            refused = violations(rows, limits, engine=loader.engine,
                                 pointers=dict(spec.columns))
            rows = utc_timestamps(rows, [c.name for c in limits.columns
                                         if c.data_type in TIMESTAMP_TYPES])
            loadable = [index for index, found in enumerate(refused) if not found]
            loader.load(spec, rows if len(loadable) == len(batch)
                        else rows.take(pa.array(loadable, pa.int64())))
        except Exception as exc:  # noqa: BLE001 - any failure: not stored, 503
            # A database error can quote the failing row ("Failing row contains ..."):
            # the log keeps the reason, never a record's values.
            from alerts.redaction import redact

            log.error("warehouse load of %d %s events failed: %s", len(batch),
                      batch.message_type, redact(str(exc)))
            return [Delivery(False, error=f"warehouse: {type(exc).__name__}")] * len(batch)
        return [Delivery(True) if not found else Delivery(
            False, error="; ".join(map(str, found)),
            refused=tuple(FieldError(v.pointer or "", v.rule) for v in found))
            for found in refused]

    def readiness_problem(self, topics: tuple[str, ...] = ()) -> str | None:
        try:
            self._get().run(lambda cursor: cursor.execute("SELECT 1"))
        except Exception as exc:  # noqa: BLE001
            return f"warehouse unreachable: {type(exc).__name__}: {exc}"
        return None

    def close(self, timeout: float = 10.0) -> None:
        if self._loader is not None and self._owner_pid == os.getpid():
            self._loader.close()


def _received_at(headers: list[tuple[str, bytes]]):
    from datetime import UTC, datetime

    from schemas.headers import RECEIVED_AT

    for name, value in headers:
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
