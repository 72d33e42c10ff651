"""The streaming jobs Airflow supervises: one per declared message type, or per file.

A job is named by its ``query_name``. A config file whose ``[sink]`` names no
``message_type`` (``spark/conf/sink.conf``) is every declared type's sink (``--type``):
declaring a type (``schemas/<type>/type.yaml``) adds a supervised job, with no DAG change. A
file naming its ``message_type`` is one job, with the driver its ``application`` names
(``spark/conf/failure_detection.conf``: the failure-model scoring job). The files are the
caller's glob (a DAG param), else ``HOVER_STREAMING_JOBS``, else every ``spark/conf/*.conf``
under the platform's home (``runtime.settings.home``).
"""

from __future__ import annotations

import configparser
import glob
import os
from dataclasses import dataclass
from pathlib import Path

from runtime.settings import asset

#: No glob given: the platform's job files (sink.conf: one job per declared message type).
DEFAULT_PATTERN = str(asset("spark", "conf", "*.conf"))
PATTERN_ENV = "HOVER_STREAMING_JOBS"


@dataclass(frozen=True)
class Job:
    """One supervised streaming job.

    :param name: the sink's ``query_name``; also its Spark application name.
    :param config_path: its sink configuration file (passed as ``--config``).
    :param topic: the Kafka topic it reads (for its lag).
    :param message_type: what it loads (for the operators' table).
    :param application: its driver, relative to the platform's code (the config's
        ``application``; the sink by default).
    :param environment: variables its driver gets beyond the launcher's allow-list (the
        config's ``environment``).
    """

    name: str
    config_path: Path
    topic: str
    message_type: str
    application: str = "spark/sink_job.py"
    environment: tuple[str, ...] = ()


def jobs_pattern(pattern: str | None = None) -> str:
    """The glob in force: ``pattern`` if given (and not blank), else the environment's,
    else the checkout's sink configs."""
    for candidate in (pattern, os.environ.get(PATTERN_ENV)):
        if candidate and candidate.strip():
            return candidate.strip()
    return DEFAULT_PATTERN


def discover_jobs(pattern: str | None = None) -> dict[str, Job]:
    """Every job whose config matches the glob, by name, in name order.

    :raises ValueError: no config matches, or two configs share a ``query_name``.
    """
    from spark.config import SinkConfig

    resolved = jobs_pattern(pattern)
    paths = sorted(Path(p) for p in glob.glob(os.path.expanduser(resolved)))
    if not paths:
        raise ValueError(f"no streaming job configuration matches {resolved!r}; set the "
                         f"DAG param 'jobs' or {PATTERN_ENV} to a glob of sink .conf files")
    jobs: dict[str, Job] = {}
    targets: list[tuple[Path, str | None]] = []
    for path in paths:
        if names_its_type(path):
            targets.append((path, None))
        else:  # every declared type's sink
            from schemas.types import declared_types

            targets += [(path, message_type) for message_type in declared_types()]
    for path, message_type in targets:
        config = SinkConfig.load(path, message_type)
        if config.query_name in jobs:
            raise ValueError(f"{path} and {jobs[config.query_name].config_path} both define "
                             f"query_name {config.query_name!r}; job names must be unique")
        jobs[config.query_name] = Job(config.query_name, path.resolve(), config.topic,
                                      config.message_type, config.application,
                                      config.environment)
    return dict(sorted(jobs.items()))


def names_its_type(path: Path) -> bool:
    """Whether a job file's ``[sink]`` names its ``message_type`` (one job), or serves every
    declared type."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(path)
    return bool(parser.has_section("sink") and parser["sink"].get("message_type", "").strip())


def find_job(name: str, pattern: str | None = None) -> Job:
    jobs = discover_jobs(pattern)
    if name not in jobs:
        raise ValueError(f"no streaming job named {name!r} in {jobs_pattern(pattern)!r}; "
                         f"known jobs: {', '.join(jobs) or 'none'}")
    return jobs[name]
