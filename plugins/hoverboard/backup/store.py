"""The object store behind a boto3 S3 client: Amazon S3 in production, the stack's s3proxy
locally. In Airflow the client comes from the amazon provider's ``S3Hook`` (connection
``aws_default``; the store's endpoint is the connection's ``endpoint_url`` extra)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

_CHUNK = 1 << 20


class ObjectStore:
    """A bucket, with the few operations backups need."""

    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    @classmethod
    def from_connection(cls, aws_conn_id: str, bucket: str) -> ObjectStore:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        return cls(S3Hook(aws_conn_id=aws_conn_id).get_conn(), bucket)

    def put_bytes(self, key: str, body: bytes, content_type: str = "application/json") -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)

    def get_bytes(self, key: str) -> bytes | None:
        """The object's content, or None when there is none."""
        try:
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise

    def upload_file(self, path: Path, key: str) -> None:
        # boto3's managed transfer: multipart above 8 MiB, parts in parallel threads.
        self.client.upload_file(str(path), self.bucket, key)

    def download(self, key: str, path: Path) -> tuple[int, str]:
        """Stream ``key`` into ``path``; returns (bytes, SHA-256 hex) of what was read."""
        digest = hashlib.sha256()
        size = 0
        body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        with open(path, "wb") as out:
            for chunk in body.iter_chunks(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
        return size, digest.hexdigest()

    def list_keys(self, prefix: str) -> Iterator[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", ()):
                yield item["Key"]

    def list_folders(self, prefix: str) -> list[str]:
        """The immediate "sub-folders" of ``prefix`` (keys up to the next ``/``)."""
        paginator = self.client.get_paginator("list_objects_v2")
        folders = []
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix, Delimiter="/"):
            folders.extend(p["Prefix"] for p in page.get("CommonPrefixes", ()))
        return sorted(folders)

    def delete_keys(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):
            batch = keys[start:start + 1000]
            response = self.client.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True})
            errors = response.get("Errors") or []
            if errors:
                raise RuntimeError(f"could not delete {len(errors)} object(s) from "
                                   f"s3://{self.bucket}: {errors[:3]}")

    def delete_prefix(self, prefix: str) -> int:
        keys = list(self.list_keys(prefix))
        self.delete_keys(keys)
        return len(keys)
