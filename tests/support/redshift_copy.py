"""The Redshift loader with its one statement that cannot run outside Redshift replaced:
``COPY ... FROM 's3://...' IAM_ROLE`` becomes a COPY FROM STDIN of the same staged objects
(read back from the stack's S3), with the same null marker. Everything else is the loader's
own code on PostgreSQL."""

from __future__ import annotations

import gzip
import json

from psycopg import sql

from loader.postgres import copy_from_stdin
from loader.redshift import RedshiftLoader


class ClientCopyRedshiftLoader(RedshiftLoader):
    """COPY FROM STDIN of the staged object, with the same null marker as Redshift's COPY."""

    def copy_into_stage(self, cursor, spec, stage, key) -> None:
        body = gzip.decompress(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())
        with cursor.copy(copy_from_stdin(sql.Identifier(stage), spec.load_columns)) as pipe:
            pipe.write(body)

    def copy_manifest_into_stage(self, cursor, spec, stage, manifest_key) -> None:
        """What Redshift's COPY ... MANIFEST does: every file the manifest lists."""
        manifest = json.loads(
            self.s3.get_object(Bucket=self.bucket, Key=manifest_key)["Body"].read())
        for entry in manifest["entries"]:
            key = entry["url"].removeprefix(f"s3://{self.bucket}/")
            self.copy_into_stage(cursor, spec, stage, key)
