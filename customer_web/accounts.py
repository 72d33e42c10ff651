"""Passwordless sign-in and server-side sessions.

A sign-in link carries a random token, signed (itsdangerous, with its issue time) so that a
forged or tampered link is recognised before the database is asked; the warehouse keeps only
the token's SHA-256 with its customer, expiry and the time it was used, so a link works once
and for 15 minutes. A session is a random id in an HttpOnly cookie; its hash, customer,
expiry and revocation live in ``customer_web.session``: signing out revokes every session of
the customer at once, on every device. The customer id is only ever read from that table.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from customer_web.db import Warehouse

LINK_SALT = "hoverboard.customer_web.sign-in-link"

FIND_CUSTOMER = "SELECT id FROM fleet.customer WHERE lower(email) = %s"
INSERT_LINK = (
    "INSERT INTO customer_web.sign_in_link (token_sha256, customer_id, created_at, expires_at)"
    " VALUES (%s, %s, %s, %s)"
)
# One statement: two clicks at the same moment cannot both use the link.
USE_LINK = (
    "UPDATE customer_web.sign_in_link SET used_at = %s"
    " WHERE token_sha256 = %s AND used_at IS NULL AND expires_at > %s RETURNING customer_id"
)
INSERT_SESSION = (
    "INSERT INTO customer_web.session (id_sha256, customer_id, created_at, expires_at)"
    " VALUES (%s, %s, %s, %s)"
)
FIND_SESSION = (
    "SELECT customer_id FROM customer_web.session"
    " WHERE id_sha256 = %s AND revoked_at IS NULL AND expires_at > %s"
)
REVOKE_SESSION = (
    "UPDATE customer_web.session SET revoked_at = %s WHERE id_sha256 = %s AND revoked_at IS NULL")
REVOKE_ALL = (
    "UPDATE customer_web.session SET revoked_at = %s WHERE customer_id = %s AND revoked_at IS NULL")


def normalise_email(text: str) -> str:
    return text.strip().lower()


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class LinkRefusal(str, Enum):
    """Why a link signs nobody in (each one is a security event in the log)."""

    TAMPERED = "link_tampered"  # the signature does not match: forged or edited
    EXPIRED = "link_expired"  # older than the TTL by its signed issue time
    USED_OR_EXPIRED = "link_used_or_expired"  # used before, expired, or never issued


@dataclass(frozen=True)
class LinkCheck:
    customer_id: int | None = None
    refusal: LinkRefusal | None = None


class Accounts:
    def __init__(self, warehouse: Warehouse, secret_key: str, *, link_ttl_s: int,
                 session_ttl_s: int) -> None:
        self.warehouse = warehouse
        self.signer = URLSafeTimedSerializer(secret_key, salt=LINK_SALT)
        self.link_ttl = timedelta(seconds=link_ttl_s)
        self.session_ttl = timedelta(seconds=session_ttl_s)

    # -- links -----------------------------------------------------------------------------
    def issue_link(self, email: str, *, now: datetime | None = None) -> str | None:
        """The signed token for the profile with this email, or None when there is none."""
        now = now or datetime.now(UTC)
        email = normalise_email(email)
        with self.warehouse.for_sign_in(email) as conn:
            row = conn.execute(FIND_CUSTOMER, (email,)).fetchone()
            if row is None:
                return None
            token = secrets.token_urlsafe(32)
            conn.execute(INSERT_LINK, (digest(token), row[0], now, now + self.link_ttl))
        return self.signer.dumps(token)

    def use_link(self, signed: str, *, now: datetime | None = None) -> LinkCheck:
        now = now or datetime.now(UTC)
        try:
            token = self.signer.loads(signed, max_age=int(self.link_ttl.total_seconds()))
        except SignatureExpired:
            return LinkCheck(refusal=LinkRefusal.EXPIRED)
        except BadSignature:
            return LinkCheck(refusal=LinkRefusal.TAMPERED)
        if not isinstance(token, str):
            return LinkCheck(refusal=LinkRefusal.TAMPERED)
        with self.warehouse.transaction() as conn:
            row = conn.execute(USE_LINK, (now, digest(token), now)).fetchone()
        if row is None:
            return LinkCheck(refusal=LinkRefusal.USED_OR_EXPIRED)
        return LinkCheck(customer_id=int(row[0]))

    def check_link(self, signed: str) -> LinkRefusal | None:
        """The signature and age only (the confirmation page, before anything is used)."""
        try:
            self.signer.loads(signed, max_age=int(self.link_ttl.total_seconds()))
        except SignatureExpired:
            return LinkRefusal.EXPIRED
        except BadSignature:
            return LinkRefusal.TAMPERED
        return None

    # -- sessions --------------------------------------------------------------------------
    def start_session(self, customer_id: int, *, now: datetime | None = None) -> str:
        """A new session id (the cookie's value); only its hash is stored."""
        now = now or datetime.now(UTC)
        session_id = secrets.token_urlsafe(32)
        with self.warehouse.transaction() as conn:
            conn.execute(INSERT_SESSION,
                         (digest(session_id), customer_id, now, now + self.session_ttl))
        return session_id

    def customer_of(self, session_id: str, *, now: datetime | None = None) -> int | None:
        now = now or datetime.now(UTC)
        row = self.warehouse.fetch_one(FIND_SESSION, (digest(session_id), now))
        return None if row is None else int(row[0])

    def end_session(self, session_id: str) -> None:
        with self.warehouse.transaction() as conn:
            conn.execute(REVOKE_SESSION, (datetime.now(UTC), digest(session_id)))

    def end_all_sessions(self, customer_id: int) -> int:
        with self.warehouse.transaction() as conn:
            return conn.execute(REVOKE_ALL, (datetime.now(UTC), customer_id)).rowcount
