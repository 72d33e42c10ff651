"""A small client for the Confluent-compatible schema registry REST API.

confluent-kafka ships a registry client, but it is tied to its serializers' wire format
(magic byte + schema id in every message); our events are plain JSON with the schema
version in a Kafka header, so we only need register / fetch / compatibility, done here with
``requests`` in a few calls.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass

import requests

from schemas import SchemaVersion, message_types, versions

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


class RegistryError(RuntimeError):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class RegisteredSchema:
    subject: str
    version: int
    schema_id: int
    schema: dict


class SchemaRegistryClient:
    def __init__(self, url: str, *, timeout: float = 5.0,
                 session: requests.Session | None = None) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = session or requests.Session()
        self.session.headers.update({"Content-Type": CONTENT_TYPE, "Accept": "application/json"})

    def _call(self, method: str, path: str, body: dict | None = None) -> dict | list:
        try:
            response = self.session.request(
                method, f"{self.url}{path}", json=body, timeout=self.timeout
            )
        except requests.RequestException as exc:
            raise RegistryError(f"schema registry at {self.url} unreachable: {exc}") from exc
        if response.status_code >= 400:
            raise RegistryError(
                f"{method} {path} -> {response.status_code}: {response.text[:500]}",
                status=response.status_code,
            )
        return response.json()

    def set_compatibility(self, subject: str, level: str = "BACKWARD") -> None:
        self._call("PUT", f"/config/{subject}", {"compatibility": level})

    def register(self, subject: str, schema: dict) -> int:
        """Register a version (idempotent: the same content returns its existing id)."""
        body = {"schemaType": "JSON", "schema": json.dumps(schema, sort_keys=True)}
        return int(self._call("POST", f"/subjects/{subject}/versions", body)["id"])

    def is_compatible(self, subject: str, schema: dict) -> bool:
        body = {"schemaType": "JSON", "schema": json.dumps(schema, sort_keys=True)}
        result = self._call("POST", f"/compatibility/subjects/{subject}/versions/latest", body)
        return bool(result["is_compatible"])

    def get(self, subject: str, version: int | str = "latest") -> RegisteredSchema:
        data = self._call("GET", f"/subjects/{subject}/versions/{version}")
        return RegisteredSchema(
            subject=data["subject"],
            version=int(data["version"]),
            schema_id=int(data["id"]),
            schema=json.loads(data["schema"]),
        )

    def subjects(self) -> list[str]:
        return list(self._call("GET", "/subjects"))


def register_all(client: SchemaRegistryClient,
                 types: Iterable[str] | None = None) -> list[tuple[SchemaVersion, int]]:
    """Register every version of every type in order, with BACKWARD compatibility enforced
    by the registry; re-running registers nothing new."""
    done = []
    for message_type in types or message_types():
        history = versions(message_type)
        client.set_compatibility(history[0].subject, "BACKWARD")
        for version in history:
            done.append((version, client.register(version.subject, version.schema)))
    return done


@dataclass(frozen=True)
class ResolvedSchema:
    """A schema version as a component uses it, and where it came from."""

    subject: str
    version: int
    schema: dict
    origin: str  # "registry" or "files"


class SchemaSource:
    """Schemas for the services: from the registry (the seed's HTTP GET), cached for the
    life of the process, with ``schemas/`` as the fallback when the registry cannot be
    reached or does not know the subject (a service run without a registry)."""

    def __init__(self, registry_url: str | None, *, timeout: float = 3.0) -> None:
        self.client = SchemaRegistryClient(registry_url, timeout=timeout) if registry_url else None
        self._cache: dict[tuple[str, str], ResolvedSchema] = {}

    def resolve(self, message_type: str, subject: str, version: int | str = "latest"
                ) -> ResolvedSchema:
        key = (subject, str(version))
        if key not in self._cache:
            self._cache[key] = self._fetch(message_type, subject, version)
        return self._cache[key]

    def _fetch(self, message_type: str, subject: str, version: int | str) -> ResolvedSchema:
        if self.client is not None:
            try:
                found = self.client.get(subject, version)
                return ResolvedSchema(subject, found.version, found.schema, "registry")
            except RegistryError as exc:
                if exc.status not in (None, 404):
                    raise
                log.warning("schema %s v%s from files: %s", subject, version, exc)
        history = versions(message_type)
        if version == "latest":
            chosen = history[-1]
        else:
            matches = [v for v in history if v.version == int(version)]
            if not matches:
                raise LookupError(f"{subject} has no version {version} in {history[0].path.parent}")
            chosen = matches[0]
        return ResolvedSchema(subject, chosen.version, chosen.schema, "files")
