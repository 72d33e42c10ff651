"""The sink jobs' code and Python dependencies as one archive for a cluster's executors.

Executors run ``loader.staged`` (validator, limits, COPY): on a cluster that code and its
dependencies must reach every host without the checkout being there. ``bin/package-jobs``
writes ``dist/hoverboard-jobs.tar.gz`` with one directory, ``site/``: the platform's
packages the jobs import plus the installed distributions they need (copied from this
environment, so the versions are the pinned ones), without pyspark and py4j, which every
Spark host has. Executors need only a Python of the same minor version. Submit with::

    spark-submit --archives dist/hoverboard-jobs.tar.gz#hoverboard \\
        --conf spark.executorEnv.PYTHONPATH=hoverboard/site ...

(:func:`submit_conf` gives these settings; Spark unpacks the archive into each executor's
working directory under the name after ``#``.)
"""

from __future__ import annotations

import argparse
import re
import sys
import tarfile
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: The platform's packages a sink job imports (spark.sink_job and what it imports).
PACKAGES = ("alerts", "loader", "schemas", "spark")
#: Distributions the executors import (with their own requirements).
ROOTS = ("pyarrow", "psycopg", "psycopg-binary", "orjson", "jsonschema", "jsonschema-rs",
         "boto3")
#: On every Spark host already.
EXCLUDED = {"pyspark", "py4j"}
ARCHIVE_NAME = "hoverboard-jobs.tar.gz"
#: The name the archive is unpacked under on executors (``--archives ...#ALIAS``).
ALIAS = "hoverboard"


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def distributions(roots=ROOTS) -> list[metadata.Distribution]:
    """The installed distributions ``roots`` need, their requirements included (markers
    evaluated for this interpreter; extras not followed)."""
    from packaging.requirements import Requirement

    found: dict[str, metadata.Distribution] = {}
    pending = [_normal(r) for r in roots]
    while pending:
        name = pending.pop()
        if name in found or name in EXCLUDED:
            continue
        dist = metadata.distribution(name)
        found[name] = dist
        for text in dist.requires or ():
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                pending.append(_normal(requirement.name))
    return sorted(found.values(), key=lambda d: _normal(d.metadata["Name"]))


def _code_files() -> list[tuple[Path, str]]:
    out = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                out.append((path, f"site/{path.relative_to(REPO)}"))
    return out


def _dependency_files(dists) -> list[tuple[Path, str]]:
    out = []
    for dist in dists:
        for file in dist.files or ():
            path = Path(dist.locate_file(file)).resolve()
            if ".." in file.parts or "__pycache__" in file.parts or not path.is_file():
                continue  # scripts outside site-packages, caches
            out.append((path, f"site/{file.as_posix()}"))
    return out


def build(output: Path, roots=ROOTS) -> Path:
    """Write the archive; its path."""
    output.parent.mkdir(parents=True, exist_ok=True)
    files = _code_files() + _dependency_files(distributions(roots))
    partial = output.with_name(output.name + ".part")
    with tarfile.open(partial, "w:gz", compresslevel=1) as archive:
        for path, name in files:
            archive.add(path, arcname=name, recursive=False)
    partial.replace(output)  # never a half-written archive under the real name
    return output


def submit_conf(archive: Path | str) -> dict[str, str]:
    """Spark settings that ship the archive and put its ``site/`` on executors' path."""
    return {"spark.archives": f"{archive}#{ALIAS}",
            "spark.executorEnv.PYTHONPATH": f"{ALIAS}/site"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=REPO / "dist" / ARCHIVE_NAME)
    args = parser.parse_args(argv)
    path = build(args.output)
    print(f"{path} ({path.stat().st_size / 2**20:.0f} MiB) for Python "
          f"{sys.version_info.major}.{sys.version_info.minor}; submit with:")
    print(" ".join(f"--conf {k}={v}" for k, v in submit_conf(path).items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
