"""A sink job's configuration file (``spark/conf/<type>_sink.conf``)."""

from __future__ import annotations

import configparser
import os
from dataclasses import dataclass
from pathlib import Path

CONF_DIR = Path(__file__).resolve().parent / "conf"


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
    #: The driver this file configures, relative to the repository (the sink by default;
    #: ``ml/scoring_job.py`` for failure detection).
    application: str = "spark/sink_job.py"

    @classmethod
    def load(cls, path: str | Path) -> SinkConfig:
        parser = configparser.ConfigParser(interpolation=None)
        if not parser.read(path):
            raise FileNotFoundError(f"sink configuration {path} not found")
        section = parser["sink"]

        def expand(key: str) -> str:
            value = os.path.expandvars(section[key])
            if "$" in value:
                raise ValueError(f"{path}: {key} = {section[key]!r} names an unset variable")
            return value

        return cls(
            query_name=section["query_name"],
            message_type=section["message_type"],
            topic=section["topic"],
            schema_subject=section["schema_subject"],
            schema_version=section.get("schema_version", "latest"),
            trigger_seconds=section.getfloat("trigger_seconds", 2.0),
            max_offsets_per_trigger=section.getint("max_offsets_per_trigger", 100000),
            starting_offsets=section.get("starting_offsets", "earliest"),
            checkpoint_location=expand("checkpoint_location"),
            application=section.get("application", cls.application),
        )
