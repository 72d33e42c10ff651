"""The Kafka Connect side of sink_bench: what a row looks like to JsonConverter
(``schemas.enable=true``) and the Debezium JDBC sink configuration the benchmark prints."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from benchmarks.kafka_connect import (
    CONNECTOR_CLASS,
    Column,
    connector_config,
    envelope,
    envelope_schema,
    masked,
)

COLUMNS = [Column("id", "bigint", False), Column("event_time", "timestamp with time zone", False),
           Column("speed", "double precision", False), Column("isdocked", "boolean", False),
           Column("battery_cycles", "integer", True)]


def config(**overrides) -> dict[str, str]:
    args = dict(topic="t", table="fleet.hoverboard", key=("id", "event_time"), tasks=6,
                batch_size=5000, jdbc_url="jdbc:postgresql://127.0.0.1:5432/w", user="hover",
                password="s3cret")
    return connector_config(**{**args, **overrides})


def test_the_schema_gives_each_column_its_connect_type_and_nullability() -> None:
    schema = envelope_schema(COLUMNS, "fleet.hoverboard")
    assert schema == {"type": "struct", "optional": False, "name": "fleet.hoverboard", "fields": [
        {"field": "id", "type": "int64", "optional": False},
        # timestamptz keeps its zone: Debezium's ISO-8601 ZonedTimestamp, not epoch millis
        {"field": "event_time", "type": "string", "optional": False,
         "name": "io.debezium.time.ZonedTimestamp", "version": 1},
        {"field": "speed", "type": "double", "optional": False},  # JsonConverter's name
        {"field": "isdocked", "type": "boolean", "optional": False},
        {"field": "battery_cycles", "type": "int32", "optional": True},
    ]}


def test_a_column_type_without_a_connect_type_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="column shape: no Connect type for PostgreSQL 'jsonb'"):
        envelope_schema([Column("shape", "jsonb", True)], "x")


def test_a_row_travels_with_its_schema_and_timestamps_as_iso_8601_with_offset() -> None:
    schema = envelope_schema(COLUMNS, "fleet.hoverboard")
    row = {"id": 7, "event_time": datetime(2026, 11, 27, 0, 0, 1, tzinfo=UTC), "speed": 12.5,
           "isdocked": False}
    assert envelope(schema, row) == {"schema": schema, "payload": {
        "id": 7, "event_time": "2026-11-27T00:00:01+00:00", "speed": 12.5, "isdocked": False,
        "battery_cycles": None}}


def test_a_row_with_a_field_the_schema_lacks_is_an_error_not_a_silent_drop() -> None:
    schema = envelope_schema(COLUMNS, "fleet.hoverboard")
    with pytest.raises(ValueError, match=r"\['weight'\]"):
        envelope(schema, {"id": 1, "weight": 80.0})
    with pytest.raises(ValueError, match="no time zone"):
        envelope(schema, {"id": 1, "event_time": datetime(2026, 11, 27)})


def test_the_connector_upserts_on_the_tables_key_with_one_task_per_partition() -> None:
    c = config()
    assert c["connector.class"] == CONNECTOR_CLASS
    assert (c["insert.mode"], c["primary.key.mode"], c["primary.key.fields"]) == (
        "upsert", "record_value", "id,event_time")
    assert c["tasks.max"] == "6"
    assert c["collection.name.format"] == "fleet.hoverboard"
    assert c["schema.evolution"] == "none"  # the table is ours, migrated like the sink's
    # The batch is the stated size, not capped by the consumer's default 500 records a poll.
    assert c["batch.size"] == c["consumer.override.max.poll.records"] == "5000"
    assert (c["value.converter"], c["value.converter.schemas.enable"]) == (
        "org.apache.kafka.connect.json.JsonConverter", "true")
    # Kafka metadata into the columns our sink fills from the record
    assert {k: v for k, v in c.items() if k.startswith("transforms.kafkaMetadata.")} == {
        "transforms.kafkaMetadata.type": "org.apache.kafka.connect.transforms.InsertField$Value",
        "transforms.kafkaMetadata.topic.field": "source_topic",
        "transforms.kafkaMetadata.partition.field": "source_partition",
        "transforms.kafkaMetadata.offset.field": "source_offset"}


@pytest.mark.parametrize("bad", [{"tasks": 0}, {"batch_size": 0}])
def test_no_tasks_or_empty_batches(bad) -> None:
    with pytest.raises(ValueError, match="positive"):
        config(**bad)


def test_the_printed_configuration_masks_the_password_and_nothing_else() -> None:
    c = config()
    shown = masked(c)
    assert shown["connection.password"] == "********"
    assert "s3cret" not in str(shown)
    assert {k: v for k, v in shown.items() if k != "connection.password"} == {
        k: v for k, v in c.items() if k != "connection.password"}
