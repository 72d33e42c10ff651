"""The OpenAPI document an instance serves: ``openapi.yaml`` with its ingest operation
repeated per message type served, each with the type's real JSON Schemas as request body,
so client generators and API fuzzers (schemathesis) produce events the API accepts."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from ingest_api.service import MessageType
from schemas.validation import EMAIL_PATTERN

TEMPLATE = Path(__file__).resolve().parent / "openapi.yaml"
TEMPLATE_PATH = "/ingest/{message_type}"
#: Text the validator refuses although JSON Schema allows it (schemas/README.md: U+0000
#: cannot be stored by any warehouse), stated in the published schema so generators avoid it.
NO_NUL = "^[^\u0000]*$"
#: What the validator takes for ``format: email``; formats alone are only annotations.
FORMAT_PATTERNS = {"email": EMAIL_PATTERN}


def event_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A type's JSON Schema as an OpenAPI 3.1 schema object: without ``$schema``/``$id``
    (the document's dialect and base apply), with the validator's text rules as patterns.
    Not expressible here: a date-time's instant in UTC must lie in years 1 to 9999."""
    node = {k: copy.deepcopy(v) for k, v in schema.items() if k not in ("$schema", "$id")}

    def walk(n: dict[str, Any]) -> None:
        if n.get("type") == "string" and "format" not in n:
            n.setdefault("pattern", NO_NUL)
        elif n.get("format") in FORMAT_PATTERNS:
            n.setdefault("pattern", FORMAT_PATTERNS[n["format"]])
        for child in n.get("properties", {}).values():
            walk(child)
        if isinstance(n.get("items"), dict):
            walk(n["items"])

    walk(node)
    return node


def component_name(message_type: str, version: int) -> str:
    return f"{message_type}_v{version}"


def document(types: Mapping[str, MessageType]) -> dict[str, Any]:
    doc = yaml.safe_load(TEMPLATE.read_text())
    template = doc["paths"].pop(TEMPLATE_PATH)
    schemas = doc["components"]["schemas"]
    for name, mtype in sorted(types.items()):
        refs = []
        for version in reversed(mtype.served_versions):
            resolved = mtype.at_version(version).schema
            schemas[component_name(name, version)] = event_schema(resolved.schema)
            refs.append({"$ref": f"#/components/schemas/{component_name(name, version)}"})
        # anyOf, not oneOf: an event of an earlier version is also valid in a later one.
        event = refs[0] if len(refs) == 1 else {"anyOf": refs}
        operation = copy.deepcopy(template["post"])
        operation["operationId"] = f"ingest_{name}"
        operation["summary"] = f"{name}: {operation['summary']}"
        version_header = next(p for p in operation["parameters"]
                              if p["name"] == "Hover-Schema-Version")
        version_header["schema"] = {"type": "integer", "enum": list(mtype.served_versions)}
        operation["requestBody"]["content"] = {
            "application/json": {"schema": {"oneOf": [
                {**event, "description": f"One {name} event"} if "anyOf" in event else event,
                {"type": "array", "items": event, "description": f"A batch of {name} events"},
            ]}},
            **operation["requestBody"]["content"],
        }
        doc["paths"][f"/ingest/{name}"] = {"post": operation}
    return doc
