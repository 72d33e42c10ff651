"""bin/package-jobs: the jobs' code and dependencies reach executors as one archive."""

from __future__ import annotations

import subprocess
import sys
import tarfile

from spark.package import build, distributions, submit_conf


def test_the_dependencies_are_what_executors_import_and_not_spark_itself() -> None:
    names = {d.metadata["Name"].lower().replace("_", "-") for d in distributions()}
    assert {"pyarrow", "psycopg", "psycopg-binary", "orjson", "jsonschema", "jsonschema-rs",
            "referencing", "rpds-py", "boto3", "botocore"} <= names
    assert not names & {"pyspark", "py4j"}


def test_the_archive_alone_imports_the_jobs_code(tmp_path) -> None:
    """A host without the checkout or the virtualenv: only Python and the unpacked archive
    (here with one small dependency, to keep the test quick)."""
    archive = build(tmp_path / "jobs.tar.gz", roots=("orjson",))
    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path / "hoverboard", filter="data")
    probe = ("import sys, orjson, alerts.redaction, schemas.keys;"
             "print(orjson.__file__, schemas.keys.__file__)")
    path = submit_conf(archive)["spark.executorEnv.PYTHONPATH"]  # relative, as on executors
    result = subprocess.run([sys.executable, "-S", "-c", probe], cwd=tmp_path, text=True,
                            capture_output=True, timeout=60, env={"PYTHONPATH": path})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(tmp_path / "hoverboard/site/orjson/__init__.py"),
                                     str(tmp_path / "hoverboard/site/schemas/keys.py")]
