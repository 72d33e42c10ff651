"""Which records of a batch break their schema, decided by the ingest API's own validator.

The sink used to restate every rule of the JSON Schema as Spark column expressions, which
parsed each record four to five times and took about three quarters of the sink's Spark time
(timed with and without them before the change). Now the raw values collected with the batch
go through ``schemas.validation.EventValidator``, the API's validator: jsonschema-rs says
valid or not in microseconds, jsonschema explains the rejected ones. One definition of
"valid" for the whole platform, and the dead letters carry the same messages a client gets
in a 422.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from loader.tables import TableSpec
from schemas.validation import EventValidator


def record_problem(raw: bytes | None, validator: EventValidator) -> str | None:
    """Why one Kafka value cannot be loaded, or None when it is a valid event."""
    if raw is None:
        return "(record): no value"
    try:
        record = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return f"(record): not a JSON object ({exc})"
    errors = validator.errors(record)
    if not errors:
        return None
    return "; ".join(f"{e.pointer or '(record)'}: {e.detail}" for e in errors)


def batch_problems(raw_values: Iterable[bytes | None], validator: EventValidator
                   ) -> list[str | None]:
    return [record_problem(raw, validator) for raw in raw_values]


def required_pointers(schema: Mapping[str, Any], path: str = "") -> Iterator[str]:
    """JSON pointers of the values every valid record has (required all the way down)."""
    for name in schema.get("required", ()):
        pointer = f"{path}/{name}"
        yield pointer
        child = schema.get("properties", {}).get(name, {})
        if child.get("type") == "object":
            yield from required_pointers(child, pointer)


def unconverted(rows: pa.Table, spec: TableSpec, schema: Mapping[str, Any],
                problems: list[str | None]) -> list[str | None]:
    """``problems`` plus valid records whose required value Spark's parse left null.

    Validation and Spark's ``from_json`` are two parsers: should they ever disagree on a
    valid record, its row would break the table's NOT NULL and fail the batch on every
    replay. Such a record goes to the dead letters instead, with the column named.
    """
    required = set(required_pointers(schema))
    out = list(problems)
    for column, pointer in spec.columns:
        if pointer not in required:
            continue
        for index in pc.indices_nonzero(pc.is_null(rows[column])).to_pylist():
            if out[index] is None:
                out[index] = (f"{pointer}: valid, but the sink could not convert it to "
                              f"column {column}")
    return out


def valid_mask(problems: list[str | None]) -> pa.Array:
    return pa.array([p is None for p in problems], pa.bool_())
