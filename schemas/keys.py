"""The Kafka key of an event, defined once for every producer of the platform.

Key bytes are the values of the type's key fields, in the configured order, written as
decimal text and joined by ``|``, encoded as UTF-8: hoverboard ``17`` → ``b"17"``; trip
(hoverboard_id 17, customer_id 230) → ``b"17|230"``. Any producer in any language that
writes the same bytes lands on the same partition, because the partition is Kafka's Java
default: ``toPositive(murmur2(key)) % N_PART`` (librdkafka's ``murmur2_random``
partitioner computes exactly that for non-empty keys).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

KEY_SEPARATOR = "|"
#: The librdkafka partitioner that matches the Java clients' default for keyed records.
JAVA_COMPATIBLE_PARTITIONER = "murmur2_random"


def key_text(record: Mapping[str, Any], fields: Sequence[str]) -> str:
    """Key of a (validated) record as text, e.g. for NGINX routing headers."""
    # Computed for every accepted event: the one-field case (two of three types) skips the
    # join, and a list comprehension is cheaper than a generator for the other.
    if len(fields) == 1:
        return str(record[fields[0]])
    return KEY_SEPARATOR.join([str(record[field]) for field in fields])


def key_bytes(record: Mapping[str, Any], fields: Sequence[str]) -> bytes:
    return key_text(record, fields).encode("utf-8")
