"""The ingest API on a three-broker cluster (replication 3, min.insync.replicas=2): the leader
of a partition killed under load costs only the election, per-key order holds and nothing
acknowledged is lost; with two brokers down the API answers 503, never a 2xx it cannot honour.

The suite's shared stack runs one broker, so this module starts a cluster of its own (own
state directory, free ports) and serves the API from the app factory against it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from ingest_api import create_app
from stack.config import StackConfig
from stack.orchestrator import LocalStack
from stack.process import PidRecord, wait_until
from stack.services.kafka import node_name
from tests.support import read_from, sample
from tests.support.network import free_port

API_KEY = "cluster-key-" + "c" * 24
BOARDS = range(7001, 7007)
#: After the new leader is known, the producer needs a metadata refresh to find it.
REDISCOVERY_S = 3.0
T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def cluster():
    """Three KRaft nodes of a scratch stack; everything stopped and deleted afterwards."""
    base = StackConfig.from_env()
    home = base.home / "scratch" / f"cluster-{uuid.uuid4().hex[:8]}"
    ports = {**base.ports, **{k: free_port() for k in base.ports if k.startswith("kafka")}}
    local = LocalStack(replace(base, home=home, ports=ports, kafka_brokers=3))
    try:
        local.up(["kafka"], echo=lambda _: None)
        yield local
    finally:
        # Killed, not stopped: a lone node without its quorum would wait out a clean shutdown,
        # and the state is thrown away anyway.
        for name in ("kafka", "kafka_2", "kafka_3"):
            record = PidRecord.read(local.config.pid_file(name))
            if record is not None and record.alive():
                os.kill(record.pid, signal.SIGKILL)
        local.down(echo=lambda _: None)
        shutil.rmtree(home, ignore_errors=True)


@dataclass(frozen=True)
class Answer:
    board: int
    seq: int
    status: int
    started: float
    partition: int | None


def event(board: int, seq: int) -> dict:
    return sample("hoverboard", id=board,
                  event_time=(T0 + timedelta(seconds=seq)).isoformat().replace("+00:00", "Z"))


# Three brokers start, and two elections wait out session timeouts: minutes on a busy machine.
@pytest.mark.timeout(1200)
def test_leader_killed_under_load_then_two_brokers_down(cluster: LocalStack) -> None:
    bootstrap = cluster.services["kafka"].bootstrap_servers
    app = create_app({"TESTING": True, "KAFKA_BOOTSTRAP": bootstrap, "SCHEMA_REGISTRY_URL": None,
                      "API_KEYS": API_KEY, "ACK_TIMEOUT_S": 5.0, "RETRY_AFTER_S": 2,
                      "INSTANCE_NAME": "cluster-test"})
    answers: list[Answer] = []
    stop = threading.Event()

    def sensor(board: int) -> None:
        """One board's events in order: the next only after the previous one was stored."""
        client, seq = app.test_client(), 0
        while not stop.is_set():
            started = time.monotonic()
            reply = client.post("/ingest/hoverboard", json=event(board, seq),
                                headers={"X-API-Key": API_KEY, "X-Hover-Key": str(board)})
            body = reply.get_json(silent=True) or {}
            answers.append(Answer(board, seq, reply.status_code, started, body.get("partition")))
            if reply.status_code == 201:
                seq += 1
            else:
                assert reply.status_code == 503, reply.get_data(as_text=True)
                time.sleep(0.2)

    with ThreadPoolExecutor(len(BOARDS)) as pool:
        senders = [pool.submit(sensor, board) for board in BOARDS]
        # A failed assertion below must stop the sensors too, or leaving the pool waits
        # for them for ever (until the test's timeout, 20 minutes later).
        try:
            assert wait_until(lambda: len({a.board for a in answers if a.status == 201})
                              == len(BOARDS), 60), "the cluster acknowledged nothing"
            # The leader of the first board's partition, killed as a crash would.
            partition = next(a.partition for a in answers if a.board == BOARDS[0] and a.partition
                             is not None)
            admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})

            def leader() -> int:
                """The partition's leader; -1 while the metadata cannot be had (a request
                to the killed broker times out until the client gives up on it)."""
                try:
                    meta = admin.list_topics("hoverboard", timeout=5)
                except KafkaException:
                    return -1
                return meta.topics["hoverboard"].partitions[partition].leader

            victim = leader()
            assert victim != -1, "the partition has no leader before the kill"
            record = PidRecord.read(cluster.config.pid_file(node_name(victim)))
            killed_at = time.monotonic()
            os.kill(record.pid, signal.SIGKILL)
            assert wait_until(lambda: leader() not in (victim, -1), 60), "no new leader in 60 s"
            elected_at = time.monotonic()
            after = elected_at + REDISCOVERY_S
            acked_before = sum(a.status == 201 for a in answers)
            wait_until(lambda: sum(a.status == 201 for a in answers) > acked_before + 300
                       and time.monotonic() > after + 3, 30)
        finally:
            stop.set()
        for sender in senders:
            sender.result()

    late = [a for a in answers if a.started > after]
    assert late and all(a.status == 201 for a in late), (
        f"{sum(a.status != 201 for a in late)} of {len(late)} requests after the election "
        f"({elected_at - killed_at:.1f}s after the kill) were not acknowledged")
    assert any(a.status == 201 and a.started > killed_at and a.partition == partition
               for a in answers), "the killed leader's partition took nothing afterwards"

    # Every acknowledged event is in the topic, each board's in the order it was sent.
    acked = {(a.board, a.seq) for a in answers if a.status == 201}
    first_seen: dict[int, list[int]] = {board: [] for board in BOARDS}
    for message in read_from(bootstrap, "hoverboard", {}):
        board = int(message.key())
        when = datetime.fromisoformat(json.loads(message.value())["event_time"])
        seq = int((when - T0).total_seconds())
        if seq not in first_seen[board]:
            first_seen[board].append(seq)
    missing = acked - {(board, seq) for board, seqs in first_seen.items() for seq in seqs}
    assert not missing, f"{len(missing)} acknowledged events are not in Kafka"
    for board, seqs in first_seen.items():
        assert seqs == sorted(seqs), f"board {board}'s events are out of order in Kafka"

    # A second node down: acks=all cannot be honoured by one broker, so 503 and Retry-After.
    survivors = [n for n in (1, 2, 3) if n != victim]
    os.kill(PidRecord.read(cluster.config.pid_file(node_name(survivors[0]))).pid,
            signal.SIGKILL)
    client = app.test_client()
    with ThreadPoolExecutor(3) as pool:
        replies = list(pool.map(
            lambda board: client.post("/ingest/hoverboard", json=event(board, 10_000),
                                      headers={"X-API-Key": API_KEY}), BOARDS[:3]))
    for reply in replies:
        assert reply.status_code == 503, reply.get_data(as_text=True)
        assert reply.mimetype == "application/problem+json"
        assert reply.headers["Retry-After"] == "2"
    for sink in app.extensions["hover_ingest"].sinks.values():
        sink.close(timeout=1)
