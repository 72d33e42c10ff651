"""Configuration of the customer web app.

Defaults live in :class:`DefaultConfig`; every key can be overridden from the environment with
the ``HOVER_CUSTOMER_WEB_`` prefix (``HOVER_CUSTOMER_WEB_SMTP_HOST=relay.example``) and by the
``test_config`` passed to ``create_app``. The app refuses to start without a secret key, a
database address and its public URL: a default for any of them would silently stay in use.
"""

from __future__ import annotations

ENV_PREFIX = "HOVER_CUSTOMER_WEB_"


class DefaultConfig:
    #: Signs the one-time links and Flask's cookie (CSRF token). Required.
    SECRET_KEY: str | None = None
    #: The warehouse as the app's own role (customer_web, migration V0013). Required.
    DSN: str | None = None
    #: Where customers reach the app; the links in mails start with it (never taken from the
    #: request's Host header, which a client chooses). Required.
    PUBLIC_URL: str | None = None
    #: Any SMTP relay: host, port, STARTTLS, optional login.
    SMTP_HOST = "127.0.0.1"
    SMTP_PORT = 25
    SMTP_STARTTLS = False
    SMTP_USER = ""
    SMTP_PASSWORD = ""
    SMTP_TIMEOUT_S = 10.0
    MAIL_FROM = "Hoverboard <no-reply@hoverboard.invalid>"
    #: A sign-in link is valid this long, once.
    LINK_TTL_S = 15 * 60
    #: A session lasts this long at most (sign-out ends it before).
    SESSION_TTL_S = 12 * 3600
    SESSION_COOKIE_NAME = "hover_csrf"
    #: The server-side session's cookie (only a random id; the state is in the warehouse).
    SESSION_ID_COOKIE = "hover_session"
    #: Cookies only over TLS; the local stack (plain HTTP on 127.0.0.1) turns it off.
    SESSION_COOKIE_SECURE = True
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    #: Sign-in requests allowed per client address and per email (Flask-Limiter notation).
    SIGN_IN_LIMIT_PER_ADDRESS = "20 per hour"
    SIGN_IN_LIMIT_PER_EMAIL = "5 per hour"
    #: Where the limits count. memory:// is per process, right for the stack's single
    #: gunicorn worker; several workers or instances need a shared store (redis://...).
    RATELIMIT_STORAGE_URI = "memory://"
    #: Proxies in front that set X-Forwarded-For/-Proto (1 behind the stack's NGINX).
    PROXY_HOPS = 0
    TRIPS_PER_PAGE = 20
    #: Largest connection pool per process.
    POOL_SIZE = 8
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the browser's cookie
