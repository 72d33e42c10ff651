"""Every schema version is backward compatible with the one before it, as judged by the
real schema registry (the same rule that guards registration in production), and the rule
really refuses a breaking next version of each type today.

A pairwise check over one version checks nothing, so the number of versions each type must
have is stated twice: in its declaration (``versions`` in ``schemas/<type>/type.yaml``) and
as a floor here. A version file that goes missing fails the suite instead of shrinking the
check to nothing. Adding a version (``schemas/<type>/v<N>.json``) means raising both.
"""

from __future__ import annotations

import copy
import itertools
import uuid

import pytest

from schemas import latest, message_types, subject_for, versions
from schemas.registry import RegistryError, SchemaRegistryClient
from schemas.types import declaration

#: The versions each message type has in ``schemas/`` (at least).
EXPECTED_VERSIONS = {"customer": 1, "hoverboard": 2, "trip": 1}


@pytest.fixture(scope="module")
def registry(stack_env) -> SchemaRegistryClient:
    return SchemaRegistryClient(stack_env["HOVER_SCHEMA_REGISTRY_URL"])


def scratch_subject(registry: SchemaRegistryClient, first_schema: dict) -> str:
    subject = f"compat-{uuid.uuid4().hex[:10]}-value"
    registry.set_compatibility(subject, "BACKWARD")
    registry.register(subject, first_schema)
    return subject


def breaking(schema: dict) -> dict:
    """A next version old records do not satisfy: a new field that every record must have."""
    changed = copy.deepcopy(schema)
    changed["properties"]["firmware"] = {"type": "string"}
    changed["required"] = [*changed["required"], "firmware"]
    return changed


def compatible(schema: dict) -> dict:
    """A next version every old record still satisfies: a new optional field."""
    changed = copy.deepcopy(schema)
    changed["properties"]["firmware"] = {"type": "string"}
    return changed


def test_every_type_has_its_expected_versions_numbered_without_gaps() -> None:
    assert set(message_types()) == set(EXPECTED_VERSIONS), (
        "a message type was added or removed: state its versions in EXPECTED_VERSIONS")
    for message_type, expected in EXPECTED_VERSIONS.items():
        found = [v.version for v in versions(message_type)]
        assert len(found) >= expected, (
            f"{message_type} has versions {found}, expected {expected}: a version file of "
            f"schemas/{message_type}/ is missing")
        assert found == list(range(1, len(found) + 1)), f"{message_type}: gap in {found}"
        # Fewer files than declared is refused by the declaration's reader (DeclarationError).
        assert declaration(message_type).versions == len(found) >= expected, (
            f"schemas/{message_type}/type.yaml lists {declaration(message_type).versions} "
            f"versions, the folder has {found}")
        for version in versions(message_type):
            assert version.schema["$id"].endswith(f":{message_type}:{version.version}"), (
                f"{version.path} declares $id {version.schema['$id']}")


@pytest.mark.parametrize("message_type", message_types())
def test_each_version_is_backward_compatible_with_the_previous(registry, message_type) -> None:
    history = versions(message_type)
    subject = scratch_subject(registry, history[0].schema)
    checked = 0
    for older, newer in itertools.pairwise(history):
        assert registry.is_compatible(subject, newer.schema), (
            f"{newer.path} is not backward compatible with {older.path}")
        registry.register(subject, newer.schema)  # the registry enforces it again here
        checked += 1
    assert checked == len(history) - 1 >= EXPECTED_VERSIONS[message_type] - 1


@pytest.mark.parametrize("message_type", message_types())
def test_the_platform_subject_refuses_a_breaking_next_version(registry, message_type) -> None:
    """What the stack registered from schemas/ is what the registry guards: its latest
    version is the repo's latest, and the registry's own rule answers for the next one."""
    subject = subject_for(message_type)
    current = latest(message_type).schema
    assert registry.get(subject).schema == current
    assert not registry.is_compatible(subject, breaking(current))
    assert registry.is_compatible(subject, compatible(current))


@pytest.mark.parametrize("message_type", message_types())
def test_registering_a_breaking_version_is_refused(registry, message_type) -> None:
    current = latest(message_type).schema
    subject = scratch_subject(registry, current)
    with pytest.raises(RegistryError) as refused:
        registry.register(subject, breaking(current))
    assert refused.value.status == 409
    registry.register(subject, compatible(current))
    assert registry.get(subject).schema == compatible(current)
