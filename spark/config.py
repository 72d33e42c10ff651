"""A sink job's configuration: its message type's declaration (``schemas/<type>/type.yaml``:
topic, subject) and the jobs' tuning (``spark/conf/sink.conf``: ``[sink]`` for every type,
``[<type>]`` overrides for one).

A file whose ``[sink]`` section names its ``message_type`` (a test's or a benchmark's
scratch job) may also set ``query_name``, ``topic``, ``schema_subject`` and
``checkpoint_location`` itself.
"""

from __future__ import annotations

import configparser
import os
from dataclasses import dataclass
from pathlib import Path

from runtime.settings import asset

CONF_DIR = asset("spark", "conf")
#: The one sink configuration of the platform.
SINK_CONF = CONF_DIR / "sink.conf"


@dataclass(frozen=True)
class SinkConfig:
    query_name: str
    message_type: str
    topic: str
    schema_subject: str
    schema_version: str
    trigger_seconds: float
    max_offsets_per_trigger: int
    starting_offsets: str
    checkpoint_location: str
    #: The driver this file configures, relative to the platform's code (the sink by
    #: default; ``ml/scoring_job.py`` for failure detection).
    application: str = "spark/sink_job.py"
    #: Variables of the supervisor's environment this driver needs beyond the launcher's
    #: allow-list (``hoverboard.streaming.launcher.DRIVER_ENVIRONMENT``), space-separated.
    environment: tuple[str, ...] = ()
    #: How long a batch waits for a warehouse that went away (``loader.outage``) before the
    #: query fails and supervision restarts it; 0 fails at once.
    warehouse_outage_s: float = 300.0

    @classmethod
    def load(cls, path: str | Path = SINK_CONF, message_type: str | None = None) -> SinkConfig:
        """The job of ``message_type`` (default: the file's ``[sink] message_type``)."""
        from schemas.types import declaration

        parser = configparser.ConfigParser(interpolation=None)
        if not parser.read(path):
            raise FileNotFoundError(f"sink configuration {path} not found")
        values = dict(parser["sink"])
        message_type = message_type or values.get("message_type")
        if not message_type:
            raise ValueError(f"{path}: no message type: pass one (--type) or set "
                             "message_type in [sink]")
        if values.get("message_type", message_type) != message_type:
            raise ValueError(f"{path}: is the job of {values['message_type']!r}, "
                             f"not {message_type!r}")
        if parser.has_section(message_type):
            values.update(parser[message_type])
        declared = declaration(message_type)
        query_name = values.get("query_name", f"{message_type}_sink")

        def expand(key: str, text: str) -> str:
            value = os.path.expandvars(text)
            if "$" in value:
                raise ValueError(f"{path}: {key} = {text!r} names an unset variable")
            return value

        if "checkpoint_location" in values:
            checkpoint = expand("checkpoint_location", values["checkpoint_location"])
        elif "checkpoint_root" in values:
            root = expand("checkpoint_root", values["checkpoint_root"])
            # A URL (s3a://bucket/prefix) is joined as text: a Path would fold its "//".
            checkpoint = (f"{root.rstrip('/')}/{query_name}" if "://" in root
                          else str(Path(root) / query_name))
        else:
            raise ValueError(f"{path}: set checkpoint_root (or checkpoint_location)")
        environment = tuple(values.get("environment", "").split())
        if checkpoint.startswith("s3a://"):
            # Only a driver whose checkpoint is in the object store gets its endpoint and
            # keys (unset ones, as with an instance role, are not passed).
            from ml.session import S3A_ENVIRONMENT

            environment += tuple(v for v in S3A_ENVIRONMENT if v not in environment)
        return cls(
            query_name=query_name,
            message_type=message_type,
            topic=values.get("topic", declared.topic),
            schema_subject=values.get("schema_subject", declared.subject),
            schema_version=values.get("schema_version", "latest"),
            trigger_seconds=float(values.get("trigger_seconds", 2.0)),
            max_offsets_per_trigger=int(values.get("max_offsets_per_trigger", 100000)),
            starting_offsets=values.get("starting_offsets", "earliest"),
            checkpoint_location=checkpoint,
            application=values.get("application", cls.application),
            environment=environment,
            warehouse_outage_s=float(values.get("warehouse_outage_seconds",
                                                cls.warehouse_outage_s)),
        )
