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
