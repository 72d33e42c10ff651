"""The warehouse's read-only roles that Superset reads as (migration V0012 makes them without
a login): each gets its password from the deployment's secrets, never from the repository.

The local stack calls :func:`allow_logins` with its generated secrets
(stack/services/superset.py); a deployment runs, after the migrations,
``python -m hoverboard.warehouse.readers`` with the passwords in ``ANALYTICS_READER_PASSWORD``
and ``OPERATIONS_READER_PASSWORD`` and the warehouse in ``AIRFLOW_CONN_WAREHOUSE_DEFAULT``
(docker-compose.yaml does). Idempotent: the passwords of the secrets are the truth.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

READERS = ("analytics_reader", "operations_reader")


def password_variable(role: str) -> str:
    """The environment variable a deployment passes ``role``'s password in."""
    return f"{role.upper()}_PASSWORD"


def allow_logins(dsn: str, passwords: Mapping[str, str]) -> None:
    """Each reader of ``passwords`` (role -> password) may log in to the PostgreSQL warehouse
    at ``dsn`` with its password."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(dsn, autocommit=True) as conn:
        for role, password in passwords.items():
            conn.execute(sql.SQL("ALTER ROLE {} WITH LOGIN PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(password)))


def main(environ: Mapping[str, str] = os.environ) -> int:
    from runtime.settings import warehouse_connection, warehouse_dsn

    missing = [password_variable(r) for r in READERS if not environ.get(password_variable(r))]
    if missing:
        print(f"error: {', '.join(missing)} not set: each reader's password comes from the "
              "deployment's secrets (README, Secrets)", file=sys.stderr)
        return 1
    if warehouse_connection(environ).conn_type != "postgres":
        # Redshift's readers are users: ALTER USER <name> PASSWORD '...' as its admin.
        print("error: only a PostgreSQL warehouse is handled here; on Redshift set the "
              "readers' passwords with ALTER USER ... PASSWORD", file=sys.stderr)
        return 1
    allow_logins(warehouse_dsn(environ),
                 {role: environ[password_variable(role)] for role in READERS})
    print(f"{', '.join(READERS)} may log in")
    return 0


if __name__ == "__main__":
    sys.exit(main())
