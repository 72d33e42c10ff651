"""Starting, probing and stopping the stack's server processes.

Starting and stopping is ``runtime.processes`` (shared with the streaming launcher, which
deploys without the stack): a service is started detached and recorded in a pid file with
its start time, so `down` only ever signals a process this stack started. Here: probes of
ports and HTTP endpoints, and the stack's own error.
"""

from __future__ import annotations

import errno
import socket
import urllib.error
import urllib.request

from runtime.processes import (  # noqa: F401 - the stack's process helpers, re-exported
    PidRecord,
    rotate_log,
    spawn,
    stop,
    tail,
    wait_until,
)


class StackError(RuntimeError):
    """A problem the operator has to act on; the message says what and where to look."""


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return True
            raise
    return False


def tcp_open(port: int, host: str = "127.0.0.1", timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def http_status(url: str, timeout: float = 2.0) -> int | None:
    """HTTP status of a GET, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return None
