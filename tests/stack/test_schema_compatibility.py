"""Every schema version is backward compatible with the one before it, as judged by the
real schema registry (the same rule that guards registration in production)."""

from __future__ import annotations

import copy
import itertools
import uuid

import pytest

from schemas import latest, message_types, versions
from schemas.registry import SchemaRegistryClient


@pytest.fixture(scope="module")
def registry(stack_env) -> SchemaRegistryClient:
    return SchemaRegistryClient(stack_env["HOVER_SCHEMA_REGISTRY_URL"])


def scratch_subject(registry: SchemaRegistryClient, first_schema: dict) -> str:
    subject = f"compat-{uuid.uuid4().hex[:10]}-value"
    registry.set_compatibility(subject, "BACKWARD")
    registry.register(subject, first_schema)
    return subject


@pytest.mark.parametrize("message_type", message_types())
def test_each_version_is_backward_compatible_with_the_previous(registry, message_type) -> None:
    for older, newer in itertools.pairwise(versions(message_type)):
        subject = scratch_subject(registry, older.schema)
        assert registry.is_compatible(subject, newer.schema), (
            f"{newer.path} is not backward compatible with {older.path}"
        )


@pytest.mark.parametrize("message_type", message_types())
def test_the_check_catches_a_breaking_change(registry, message_type) -> None:
    current = latest(message_type).schema
    subject = scratch_subject(registry, current)
    breaking = copy.deepcopy(current)
    breaking["properties"]["firmware"] = {"type": "string"}
    breaking["required"] = [*breaking["required"], "firmware"]
    assert not registry.is_compatible(subject, breaking)
    compatible = copy.deepcopy(current)
    compatible["properties"]["firmware"] = {"type": "string"}  # optional: old data still valid
    assert registry.is_compatible(subject, compatible)
