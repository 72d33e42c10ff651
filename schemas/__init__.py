"""The registry of record for message schemas: ``schemas/<type>/v<N>.json``.

Each message type has its JSON Schemas as numbered versions; they are registered into a
Confluent-compatible schema registry under the subject ``<type>-value`` (Kafka's topic-name
strategy), with BACKWARD compatibility enforced by the registry itself. Beside them,
``schemas/<type>/type.yaml`` declares how the platform carries the type (``schemas.types``).

``HOVER_SCHEMAS_DIR`` points every component at another tree of the same shape (a
deployment's own, or a test's scratch copy with an extra type).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

SCHEMA_DIR = Path(__file__).resolve().parent
DIR_ENV = "HOVER_SCHEMAS_DIR"
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


def schema_dir() -> Path:
    """The schemas tree in force: ``$HOVER_SCHEMAS_DIR``, else this package's folder."""
    configured = os.environ.get(DIR_ENV, "").strip()
    return Path(configured).resolve() if configured else SCHEMA_DIR


def message_types() -> list[str]:
    root = schema_dir()
    return sorted(p.name for p in root.iterdir() if p.is_dir() and any(p.glob("v*.json")))


def versions(message_type: str) -> tuple[SchemaVersion, ...]:
    """All versions of a type's schema in ascending order."""
    return _versions(schema_dir(), message_type)


@cache
def _versions(root: Path, message_type: str) -> tuple[SchemaVersion, ...]:
    folder = root / message_type
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
