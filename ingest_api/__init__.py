"""The ingest API: sensors POST events, the service validates them against their JSON
Schema and answers 2xx only once the sink (Kafka) has durably stored them.

``create_app`` is the Flask app factory; ``gunicorn -c ingest_api/gunicorn.conf.py`` serves it.
"""

from __future__ import annotations

import atexit
import logging
import os
from dataclasses import dataclass

from flask import Flask, g

from alerts.emitter import AlertEmitter
from ingest_api import problems
from ingest_api.auth import load_keys
from ingest_api.config import ENV_PREFIX, DefaultConfig, check_environment, load_message_configs
from ingest_api.service import MessageType
from ingest_api.sinks import KafkaSink, Sink, WarehouseSink
from schemas.registry import SchemaSource
from schemas.validation import EventValidator

log = logging.getLogger(__name__)


@dataclass
class IngestState:
    """Everything an instance holds for its lifetime: message types, sinks, keys."""

    types: dict[str, MessageType]
    sinks: dict[str, Sink]
    api_keys: tuple[bytes, ...]
    openapi: bytes | None = None  # the served document, built on first request

    def topics_for(self, sink_name: str) -> tuple[str, ...]:
        return tuple(t.config.topic for t in self.types.values() if t.config.sink == sink_name)


def _build_sink(name: str, app: Flask) -> Sink:
    if name == "kafka":
        if not app.config["KAFKA_BOOTSTRAP"]:
            raise RuntimeError(
                "no Kafka address: set HOVER_KAFKA_BOOTSTRAP (bin/stack up writes it to "
                "stack.env) or HOVER_INGEST_KAFKA_BOOTSTRAP"
            )
        return KafkaSink(app.config["KAFKA_BOOTSTRAP"], ack_timeout_s=app.config["ACK_TIMEOUT_S"],
                         extra_config=app.config["KAFKA_PRODUCER_CONFIG"])
    if name == "warehouse":
        from loader.factory import loader_from_environment

        return WarehouseSink(loader_from_environment)
    raise ValueError(f"unknown sink {name!r}")


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(__name__, static_folder=None)
    app.config.from_object(DefaultConfig)
    app.config["KAFKA_BOOTSTRAP"] = os.environ.get("HOVER_KAFKA_BOOTSTRAP")
    app.config["SCHEMA_REGISTRY_URL"] = os.environ.get("HOVER_SCHEMA_REGISTRY_URL")
    check_environment(os.environ)
    app.config.from_prefixed_env(ENV_PREFIX.rstrip("_"))
    if test_config:
        app.config.update(test_config)

    source = SchemaSource(app.config["SCHEMA_REGISTRY_URL"])
    types: dict[str, MessageType] = {}
    for name, conf in load_message_configs(app.config["MESSAGE_CONF"]).items():
        resolved = source.resolve(name, conf.schema_subject, conf.schema_version)
        # Every version up to the one in force is served: a client names its version (the
        # Hover-Schema-Version header), so producers can move to a new version one by one.
        earlier = {}
        for version in range(1, resolved.version):
            older = source.resolve(name, conf.schema_subject, version)
            earlier[version] = (older, EventValidator(older.schema))
        types[name] = MessageType(conf, resolved, EventValidator(resolved.schema), earlier)
        log.info("serving %s: %s v%s from %s (and v%s)", name, resolved.subject,
                 resolved.version, resolved.origin, sorted(earlier) or "none")
    sinks = {name: _build_sink(name, app) for name in {t.config.sink for t in types.values()}}
    app.extensions["hover_ingest"] = IngestState(types, sinks, load_keys(app))
    alerts = AlertEmitter.from_environment(
        "ingest_api", labels={"instance": str(app.config["INSTANCE_NAME"])})
    app.extensions["hover_alerts"] = alerts
    atexit.register(alerts.close)
    for sink in sinks.values():
        atexit.register(sink.close)

    problems.init_app(app)
    from ingest_api.views import assign_request_id, ingest, ops

    app.before_request(assign_request_id)

    @app.after_request
    def _echo_request_id(response):
        if g.get("request_id"):
            response.headers["X-Request-Id"] = g.request_id
        return response

    app.register_blueprint(ingest)
    app.register_blueprint(ops)
    return app
