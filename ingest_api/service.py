"""The ingest use case without HTTP: validate records of one type, send the valid ones,
report each record's fate in order."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson

from ingest_api.config import MessageConfig
from ingest_api.sinks import Delivery, OutgoingBatch, Sink
from schemas import headers as kafka_headers
from schemas.keys import key_bytes
from schemas.registry import ResolvedSchema
from schemas.validation import EventValidator, FieldError


@dataclass(frozen=True)
class MessageType:
    """A type as an instance serves it: ``schema`` is the version a request gets when it
    names none (the latest served); ``earlier`` the older versions a client may name."""

    config: MessageConfig
    schema: ResolvedSchema
    validator: EventValidator
    earlier: Mapping[int, tuple[ResolvedSchema, EventValidator]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def served_versions(self) -> tuple[int, ...]:
        return (*sorted(self.earlier), self.schema.version)

    def at_version(self, version: int) -> MessageType:
        """This type validating (and labelling its records) with schema ``version``.

        :raises LookupError: the instance does not serve that version.
        """
        if version == self.schema.version:
            return self
        if version not in self.earlier:
            raise LookupError(version)
        schema, validator = self.earlier[version]
        return dataclasses.replace(self, schema=schema, validator=validator, earlier={})


class RecordOutcome(NamedTuple):
    """What happened to one record: accepted (stored), rejected (invalid) or failed (the
    sink did not confirm it; the client should retry). A named tuple: one per record."""

    status: str  # "accepted" | "rejected" | "failed"
    errors: tuple[FieldError, ...] = ()
    delivery: Delivery | None = None

    def as_item(self, index: int) -> dict[str, Any]:
        if self.status == "accepted":
            return {"index": index, "status": 201, "result": "accepted",
                    "partition": self.delivery.partition, "offset": self.delivery.offset}
        if self.status == "rejected":
            return {"index": index, "status": 422, "result": "rejected",
                    "errors": [e.as_dict() for e in self.errors]}
        return {"index": index, "status": 503, "result": "failed", "error": self.delivery.error}


def ingest_records(message_type: MessageType, sink: Sink, records: Sequence[Any], *,
                   request_id: str, received_at_ms: int | None = None) -> list[RecordOutcome]:
    received = str(received_at_ms if received_at_ms is not None else time.time_ns() // 10**6)
    headers = [
        (kafka_headers.RECEIVED_AT, received.encode()),
        (kafka_headers.SCHEMA_SUBJECT, message_type.schema.subject.encode()),
        (kafka_headers.SCHEMA_VERSION, str(message_type.schema.version).encode()),
        (kafka_headers.REQUEST_ID, request_id.encode()),
    ]
    validator, key_fields = message_type.validator, message_type.config.key_fields
    every_record_valid = validator.all_valid(records)  # one call for the common case
    outcomes: list[RecordOutcome | None] = []
    valid_positions: list[int] = []
    batch = OutgoingBatch(message_type.config.topic, message_type.name, headers)
    for position, record in enumerate(records):
        errors = () if every_record_valid else validator.errors(record)
        if errors:
            outcomes.append(RecordOutcome("rejected", tuple(errors)))
            continue
        outcomes.append(None)
        valid_positions.append(position)
        batch.keys.append(key_bytes(record, key_fields))
        batch.values.append(orjson.dumps(record))
        batch.records.append(record)
    for position, delivery in zip(valid_positions, sink.send(batch) if valid_positions else (),
                                  strict=True):
        if delivery.refused:  # the sink can never store it: the client must fix it
            outcomes[position] = RecordOutcome("rejected", tuple(delivery.refused))
        else:
            outcomes[position] = RecordOutcome("accepted" if delivery.ok else "failed",
                                               delivery=delivery)
    return outcomes  # type: ignore[return-value]
