"""Detached processes: started in a session of their own, recorded with their start time.

A process is started detached (its own session, output to its log file) and recorded in a
pid file together with its kernel start time, so stopping it only ever signals a process
that was started here: a recycled pid that now belongs to something else is recognised and
left alone. The local stack starts its servers this way, the streaming launcher its Spark
drivers.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path


def _proc_start_ticks(pid: int) -> int | None:
    """Kernel start time of a pid (clock ticks since boot), None if it does not exist."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":  # a zombie has exited; only its exit status is left to collect
        return None
    return int(fields[19])


@dataclass(frozen=True)
class PidRecord:
    pid: int
    start_ticks: int

    @classmethod
    def read(cls, path: Path) -> PidRecord | None:
        try:
            pid_text, ticks_text = path.read_text().split()
            return cls(int(pid_text), int(ticks_text))
        except (FileNotFoundError, ValueError):
            return None

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(f"{self.pid} {self.start_ticks}\n")
        tmp.replace(path)

    def alive(self) -> bool:
        return _proc_start_ticks(self.pid) == self.start_ticks

    @classmethod
    def of(cls, pid: int) -> PidRecord | None:
        """The record of a running process (None when it is gone), for one started elsewhere."""
        ticks = _proc_start_ticks(pid)
        return None if ticks is None else cls(pid, ticks)


def tail(path: Path, lines: int = 20) -> str:
    """The last lines of a log, reaching into its newest rotated copy (``<log>.1``, see
    :func:`rotate_log`) when the log was emptied moments ago."""
    text = ""
    for candidate in (path, path.with_name(f"{path.name}.1")):
        try:
            with candidate.open("rb") as fh:
                fh.seek(0, os.SEEK_END)
                size = fh.tell()
                fh.seek(max(0, size - 16384))
                text = fh.read().decode("utf-8", "replace") + text
        except FileNotFoundError:
            if candidate is path:
                return "(no log file yet)"
            break
        if len(text.splitlines()) >= lines:
            break
    return "\n".join(text.splitlines()[-lines:])


def rotate_log(path: Path, *, max_bytes: int, backups: int) -> bool:
    """Keep a log that a running process appends to under ``max_bytes``: past it, the log
    becomes ``<log>.1`` (older copies shift up to ``<log>.<backups>``, the oldest goes) and
    the log is emptied in place. Returns whether it rotated.

    The writer holds the file open (``spawn`` gives it an O_APPEND descriptor), so renaming
    the file would leave it writing to the renamed copy, and logging.handlers' rotation only
    works for a writer in this process. What remains is logrotate's ``copytruncate``, done
    here because nothing schedules logrotate for the jobs of an Airflow worker. Whatever the
    writer appends during the copy goes to the copy too; only lines written between the
    last read and the truncation could be lost.
    """
    try:
        if path.stat().st_size <= max_bytes:
            return False
    except FileNotFoundError:
        return False
    for index in range(backups - 1, 0, -1):
        older = path.with_name(f"{path.name}.{index}")
        if older.exists():
            os.replace(older, path.with_name(f"{path.name}.{index + 1}"))
    with path.open("r+b") as log:
        if backups > 0:
            with path.with_name(f"{path.name}.1").open("wb") as copy:
                while chunk := log.read(1 << 20):  # to the end, including what arrives meanwhile
                    copy.write(chunk)
        log.truncate(0)
    return True


def spawn(
    argv: Sequence[str],
    *,
    log_file: Path,
    pid_file: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    user: tuple[int, int] | None = None,
) -> PidRecord:
    """Start a detached server process that outlives this command.

    ``user`` (uid, gid) drops privileges in the child before exec, for servers that refuse
    to run as root.
    """
    log_file.parent.mkdir(parents=True, exist_ok=True)

    def demote() -> None:
        if user is not None:
            os.setgroups([])
            os.setgid(user[1])
            os.setuid(user[0])

    with log_file.open("ab") as log, open(os.devnull, "rb") as devnull:
        proc = subprocess.Popen(
            list(argv),
            stdin=devnull,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=demote if user is not None else None,
        )
    ticks = _proc_start_ticks(proc.pid)
    if ticks is None:  # it died at once: the log says why
        proc.wait()
        raise ChildProcessError(f"exited at start with status {proc.returncode}")
    record = PidRecord(proc.pid, ticks)
    record.write(pid_file)
    return record


def stop(record: PidRecord, *, sig: int = signal.SIGTERM, timeout: float = 30.0,
         group: bool = False) -> bool:
    """Signal a recorded process and wait for it; SIGKILL after the timeout.

    Returns False when the process was already gone (or the pid was recycled).
    """
    if not record.alive():
        return False
    try:
        # The pid leads its own session (spawn starts it so), hence pgid == pid.
        (os.killpg if group else os.kill)(record.pid, sig)
        # A paused (SIGSTOP) process only acts on the signal once continued; continuing a
        # running one changes nothing.
        (os.killpg if group else os.kill)(record.pid, signal.SIGCONT)
    except ProcessLookupError:
        return False
    if wait_until(lambda: not record.alive(), timeout):
        return True
    try:
        os.killpg(record.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    wait_until(lambda: not record.alive(), 10)
    return True


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
