"""The schema registry of the local stack: a real Apicurio Registry, Confluent-compatible API."""

from __future__ import annotations

import uuid

import pytest

from schemas import latest, message_types
from schemas.registry import RegistryError, SchemaRegistryClient, register_all


@pytest.fixture
def registry(stack_env: dict[str, str]) -> SchemaRegistryClient:
    return SchemaRegistryClient(stack_env["HOVER_SCHEMA_REGISTRY_URL"])


def test_repo_schemas_registered_and_fetched_back(registry: SchemaRegistryClient) -> None:
    register_all(registry)
    for message_type in message_types():
        local = latest(message_type)
        fetched = registry.get(local.subject)
        assert fetched.version >= local.version
        assert registry.get(local.subject, local.version).schema == local.schema


def test_registering_again_is_a_no_op(registry: SchemaRegistryClient) -> None:
    first = register_all(registry)
    second = register_all(registry)
    assert [schema_id for _, schema_id in first] == [schema_id for _, schema_id in second]


def test_registry_rejects_a_backward_incompatible_version(registry: SchemaRegistryClient) -> None:
    subject = f"compat-check-{uuid.uuid4().hex[:8]}-value"
    # Closed content model, as in schemas/: then a new optional field is a compatible change.
    v1 = {"type": "object", "additionalProperties": False,
          "properties": {"id": {"type": "integer"}}, "required": ["id"]}
    registry.set_compatibility(subject, "BACKWARD")
    registry.register(subject, v1)
    # A new required field breaks readers of old data: the registry must refuse it.
    breaking = {**v1, "properties": {**v1["properties"], "colour": {"type": "string"}},
                "required": ["id", "colour"]}
    with pytest.raises(RegistryError) as refused:
        registry.register(subject, breaking)
    assert refused.value.status == 409
    optional = {**v1, "properties": {**v1["properties"], "colour": {"type": "string"}}}
    assert registry.is_compatible(subject, optional)
    registry.register(subject, optional)
    assert registry.get(subject).version == 2
