"""The baseline of the single-event benchmark: a bare Flask endpoint at the ingest API's
path, served by the same gunicorn configuration, with no key check, no validation and no
Kafka. It reads the body and answers 201 with a small JSON, like the real endpoint.

``gunicorn -c ingest_api/gunicorn.conf.py benchmarks.bare_app:app``
"""

from __future__ import annotations

from types import SimpleNamespace

import orjson
from flask import Flask, Response, request

app = Flask(__name__, static_folder=None)
# ingest_api/gunicorn.conf.py's worker_int hook closes the sinks it finds here: none.
app.extensions["hover_ingest"] = SimpleNamespace(sinks={})


@app.post("/ingest/<message_type>")
def post_event(message_type: str) -> Response:
    request.get_data(cache=False)
    body = {"result": "accepted", "topic": message_type, "partition": 0, "offset": 0}
    return Response(orjson.dumps(body), status=201, mimetype="application/json")


@app.get("/health")
def health() -> Response:
    return Response(b'{"status":"ok"}', mimetype="application/json")
