"""A small client for the Confluent-compatible schema registry REST API.

confluent-kafka ships a registry client, but it is tied to its serializers' wire format
(magic byte + schema id in every message); our events are plain JSON with the schema
version in a Kafka header, so we only need register / fetch / compatibility, done here with
``requests`` in a few calls.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

import requests

from schemas import SchemaVersion, message_types, versions

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
