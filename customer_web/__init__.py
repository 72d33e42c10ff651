"""The customer web app: customers sign in without a password and see their own profile,
trips and totals, download all of it, and nobody else's.

``create_app`` is the Flask app factory; ``gunicorn -c customer_web/gunicorn.conf.py
customer_web.wsgi:app`` serves it (the local stack's ``customer_web`` service, behind NGINX).
"""

from __future__ import annotations

import atexit
import logging
import os

from flask import Flask, g, render_template, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.middleware.proxy_fix import ProxyFix

from alerts.emitter import AlertEmitter
from customer_web.accounts import Accounts, normalise_email
from customer_web.config import ENV_PREFIX, DefaultConfig
from customer_web.data import CustomerData
from customer_web.db import Warehouse
from customer_web.security import add_headers, security_event
from ingest_api.problems import Problem
from ingest_api.problems import response as problem_response
from ingest_api.views import assign_request_id

log = logging.getLogger(__name__)
REQUIRED = ("SECRET_KEY", "DSN", "PUBLIC_URL")


def _email_key() -> str:
    return "email:" + normalise_email(request.form.get("email", ""))[:254]


def _rate_limited(limit) -> None:
    security_event("rate_limited", "sign-in requests over their limit",
                   limit=str(limit.limit))


def _error(exc: HTTPException):
    """The one error answer: an HTML page, or problem+json for a client that asks for JSON."""
    status, title = exc.code or 500, exc.name
    detail = exc.description if status != 500 else "The error was logged with this request's id."
    if request.accept_mimetypes.best_match(["text/html", "application/json"]) == \
            "application/json" or request.path.endswith(".json"):
        slug = title.lower().replace(" ", "-")
        return problem_response(Problem(status, slug, title, detail))
    return render_template("error.html", status=status, title=title, detail=detail), status


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(__name__)
    app.config.from_object(DefaultConfig)
    app.config.from_prefixed_env(ENV_PREFIX.rstrip("_"))
    if test_config:
        app.config.update(test_config)
    missing = [ENV_PREFIX + key for key in REQUIRED if not app.config.get(key)]
    if missing:
        raise RuntimeError(f"set {', '.join(missing)} (bin/stack up writes them to stack.env "
                           "for the local stack); the app has no defaults for them")
    if app.config["PROXY_HOPS"]:
        hops = int(app.config["PROXY_HOPS"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    warehouse = Warehouse(app.config["DSN"], max_size=int(app.config["POOL_SIZE"]))
    warehouse.open()
    atexit.register(warehouse.close)
    app.extensions["hover_warehouse"] = warehouse
    app.extensions["hover_accounts"] = Accounts(
        warehouse, app.config["SECRET_KEY"], link_ttl_s=int(app.config["LINK_TTL_S"]),
        session_ttl_s=int(app.config["SESSION_TTL_S"]))
    app.extensions["hover_data"] = CustomerData(warehouse)
    alerts = AlertEmitter.from_environment("customer_web")
    app.extensions["hover_alerts"] = alerts
    atexit.register(alerts.close)

    CSRFProtect(app)
    from customer_web.views import account, auth, load_customer, ops

    app.before_request(assign_request_id)
    app.before_request(load_customer)

    @app.after_request
    def _finish(response):
        if g.get("request_id"):
            response.headers["X-Request-Id"] = g.request_id
        if g.get("drop_session_cookie"):
            response.delete_cookie(app.config["SESSION_ID_COOKIE"])
        return add_headers(response)

    @app.errorhandler(CSRFError)
    def _csrf(exc: CSRFError):
        security_event("csrf_rejected", "a form was posted without a valid CSRF token")
        return _error(exc)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        return _error(exc)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error")
        return _error(InternalServerError())

    app.register_blueprint(auth)
    app.register_blueprint(account)
    app.register_blueprint(ops)

    limiter = Limiter(get_remote_address, app=app, storage_uri=app.config[
        "RATELIMIT_STORAGE_URI"], on_breach=_rate_limited, headers_enabled=True)
    view = app.view_functions["auth.request_link"]
    view = limiter.limit(app.config["SIGN_IN_LIMIT_PER_EMAIL"], key_func=_email_key)(view)
    view = limiter.limit(app.config["SIGN_IN_LIMIT_PER_ADDRESS"])(view)
    app.view_functions["auth.request_link"] = view
    log.info("customer web app ready", extra={"pid": os.getpid()})
    return app
