"""The platform's settings: where its assets are, and the one warehouse setting.

Assets. Plugins and jobs read files that ship with the platform: ``sql/migrations``, the
sink configs in ``spark/conf``, ``dags/config``, ``schemas/``. They find them through
:func:`asset`, under :func:`home`: ``HOVER_HOME`` when set (a deployment that installs the
code in one place and the assets in another), else the checkout this module lives in.

The warehouse. Its connection is configured once, as Airflow's connection
``warehouse_default``: the variable ``AIRFLOW_CONN_WAREHOUSE_DEFAULT`` (Airflow's URI or
JSON form), or, for Airflow itself, any secrets backend. Airflow reads it as the
connection; the Spark sinks, the loader and Version-1 ingest, which run outside Airflow,
derive their DSN from the same variable through :func:`warehouse_dsn` (on the command line:
``psql "$(python -m runtime.settings)"``). The streaming
launcher hands a driver the connection the supervisor itself reads, so the jobs always write
where their progress is read.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

HOME_ENV = "HOVER_HOME"
WAREHOUSE_CONN_ID = "warehouse_default"
#: The variable Airflow reads the connection ``warehouse_default`` from.
WAREHOUSE_CONN_ENV = f"AIRFLOW_CONN_{WAREHOUSE_CONN_ID.upper()}"
DEFAULT_PORTS = {"postgres": 5432, "redshift": 5439}


def home() -> Path:
    """The folder holding the platform's assets: ``HOVER_HOME``, else this checkout."""
    configured = os.environ.get(HOME_ENV, "").strip()
    return Path(configured).expanduser() if configured else Path(__file__).resolve().parents[1]


def asset(*parts: str) -> Path:
    """A path under :func:`home`, e.g. ``asset("sql", "migrations")``."""
    return home().joinpath(*parts)


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    """An integer setting from the environment (``default`` when unset or empty); a value
    that is not one, or below ``minimum``, is a ValueError naming the variable."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not an integer") from None
    if minimum is not None and value < minimum:
        raise ValueError(f"{name}={value}: must be at least {minimum}")
    return value


@dataclass(frozen=True)
class WarehouseConnection:
    """The fields of an Airflow connection that name a warehouse (as Airflow parses them)."""

    conn_type: str
    host: str = ""
    port: int | None = None
    login: str = ""
    password: str = field(default="", repr=False)
    schema: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, value: str) -> WarehouseConnection:
        """Airflow's JSON form (``{"conn_type": ...}``) or URI form
        (``postgres://user:password@host:port/database?extra=value``) of a connection."""
        value = value.strip()
        if value.startswith("{"):
            fields = json.loads(value)
            extra = fields.get("extra") or {}
            return cls(conn_type=fields.get("conn_type") or "", host=fields.get("host") or "",
                       port=int(fields["port"]) if fields.get("port") else None,
                       login=fields.get("login") or "", password=fields.get("password") or "",
                       schema=fields.get("schema") or "",
                       extra=json.loads(extra) if isinstance(extra, str) else dict(extra))
        parts = urlsplit(value)
        if not parts.scheme:
            raise ValueError("expected Airflow's URI form (postgres://user:password@host:port/"
                             "database) or its JSON form ({\"conn_type\": ...})")
        # Airflow's own reading of a URI: '-' in the scheme is '_', postgresql is postgres.
        conn_type = parts.scheme.replace("-", "_")
        conn_type = "postgres" if conn_type == "postgresql" else conn_type
        return cls(conn_type=conn_type, host=unquote(parts.hostname or ""), port=parts.port,
                   login=unquote(parts.username or ""), password=unquote(parts.password or ""),
                   schema=unquote(parts.path[1:]), extra=dict(parse_qsl(parts.query)))

    @property
    def database(self) -> str:
        return self.schema or self.login

    def dsn(self) -> str:
        """The libpq URI (psycopg, and the Redshift driver's fields) of this connection."""
        if self.conn_type not in DEFAULT_PORTS:
            raise ValueError(f"connection type {self.conn_type!r}: the warehouse must be one "
                             f"of {sorted(DEFAULT_PORTS)}")
        credentials = quote(self.login, safe="")
        if self.password:
            credentials += ":" + quote(self.password, safe="")
        port = self.port or DEFAULT_PORTS[self.conn_type]
        return (f"postgresql://{credentials}{'@' if credentials else ''}{self.host}:{port}/"
                f"{quote(self.database, safe='')}")


def warehouse_connection(environ: Mapping[str, str] | None = None) -> WarehouseConnection:
    """The warehouse connection configured in ``environ`` (default: this process's)."""
    environ = os.environ if environ is None else environ
    value = environ.get(WAREHOUSE_CONN_ENV, "")
    if not value.strip():
        raise RuntimeError(f"{WAREHOUSE_CONN_ENV} is not set: it is the warehouse's one setting "
                           "(bin/stack up writes it to stack.env; see the README, Production)")
    try:
        return WarehouseConnection.parse(value)
    except ValueError as exc:
        raise RuntimeError(f"{WAREHOUSE_CONN_ENV} cannot be read: {exc}") from None


def warehouse_dsn(environ: Mapping[str, str] | None = None) -> str:
    """The libpq DSN of the warehouse, derived from :data:`WAREHOUSE_CONN_ENV`."""
    return warehouse_connection(environ).dsn()


if __name__ == "__main__":
    print(warehouse_dsn())
