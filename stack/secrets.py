"""Credentials of the local stack, generated on first use and kept in its state directory.

Nothing secret is committed: each stack generates its own passwords and keys once, stores
them readable by the owner only, and hands them to clients through the generated config.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class Secrets:
    postgres_password: str
    s3_access_key: str
    s3_secret_key: str
    airflow_admin_password: str

    @classmethod
    def load_or_create(cls, home: Path) -> Secrets:
        path = home / "secrets.json"
        if path.exists():
            return cls(**json.loads(path.read_text()))
        created = cls(
            postgres_password=secrets.token_urlsafe(18),
            s3_access_key="hover" + secrets.token_hex(6),
            s3_secret_key=secrets.token_urlsafe(30),
            airflow_admin_password=secrets.token_urlsafe(12),
        )
        home.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(asdict(created), fh, indent=2)
        return created
