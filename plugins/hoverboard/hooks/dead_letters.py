"""Hook for the dead letters of the warehouse behind an Airflow connection id."""

from __future__ import annotations

import os
from functools import cached_property
from typing import Any

from airflow.sdk import BaseHook

from hoverboard.hooks.warehouse import DEFAULT_CONN_ID, WarehouseHook


class DeadLetterHook(BaseHook):
    """The platform's loader for a warehouse connection, and the dead-letter service on it.

    The loader is the one the streaming sink uses (``loader.postgres`` / ``loader.redshift``),
    so a replay loads exactly as the sink does. PostgreSQL: from the connection's host,
    port, database, login and password. Redshift: the connection for the SQL, plus the
    loader's staging location and IAM role for its ``COPY`` (``HOVER_REDSHIFT_STAGING``,
    ``HOVER_REDSHIFT_IAM_ROLE``, as for the sink, unless given here).

    :param conn_id: Airflow connection of the warehouse (type ``postgres`` or ``redshift``).
    :param schema_registry_url: where schemas come from; default ``HOVER_SCHEMA_REGISTRY_URL``,
        and ``schemas/`` of this checkout when unset or unreachable.
    :param redshift_staging: Redshift only: ``s3://bucket/prefix`` for the loader's staged batches.
    :param iam_role: Redshift only: the IAM role ``COPY`` reads the staged batch with.
    """

    conn_name_attr = "conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = "postgres"
    hook_name = "Hoverboard dead letters (warehouse)"

    def __init__(self, conn_id: str = DEFAULT_CONN_ID, *, schema_registry_url: str | None = None,
                 redshift_staging: str | None = None, iam_role: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id
        self.schema_registry_url = schema_registry_url
        self.redshift_staging = redshift_staging
        self.iam_role = iam_role

    @cached_property
    def warehouse(self) -> WarehouseHook:
        return WarehouseHook(self.conn_id)

    @cached_property
    def loader(self):
        """The sink's loader for this connection (created on first use)."""
        if self.warehouse.engine == "redshift":
            import boto3

            from loader.redshift import RedshiftLoader

            staging = self.redshift_staging or os.environ.get("HOVER_REDSHIFT_STAGING")
            role = self.iam_role or os.environ.get("HOVER_REDSHIFT_IAM_ROLE")
            if not staging or not role:
                raise ValueError(f"{self.conn_id} is a Redshift connection: the loader needs a "
                                 f"staging location and an IAM role (HOVER_REDSHIFT_STAGING, "
                                 f"HOVER_REDSHIFT_IAM_ROLE, as for the streaming sink)")
            return RedshiftLoader(self.warehouse.get_conn, boto3.client("s3"), staging, role)
        from loader.postgres import PostgresLoader

        return PostgresLoader(self.warehouse.dsn, max_connections=2)

    @cached_property
    def schemas(self):
        from schemas.registry import SchemaSource

        return SchemaSource(self.schema_registry_url or os.environ.get("HOVER_SCHEMA_REGISTRY_URL"))

    def service(self, *, handled_by: str, message_type: str | None = None,
                jobs: str | None = None):
        """The dead-letter service on this warehouse (see ``hoverboard.dead_letters``)."""
        from hoverboard.dead_letters.service import DeadLetterService

        return DeadLetterService(self.loader, self.schemas, handled_by=handled_by,
                                 message_type=message_type or None, jobs=jobs or None)

    def close(self) -> None:
        if "loader" in self.__dict__:
            self.loader.close()
            del self.__dict__["loader"]
