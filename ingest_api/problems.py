"""Every error the service answers is RFC 9457 problem details, from this one place."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from flask import Flask, g
from werkzeug.exceptions import HTTPException

PROBLEM_JSON = "application/problem+json"
#: Problem types are documented in the OpenAPI document under this base.
TYPE_BASE = "https://hoverboard-platform.invalid/problems/"

log = logging.getLogger(__name__)


class Problem(Exception):
    """An error answer: status, a stable type slug, a title, detail and extension members."""

    def __init__(self, status: int, slug: str, title: str, detail: str = "",
                 headers: dict[str, str] | None = None, **extensions: Any) -> None:
        super().__init__(detail or title)
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.headers = headers or {}
        self.extensions = extensions

    def body(self) -> dict[str, Any]:
        body = {"type": TYPE_BASE + self.slug, "title": self.title, "status": self.status}
        if self.detail:
            body["detail"] = self.detail
        request_id = g.get("request_id")
        if request_id:
            body["request_id"] = request_id
        body.update(self.extensions)
        return body


def response(problem: Problem):
    from flask import current_app

    # orjson keeps member order: type, title, status, detail first, as the RFC lists them.
    resp = current_app.response_class(
        orjson.dumps(problem.body()), status=problem.status, mimetype=PROBLEM_JSON
    )
    resp.headers.update(problem.headers)
    return resp


# Werkzeug's own errors (routing, method, size) mapped to our problem types.
_HTTP_SLUGS = {
    404: ("not-found", "No such resource"),
    405: ("method-not-allowed", "Method not allowed"),
    413: ("payload-too-large", "Request body too large"),
}


def init_app(app: Flask) -> None:
    @app.errorhandler(Problem)
    def _problem(problem: Problem):
        return response(problem)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        slug, title = _HTTP_SLUGS.get(exc.code or 500, ("http-error", exc.name))
        detail = exc.description or ""
        headers = {}
        if exc.code == 413:
            detail = f"the body exceeds {app.config['MAX_CONTENT_LENGTH']} bytes"
        if exc.code == 405:
            allowed = exc.get_headers()
            headers = {k: v for k, v in allowed if k == "Allow"}
        return response(Problem(exc.code or 500, slug, title, detail, headers=headers))

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error")
        return response(Problem(500, "internal-error", "Internal error",
                                "the error was logged with this request's id"))
