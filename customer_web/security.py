"""Security events and response headers, in one place.

A security event (a tampered or replayed link, a foreign trip id, a rate limit hit, a forged
or revoked session cookie, a form without its CSRF token) is a WARNING line in the app's JSON
log with ``security_event`` set, and an alert in Elasticsearch through the platform's alert
format (at most one per kind a minute; alerts carry no email and no customer id).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app, g, request

from alerts.document import Severity

log = logging.getLogger("customer_web.security")

#: No scripts at all (nothing to inline, nothing to inject); our own stylesheet; no framing;
#: forms post only to us.
CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # A sign-in link's token is in its URL: never pass it on to another site.
    "Referrer-Policy": "no-referrer",
    # Every page is someone's own data: no shared cache keeps a copy.
    "Cache-Control": "no-store",
}


def security_event(event: str, message: str, **fields: Any) -> None:
    """Log and alert one refused attempt. ``fields`` go to the log only (ids, not emails)."""
    customer = g.get("customer_id")
    log.warning(message, extra={"security_event": event, "path": request.path,
                                "method": request.method, "customer_id": customer, **fields})
    alerts = current_app.extensions.get("hover_alerts")
    if alerts is not None:
        alerts.emit(event, message, Severity.WARNING, rate_key=event,
                    details={"path": request.url_rule.rule if request.url_rule else "unrouted",
                             "method": request.method})


def add_headers(response):
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if current_app.config["SESSION_COOKIE_SECURE"]:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response
