"""The fleet simulator without services: the model's values hang together, every valid event
matches its schema and every broken one does not, runs are reproducible, and the delivery
rules (batching, backoff, batch retries) keep each key's order."""

from __future__ import annotations

import asyncio
import itertools
import random
import socket
from collections import Counter, defaultdict, deque
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from schemas import latest
from schemas.validation import EventValidator
from simulator.__main__ import build_parser, main, options_from
from simulator.delivery import (
    Pending,
    Reply,
    Sender,
    Stats,
    backoff_delay,
    parse_retry_after,
    take_batch,
)
from simulator.model import MESSAGE_TYPES, Fleet, SimEvent

START = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
VALIDATORS = {t: EventValidator(latest(t).schema) for t in MESSAGE_TYPES}


def run_fleet(n_events: int, **kwargs) -> tuple[Fleet, list[SimEvent]]:
    settings = {"boards": 8, "customers": 6, "seed": 11, "start": START} | kwargs
    fleet = Fleet(**settings)
    return fleet, list(itertools.islice(fleet.events(), n_events))


def when(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.fixture(scope="module")
def three_hours() -> tuple[Fleet, list[SimEvent]]:
    """About three hours of a small fleet, every event valid."""
    return run_fleet(7_000)


def telemetry_by_board(events: list[SimEvent]) -> dict[int, list[dict]]:
    boards: dict[int, list[dict]] = defaultdict(list)
    for event in events:
        if event.type == "hoverboard":
            boards[event.record["id"]].append(event.record)
    return boards


def test_every_valid_event_matches_its_schema(three_hours) -> None:
    _, events = three_hours
    counts = Counter(e.type for e in events)
    assert counts["hoverboard"] > 5_000 and counts["customer"] > 500 and counts["trip"] > 20
    for event in events:
        assert event.invalid is None
        assert VALIDATORS[event.type].errors(event.record) == [], event.record


def test_battery_drains_riding_charges_docked_and_stays_in_range(three_hours) -> None:
    fleet, events = three_hours
    riding_steps = docked_steps = 0
    for board_id, readings in telemetry_by_board(events).items():
        times = [when(r["event_time"]) for r in readings]
        assert times == sorted(times) and len(set(times)) == len(times), "event_time increases"
        for reading in readings:
            assert 0 <= reading["charge"] <= 100
            if reading["isdocked"]:
                assert reading["speed"] == 0 and reading["weight"] == 0
            else:
                assert reading["weight"] > 40  # somebody is on it
        for before, after in itertools.pairwise(readings):
            # The state between two readings is the earlier one's: docked, or riding.
            if before["isdocked"]:
                assert after["charge"] >= before["charge"], (board_id, before, after)
                docked_steps += 1
            else:
                assert after["charge"] < before["charge"], (board_id, before, after)
                riding_steps += 1
    assert riding_steps > 100 and docked_steps > 1_000


def test_charge_never_leaves_0_to_100_even_when_every_board_is_faulty() -> None:
    _, events = run_fleet(20_000, boards=10, customers=10, faulty_share=1.0, seed=5)
    charges = [e.record["charge"] for e in events if e.type == "hoverboard"]
    assert min(charges) == 0  # thermal faults drain batteries to empty...
    assert max(charges) <= 100  # ...and docked boards charge up to full, not beyond
    assert all(0 <= c <= 100 for c in charges)


def test_trips_reference_the_fleet_and_match_its_telemetry(three_hours) -> None:
    fleet, events = three_hours
    board_ids = {b.id for b in fleet.boards}
    customer_ids = {c.id for c in fleet.customers}
    readings = {(r["id"], r["event_time"]): r
                for rs in telemetry_by_board(events).values() for r in rs}
    trips = [e.record for e in events if e.type == "trip"]
    by_board, by_customer = defaultdict(list), defaultdict(list)
    for trip in trips:
        assert trip["hoverboard_id"] in board_ids and trip["customer_id"] in customer_ids
        start, end = when(trip["start_time_and_date"]), when(trip["end_time_and_date"])
        assert trip["trip_duration"] == (end - start).total_seconds() > 0
        at_start = readings[trip["hoverboard_id"], trip["start_time_and_date"]]
        at_end = readings[trip["hoverboard_id"], trip["end_time_and_date"]]
        assert at_start["location"] == trip["start_location"] and not at_start["isdocked"]
        assert at_end["location"] == trip["end_location"] and at_end["isdocked"]
        by_board[trip["hoverboard_id"]].append((start, end))
        by_customer[trip["customer_id"]].append((start, end))
    for spans in [*by_board.values(), *by_customer.values()]:
        spans.sort()
        for (_, first_end), (second_start, _) in itertools.pairwise(spans):
            assert first_end <= second_start, "a board or a customer on two trips at once"
    # In between, the board reports it is being ridden.
    for trip in trips:
        start, end = when(trip["start_time_and_date"]), when(trip["end_time_and_date"])
        during = [r for (bid, t), r in readings.items()
                  if bid == trip["hoverboard_id"] and start <= when(t) < end]
        assert during and all(not r["isdocked"] for r in during)


def test_customers_have_names_valid_emails_and_advancing_profiles(three_hours) -> None:
    _, events = three_hours
    profiles = defaultdict(list)
    for event in events:
        if event.type == "customer":
            profiles[event.record["id"]].append(event.record)
    assert len(profiles) == 6
    for versions in profiles.values():
        emails = {p["customer_email"] for p in versions}
        assert len(emails) == 1 and "@" in emails.pop()
        assert all(p["customer_name"]["first_name"] and p["customer_name"]["last_name"]
                   for p in versions)
        times = [when(p["updated_at"]) for p in versions]
        assert times == sorted(times)
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
        assert all(27 <= g <= 33 for g in gaps)


def test_boards_stay_near_home_and_elevation_follows_the_terrain(three_hours) -> None:
    fleet, events = three_hours
    homes = {b.id: b.home for b in fleet.boards}
    from simulator.model import distance_m

    for board_id, readings in telemetry_by_board(events).items():
        for r in readings:
            here = (r["location"]["latitude"], r["location"]["longitude"])
            assert distance_m(homes[board_id], here) <= 2_600
    same_place = defaultdict(set)
    for rs in telemetry_by_board(events).values():
        for r in rs:
            same_place[r["location"]["latitude"], r["location"]["longitude"]].add(r["elevation"])
    assert all(len(elevations) == 1 for elevations in same_place.values())


def test_invalid_share_produces_events_the_schema_rejects() -> None:
    _, events = run_fleet(6_000, invalid_share=0.3, seed=3)
    invalid = [e for e in events if e.invalid]
    assert 0.26 < len(invalid) / len(events) < 0.34
    for event in invalid:
        assert VALIDATORS[event.type].errors(event.record), (event.invalid, event.record)
        assert event.key  # the routing key survives a broken record
    for event in events:
        if not event.invalid:
            assert VALIDATORS[event.type].errors(event.record) == []
    kinds = Counter(e.invalid.split(":")[0] for e in invalid)
    assert {"bad-email", "latitude-out-of-range", "missing-field", "unknown-field",
            "charge-out-of-range", "local-time"} <= set(kinds)
    assert {e.type for e in invalid} == set(MESSAGE_TYPES)


def test_same_seed_same_events_and_invalid_share_does_not_change_the_world() -> None:
    _, first = run_fleet(3_000, invalid_share=0.1, faulty_share=0.3)
    _, again = run_fleet(3_000, invalid_share=0.1, faulty_share=0.3)
    assert first == again
    _, other_seed = run_fleet(3_000, invalid_share=0.1, faulty_share=0.3, seed=12)
    assert [e.record for e in other_seed] != [e.record for e in first]
    _, all_valid = run_fleet(3_000, faulty_share=0.3)
    assert [(e.sim_ms, e.type, e.key) for e in all_valid] == \
        [(e.sim_ms, e.type, e.key) for e in first]


def test_faulty_boards_show_their_fault_after_its_onset() -> None:
    fleet, events = run_fleet(25_000, boards=20, customers=10, faulty_share=0.5, seed=8)
    faults = {f["id"]: f for f in fleet.faults}
    assert len(faults) == 10
    assert {f["fault"] for f in faults.values()} == {"thermal", "magnetic", "drain"}
    readings = telemetry_by_board(events)
    healthy_max_temp = max(r["temperature"] for b, rs in readings.items() if b not in faults
                           for r in rs)
    for board_id, rs in readings.items():
        fault = faults.get(board_id)
        spikes = [r for r in rs if r["magneticfield"] > 300]
        if fault is None:
            assert not spikes
            continue
        onset = when(fault["onset"])
        before = [r for r in rs if when(r["event_time"]) < onset]
        after = [r for r in rs if when(r["event_time"]) >= onset + timedelta(minutes=30)]
        assert all(r["magneticfield"] < 300 for r in before)
        if fault["fault"] == "thermal":
            assert min(r["temperature"] for r in after) > healthy_max_temp + 20
            assert after[-1]["charge"] < 25  # drained although it sits on the dock
        elif fault["fault"] == "drain":  # nothing to see in the telemetry alone
            assert not spikes and max(r["temperature"] for r in rs) <= healthy_max_temp + 5
        else:
            assert len([r for r in after if r["magneticfield"] > 300]) > len(after) / 4


def charge_per_trip_km(events: list[SimEvent]) -> dict[int, list[tuple[str, float]]]:
    """Per board: (trip start, charge used per km from start to end position), the
    telemetry at the trip's two ticks related to the trip."""
    from simulator.model import distance_m

    charge = {(e.record["id"], e.record["event_time"]): e.record["charge"]
              for e in events if e.type == "hoverboard"}
    found: dict[int, list[tuple[str, float]]] = defaultdict(list)
    for e in events:
        trip = e.record
        if e.type != "trip":
            continue
        km = distance_m(tuple(trip["start_location"].values()),
                        tuple(trip["end_location"].values())) / 1000
        board = trip["hoverboard_id"]
        used = (charge[board, trip["start_time_and_date"]]
                - charge[board, trip["end_time_and_date"]])
        if km > 0.2:
            found[board].append((trip["start_time_and_date"], used / km))
    return found


def test_a_drain_fault_shows_only_as_charge_per_trip_kilometre() -> None:
    fleet, events = run_fleet(40_000, boards=20, customers=20, faulty_share=0.5, seed=8)
    drains = {f["id"]: when(f["onset"]) for f in fleet.faults if f["fault"] == "drain"}
    faulty = {f["id"] for f in fleet.faults}
    assert {label["board_id"] for label in fleet.labels() if label["fault"]} == faulty
    per_km = charge_per_trip_km(events)
    healthy = sorted(v for b, trips in per_km.items() if b not in faulty for _, v in trips)
    worn = sorted(v for b, trips in per_km.items() if b in drains
                  for start, v in trips if when(start) >= drains[b])
    assert healthy and worn
    assert worn[len(worn) // 2] > 1.8 * healthy[len(healthy) // 2]


# -- delivery -----------------------------------------------------------------------------

def pending(mtype: str, key: str, n: int) -> Pending:
    record = {"n": n}
    return Pending(SimEvent(n, mtype, record, key), orjson.dumps(record))


def test_take_batch_keeps_every_keys_order_and_one_type_per_request() -> None:
    queue = deque([pending("hoverboard", "1", 0), pending("customer", "1", 1),
                   pending("hoverboard", "2", 2), pending("hoverboard", "1", 3),
                   pending("hoverboard", "2", 4), pending("hoverboard", "1", 5)])
    first = take_batch(queue, 3)
    # The head's key first (one board's telemetry), then other keys of the same type.
    assert [(p.event.key, p.event.sim_ms) for p in first] == [("1", 0), ("1", 3), ("1", 5)]
    second = take_batch(queue, 3)
    assert [(p.event.type, p.event.sim_ms) for p in second] == [("customer", 1)]
    third = take_batch(queue, 3)
    assert [p.event.sim_ms for p in third] == [2, 4]
    assert not queue
    mixed = deque([pending("trip", "1|7", 0), pending("trip", "2|8", 1),
                   pending("trip", "1|7", 2), pending("trip", "3|9", 3)])
    assert [p.event.sim_ms for p in take_batch(mixed, 3)] == [0, 2, 1]
    assert [p.event.sim_ms for p in mixed] == [3]
    assert [p.event.sim_ms for p in take_batch(deque([pending("trip", "1", 0)]), 1)] == [0]


def test_backoff_grows_with_jitter_and_honours_retry_after() -> None:
    rng = random.Random(1)
    delays = [backoff_delay(n, None, rng) for n in range(1, 12)]
    for n, delay in enumerate(delays, 1):
        ceiling = min(10.0, 0.1 * 2 ** (n - 1))
        assert ceiling / 2 <= delay <= ceiling
    assert delays[-1] <= 10.0
    assert len({round(backoff_delay(3, None, rng), 6) for _ in range(20)}) > 10  # jitter
    for _ in range(50):
        assert 5.0 <= backoff_delay(1, 5.0, rng) <= 6.0
    assert backoff_delay(10, 1.0, random.Random(2)) >= 1.0


def test_retry_after_in_seconds_or_as_an_http_date() -> None:
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after(" 0 ") == 0.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    later = datetime.now(UTC) + timedelta(seconds=30)
    assert 25 <= parse_retry_after(later.strftime("%a, %d %b %Y %H:%M:%S GMT")) <= 31
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


def test_a_503_batch_resends_failed_records_and_what_follows_them_of_their_key() -> None:
    async def scenario() -> tuple[Stats, list[list[int]]]:
        stats = Stats()
        sender = Sender(None, url="http://x", api_key="k", stats=stats,  # type: ignore[arg-type]
                        run_id="sim-test", batch=10, concurrency=1)
        batch = [pending("hoverboard", k, n) for n, k in enumerate("ABAAB")]
        stats.in_flight = len(batch)
        first = Reply(503, {"items": [{"result": "accepted"}, {"result": "accepted"},
                                      {"result": "failed"}, {"result": "accepted"},
                                      {"result": "rejected", "status": 422}]}, 5.0, "503 x")
        retry = sender._settle(batch, first)
        second = Reply(200, {"items": [{"result": "accepted"}] * len(retry)}, None, "200")
        assert sender._settle(retry, second) == []
        return stats, [[p.event.sim_ms for p in retry]]

    stats, resent = asyncio.run(scenario())
    # A's failed record 2 goes again, and A's record 3 follows it although it was stored;
    # B's stored record 1 is final: nothing of B failed before it.
    assert resent == [[2, 3]]
    assert stats.accepted["hoverboard"] == 4 and stats.rejected["hoverboard"] == 1
    assert stats.redelivered == 1 and stats.in_flight == 0
    assert stats.rejected_by_reason == {"422 schema-violation": 1}


# -- command line -------------------------------------------------------------------------

def test_defaults_come_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("HOVER_INGEST_URL", "http://balancer.example:8080")
    monkeypatch.setenv("HOVER_INGEST_API_KEYS", " first-key-aaaaaaaaaaaa , second-key-bbbbbbbb")
    parser = build_parser()
    options = options_from(parser.parse_args(["--events", "5"]), parser)
    assert options.url == "http://balancer.example:8080"
    assert options.api_key == "first-key-aaaaaaaaaaaa"
    assert options.batch == 1 and options.speedup == 1.0 and options.events == 5
    monkeypatch.delenv("HOVER_INGEST_URL")
    monkeypatch.delenv("HOVER_INGEST_API_KEYS")
    parser = build_parser()
    assert parser.parse_args([]).url == "http://127.0.0.1:18000"
    with pytest.raises(SystemExit) as exc:
        options_from(parser.parse_args([]), parser)
    assert exc.value.code == 2
    for bad in (["--invalid-share", "1.5"], ["--speedup", "0"], ["--start", "2026-11-27T08:00"]):
        with pytest.raises(SystemExit):
            parser.parse_args(bad)


def test_exit_status_1_when_valid_events_fail_after_retries(capsys) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    status = main(["--url", f"http://127.0.0.1:{port}", "--api-key", "k" * 20,
                   "--boards", "2", "--customers", "1", "--events", "3", "--speedup", "inf",
                   "--give-up-after", "0.4", "--seed", "1", "--json", "-q"])
    summary = orjson.loads(capsys.readouterr().out)
    assert status == 1 and summary["ok"] is False
    assert summary["failed_after_retries"] == 3 == summary["valid_not_stored"]
    assert summary["retried"] >= 3 and summary["accepted"] == 0
    assert list(summary["failed_by_reason"]) == ["connection ClientConnectorError"]
