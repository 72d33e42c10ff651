"""HTTP endpoints: ``ingest`` (the sensors' API, behind API keys) and ``ops`` (health,
readiness, metrics, the OpenAPI document; no key needed, and ``/ready`` and ``/metrics`` are
not served through the public NGINX entry point: monitoring reads each instance directly)."""

from __future__ import annotations

import logging
import os
import time

import orjson
from flask import Blueprint, Response, current_app, g, request

from ingest_api import metrics
from ingest_api.auth import require_api_key
from ingest_api.bodies import parse_body
from ingest_api.problems import Problem
from ingest_api.service import ingest_records

ingest = Blueprint("ingest", __name__)
ops = Blueprint("ops", __name__)
log = logging.getLogger(__name__)

#: Request and response header naming the schema version of the body (default: the latest).
SCHEMA_VERSION_HEADER = "Hover-Schema-Version"


def state():
    return current_app.extensions["hover_ingest"]


def json_response(body, status: int = 200, headers: dict | None = None,
                  mimetype: str = "application/json") -> Response:
    return Response(orjson.dumps(body), status=status, headers=headers, mimetype=mimetype)


@ingest.before_request
def _authenticate() -> None:
    require_api_key(state().api_keys)


@ingest.post("/ingest/<message_type>")
def post_events(message_type: str) -> Response:
    started = time.perf_counter()
    app_state = state()
    mtype = app_state.types.get(message_type)
    if mtype is None:
        raise Problem(404, "unknown-message-type", "Unknown message type",
                      f"this instance ingests {', '.join(sorted(app_state.types))}",
                      message_types=sorted(app_state.types))
    mtype = _requested_version(mtype)
    body = parse_body(request, max_records=current_app.config["MAX_BATCH_RECORDS"])
    outcomes = ingest_records(mtype, app_state.sinks[mtype.config.sink], body.records,
                              request_id=g.request_id)

    accepted = sum(o.status == "accepted" for o in outcomes)
    rejected = sum(o.status == "rejected" for o in outcomes)
    failed = len(outcomes) - accepted - rejected
    accepted_total, rejected_total, failed_total, latency = metrics.for_type(message_type)
    accepted_total.inc(accepted)
    if rejected:
        rejected_total.inc(rejected)
    if failed:
        failed_total.inc(failed)
        error = next(o.delivery.error for o in outcomes if o.status == "failed")
        current_app.extensions["hover_alerts"].emit(
            "sink_unavailable", f"{message_type} events not stored ({error}); clients get 503",
            details={"message_type": message_type, "failed": failed, "error": error,
                     "sink": mtype.config.sink},
            rate_key=f"sink:{message_type}")
    latency.observe(time.perf_counter() - started)
    schema = {"subject": mtype.schema.subject, "version": mtype.schema.version}
    retry_after = {"Retry-After": str(current_app.config["RETRY_AFTER_S"])}
    version_header = {SCHEMA_VERSION_HEADER: str(mtype.schema.version)}

    if not body.is_batch:
        outcome = outcomes[0]
        if outcome.status == "rejected":
            raise Problem(422, "schema-violation", "Event does not match its schema",
                          f"{len(outcome.errors)} field(s) invalid",
                          errors=[e.as_dict() for e in outcome.errors], schema=schema)
        if outcome.status == "failed":
            raise Problem(503, "sink-unavailable", "Event not stored, retry later",
                          outcome.delivery.error, headers=retry_after)
        return json_response({"result": "accepted", "request_id": g.request_id,
                              "topic": mtype.config.topic,
                              "partition": outcome.delivery.partition,
                              "offset": outcome.delivery.offset, "schema": schema},
                             status=201, headers=version_header)

    items = [o.as_item(i) for i, o in enumerate(outcomes)]
    summary = {"accepted": accepted, "rejected": rejected, "failed": failed}
    if failed:
        # Some valid records are not stored: never a 2xx. Retrying the whole batch is safe,
        # the warehouse keeps one row per natural key.
        raise Problem(503, "sink-unavailable", "Some records not stored, retry later",
                      f"{failed} of {len(items)} records not confirmed by the sink",
                      headers=retry_after, items=items, **summary)
    if not accepted:
        raise Problem(422, "schema-violation", "No record matches its schema",
                      f"all {rejected} records rejected", items=items, schema=schema, **summary)
    return json_response({"request_id": g.request_id, "errors": rejected > 0,
                          "took_ms": round((time.perf_counter() - started) * 1000, 2),
                          **summary, "schema": schema, "items": items}, status=200,
                         headers=version_header)


def _requested_version(mtype):
    """The type at the schema version the request names, or at its latest."""
    named = request.headers.get(SCHEMA_VERSION_HEADER)
    if named is None:
        return mtype
    try:
        return mtype.at_version(int(named))
    except (ValueError, LookupError):
        raise Problem(400, "unknown-schema-version", "Unknown schema version",
                      f"{SCHEMA_VERSION_HEADER}: {named[:20]!r} is not a version of "
                      f"{mtype.schema.subject} this instance accepts; send one of "
                      f"{', '.join(map(str, mtype.served_versions))}, or no header for the "
                      "latest", header=SCHEMA_VERSION_HEADER,
                      versions=list(mtype.served_versions)) from None


@ops.get("/health")
def health() -> Response:
    return json_response({"status": "ok"})


@ops.get("/ready")
def ready() -> Response:
    app_state = state()
    problems = {}
    for name, sink in app_state.sinks.items():
        problem = sink.readiness_problem(app_state.topics_for(name))
        if problem:
            problems[name] = problem
    if problems:
        # The reasons name hosts, users and exception texts: they go to the log, under the
        # request id the answer carries; an anonymous caller learns which sink is not ready.
        for name, problem in problems.items():
            log.warning("not ready: %s sink: %s", name, problem)
        raise Problem(503, "not-ready", "Not ready",
                      f"sink(s) not ready: {', '.join(sorted(problems))}; the reason is in "
                      "this instance's log under this request id",
                      headers={"Retry-After": str(current_app.config["RETRY_AFTER_S"])},
                      checks=dict.fromkeys(problems, "not ready"))
    return json_response({"status": "ready", "message_types": {
        name: {"schema_subject": t.schema.subject, "schema_version": t.schema.version,
               "schema_origin": t.schema.origin, "topic": t.config.topic}
        for name, t in app_state.types.items()}})


@ops.get("/metrics")
def prometheus_metrics() -> Response:
    for sink in state().sinks.values():
        if hasattr(sink, "queue_depth"):
            metrics.QUEUE_DEPTH.set(sink.queue_depth())
    body, content_type = metrics.render()
    return Response(body, content_type=content_type)


@ops.get("/openapi.json")
def openapi() -> Response:
    app_state = state()
    if app_state.openapi is None:  # built once per process, from the types it serves
        from ingest_api.openapi import document

        app_state.openapi = orjson.dumps(document(app_state.types))
    return Response(app_state.openapi, mimetype="application/json")


def assign_request_id() -> None:
    supplied = request.headers.get("X-Request-Id", "")
    # A caller's id is kept (tracing across systems) if it is short and printable.
    # 128 random bits as 32 hex digits, like uuid4().hex at a fifth of its cost (one per request).
    g.request_id = supplied if 0 < len(supplied) <= 64 and supplied.isprintable() else \
        os.urandom(16).hex()
