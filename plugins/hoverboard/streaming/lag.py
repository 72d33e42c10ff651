"""How far behind Kafka a job is: per partition, the topic's end offset minus the job's next
offset to read (from its last batch in ``platform.stream_progress``).

A partition the job has never read counts from the partition's earliest retained offset
(what a sink starting at ``earliest`` reads first), so records deleted by retention are not
counted as lag.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

TIMEOUT_S = 10.0


def compute_lag(committed: Mapping[int, int], earliest: Mapping[int, int],
                end: Mapping[int, int]) -> dict[int, int]:
    """Lag per partition of the topic (every partition in ``end``), never negative."""
    lag = {}
    for partition, high in sorted(end.items()):
        low = earliest.get(partition, 0)
        position = max(committed.get(partition, low), low)
        lag[partition] = max(0, high - position)
    return lag


def watermarks(admin: Any, topic: str, timeout_s: float = TIMEOUT_S
               ) -> tuple[dict[int, int], dict[int, int]]:
    """(earliest, end) offsets per partition of ``topic``, from a confluent-kafka
    ``AdminClient`` (the apache-kafka provider's ``KafkaAdminClientHook.get_conn``).

    :raises LookupError: the topic does not exist.
    """
    from confluent_kafka.admin import OffsetSpec

    metadata = admin.list_topics(topic, timeout=timeout_s).topics.get(topic)
    if metadata is None or metadata.error is not None or not metadata.partitions:
        problem = metadata.error if metadata is not None else "no metadata"
        raise LookupError(f"Kafka topic {topic!r} is not available: {problem}")
    partitions = sorted(metadata.partitions)
    found = []
    for spec in (OffsetSpec.earliest(), OffsetSpec.latest()):
        found.append(_offsets(admin, topic, partitions, spec, timeout_s))
    return found[0], found[1]


def _offsets(admin: Any, topic: str, partitions: list[int], spec: Any,
             timeout_s: float) -> dict[int, int]:
    """One list_offsets call, retried while Kafka says so (a leader election after a
    broker restart or a new topic answers NOT_LEADER_FOR_PARTITION for a moment)."""
    import time

    from confluent_kafka import KafkaException, TopicPartition

    deadline = time.monotonic() + timeout_s
    while True:
        futures = admin.list_offsets({TopicPartition(topic, p): spec for p in partitions},
                                     request_timeout=timeout_s)
        try:
            return {tp.partition: future.result(timeout=timeout_s + 5).offset
                    for tp, future in futures.items()}
        except KafkaException as exc:
            error = exc.args[0]
            if not error.retriable() or time.monotonic() > deadline:
                raise
            time.sleep(0.5)
