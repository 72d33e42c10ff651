"""An ingest API of a test's own: the real one under gunicorn, on a free port, with the
stack's settings and whatever a test overrides."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from tests.support.network import free_port

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).with_name("gunicorn")


def wait_for(url: str, process: subprocess.Popen, log: Path, *, status: int = 200,
             timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the ingest API exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        try:
            if requests.get(url, timeout=10).status_code == status:
                return
        except (requests.ConnectionError, requests.Timeout):
            pass  # not listening yet, or still starting (slow on a busy machine)
        time.sleep(0.1)
    pytest.fail(f"{url} did not answer {status} within {timeout} s:\n{log.read_text()[-3000:]}")


@contextmanager
def ingest_api(stack_env: dict[str, str], log: Path, *, port: int | None = None,
               ready_path: str = "/ready", **overrides: str) -> Iterator[str]:
    """An ingest API under gunicorn on a free port, stopped (and waited for) at the end."""
    port = port or free_port()
    env = {**os.environ, **stack_env, "HOVER_INGEST_BIND": f"127.0.0.1:{port}",
           "HOVER_INGEST_WORKERS": "1",
           "HOVER_INGEST_NAME": "hover-ingest-simulator-test", **overrides}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(GUNICORN), "-c", "ingest_api/gunicorn.conf.py", "ingest_api.wsgi:app"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(url + ready_path, process, log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
