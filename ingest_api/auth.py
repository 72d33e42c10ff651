"""API keys: several at once (so they can be rotated), from the environment or a file.

Keys are never logged. A presented key is compared with every configured key in constant
time, so neither the match nor its position leaks through timing.
"""

from __future__ import annotations

import hmac
from pathlib import Path

from flask import Flask, request

from ingest_api.problems import Problem


def load_keys(app: Flask) -> tuple[bytes, ...]:
    keys = [k.strip() for k in str(app.config.get("API_KEYS") or "").split(",")]
    keys_file = app.config.get("API_KEYS_FILE")
    if keys_file:
        lines = Path(keys_file).read_text().splitlines()
        keys += [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]
    keys = [k for k in keys if k]
    if not keys:
        raise RuntimeError(
            "no API keys configured: set HOVER_INGEST_API_KEYS (comma-separated) or "
            "HOVER_INGEST_API_KEYS_FILE (one key per line); the service does not run open"
        )
    short = [k for k in keys if len(k) < 16]
    if short:
        raise RuntimeError(
            f"{len(short)} API key(s) shorter than 16 characters; use long random keys"
        )
    return tuple(k.encode() for k in keys)


def presented_key() -> bytes | None:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip().encode()
    key = request.headers.get("X-API-Key")
    return key.encode() if key else None


def require_api_key(keys: tuple[bytes, ...]) -> None:
    given = presented_key()
    matched = False
    if given is not None:
        for key in keys:  # no early exit: the time taken does not depend on which key matched
            matched |= hmac.compare_digest(given, key)
    if not matched:
        raise Problem(401, "unauthorized", "Missing or invalid API key",
                      "send a valid key as 'Authorization: Bearer <key>' or 'X-API-Key'",
                      headers={"WWW-Authenticate": 'Bearer realm="ingest"'})
