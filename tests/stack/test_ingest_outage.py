"""Kafka stopped in the middle of a load: clients get 503 in bounded time, never a 2xx for
an event that is not stored, and every acknowledged event is in the topic afterwards; and a
broker that stops answering gets clients of the balancer a 503 within the ack timeout."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
import requests

from ingest_api import create_app
from ingest_api.config import DefaultConfig
from stack.orchestrator import LocalStack
from stack.process import PidRecord, wait_until
from tests.support import alerts_with, end_offsets, read_from, sample

API_KEY = "outage-key-" + "o" * 24
ACK_TIMEOUT_S = 1.5

#: Both tests take the stack's broker away from every other test while they run.
pytestmark = pytest.mark.serial


def test_kafka_outage_mid_load(stack: LocalStack, stack_env) -> None:
    bootstrap = stack_env["HOVER_KAFKA_BOOTSTRAP"]
    app = create_app({
        "TESTING": True, "KAFKA_BOOTSTRAP": bootstrap,
        "SCHEMA_REGISTRY_URL": stack_env["HOVER_SCHEMA_REGISTRY_URL"],
        "API_KEYS": API_KEY, "ACK_TIMEOUT_S": ACK_TIMEOUT_S, "RETRY_AFTER_S": 3,
        "INSTANCE_NAME": "outage-test",
    })
    client = app.test_client()
    started_at = datetime.now(UTC).isoformat()
    before = end_offsets(bootstrap, "hoverboard")
    acknowledged: list[str] = []
    answers: list[int] = []

    def send(n: int) -> tuple[int, float, object]:
        event_time = f"2026-11-27T12:{n // 60:02d}:{n % 60:02d}Z"
        started = time.monotonic()
        response = client.post("/ingest/hoverboard", json=sample("hoverboard", id=8080,
                                                                 event_time=event_time),
                               headers={"X-API-Key": API_KEY})
        elapsed = time.monotonic() - started
        answers.append(response.status_code)
        if 200 <= response.status_code < 300:
            acknowledged.append(event_time)
        return response.status_code, elapsed, response

    n = 0
    for _ in range(20):
        assert send(n)[0] == 201
        n += 1

    stack.down(["kafka"], echo=lambda _: None)
    try:
        for _ in range(5):
            status, elapsed, response = send(n)
            n += 1
            assert status == 503
            assert response.mimetype == "application/problem+json"
            assert response.headers["Retry-After"] == "3"
            assert elapsed < ACK_TIMEOUT_S + 2.0, f"request hung for {elapsed:.1f}s"
    finally:
        stack.up(["kafka"], echo=lambda _: None)

    # The producer reconnects by itself; a client that retries gets through again.
    recovered = 0
    for _ in range(60):
        if send(n)[0] == 201:
            recovered += 1
        n += 1
        if recovered == 10:
            break
    for sink in app.extensions["hover_ingest"].sinks.values():
        sink.close(timeout=2)
    assert recovered == 10, f"no recovery after the restart: {answers[-10:]}"
    assert set(answers) <= {201, 503}
    # The outage was reported once (rate-limited), not once per failed request.
    app.extensions["hover_alerts"].close()

    def outage_alerts_found() -> list[dict]:
        return [a for a in alerts_with(stack_env["HOVER_ELASTICSEARCH_URL"],
                                       "hoverboard events not stored")
                if a["labels"].get("instance") == "outage-test"
                and a["@timestamp"] >= started_at]

    # The emitter's close waits 5 s for its thread; on a busy machine the write may land later.
    wait_until(lambda: len(outage_alerts_found()) > 0, 30, 1)
    outage_alerts = outage_alerts_found()
    assert len(outage_alerts) == 1
    assert outage_alerts[0]["service"]["name"] == "ingest_api"

    stored = {json.loads(m.value())["event_time"]
              for m in read_from(bootstrap, "hoverboard", before) if m.key() == b"8080"}
    missing = set(acknowledged) - stored
    assert not missing, f"{len(missing)} acknowledged events are not in Kafka"


@contextmanager
def broker_paused(stack: LocalStack) -> Iterator[None]:
    """The stack's broker frozen (SIGSTOP): connections stay open and nothing answers, the
    worst case for a producer. Always resumed, and ready again before the next test."""
    record = PidRecord.read(stack.config.pid_file("kafka"))
    assert record is not None and record.alive(), "the stack's Kafka is not running"
    os.kill(record.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(record.pid, signal.SIGCONT)


def test_a_silent_broker_gets_503_through_the_balancer_within_the_ack_timeout(
        stack: LocalStack, stack_env) -> None:
    """Through NGINX and the stack's gunicorn instances, with their real ACK_TIMEOUT_S."""
    ack_timeout = float(os.environ.get("HOVER_INGEST_ACK_TIMEOUT_S", DefaultConfig.ACK_TIMEOUT_S))
    balancer = stack_env["HOVER_INGEST_URL"]
    with requests.Session() as http:
        http.headers["X-API-Key"] = stack_env["HOVER_INGEST_API_KEYS"].split(",")[0]

        def send(board: int) -> tuple[requests.Response, float]:
            started = time.monotonic()
            response = http.post(f"{balancer}/ingest/hoverboard", timeout=60,
                                 json=sample("hoverboard", id=board), headers={
                                     "X-Hover-Key": str(board)})
            return response, time.monotonic() - started

        # Instances with connected producers (keys spread over them) before the broker
        # goes silent.
        for board in range(9101, 9111):
            assert send(board)[0].status_code == 201
        with broker_paused(stack):
            answers = [send(board) for board in (9101, 9102, 9103)]
        for response, elapsed in answers:
            assert response.status_code == 503, response.text
            assert response.headers["Content-Type"] == "application/problem+json"
            assert response.json()["type"].endswith("/sink-unavailable")
            assert "Retry-After" in response.headers
            assert elapsed < ack_timeout + 2.0, (
                f"503 after {elapsed:.1f}s, the promise is {ack_timeout}s")
        # The broker answers again: so does the balancer, for the next test.
        assert wait_until(lambda: send(9104)[0].status_code == 201, timeout=60, interval=1), (
            "ingest did not recover after the broker resumed")
