"""The loader for the configured warehouse (environment, so Spark jobs and ingest
instances, which run outside Airflow, configure it the same way)."""

from __future__ import annotations

import os

from loader.base import Loader
from runtime.settings import warehouse_connection


def loader_from_environment() -> Loader:
    """The warehouse connection (``AIRFLOW_CONN_WAREHOUSE_DEFAULT``, the one setting Airflow
    reads too: see ``runtime.settings``) and the engine's own settings. The engine is the
    connection's type unless ``HOVER_WAREHOUSE_ENGINE`` says otherwise (the Redshift code
    path run against PostgreSQL, as the tests do). postgres: optionally
    ``HOVER_WAREHOUSE_ISOLATION`` (``serializable`` to behave like Redshift); redshift:
    ``HOVER_REDSHIFT_IAM_ROLE``, ``HOVER_REDSHIFT_STAGING`` (s3://bucket/prefix)."""
    connection = warehouse_connection()
    engine = os.environ.get("HOVER_WAREHOUSE_ENGINE") or connection.conn_type
    if engine == "postgres":
        from loader.postgres import PostgresLoader

        return PostgresLoader(connection.dsn(),
                              isolation=os.environ.get("HOVER_WAREHOUSE_ISOLATION") or None)
    if engine == "redshift":
        from loader.redshift import RedshiftLoader

        return RedshiftLoader.from_environment()
    raise RuntimeError(f"HOVER_WAREHOUSE_ENGINE={engine!r}: expected postgres or redshift")
