"""The S3-API object store: s3proxy with its filesystem backend, so objects survive restarts.

It stands in for Amazon S3 (warehouse backups). Credentials are generated per stack; the
backup bucket is created on ``up``.
"""

from __future__ import annotations

import json
import os

from stack.artifacts import ArtifactSet, Coordinate
from stack.java import find_java
from stack.process import StackError, http_status
from stack.services.base import Launch, Service

S3PROXY = ArtifactSet(
    name="s3proxy",
    coordinates=(Coordinate("org.gaul:s3proxy:4.1.0:jar:jar-with-dependencies"),),
    transitive=False,
)

REGION = "us-east-1"


class S3Store(Service):
    name = "s3"
    port_keys = ("s3",)
    artifact_sets = (S3PROXY,)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def prepare(self) -> None:
        # s3proxy exits at start if its base directory does not exist.
        (self.data_dir / "objects").mkdir(parents=True, exist_ok=True)
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        conf = self.conf_dir / "s3proxy.conf"
        settings = {
            "s3proxy.endpoint": self.endpoint,
            "s3proxy.authorization": "aws-v2-or-v4",
            "s3proxy.identity": self.secrets.s3_access_key,
            "s3proxy.credential": self.secrets.s3_secret_key,
            # s3proxy 4 no longer uses jclouds but keeps its property names.
            "jclouds.provider": "filesystem",
            "jclouds.filesystem.basedir": str(self.data_dir / "objects"),
        }
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write("".join(f"{k}={v}\n" for k, v in settings.items()))

    def launch(self) -> Launch:
        jar = next(iter(S3PROXY.jars(self.config.cache_dir)), None)
        if jar is None:
            raise StackError(f"s3proxy jar missing in {S3PROXY.path(self.config.cache_dir)}")
        argv = [
            find_java(17, purpose="the S3 store (s3proxy)"),
            "-Xms64m",
            "-Xmx256m",
            "-XX:+UseSerialGC",
            # Silence logback's own status dump at every start.
            "-Dlogback.statusListenerClass=ch.qos.logback.core.status.NopStatusListener",
            "-jar", str(jar),
            "--properties", str(self.conf_dir / "s3proxy.conf"),
        ]
        return Launch(argv=argv, env=dict(os.environ), cwd=self.data_dir)

    def is_ready(self) -> bool:
        return http_status(f"{self.endpoint}/healthz") == 200

    def client(self):
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.secrets.s3_access_key,
            aws_secret_access_key=self.secrets.s3_secret_key,
            region_name=REGION,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3}),
        )

    def bootstrap(self) -> None:
        client = self.client()
        existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
        if self.config.backup_bucket not in existing:
            client.create_bucket(Bucket=self.config.backup_bucket)

    def environment(self) -> dict[str, str]:
        return {
            "HOVER_S3_ENDPOINT": self.endpoint,
            "HOVER_BACKUP_BUCKET": self.config.backup_bucket,
            "AWS_ACCESS_KEY_ID": self.secrets.s3_access_key,
            "AWS_SECRET_ACCESS_KEY": self.secrets.s3_secret_key,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL_S3": self.endpoint,
            "AIRFLOW_CONN_AWS_DEFAULT": json.dumps({
                "conn_type": "aws",
                "login": self.secrets.s3_access_key,
                "password": self.secrets.s3_secret_key,
                "extra": {"endpoint_url": self.endpoint, "region_name": REGION},
            }),
        }

    def describe(self) -> str:
        return f"{self.endpoint} (bucket {self.config.backup_bucket})"
