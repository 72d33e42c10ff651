"""What every service of the local stack provides to the orchestrator."""

from __future__ import annotations

import os
import shutil
import signal
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from stack.artifacts import ArtifactSet
from stack.config import StackConfig
from stack.secrets import Secrets


@dataclass(frozen=True)
class Launch:
    """How to start a service: its command line, extra environment and working directory."""

    argv: list[str]
    env: dict[str, str]
    cwd: Path | None = None


class Service(ABC):
    """One server process of the stack.

    Lifecycle as the orchestrator drives it: ``fetch`` (artifacts, cached), ``prepare``
    (one-time initialisation of its state, idempotent), ``launch`` (command line), poll
    ``is_ready``, then ``bootstrap`` (idempotent objects: databases, topics, buckets).
    """

    #: Name used for its pid file, log file, state folders and in every message.
    name: str
    #: Keys of ``StackConfig.ports`` it listens on; the first is the one clients use.
    port_keys: tuple[str, ...]
    artifact_sets: tuple[ArtifactSet, ...] = ()
    #: PostgreSQL and Elasticsearch refuse to run as root.
    needs_unprivileged_user: bool = False
    stop_signal: int = signal.SIGTERM
    #: Signal the whole process group (for launchers that run the server as a child).
    signal_group: bool = False
    stop_timeout: float = 30.0

    def __init__(self, config: StackConfig, secrets: Secrets) -> None:
        self.config = config
        self.secrets = secrets

    @property
    def port(self) -> int | None:
        """The port clients use; None for a process that listens on none."""
        return self.config.ports[self.port_keys[0]] if self.port_keys else None

    @property
    def data_dir(self) -> Path:
        return self.config.data_dir(self.name)

    @property
    def conf_dir(self) -> Path:
        return self.config.conf_dir(self.name)

    @property
    def log_file(self) -> Path:
        return self.config.log_file(self.name)

    def run_as(self) -> tuple[int, int] | None:
        if not self.needs_unprivileged_user:
            return None
        account = self.config.service_account()
        return None if account is None else (account.pw_uid, account.pw_gid)

    def own(self, *paths: Path) -> None:
        """Give state folders to the account the server runs as."""
        ids = self.run_as()
        if ids is None:
            return
        for root in paths:
            for path in [root, *root.rglob("*")]:
                os.chown(path, *ids, follow_symlinks=False)

    def fetch(self) -> None:
        for artifact_set in self.artifact_sets:
            artifact_set.ensure(self.config.cache_dir, log=self.config.log_file("fetch"))

    def prepare(self) -> None:
        """Initialise state on first start; must be a no-op when already done."""

    @abstractmethod
    def launch(self) -> Launch: ...

    @abstractmethod
    def is_ready(self) -> bool:
        """One quick probe (no waiting): does the service answer requests now?"""

    def bootstrap(self) -> None:
        """Create the objects the platform expects (idempotent)."""

    def environment(self) -> dict[str, str]:
        """Entries this service contributes to the generated ``stack.env``."""
        return {}

    def describe(self) -> str:
        """One line for ``status``/``up`` output: where to reach it."""
        return f"127.0.0.1:{self.port}"

    def reset_state(self) -> None:
        for path in (self.data_dir, self.conf_dir):
            shutil.rmtree(path, ignore_errors=True)
