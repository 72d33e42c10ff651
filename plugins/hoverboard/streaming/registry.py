"""The streaming jobs Airflow supervises: one per sink configuration file.

A job is a sink config (``spark/conf/<type>_sink.conf``) and is named by its
``query_name``; adding a topic's sink config adds a supervised job, with no DAG change.
Where the configs are looked up is a glob: the caller's (a DAG param), else
``HOVER_STREAMING_JOBS``, else ``spark/conf/*_sink.conf`` of this checkout.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_PATTERN = str(REPO_ROOT / "spark" / "conf" / "*_sink.conf")
PATTERN_ENV = "HOVER_STREAMING_JOBS"


@dataclass(frozen=True)
class Job:
    """One supervised streaming job.

    :param name: the sink's ``query_name``; also its Spark application name.
    :param config_path: its sink configuration file (passed as ``--config``).
    :param topic: the Kafka topic it reads (for its lag).
    :param message_type: what it loads (for the operators' table).
    :param application: the driver to submit (``spark/sink_job.py`` unless the config says).
    """

    name: str
    config_path: Path
    topic: str
    message_type: str
    application: Path = REPO_ROOT / "spark" / "sink_job.py"


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
    for path in paths:
        config = SinkConfig.load(path)
        if config.query_name in jobs:
            raise ValueError(f"{path} and {jobs[config.query_name].config_path} both define "
                             f"query_name {config.query_name!r}; job names must be unique")
        jobs[config.query_name] = Job(config.query_name, path.resolve(), config.topic,
                                      config.message_type, REPO_ROOT / config.application)
    return dict(sorted(jobs.items()))


def find_job(name: str, pattern: str | None = None) -> Job:
    jobs = discover_jobs(pattern)
    if name not in jobs:
        raise ValueError(f"no streaming job named {name!r} in {jobs_pattern(pattern)!r}; "
                         f"known jobs: {', '.join(jobs) or 'none'}")
    return jobs[name]
