"""The ingest API against the real broker: where records land, what every error looks like."""

from __future__ import annotations

import json
import socket
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema
from prometheus_client.parser import text_string_to_metric_families

from ingest_api import create_app
from ingest_api.openapi import TEMPLATE
from schemas import latest
from tests.support import end_offsets, java_partitions, read_from, sample

API_KEY = "test-key-" + "k" * 24


@pytest.fixture(scope="module")
def app(stack_env):
    app = create_app({
        "TESTING": True,
        "KAFKA_BOOTSTRAP": stack_env["HOVER_KAFKA_BOOTSTRAP"],
        "SCHEMA_REGISTRY_URL": stack_env["HOVER_SCHEMA_REGISTRY_URL"],
        "API_KEYS": f"{API_KEY},second-key-{'r' * 20}",
        "MAX_CONTENT_LENGTH": 64 * 1024,
        "MAX_BATCH_RECORDS": 50,
        "ACK_TIMEOUT_S": 2.0,
    })
    yield app
    for sink in app.extensions["hover_ingest"].sinks.values():
        sink.close(timeout=2)


@pytest.fixture
def client(app):
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {API_KEY}"
    return client


def post(client, message_type, body, content_type="application/json", **kw):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post(f"/ingest/{message_type}", data=data, content_type=content_type, **kw)


def assert_problem(response, status: int, slug: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json(force=True)
    assert body["status"] == status
    assert body["type"].endswith("/" + slug)
    assert body["title"]
    return body


def test_single_event_lands_keyed_in_the_java_partition(client, stack_env) -> None:
    bootstrap = stack_env["HOVER_KAFKA_BOOTSTRAP"]
    before = end_offsets(bootstrap, "trip")
    event = sample("trip", hoverboard_id=4711, customer_id=93)
    response = post(client, "trip", event, headers={"X-Request-Id": "trace-me-1"})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()

    [msg] = read_from(bootstrap, "trip", before)
    assert msg.key() == b"4711|93"
    assert json.loads(msg.value()) == event
    n_part = int(stack_env["HOVER_N_PART"])
    assert msg.partition() == java_partitions(stack_env["HOVER_KAFKA_CLASSPATH"], n_part,
                                              ["4711|93"])[0]
    assert (body["partition"], body["offset"]) == (msg.partition(), msg.offset())
    headers = dict(msg.headers())
    assert headers["hover-request-id"] == b"trace-me-1"
    assert headers["hover-schema-subject"] == b"trip-value"
    assert int(headers["hover-schema-version"]) == latest("trip").version
    assert int(headers["hover-received-at"]) > 1_700_000_000_000
    assert response.headers["X-Request-Id"] == "trace-me-1"


def test_partitions_match_java_for_a_sample_of_keys(client, stack_env) -> None:
    bootstrap = stack_env["HOVER_KAFKA_BOOTSTRAP"]
    before = end_offsets(bootstrap, "hoverboard")
    ids = [1, 2, 3, 99, 1000, 123456789, 2**40]
    response = post(client, "hoverboard", [sample("hoverboard", id=i) for i in ids])
    assert response.status_code == 200
    landed = {int(m.key()): m.partition() for m in read_from(bootstrap, "hoverboard", before)}
    expected = java_partitions(stack_env["HOVER_KAFKA_CLASSPATH"],
                               int(stack_env["HOVER_N_PART"]), [str(i) for i in ids])
    assert [landed[i] for i in ids] == expected


def test_per_key_order_is_preserved(client, stack_env) -> None:
    bootstrap = stack_env["HOVER_KAFKA_BOOTSTRAP"]
    before = end_offsets(bootstrap, "hoverboard")
    times = [f"2026-11-27T10:{m:02d}:00Z" for m in range(30)]
    for t in times[:10]:  # one request each, then a batch: order holds across both
        single = post(client, "hoverboard", sample("hoverboard", id=5150, event_time=t))
        assert single.status_code == 201
    batch = [sample("hoverboard", id=5150, event_time=t) for t in times[10:]]
    assert post(client, "hoverboard", batch).status_code == 200
    messages = [m for m in read_from(bootstrap, "hoverboard", before) if m.key() == b"5150"]
    assert len({m.partition() for m in messages}) == 1
    ordered = sorted(messages, key=lambda m: m.offset())
    assert [json.loads(m.value())["event_time"] for m in ordered] == times


def test_batch_with_mixed_records_reports_each_in_order(client, stack_env) -> None:
    bootstrap = stack_env["HOVER_KAFKA_BOOTSTRAP"]
    before = end_offsets(bootstrap, "customer")
    records = [
        sample("customer", id=501),
        sample("customer", id=502, customer_email="not-an-address"),
        sample("customer", id=503),
        {**sample("customer", id=504), "shoe_size": 44},
    ]
    response = post(client, "customer", records)
    assert response.status_code == 200
    body = response.get_json()
    assert (body["accepted"], body["rejected"], body["failed"], body["errors"]) == (2, 2, 0, True)
    assert [i["result"] for i in body["items"]] == ["accepted", "rejected", "accepted", "rejected"]
    assert body["items"][1]["errors"][0]["pointer"] == "/customer_email"
    assert "shoe_size" in body["items"][3]["errors"][0]["detail"]
    stored = [json.loads(m.value())["id"] for m in read_from(bootstrap, "customer", before)]
    assert sorted(stored) == [501, 503]


def test_ndjson_batch(client, stack_env) -> None:
    bootstrap = stack_env["HOVER_KAFKA_BOOTSTRAP"]
    before = end_offsets(bootstrap, "hoverboard")
    sent = [sample("hoverboard", id=i, event_time=f"2026-11-27T10:{i - 70:02d}:07Z")
            for i in (71, 72, 73)]
    lines = "\n".join(json.dumps(event) for event in sent) + "\n"
    response = post(client, "hoverboard", lines, content_type="application/x-ndjson")
    assert response.status_code == 200
    assert response.get_json()["accepted"] == 3
    stored = [json.loads(m.value()) for m in read_from(bootstrap, "hoverboard", before)
              if m.key() in (b"71", b"72", b"73")]
    assert sorted(stored, key=lambda e: e["id"]) == sent


def test_schema_violation_names_every_field(client) -> None:
    event = sample("hoverboard", charge=140, location={"latitude": 95, "longitude": 0})
    del event["speed"]
    body = assert_problem(post(client, "hoverboard", event), 422, "schema-violation")
    pointers = {e["pointer"] for e in body["errors"]}
    assert pointers == {"/charge", "/location/latitude", ""}  # "" = the record: speed missing
    assert any("speed" in e["detail"] for e in body["errors"] if e["pointer"] == "")
    assert body["schema"]["subject"] == "hoverboard-value"


def test_formats_are_enforced(client) -> None:
    body = assert_problem(post(client, "trip", sample("trip", end_time_and_date="yesterday")),
                          422, "schema-violation")
    assert body["errors"][0]["pointer"] == "/end_time_and_date"


@pytest.mark.parametrize(
    ("request_kwargs", "status", "slug"),
    [
        ({"data": '{"id": 1,', "content_type": "application/json"}, 400, "invalid-json"),
        ({"data": "{}", "content_type": "text/plain"}, 415, "unsupported-media-type"),
        ({"data": "[]", "content_type": "application/json"}, 422, "empty-batch"),
        ({"data": json.dumps([{}] * 51), "content_type": "application/json"}, 413,
         "too-many-records"),
        ({"data": "x" * 70_000, "content_type": "application/json"}, 413, "payload-too-large"),
    ],
    ids=["invalid-json", "content-type", "empty-batch", "too-many-records", "body-too-large"],
)
def test_bad_requests(client, request_kwargs, status, slug) -> None:
    assert_problem(client.post("/ingest/hoverboard", **request_kwargs), status, slug)


def test_ndjson_line_that_is_not_json_is_named(client) -> None:
    lines = json.dumps(sample("hoverboard")) + "\n{broken\n"
    body = assert_problem(post(client, "hoverboard", lines, content_type="application/x-ndjson"),
                          400, "invalid-json")
    assert "line 2" in body["detail"]
    assert body["errors"][0]["pointer"] == "/1"


def test_unknown_type_and_wrong_method(client) -> None:
    body = assert_problem(post(client, "skateboard", {}), 404, "unknown-message-type")
    assert body["message_types"] == ["customer", "hoverboard", "trip"]
    response = client.get("/ingest/hoverboard")
    assert_problem(response, 405, "method-not-allowed")
    assert "POST" in response.headers["Allow"]


def test_api_key_required(app) -> None:
    client = app.test_client()
    response = post(client, "hoverboard", sample("hoverboard"))
    body = assert_problem(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert API_KEY not in json.dumps(body)
    assert post(client, "hoverboard", sample("hoverboard"),
                headers={"X-API-Key": "wrong-" + "w" * 20}).status_code == 401
    # The second configured key works too: keys can be rotated without downtime.
    assert post(client, "hoverboard", sample("hoverboard"),
                headers={"X-API-Key": "second-key-" + "r" * 20}).status_code == 201


def test_health_and_ready_need_no_key(app) -> None:
    client = app.test_client()
    assert client.get("/health").get_json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200
    types = ready.get_json()["message_types"]
    assert types["trip"]["schema_origin"] == "registry"


def metric_values(client) -> dict[tuple, float]:
    """Every sample of /metrics by (name, sorted labels)."""
    text = client.get("/metrics").get_data(as_text=True)
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_count_accepted_and_rejected(client) -> None:
    accepted = ("ingest_records_accepted_total", (("message_type", "customer"),))
    rejected = ("ingest_records_rejected_total", (("message_type", "customer"),
                                                  ("reason", "schema")))
    requests = ("ingest_request_seconds_count", (("message_type", "customer"),))
    before = metric_values(client)
    assert post(client, "customer", sample("customer", id=777)).status_code == 201
    assert post(client, "customer", sample("customer", id=778)).status_code == 201
    assert post(client, "customer", sample("customer", id=-1)).status_code == 422
    after = metric_values(client)
    moved = {name: after[name] - before.get(name, 0.0) for name in (accepted, rejected, requests)}
    assert moved == {accepted: 2.0, rejected: 1.0, requests: 3.0}
    assert ("ingest_producer_queue_depth", ()) in after


def test_ready_is_503_when_kafka_is_unreachable(stack_env) -> None:
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        nobody = f"127.0.0.1:{closed.getsockname()[1]}"
    app = create_app({"TESTING": True, "KAFKA_BOOTSTRAP": nobody, "API_KEYS": API_KEY,
                      "SCHEMA_REGISTRY_URL": stack_env["HOVER_SCHEMA_REGISTRY_URL"]})
    try:
        assert app.test_client().get("/ready").status_code == 503
    finally:
        for sink in app.extensions["hover_ingest"].sinks.values():
            sink.close(timeout=0)


def test_ready_is_503_when_a_topic_is_missing(stack_env, tmp_path) -> None:
    conf = tmp_path / "trip.conf"
    conf.write_text(f"[trip]\ntopic = missing-{uuid.uuid4().hex[:8]}\n")
    app = create_app({"TESTING": True, "KAFKA_BOOTSTRAP": stack_env["HOVER_KAFKA_BOOTSTRAP"],
                      "SCHEMA_REGISTRY_URL": stack_env["HOVER_SCHEMA_REGISTRY_URL"],
                      "API_KEYS": API_KEY, "MESSAGE_CONF": str(conf)})
    try:
        assert app.test_client().get("/ready").status_code == 503
    finally:
        for sink in app.extensions["hover_ingest"].sinks.values():
            sink.close(timeout=2)


def test_openapi_describes_every_route_and_status(app, client) -> None:
    doc = client.get("/openapi.json").get_json()
    template = yaml.safe_load(TEMPLATE.read_text())
    assert doc["components"]["responses"] == template["components"]["responses"]
    served = sorted(app.extensions["hover_ingest"].types)
    for rule in app.url_map.iter_rules():
        paths = [rule.rule.replace("<", "{").replace(">", "}")]
        if rule.rule == "/ingest/<message_type>":  # one path per type served
            paths = [f"/ingest/{name}" for name in served]
        for path in paths:
            assert path in doc["paths"], f"{path} is not in the OpenAPI document"
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                assert method.lower() in doc["paths"][path], f"{method} {path} undocumented"
    # Every status the ingest endpoint answers (see the tests above) is documented.
    for name in served:
        ingest_statuses = set(doc["paths"][f"/ingest/{name}"]["post"]["responses"])
        assert {"200", "201", "400", "401", "404", "405", "413", "415", "422", "503"
                } <= ingest_statuses
    assert {"200", "503"} <= set(doc["paths"]["/ready"]["get"]["responses"])


def _inlined(node, components: dict):
    """``node`` with the document's ``$ref``s replaced by what they name."""
    if isinstance(node, dict):
        if "$ref" in node:
            return _inlined(components[node["$ref"].rsplit("/", 1)[1]], components)
        return {k: _inlined(v, components) for k, v in node.items()}
    if isinstance(node, list):
        return [_inlined(v, components) for v in node]
    return node


@st.composite
def utc_era_date_times(draw) -> str:
    """RFC 3339 date-times whose instant lies inside years 1..9999 (the one rule of the
    validator the OpenAPI document cannot state)."""
    moment = draw(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1),
                               timezones=st.sampled_from([UTC, timezone(timedelta(hours=5)),
                                                          timezone(timedelta(hours=-7))])))
    return moment.isoformat()


@pytest.mark.filterwarnings("ignore:Overriding standard format")
@pytest.mark.parametrize("message_type", ["customer", "hoverboard", "trip"])
def test_events_generated_from_the_served_openapi_body_are_accepted(
        app, client, message_type) -> None:
    """What a client generator or schemathesis builds from the published request body (each
    version the header may name) is what the API takes: a batch of them is all accepted."""
    doc = client.get("/openapi.json").get_json()
    operation = doc["paths"][f"/ingest/{message_type}"]["post"]
    [header] = [p for p in operation["parameters"] if p["name"] == "Hover-Schema-Version"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body["oneOf"][1]["type"] == "array"
    versions = header["schema"]["enum"]
    assert versions == list(range(1, len(versions) + 1))
    for version in versions:
        schema = _inlined({"$ref": f"#/components/schemas/{message_type}_v{version}"},
                          doc["components"]["schemas"])
        all_accepted(client, message_type, version, schema)


def all_accepted(client, message_type: str, version: int, schema: dict) -> None:
    """Batches generated from ``schema``, sent as ``version``, are accepted whole."""

    @settings(max_examples=1, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    @given(st.lists(from_schema(schema, custom_formats={"date-time": utc_era_date_times()}),
                    min_size=8, max_size=8))
    def accepted(events) -> None:
        response = post(client, message_type, events,
                        headers={"Hover-Schema-Version": str(version)})
        assert response.status_code == 200, response.get_json()
        result = response.get_json()
        assert (result["accepted"], result["rejected"]) == (len(events), 0), result
        assert result["schema"]["version"] == version
        assert response.headers["Hover-Schema-Version"] == str(version)

    accepted()
