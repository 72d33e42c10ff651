"""One declaration per message type (``schemas/<type>/type.yaml``): what the platform derives
from it and the type's JSON Schema, and how a bad declaration is refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from schemas import SCHEMA_DIR, latest
from schemas.types import DeclarationError, declaration, declarations, parse

TRIP = yaml.safe_load((SCHEMA_DIR / "trip" / "type.yaml").read_text())


def trip(**changes) -> dict:
    return {**TRIP, **changes}


def refused(raw: dict, match: str) -> None:
    path = Path("schemas/trip/type.yaml")
    with pytest.raises(DeclarationError, match=match) as error:
        parse("trip", raw, latest("trip").schema, path=path)
    assert str(error.value).startswith(f"{path}: ")


def test_columns_are_the_schema_properties_except_where_the_declaration_maps_them() -> None:
    d = declaration("trip")
    assert d.columns == (
        ("hoverboard_id", "/hoverboard_id"), ("customer_id", "/customer_id"),
        ("trip_duration", "/trip_duration"),
        ("start_latitude", "/start_location/latitude"),
        ("start_longitude", "/start_location/longitude"),
        ("end_latitude", "/end_location/latitude"), ("end_longitude", "/end_location/longitude"),
        ("start_time", "/start_time_and_date"), ("end_time", "/end_time_and_date"))
    assert d.time_columns == ("start_time", "end_time")  # format: date-time
    assert (d.table, d.natural_key, d.key_fields) == (
        "fleet.trip", ("hoverboard_id", "customer_id", "start_time"),
        ("hoverboard_id", "customer_id"))


def test_ranges_come_from_the_latest_schema_minimum_and_maximum() -> None:
    ranges = {column: (low, high) for column, low, high in declaration("hoverboard").ranges}
    assert ranges["speed"] == (0, 80)
    assert ranges["latitude"] == (-90, 90)  # a nested property, under its column's name
    assert ranges["battery_cycles"] == (0, 1_000_000)  # v2's field
    assert "isdocked" not in ranges and "event_time" not in ranges


def test_merge_and_backup_follow_the_declaration() -> None:
    found = declarations()
    assert (found["customer"].merge.rule, found["customer"].merge.version_by,
            found["customer"].backup_column) == ("latest", "updated_at", None)
    assert (found["hoverboard"].merge.rule, found["hoverboard"].backup_column) == (
        "insert", "event_time")
    assert found["trip"].backup_column == "start_time"


@pytest.mark.parametrize(("raw", "match"), [
    (trip(colour="red"), r"colour: unknown setting"),
    (trip(key_fields=["hoverboard_id", "rider"]), r"key_fields: 'rider' is not a required"),
    (trip(natural_key=["hoverboard_id", "start_time_and_date"]),
     r"natural_key: 'start_time_and_date' is not a column \(columns: hoverboard_id, "),
    (trip(range_by="end_time"), r"range_by: 'end_time' must be part of natural_key"),
    (trip(event_time="trip_duration"), r"event_time: 'trip_duration' is not a date-time column"),
    (trip(merge={"rule": "latest", "version_by": "changed_at"}),
     r"merge.version_by: 'changed_at' is not a column"),
    (trip(merge={"rule": "latest", "version_by": "end_time", "tiebreak": "received_at"}),
     r"merge.tiebreak: must be one of"),
    (trip(backup="weekly"), r"backup: must be one of \('day', 'snapshot'\)"),
    (trip(columns={"start_latitude": "/start_location/lat"}),
     r"columns.start_latitude: /start_location/lat is not a property"),
    (trip(columns={}), r"columns: property 'start_location' is an object; map its fields"),
    (trip(quality={**TRIP["quality"], "required": ["rider_id"]}),
     r"quality.required: 'rider_id' is not a column"),
    (trip(quality={"volume_min_rows": 0}), r"quality.freshness_max_minutes: expected a number"),
])
def test_a_bad_declaration_names_the_file_and_the_field(raw, match) -> None:
    refused(raw, match)


def test_fewer_schema_versions_than_declared_is_refused(tmp_path, monkeypatch) -> None:
    shutil.copytree(SCHEMA_DIR / "hoverboard", tmp_path / "hoverboard")
    (tmp_path / "hoverboard" / "v2.json").unlink()
    monkeypatch.setenv("HOVER_SCHEMAS_DIR", str(tmp_path))
    with pytest.raises(DeclarationError, match=r"type.yaml: versions: declares 2 schema "
                                               r"versions, .* has 1"):
        declaration("hoverboard")


def test_a_type_without_a_declaration_is_refused(tmp_path, monkeypatch) -> None:
    shutil.copytree(SCHEMA_DIR / "trip", tmp_path / "trip")
    (tmp_path / "trip" / "type.yaml").unlink()
    monkeypatch.setenv("HOVER_SCHEMAS_DIR", str(tmp_path))
    with pytest.raises(DeclarationError, match=r"trip/type.yaml: missing"):
        declaration("trip")
