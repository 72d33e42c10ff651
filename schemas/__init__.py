"""The registry of record for message schemas: ``schemas/<type>/v<N>.json``.

Each message type has its JSON Schemas as numbered versions; they are registered into a
Confluent-compatible schema registry under the subject ``<type>-value`` (Kafka's topic-name
strategy), with BACKWARD compatibility enforced by the registry itself.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

SCHEMA_DIR = Path(__file__).resolve().parent
_VERSION_FILE = re.compile(r"^v(\d+)\.json$")


@dataclass(frozen=True)
class SchemaVersion:
    message_type: str
    version: int
    schema: dict
    path: Path

    @property
    def subject(self) -> str:
        return subject_for(self.message_type)


def subject_for(message_type: str) -> str:
    return f"{message_type}-value"


def message_types() -> list[str]:
    return sorted(p.name for p in SCHEMA_DIR.iterdir() if p.is_dir() and any(p.glob("v*.json")))


@cache
def versions(message_type: str) -> tuple[SchemaVersion, ...]:
    """All versions of a type's schema in ascending order."""
    folder = SCHEMA_DIR / message_type
    found = []
    for path in folder.glob("v*.json"):
        match = _VERSION_FILE.match(path.name)
        if match:
            found.append(SchemaVersion(message_type, int(match.group(1)),
                                       json.loads(path.read_text()), path))
    if not found:
        raise LookupError(f"no schema versions for message type {message_type!r} in {folder}")
    return tuple(sorted(found, key=lambda v: v.version))


def latest(message_type: str) -> SchemaVersion:
    return versions(message_type)[-1]
