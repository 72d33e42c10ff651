"""The local stack's bad cases give clear answers (each on a throw-away stack of its own)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from stack.artifacts import ArtifactSet, Coordinate
from stack.config import REPO_ROOT, StackConfig
from stack.java import find_java
from stack.orchestrator import LocalStack
from stack.process import PidRecord, StackError, wait_until
from tests.support.network import free_port


@pytest.fixture
def scratch_stack():
    """A second stack (own state directory and ports) so the shared one is not disturbed.

    Its home is under the main stack's state, not /tmp: PostgreSQL runs as the unprivileged
    service account under root and must be able to reach it.
    """
    base = StackConfig.from_env()
    home = base.home / "scratch" / uuid.uuid4().hex[:8]
    config = replace(base, home=home, ports={k: free_port() for k in base.ports},
                     ready_timeout=60)
    local = LocalStack(config)
    yield local
    local.down(echo=lambda _: None)
    shutil.rmtree(home, ignore_errors=True)


def run_cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOVER_STACK_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "stack", *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_port_in_use_names_service_and_port(scratch_stack: LocalStack) -> None:
    port = scratch_stack.config.ports["postgres"]
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", port))
        blocker.listen()
        with pytest.raises(StackError) as err:
            scratch_stack.up(["postgres"], echo=lambda _: None)
    assert f"postgres: port {port}" in str(err.value)
    assert "HOVER_POSTGRES_PORT" in str(err.value)


def test_up_twice_is_a_no_op_and_a_dead_service_is_reported(scratch_stack: LocalStack) -> None:
    assert scratch_stack.up(["postgres"], echo=lambda _: None) == ["postgres"]
    assert scratch_stack.up(["postgres"], echo=lambda _: None) == []

    record = PidRecord.read(scratch_stack.config.pid_file("postgres"))
    os.kill(record.pid, signal.SIGKILL)
    assert wait_until(lambda: not record.alive(), 10)
    status = {s.name: s for s in scratch_stack.status()}["postgres"]
    assert status.state == "dead"
    assert status.log_file.endswith("postgres.log")

    cli = run_cli(scratch_stack.config.home, "status")
    assert cli.returncode == 3
    assert "dead" in cli.stdout and "postgres.log" in cli.stdout


def test_down_when_nothing_runs(scratch_stack: LocalStack) -> None:
    cli = run_cli(scratch_stack.config.home, "down")
    assert cli.returncode == 0
    assert "nothing to stop" in cli.stdout


def test_down_stops_the_simulator_bin_platform_left_running(scratch_stack: LocalStack) -> None:
    # What `bin/platform --detach` records; a sleeping interpreter stands in for the sender.
    detached = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"],
                                start_new_session=True)
    PidRecord.of(detached.pid).write(scratch_stack.config.pid_file("simulator"))
    cli = run_cli(scratch_stack.config.home, "down")
    assert cli.returncode == 0, cli.stderr
    assert f"stopped the simulator (pid {detached.pid})" in cli.stdout
    assert detached.wait(10) != 0  # interrupted, not finished
    assert not scratch_stack.config.pid_file("simulator").exists()


def test_missing_java_is_named(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HOVER_JAVA_HOME", str(tmp_path / "no-such-jdk"))
    with pytest.raises(StackError, match=r"Kafka needs Java 17 or newer.*HOVER_JAVA_HOME"):
        find_java(17, purpose="Kafka")


def test_too_old_java_is_named(tmp_path, monkeypatch) -> None:
    # A JDK home whose java reports version 11, as an old JDK's would.
    java = tmp_path / "jdk11" / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text("#!/bin/sh\necho '    java.specification.version = 11' >&2\n")
    java.chmod(java.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("HOVER_JAVA_HOME", str(tmp_path / "jdk11"))
    with pytest.raises(StackError, match=r"needs Java 17 or newer; tried: .*\(Java 11\)"):
        find_java(17, purpose="Kafka")


def test_unfetchable_artifact_names_it_and_the_registry(tmp_path) -> None:
    missing = ArtifactSet(
        name="does-not-exist",
        coordinates=(Coordinate("org.hoverboard.nonexistent:nothing-here:0.0.1"),),
    )
    with pytest.raises(StackError) as err:
        missing.ensure(tmp_path)
    assert "org.hoverboard.nonexistent:nothing-here:0.0.1" in str(err.value)
    assert "Maven Central" in str(err.value)
    assert not missing.is_cached(tmp_path)
