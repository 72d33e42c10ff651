"""Credentials of the local stack, generated on first use and kept in its state directory.

Nothing secret is committed: each stack generates its own passwords and keys once, stores
them readable by the owner only, and hands them to clients through the generated config.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

_GENERATORS = {
    "postgres_password": lambda: secrets.token_urlsafe(18),
    "s3_access_key": lambda: "hover" + secrets.token_hex(6),
    "s3_secret_key": lambda: secrets.token_urlsafe(30),
    "airflow_admin_password": lambda: secrets.token_urlsafe(12),
    "ingest_api_key": lambda: secrets.token_urlsafe(32),
    "airflow_jwt_secret": lambda: secrets.token_urlsafe(32),
    "airflow_api_secret_key": lambda: secrets.token_urlsafe(32),
    "customer_web_db_password": lambda: secrets.token_urlsafe(18),
    "customer_web_secret_key": lambda: secrets.token_urlsafe(32),
}


@dataclass(frozen=True)
class Secrets:
    postgres_password: str
    s3_access_key: str
    s3_secret_key: str
    airflow_admin_password: str
    ingest_api_key: str
    airflow_jwt_secret: str
    airflow_api_secret_key: str
    customer_web_db_password: str
    customer_web_secret_key: str

    @classmethod
    def load_or_create(cls, home: Path) -> Secrets:
        """Existing values are kept; any missing one (a newer stack version) is generated."""
        path = home / "secrets.json"
        stored = json.loads(path.read_text()) if path.exists() else {}
        values = {name: stored.get(name) or make() for name, make in _GENERATORS.items()}
        if values != stored:
            home.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                json.dump(values, fh, indent=2)
            tmp.replace(path)
        return cls(**values)
