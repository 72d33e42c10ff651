"""The loader for the configured warehouse (environment, so Spark jobs and ingest
instances, which run outside Airflow, configure it the same way)."""

from __future__ import annotations

import os

from loader.base import Loader


def loader_from_environment() -> Loader:
    """``HOVER_WAREHOUSE_ENGINE`` (postgres, the default, or redshift) and its settings:
    postgres: ``HOVER_WAREHOUSE_DSN`` and optionally ``HOVER_WAREHOUSE_ISOLATION``
    (``serializable`` to behave like Redshift); redshift: ``HOVER_WAREHOUSE_DSN`` plus
    ``HOVER_REDSHIFT_IAM_ROLE``, ``HOVER_REDSHIFT_STAGING`` (s3://bucket/prefix)."""
    engine = os.environ.get("HOVER_WAREHOUSE_ENGINE", "postgres")
    dsn = os.environ.get("HOVER_WAREHOUSE_DSN")
    if not dsn:
        raise RuntimeError("HOVER_WAREHOUSE_DSN is not set (bin/stack up writes it to stack.env)")
    if engine == "postgres":
        from loader.postgres import PostgresLoader

        return PostgresLoader(dsn, isolation=os.environ.get("HOVER_WAREHOUSE_ISOLATION") or None)
    if engine == "redshift":
        from loader.redshift import RedshiftLoader

        return RedshiftLoader.from_environment()
    raise RuntimeError(f"HOVER_WAREHOUSE_ENGINE={engine!r}: expected postgres or redshift")
