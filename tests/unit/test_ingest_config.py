"""An ingest instance refuses to start without what it needs, and says what to set."""

from __future__ import annotations

import pytest

from ingest_api import create_app


def test_no_kafka_address_is_a_clear_start_error(monkeypatch) -> None:
    monkeypatch.delenv("HOVER_KAFKA_BOOTSTRAP", raising=False)
    monkeypatch.delenv("HOVER_INGEST_KAFKA_BOOTSTRAP", raising=False)
    with pytest.raises(RuntimeError, match="HOVER_KAFKA_BOOTSTRAP"):
        create_app({"API_KEYS": "k" * 20})


def test_no_api_key_is_a_clear_start_error(monkeypatch) -> None:
    monkeypatch.setenv("HOVER_KAFKA_BOOTSTRAP", "127.0.0.1:1")
    monkeypatch.delenv("HOVER_INGEST_API_KEYS", raising=False)
    with pytest.raises(RuntimeError, match="no API keys configured"):
        create_app({"API_KEYS": ""})


def test_a_misspelt_setting_is_a_clear_start_error(monkeypatch) -> None:
    monkeypatch.setenv("HOVER_KAFKA_BOOTSTRAP", "127.0.0.1:1")
    monkeypatch.setenv("HOVER_INGEST_MAX_BATCH_RECORD", "5000")
    with pytest.raises(RuntimeError, match=r"HOVER_INGEST_MAX_BATCH_RECORD \(did you mean "
                                           r"HOVER_INGEST_MAX_BATCH_RECORDS\?\)"):
        create_app({"API_KEYS": "k" * 20})


def test_other_components_settings_and_real_ones_are_accepted(monkeypatch) -> None:
    monkeypatch.setenv("HOVER_KAFKA_BOOTSTRAP", "127.0.0.1:1")
    for name, value in {"HOVER_INGEST_URL": "http://127.0.0.1:1", "HOVER_INGEST_WORKERS": "2",
                        "HOVER_INGEST_INSTANCES": "2", "HOVER_INGEST_2_PORT": "18102",
                        "HOVER_INGEST_MAX_BATCH_RECORDS": "7"
                        }.items():
        monkeypatch.setenv(name, value)
    app = create_app({"API_KEYS": "k" * 20})
    assert app.config["MAX_BATCH_RECORDS"] == 7


def test_a_message_file_sets_only_deployment_settings(tmp_path) -> None:
    from ingest_api.config import load_message_configs

    assert {name: (c.topic, c.key_fields) for name, c in load_message_configs().items()} == {
        "customer": ("customer", ("id",)), "hoverboard": ("hoverboard", ("id",)),
        "trip": ("trip", ("hoverboard_id", "customer_id"))}  # from schemas/<type>/type.yaml
    conf = tmp_path / "trip.conf"
    conf.write_text("[trip]\ntopic = trip-eu\nsink = warehouse\n")
    [(name, trip)] = load_message_configs(str(conf)).items()
    assert (name, trip.topic, trip.sink, trip.key_fields) == (
        "trip", "trip-eu", "warehouse", ("hoverboard_id", "customer_id"))
    conf.write_text("[trip]\nkey_fields = customer_id\n")
    with pytest.raises(ValueError, match=r"trip.conf \[trip\]: key_fields cannot be set here; "
                                         r".* declared in schemas/trip/type.yaml"):
        load_message_configs(str(conf))
    conf.write_text("[scooter]\ntopic = scooter\n")
    with pytest.raises(ValueError, match=r"\[scooter\]: no such message type; declared: "
                                         r"customer, hoverboard, trip"):
        load_message_configs(str(conf))
