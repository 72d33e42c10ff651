"""The ingest use case without HTTP: validate records of one type, send the valid ones,
report each record's fate in order."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

from ingest_api.config import MessageConfig
from ingest_api.sinks import Delivery, OutgoingEvent, Sink
from schemas import headers as kafka_headers
from schemas.keys import key_bytes
from schemas.registry import ResolvedSchema
from schemas.validation import EventValidator, FieldError


@dataclass(frozen=True)
class MessageType:
    config: MessageConfig
    schema: ResolvedSchema
    validator: EventValidator

    @property
    def name(self) -> str:
        return self.config.name


class RecordOutcome(NamedTuple):
    """What happened to one record: accepted (stored), rejected (invalid) or failed (the
    sink did not confirm it; the client should retry). A named tuple: one per record."""

    status: str  # "accepted" | "rejected" | "failed"
    errors: tuple[FieldError, ...] = ()
    delivery: Delivery | None = None

    def as_item(self, index: int) -> dict[str, Any]:
        item: dict[str, Any] = {"index": index}
        if self.status == "accepted":
            item.update(status=201, result="accepted",
                        partition=self.delivery.partition, offset=self.delivery.offset)
        elif self.status == "rejected":
            item.update(status=422, result="rejected",
                        errors=[e.as_dict() for e in self.errors])
        else:
            item.update(status=503, result="failed", error=self.delivery.error)
        return item


def ingest_records(message_type: MessageType, sink: Sink, records: Sequence[Any], *,
                   request_id: str, received_at_ms: int | None = None) -> list[RecordOutcome]:
    received = str(received_at_ms if received_at_ms is not None else time.time_ns() // 10**6)
    headers = [
        (kafka_headers.RECEIVED_AT, received.encode()),
        (kafka_headers.SCHEMA_SUBJECT, message_type.schema.subject.encode()),
        (kafka_headers.SCHEMA_VERSION, str(message_type.schema.version).encode()),
        (kafka_headers.REQUEST_ID, request_id.encode()),
    ]
    outcomes: list[RecordOutcome | None] = []
    valid_positions: list[int] = []
    events: list[OutgoingEvent] = []
    for position, record in enumerate(records):
        errors = message_type.validator.errors(record)
        if errors:
            outcomes.append(RecordOutcome("rejected", tuple(errors)))
            continue
        outcomes.append(None)
        valid_positions.append(position)
        events.append(OutgoingEvent(
            topic=message_type.config.topic,
            key=key_bytes(record, message_type.config.key_fields),
            value=orjson.dumps(record),
            headers=headers,
            message_type=message_type.name,
            record=record,
        ))
    for position, delivery in zip(valid_positions, sink.send(events) if events else [],
                                  strict=True):
        outcomes[position] = RecordOutcome("accepted" if delivery.ok else "failed",
                                           delivery=delivery)
    return outcomes  # type: ignore[return-value]
