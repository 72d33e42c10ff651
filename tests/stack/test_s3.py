"""The S3-API store of the local stack: real s3proxy, objects survive a restart."""

from __future__ import annotations

import hashlib
import os
import uuid

import boto3
import pytest
from botocore.config import Config

from stack.orchestrator import LocalStack


def s3_client(env: dict[str, str]):
    # Only the endpoint comes from the stack; credentials and region arrive the standard
    # AWS way (environment), as boto3 reads them in production.
    return boto3.client("s3", endpoint_url=env["HOVER_S3_ENDPOINT"],
                        config=Config(s3={"addressing_style": "path"}))


@pytest.mark.serial  # stops a service the other tests share
def test_object_survives_a_restart_of_the_store(stack: LocalStack, stack_env) -> None:
    bucket = stack_env["HOVER_BACKUP_BUCKET"]
    key = f"tests/restart-{uuid.uuid4().hex}.bin"
    body = os.urandom(256 * 1024)
    s3_client(stack_env).put_object(Bucket=bucket, Key=key, Body=body)

    assert stack.down(["s3"], echo=lambda _: None) == ["s3"]
    assert stack.up(["s3"], echo=lambda _: None) == ["s3"]

    fetched = s3_client(stack_env).get_object(Bucket=bucket, Key=key)["Body"].read()
    assert hashlib.sha256(fetched).digest() == hashlib.sha256(body).digest()


def test_multipart_upload_and_prefix_listing(stack_env, tmp_path) -> None:
    client = s3_client(stack_env)
    bucket = stack_env["HOVER_BACKUP_BUCKET"]
    prefix = f"tests/multipart-{uuid.uuid4().hex}/"
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(12 * 1024 * 1024))  # above boto3's 8 MiB multipart threshold
    client.upload_file(str(big), bucket, prefix + "part.bin")
    listed = client.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]
    assert [(o["Key"], o["Size"]) for o in listed] == [(prefix + "part.bin", big.stat().st_size)]
