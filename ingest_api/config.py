"""Configuration of an ingest instance.

Defaults live in :class:`DefaultConfig`; every key can be overridden from the environment
with the ``HOVER_INGEST_`` prefix (Flask's ``from_prefixed_env``: ``HOVER_INGEST_ACK_TIMEOUT_S=2``)
and by the ``test_config`` passed to ``create_app``. An instance serves every declared
message type (``schemas/<type>/type.yaml``: route, topic, partition key) unless its message
files (``MESSAGE_CONF``, the seed's ``microservice_*.conf``) name the types it serves and
set, per type, only what belongs to a deployment: the sink, a pinned schema version, and
another topic.
"""

from __future__ import annotations

import configparser
import difflib
import glob
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from schemas.types import declaration, declared_types

SINKS = ("kafka", "warehouse")
#: What a message file may set for a type; the rest is the type's declaration.
DEPLOYMENT_SETTINGS = ("topic", "schema_version", "sink")


class DefaultConfig:
    #: Message files to load: a path, a glob, or several separated by ":"; empty: every
    #: declared message type, with its declared topic, the latest schema, the Kafka sink.
    MESSAGE_CONF = ""
    #: Read from HOVER_KAFKA_BOOTSTRAP / HOVER_SCHEMA_REGISTRY_URL when the app is created
    #: (not at import); no Kafka address means no start, never a silent default.
    KAFKA_BOOTSTRAP: str | None = None
    #: None: schemas come from schemas/ (files) instead of the registry.
    SCHEMA_REGISTRY_URL: str | None = None
    #: Longest a request waits for Kafka's acknowledgement before answering 503.
    ACK_TIMEOUT_S = 5.0
    #: Retry-After sent with a 503.
    RETRY_AFTER_S = 5
    #: Largest request body (bytes): 413 above it.
    MAX_CONTENT_LENGTH = 4 * 1024 * 1024
    #: Most records in one batch request: 413 above it.
    MAX_BATCH_RECORDS = 1000
    #: Extra librdkafka settings for the producer (a dict; tuning, security protocol...).
    KAFKA_PRODUCER_CONFIG: dict = {}
    #: API keys, comma-separated (HOVER_INGEST_API_KEYS) or one per line in API_KEYS_FILE.
    API_KEYS = ""
    API_KEYS_FILE = ""
    #: Name in logs and alerts (the local stack sets ingest_1, ingest_2, ...).
    INSTANCE_NAME = os.environ.get("HOVER_INGEST_INSTANCE_NAME") or os.environ.get(
        "HOSTNAME", "ingest")


ENV_PREFIX = "HOVER_INGEST_"
#: Names under the prefix that belong to others: gunicorn.conf.py's, the local stack's
#: (bin/stack), and clients' (the balancer's address).
OTHERS_SETTINGS = frozenset({"BIND", "WORKERS", "WORKER_CLASS", "WORKER_CONNECTIONS", "THREADS",
                             "NAME", "INSTANCES", "BASE_PORT", "URL"})
INSTANCE_PORT = re.compile(r"\d+_PORT")  # the stack's HOVER_INGEST_<n>_PORT


def check_environment(environ: Mapping[str, str]) -> None:
    """Refuse ``HOVER_INGEST_*`` names that nothing reads. ``from_prefixed_env`` takes any
    of them, so a misspelt limit would otherwise be ignored without a word while the
    operator believes it applies."""
    known = {name for name in vars(DefaultConfig) if name.isupper()} | OTHERS_SETTINGS
    unknown = sorted(name for name in environ
                     if name.startswith(ENV_PREFIX) and name[len(ENV_PREFIX):] not in known
                     and not INSTANCE_PORT.fullmatch(name[len(ENV_PREFIX):]))
    if unknown:
        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name[len(ENV_PREFIX):], known, n=1)
            hints.append(f"{name} (did you mean {ENV_PREFIX}{close[0]}?)" if close else name)
        raise RuntimeError(
            f"unknown setting(s) {', '.join(hints)}; the ingest API reads "
            f"{', '.join(ENV_PREFIX + n for n in sorted(known - OTHERS_SETTINGS))}")


@dataclass(frozen=True)
class MessageConfig:
    """One message type as an instance serves it."""

    name: str
    topic: str
    schema_subject: str
    schema_version: str  # "latest" or a number
    key_fields: tuple[str, ...]
    sink: str


def message_files(spec: str) -> list[Path]:
    files: list[Path] = []
    for part in filter(None, spec.split(":")):
        matched = sorted(glob.glob(part)) if any(c in part for c in "*?[") else [part]
        files += [Path(m) for m in matched]
    if not files:
        raise ValueError(f"no message configuration files match {spec!r}")
    return files


def declared_config(name: str, **deployment: str) -> MessageConfig:
    """A type as its declaration defines it, with a deployment's settings on top."""
    declared = declaration(name)
    return MessageConfig(name=name, topic=deployment.get("topic", declared.topic),
                         schema_subject=declared.subject,
                         schema_version=deployment.get("schema_version", "latest"),
                         key_fields=declared.key_fields,
                         sink=deployment.get("sink", "kafka"))


def load_message_configs(spec: str = "") -> dict[str, MessageConfig]:
    """The types an instance serves: every declared one (``spec`` empty), else those the
    message files name, with their deployment settings; errors name the file and setting."""
    if not spec.strip():
        return {name: declared_config(name) for name in declared_types()}
    configs: dict[str, MessageConfig] = {}
    for path in message_files(spec):
        parser = configparser.ConfigParser()
        if not parser.read(path):
            raise ValueError(f"cannot read message configuration {path}")
        for name in parser.sections():
            section = parser[name]
            if name not in declared_types():
                raise ValueError(f"{path} [{name}]: no such message type; declared: "
                                 f"{', '.join(declared_types())} (schemas/<type>/type.yaml)")
            unknown = sorted(set(section) - set(DEPLOYMENT_SETTINGS))
            if unknown:
                raise ValueError(
                    f"{path} [{name}]: {', '.join(unknown)} cannot be set here; a message file "
                    f"sets only {', '.join(DEPLOYMENT_SETTINGS)}, the rest is declared in "
                    f"schemas/{name}/type.yaml")
            config = declared_config(name, **dict(section))
            if config.sink not in SINKS:
                raise ValueError(
                    f"{path} [{name}]: sink must be one of {SINKS}, not {config.sink!r}"
                )
            if name in configs:
                raise ValueError(f"{path}: message type {name!r} configured twice")
            configs[name] = config
    return configs
