"""NGINX in front of the ingest instances (the stack's real nginx and gunicorn processes):
a key always reaches the same instance, keys spread over all of them, an instance that stops
loses no traffic, and the order of each key's events survives the balancer into Kafka."""

from __future__ import annotations

import itertools
import json
import random
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from ingest_api.config import load_message_configs
from schemas.keys import key_text
from stack.orchestrator import LocalStack
from stack.process import wait_until
from stack.services.ingest import IngestInstance
from tests.support import end_offsets, read_from, sample

KEY_FIELDS = {name: conf.key_fields
              for name, conf in load_message_configs().items()}
#: Board and customer ids of this run, far from the ids other tests use.
IDS = itertools.count(random.randrange(10**12, 10**15, 10**6))


@pytest.fixture(scope="module")
def balancer(stack_env) -> str:
    return stack_env["HOVER_INGEST_URL"]


@pytest.fixture(scope="module")
def instances(stack: LocalStack) -> dict[str, str]:
    """Instance name by the address nginx names in X-Served-By. Spreading, failing over and
    keeping order across instances mean nothing with one: fewer than two is a failure."""
    found = {svc.address: name for name, svc in stack.services.items()
             if isinstance(svc, IngestInstance)}
    assert len(found) >= 2, (
        f"the balancer tests need two or more ingest instances behind nginx, this stack has "
        f"{len(found)}: unset HOVER_INGEST_INSTANCES (default 2) or set it to 2 or more")
    return found


@pytest.fixture
def session(stack_env):
    with requests.Session() as http:
        http.headers["X-API-Key"] = stack_env["HOVER_INGEST_API_KEYS"].split(",")[0]
        yield http


def served_by(response: requests.Response, instances: dict[str, str]) -> str:
    # nginx lists every instance it tried; the last one answered.
    return instances[response.headers["X-Served-By"].split(",")[-1].strip()]


def post_event(http: requests.Session, balancer: str, message_type: str,
               event: dict) -> requests.Response:
    key = key_text(event, KEY_FIELDS[message_type])
    return http.post(f"{balancer}/ingest/{message_type}", json=event,
                     headers={"X-Hover-Key": key}, timeout=30)


def home_instance(http: requests.Session, balancer: str, key: str,
                  instances: dict[str, str]) -> str:
    """Where nginx routes a key now, asked without storing anything (GET /health)."""
    response = http.get(f"{balancer}/health", headers={"X-Hover-Key": key}, timeout=10)
    assert response.status_code == 200, response.text
    return served_by(response, instances)


def keys_homed_on(http, balancer, instances, instance: str, count: int) -> list[int]:
    found: list[int] = []
    for _ in range(50 * count):
        board = next(IDS)
        if home_instance(http, balancer, str(board), instances) == instance:
            found.append(board)
            if len(found) == count:
                return found
    raise AssertionError(f"fewer than {count} of {50 * count} keys are routed to {instance}")


def times(n: int) -> list[str]:
    return [f"2026-11-27T11:{m // 60:02d}:{m % 60:02d}Z" for m in range(n)]


def test_a_key_always_reaches_the_same_instance(session, balancer, instances) -> None:
    seen: dict[int, set[str]] = defaultdict(set)
    for event_time in times(5):
        for board in range(1000, 1012):
            event = sample("hoverboard", id=board, event_time=event_time)
            response = post_event(session, balancer, "hoverboard", event)
            assert response.status_code == 201, response.text
            seen[board].add(served_by(response, instances))
    assert {board: len(where) for board, where in seen.items() if len(where) != 1} == {}


def test_keys_spread_over_every_instance(session, balancer, instances) -> None:
    counts: Counter[str] = Counter()
    for _ in range(40):
        event = sample("trip", hoverboard_id=next(IDS), customer_id=next(IDS))
        response = post_event(session, balancer, "trip", event)
        assert response.status_code == 201, response.text
        counts[served_by(response, instances)] += 1
    assert set(counts) == set(instances.values()), counts


def test_without_a_key_header_a_client_sticks_to_one_instance(session, balancer,
                                                               instances) -> None:
    where = set()
    for _ in range(8):
        response = session.post(f"{balancer}/ingest/customer",
                                json=sample("customer", id=next(IDS)), timeout=30)
        assert response.status_code == 201, response.text
        where.add(served_by(response, instances))
    assert len(where) == 1  # the fallback hashes the client's address


def test_per_key_order_survives_the_balancer(stack_env, session, balancer, instances) -> None:
    bootstrap = stack_env["HOVER_KAFKA_BOOTSTRAP"]
    # Three keys on every instance, each sent sequentially, all keys at once.
    boards = [b for name in sorted(set(instances.values()))
              for b in keys_homed_on(session, balancer, instances, name, 3)]
    sent = {board: random.sample(times(20), 20) for board in boards}  # any order will do
    before = end_offsets(bootstrap, "hoverboard")

    def send_in_order(board: int) -> list[int]:
        statuses = []
        with requests.Session() as http:
            http.headers.update(session.headers)
            for event_time in sent[board]:
                event = sample("hoverboard", id=board, event_time=event_time)
                statuses.append(post_event(http, balancer, "hoverboard", event).status_code)
        return statuses

    with ThreadPoolExecutor(max_workers=len(boards)) as pool:
        for board, statuses in zip(boards, pool.map(send_in_order, boards), strict=True):
            assert statuses == [201] * len(sent[board]), (board, statuses)

    stored: dict[int, list] = defaultdict(list)
    for message in read_from(bootstrap, "hoverboard", before):
        if int(message.key()) in sent:
            stored[int(message.key())].append(message)
    for board, messages in stored.items():
        assert len({m.partition() for m in messages}) == 1
        in_offset_order = [json.loads(m.value())["event_time"]
                           for m in sorted(messages, key=lambda m: m.offset())]
        assert in_offset_order == sent[board], f"key {board} out of order"
    assert set(stored) == set(sent)


@pytest.mark.serial  # stops a service the other tests share
def test_a_stopped_instance_loses_no_traffic(stack: LocalStack, stack_env, session, balancer,
                                             instances) -> None:
    bootstrap = stack_env["HOVER_KAFKA_BOOTSTRAP"]
    boards = keys_homed_on(session, balancer, instances, "ingest_2", 4)
    before = end_offsets(bootstrap, "hoverboard")
    acknowledged: set[tuple[int, str]] = set()

    assert stack.down(["ingest_2"], echo=lambda _: None) == ["ingest_2"]
    try:
        for event_time in times(5):
            for board in boards:
                event = sample("hoverboard", id=board, event_time=event_time)
                response = post_event(session, balancer, "hoverboard", event)
                assert 200 <= response.status_code < 300, response.text
                assert served_by(response, instances) != "ingest_2"
                acknowledged.add((board, event_time))
    finally:
        stack.up(["ingest_2"], echo=lambda _: None)

    stored = {(int(m.key()), json.loads(m.value())["event_time"])
              for m in read_from(bootstrap, "hoverboard", before)}
    assert acknowledged <= stored
    # Back home once nginx retries the instance (after its fail_timeout).
    assert wait_until(
        lambda: all(home_instance(session, balancer, str(b), instances) == "ingest_2"
                    for b in boards),
        timeout=30, interval=0.5,
    ), "the restarted ingest_2 did not get its keys back"
