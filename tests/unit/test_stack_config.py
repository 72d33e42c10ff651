"""Pure parts of the local stack: configuration, the generated env file, Maven coordinates."""

from __future__ import annotations

import base64
import dataclasses
import json
import subprocess
import uuid
import xml.etree.ElementTree as ET

import pytest

from stack import envfile
from stack.artifacts import ArtifactSet, Coordinate, _pom
from stack.config import DEFAULT_PORTS, StackConfig
from stack.secrets import Secrets
from stack.services import kafka


def dummy_secrets() -> Secrets:
    """A value for every secret the stack has, whatever their number."""
    return Secrets(*(f"secret-{field.name}" for field in dataclasses.fields(Secrets)))


def test_env_file_round_trips_awkward_values(tmp_path) -> None:
    values = {
        "AIRFLOW_CONN_X": json.dumps({"conn_type": "postgres", "password": "a'b\"c $d"}),
        "EMPTY": "",
        "SPACES": "two words",
    }
    path = tmp_path / "stack.env"
    envfile.write(path, values)
    assert envfile.load(path) == values
    assert path.stat().st_mode & 0o777 == 0o600
    # The same file is sourced by shells: bash must read back identical values.
    out = subprocess.run(
        ["bash", "-c", f'set -a; . "{path}"; printf "%s" "$AIRFLOW_CONN_X"'],
        capture_output=True, text=True, check=True,
    ).stdout
    assert out == values["AIRFLOW_CONN_X"]


def test_ports_and_partitions_come_from_the_environment(monkeypatch) -> None:
    monkeypatch.delenv("HOVER_POSTGRES_PORT", raising=False)
    monkeypatch.setenv("HOVER_KAFKA_PORT", "29092")
    monkeypatch.setenv("HOVER_N_PART", "100")
    config = StackConfig.from_env()
    assert config.ports["kafka"] == 29092
    assert config.ports["postgres"] == DEFAULT_PORTS["postgres"]
    assert config.n_part == 100


def test_a_non_numeric_port_is_refused(monkeypatch) -> None:
    monkeypatch.setenv("HOVER_POSTGRES_PORT", "fifteen")
    with pytest.raises(SystemExit, match="HOVER_POSTGRES_PORT='fifteen' is not an integer"):
        StackConfig.from_env()


def test_generated_pom_lists_coordinates_and_exclusions() -> None:
    artifacts = ArtifactSet("demo", (
        Coordinate("org.example:lib:1.0", exclusions=("org.bad:thing",)),
        Coordinate("org.example:dist:2.0:zip:all"),
    ))
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    deps = ET.fromstring(_pom(artifacts)).findall(".//m:dependency", ns)
    assert [d.findtext("m:artifactId", namespaces=ns) for d in deps] == ["lib", "dist"]
    assert deps[0].findtext(".//m:exclusion/m:groupId", namespaces=ns) == "org.bad"
    assert deps[1].findtext("m:classifier", namespaces=ns) == "all"


def test_cache_folder_changes_with_the_coordinates(tmp_path) -> None:
    a = ArtifactSet("x", (Coordinate("g:a:1"),))
    b = ArtifactSet("x", (Coordinate("g:a:2"),))
    assert a.path(tmp_path) != b.path(tmp_path)
    assert not a.is_cached(tmp_path)


def test_kafka_cluster_id_never_starts_with_a_dash(monkeypatch) -> None:
    # 0xF8 makes the first base64 character index 62, which URL-safe base64 writes as "-":
    # kafka-storage would take such an id for an option and refuse to format.
    drawn = iter([uuid.UUID(bytes=b"\xf8" + bytes(15)), uuid.UUID(bytes=b"\x04" + bytes(15))])
    monkeypatch.setattr(kafka.uuid, "uuid4", lambda: next(drawn))
    assert kafka.cluster_id() == "BAAAAAAAAAAAAAAAAAAAAA"


def test_kafka_cluster_id_is_16_bytes_of_url_safe_base64() -> None:
    for _ in range(200):
        value = kafka.cluster_id()
        assert len(value) == 22 and not value.startswith("-")
        assert len(base64.urlsafe_b64decode(value + "==")) == 16


def test_three_kafka_brokers_give_every_client_the_whole_cluster(monkeypatch) -> None:
    from stack.services import build_services

    monkeypatch.setenv("HOVER_KAFKA_BROKERS", "3")
    for key, port in (("KAFKA", 29092), ("KAFKA_2", 29094), ("KAFKA_3", 29096)):
        monkeypatch.setenv(f"HOVER_{key}_PORT", str(port))
    config = StackConfig.from_env()
    assert kafka.bootstrap_servers(config) == "127.0.0.1:29092,127.0.0.1:29094,127.0.0.1:29096"
    assert kafka.replication(config) == (3, 2)
    services = {s.name: s for s in build_services(config, dummy_secrets())}
    assert {"kafka", "kafka_2", "kafka_3"} <= services.keys()
    # An ingest instance waits for the whole cluster; 'up kafka' brings the peers along.
    assert set(services["ingest_1"].depends_on) >= {"kafka", "kafka_2", "kafka_3"}
    assert set(services["kafka"].companions) == {"kafka_2", "kafka_3"}
    env = services["kafka"].environment()
    assert env["HOVER_KAFKA_BOOTSTRAP"] == kafka.bootstrap_servers(config)
    assert kafka.bootstrap_servers(config) in env["AIRFLOW_CONN_KAFKA_DEFAULT"]


def test_one_kafka_broker_is_the_default(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("HOVER_STACK_HOME", str(tmp_path))  # a new stack
    monkeypatch.delenv("HOVER_KAFKA_BROKERS", raising=False)
    monkeypatch.setenv("HOVER_KAFKA_PORT", "29092")
    config = StackConfig.from_env()
    assert kafka.bootstrap_servers(config) == "127.0.0.1:29092"
    assert kafka.replication(config) == (1, 1)


def test_a_kafka_cluster_size_without_ports_is_refused(monkeypatch) -> None:
    monkeypatch.setenv("HOVER_KAFKA_BROKERS", "2")
    with pytest.raises(SystemExit, match="HOVER_KAFKA_BROKERS=2: the local stack runs 1 broker"):
        StackConfig.from_env()


def test_a_stack_formatted_for_one_broker_is_not_reused_for_three(monkeypatch, tmp_path) -> None:
    from stack.process import StackError

    monkeypatch.setenv("HOVER_STACK_HOME", str(tmp_path))
    kraft = tmp_path / "data" / "kafka" / "kraft-logs"
    kraft.mkdir(parents=True)
    (kraft / "meta.properties").write_text("node.id=1\n")
    monkeypatch.setenv("HOVER_KAFKA_BROKERS", "3")
    node = kafka.Kafka(StackConfig.from_env(), dummy_secrets(), 2)
    with pytest.raises(StackError, match="formatted for 1 broker.*HOVER_KAFKA_BROKERS=3"):
        node._cluster_id()


def test_without_the_setting_a_stack_keeps_the_size_it_was_formatted_for(monkeypatch,
                                                                          tmp_path) -> None:
    monkeypatch.setenv("HOVER_STACK_HOME", str(tmp_path))
    monkeypatch.delenv("HOVER_KAFKA_BROKERS", raising=False)
    assert StackConfig.from_env().kafka_brokers == 1
    (tmp_path / "data" / "kafka").mkdir(parents=True)
    (tmp_path / "data" / "kafka" / "cluster.json").write_text('{"id": "x", "brokers": 3}')
    assert StackConfig.from_env().kafka_brokers == 3  # 'bin/stack down' stops all three
