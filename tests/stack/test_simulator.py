"""The fleet simulator against a real ingest API (gunicorn) and the real broker: what it
reports as accepted is what Kafka holds, in each key's order; an outage costs retries, not
events; an instance that keeps answering 503 makes it give up and exit 1."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator.model import MESSAGE_TYPES
from tests.support import end_offsets, read_from
from tests.support.ingest import ingest_api
from tests.support.network import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ingest_url(stack_env, tmp_path_factory) -> Iterator[str]:
    with ingest_api(stack_env, tmp_path_factory.mktemp("ingest") / "gunicorn.log") as url:
        yield url


def simulate_command(url: str, *args: str) -> list[str]:
    return [str(ROOT / "bin" / "simulate"), "--url", url, "--json", *args]


def simulate(stack_env: dict[str, str], url: str, *args: str) -> tuple[int, dict]:
    done = subprocess.run(simulate_command(url, "-q", *args), cwd=ROOT, capture_output=True,
                          env={**os.environ, **stack_env}, timeout=120)
    assert done.stdout, done.stderr.decode()[-3000:]
    return done.returncode, json.loads(done.stdout)


def messages_of_run(bootstrap: str, before: dict[str, dict[int, int]],
                    run_id: str) -> dict[str, list]:
    """New messages per topic that came from requests of this run (request id header)."""
    ours = {}
    for mtype in MESSAGE_TYPES:
        new = read_from(bootstrap, mtype, before[mtype])
        ours[mtype] = [m for m in new
                       if dict(m.headers() or []).get("hover-request-id", b"")
                       .decode().startswith(run_id + "-")]
    return ours


@pytest.mark.parametrize("batch", [1, 25], ids=["single", "batch-25"])
def test_accepted_events_are_in_kafka_in_key_order(stack_env, ingest_url, batch) -> None:
    bootstrap = stack_env["HOVER_KAFKA_BOOTSTRAP"]
    before = {t: end_offsets(bootstrap, t) for t in MESSAGE_TYPES}
    status, summary = simulate(
        stack_env, ingest_url, "--boards", "4", "--customers", "4", "--events", "600",
        "--speedup", "2000", "--invalid-share", "0.1", "--faulty-share", "0.25",
        "--seed", "7", "--start", "2026-11-27T08:00:00Z", "--batch", str(batch))

    assert status == 0 and summary["ok"], summary
    assert summary["generated"] == summary["sent"] == 600
    assert summary["accepted"] + summary["rejected"] == 600
    assert summary["failed_after_retries"] == summary["abandoned"] == summary["retried"] == 0
    # Exactly the deliberately broken events were rejected, all with 422.
    assert summary["rejected"] == summary["invalid"] == summary["invalid_rejected"] > 30
    assert summary["rejected_by_reason"] == {"422 schema-violation": summary["invalid"]}
    assert summary["valid_rejected"] == summary["invalid_accepted"] == 0
    assert summary["by_type"]["trip"]["accepted"] > 0
    assert summary["faulty_boards"] and summary["faulty_boards"][0]["fault"] in (
        "thermal", "magnetic", "drain")
    if batch == 1:
        assert summary["requests"] == 600
    else:
        assert summary["requests"] < 300

    ours = messages_of_run(bootstrap, before, summary["run_id"])
    for mtype in MESSAGE_TYPES:
        assert len(ours[mtype]) == summary["by_type"][mtype]["accepted"], mtype
    by_board = defaultdict(list)
    for message in ours["hoverboard"]:
        by_board[message.key()].append(message)
    assert set(by_board) == {b"1", b"2", b"3", b"4"}
    for key, messages in by_board.items():
        assert len({m.partition() for m in messages}) == 1
        times = [json.loads(m.value())["event_time"]
                 for m in sorted(messages, key=lambda m: m.offset())]
        assert times == sorted(times) and len(set(times)) == len(times), key
    for message in ours["trip"]:
        trip = json.loads(message.value())
        assert message.key() == f"{trip['hoverboard_id']}|{trip['customer_id']}".encode()
        assert trip["hoverboard_id"] in range(1, 5) and trip["customer_id"] in range(1, 5)


def test_an_outage_costs_retries_not_events(stack_env, tmp_path) -> None:
    """The simulator starts while no instance listens; once one is up, everything arrives."""
    bootstrap = stack_env["HOVER_KAFKA_BOOTSTRAP"]
    before = {t: end_offsets(bootstrap, t) for t in MESSAGE_TYPES}
    port = free_port()
    simulator = subprocess.Popen(
        simulate_command(f"http://127.0.0.1:{port}", "--boards", "5", "--customers", "3",
                         "--events", "120", "--speedup", "500", "--seed", "2", "--batch", "5",
                         "--give-up-after", "60", "--progress-interval", "0.1"),
        cwd=ROOT, env={**os.environ, **stack_env}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE)
    try:
        # Start the instance only once the simulator has met the outage (refused connections).
        for line in simulator.stderr:
            match = re.search(rb" retried (\d+) ", line)
            if match and int(match.group(1)) > 0:
                break
        else:
            pytest.fail("the simulator ended without retrying")
        with ingest_api(stack_env, tmp_path / "gunicorn.log", port=port):
            stdout, _ = simulator.communicate(timeout=60)
    finally:
        if simulator.poll() is None:
            simulator.kill()
            simulator.wait()
    summary = json.loads(stdout)
    assert simulator.returncode == 0 and summary["ok"], summary
    assert summary["accepted"] == summary["generated"] == 120
    assert summary["retried"] > 0 and summary["failed_after_retries"] == 0
    assert set(summary["failed_by_reason"]) == set()
    ours = messages_of_run(bootstrap, before, summary["run_id"])
    assert sum(len(m) for m in ours.values()) == 120 + summary["redelivered"]


def test_503_is_retried_after_retry_after_then_given_up(stack_env, tmp_path) -> None:
    """An instance whose Kafka is unreachable answers 503 with Retry-After: 1."""
    with ingest_api(stack_env, tmp_path / "gunicorn.log", ready_path="/health",
                    HOVER_INGEST_KAFKA_BOOTSTRAP=f"127.0.0.1:{free_port()}",
                    HOVER_INGEST_ACK_TIMEOUT_S="0.3", HOVER_INGEST_RETRY_AFTER_S="1") as url:
        status, summary = simulate(stack_env, url, "--boards", "2", "--customers", "0",
                                   "--events", "2", "--speedup", "inf", "--seed", "1",
                                   "--give-up-after", "3")
    assert status == 1 and not summary["ok"]
    assert summary["failed_after_retries"] == 2 == summary["valid_not_stored"]
    assert summary["failed_by_reason"] == {"503 sink-unavailable": 2}
    # Each event was tried at least twice, the second time not before Retry-After (1 s):
    # a lane's two requests and the wait between them add up.
    assert summary["retried"] >= 2 and summary["requests"] >= 4
    assert summary["duration_s"] >= 1.0 + 2 * summary["latency_ms"]["p50"] / 1000 - 0.1
