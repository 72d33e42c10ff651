"""Reading a request body into records: one JSON event, a JSON array, or NDJSON."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from flask import Request

from ingest_api.problems import Problem

JSON_TYPES = ("application/json",)
NDJSON_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl")


@dataclass(frozen=True)
class ParsedBody:
    records: list[Any]
    is_batch: bool


def _invalid_json(detail: str, pointer: str = "") -> Problem:
    return Problem(400, "invalid-json", "Body is not valid JSON", detail,
                   errors=[{"pointer": pointer, "detail": detail}])


def parse_body(request: Request, *, max_records: int) -> ParsedBody:
    mimetype = request.mimetype
    if mimetype not in JSON_TYPES + NDJSON_TYPES:
        raise Problem(415, "unsupported-media-type", "Unsupported content type",
                      f"send {JSON_TYPES[0]} (one event or an array) or {NDJSON_TYPES[0]} "
                      f"(one event per line), not {mimetype or 'no Content-Type'!r}")
    raw = request.get_data(cache=False)
    if mimetype in JSON_TYPES:
        try:
            parsed = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise _invalid_json(str(exc)) from None
        if isinstance(parsed, list):
            records, is_batch = parsed, True
        else:
            records, is_batch = [parsed], False
    else:
        records, is_batch = [], True
        for number, line in enumerate(raw.split(b"\n"), 1):
            if not line.strip():
                continue
            try:
                records.append(orjson.loads(line))
            except orjson.JSONDecodeError as exc:
                raise _invalid_json(f"line {number}: {exc}", f"/{len(records)}") from None
    if is_batch and not records:
        raise Problem(422, "empty-batch", "Batch has no records",
                      "send at least one event")
    if len(records) > max_records:
        raise Problem(413, "too-many-records", "Too many records in one request",
                      f"{len(records)} records; at most {max_records} per request",
                      max_records=max_records)
    return ParsedBody(records, is_batch)
