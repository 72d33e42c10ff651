"""Settings of the local stack: where state and caches live, which ports services use.

Everything is read from the environment once, with documented defaults, so a second stack
on the same machine (or a CI run beside a developer's stack) only needs other ports and
another state directory. The defaults avoid the services' usual ports on purpose: a
PostgreSQL or Kafka that a developer already runs keeps working beside ours.
"""

from __future__ import annotations

import hashlib
import os
import pwd
from dataclasses import dataclass, field
from pathlib import Path

from runtime.settings import env_int  # noqa: F401 - the stack's settings read it too

REPO_ROOT = Path(__file__).resolve().parent.parent

#: Ingest API instances behind NGINX (``HOVER_INGEST_INSTANCES``): ``ingest_1`` ... ``ingest_N``
#: listen on consecutive ports from ``HOVER_INGEST_BASE_PORT``.
INGEST_INSTANCES = 2
INGEST_BASE_PORT = 18001

_FIXED_PORTS: dict[str, int] = {
    "postgres": 15432,
    "kafka": 19092,
    "kafka_controller": 19093,
    # The second and third broker of a three-node cluster (HOVER_KAFKA_BROKERS=3).
    "kafka_2": 19094,
    "kafka_2_controller": 19095,
    "kafka_3": 19096,
    "kafka_3_controller": 19097,
    "s3": 19000,
    "elasticsearch": 19200,
    "elasticsearch_transport": 19300,
    "schema_registry": 18081,
    "schema_registry_management": 18082,
    "nginx": 18000,
    "airflow_api": 18080,
    "superset": 18088,
    "smtp": 18025,
    "customer_web": 18090,
    "customer_nginx": 18091,
    # The Spark standalone cluster, started on demand (stack/services/spark_cluster.py).
    "spark_master": 17077,
    "spark_master_ui": 18070,
    "spark_worker_1": 17078,
    "spark_worker_1_ui": 18071,
    "spark_worker_2": 17079,
    "spark_worker_2_ui": 18072,
}


def ingest_port_key(number: int) -> str:
    """Key of ingest instance ``number`` (1-based) in ``StackConfig.ports``: ``ingest_<n>``."""
    return f"ingest_{number}"


def default_ports(ingest_instances: int = INGEST_INSTANCES,
                  ingest_base_port: int = INGEST_BASE_PORT) -> dict[str, int]:
    """Default port of every service; each is overridden by ``HOVER_<KEY>_PORT``, an ingest
    instance too (``HOVER_INGEST_2_PORT``)."""
    ingest = {ingest_port_key(n): ingest_base_port + n - 1 for n in range(1, ingest_instances + 1)}
    return {**_FIXED_PORTS, **ingest}


#: Port of each service (with the default number of ingest instances) and its environment
#: override. Documented in the README.
DEFAULT_PORTS: dict[str, int] = default_ports()

#: Unprivileged account that runs PostgreSQL and Elasticsearch when the stack is started
#: by root (CI runs as root; both servers refuse to run as root).
SERVICE_USER = "hoverstack"


def _env_int(name: str, default: int) -> int:
    try:
        return env_int(name, default)
    except ValueError as exc:  # bin/stack: a message, not a traceback
        raise SystemExit(str(exc)) from None


#: Kafka cluster sizes the stack has ports for (``kafka``, ``kafka_2``, ``kafka_3``).
KAFKA_CLUSTER_SIZES = (1, 3)


def _kafka_brokers(home: Path) -> int:
    """``HOVER_KAFKA_BROKERS``; unset, the size this stack's Kafka was formatted for (so
    ``status``, ``down`` and the tests find all three nodes without it), else 1."""
    import json

    formatted = 1
    shape = home / "data" / "kafka" / "cluster.json"  # written by stack.services.kafka
    if shape.exists():
        try:
            formatted = int(json.loads(shape.read_text())["brokers"])
        except (ValueError, KeyError, TypeError):
            formatted = 1
    brokers = _env_int("HOVER_KAFKA_BROKERS", formatted)
    if brokers not in KAFKA_CLUSTER_SIZES:
        raise SystemExit(
            f"HOVER_KAFKA_BROKERS={brokers}: the local stack runs 1 broker (the default, fastest) "
            "or 3 (production's shape: replication factor 3, min.insync.replicas=2)"
        )
    return brokers


def _traversable_by_others(path: Path) -> bool:
    return all(p.stat().st_mode & 0o001 for p in [path, *path.parents])


def _default_home() -> Path:
    home = REPO_ROOT / ".stack"
    # Under root, PostgreSQL and Elasticsearch run as SERVICE_USER and must reach their
    # data directories; a checkout inside a private folder (mode 700) would lock them out.
    if os.geteuid() == 0 and not _traversable_by_others(REPO_ROOT):
        digest = hashlib.sha256(str(REPO_ROOT).encode()).hexdigest()[:12]
        return Path("/var/lib/hoverboard-stack") / digest
    return home


def _default_cache_dir() -> Path:
    # Services run as SERVICE_USER under root must be able to read the unpacked
    # distributions, and root's home is private: use the system cache location then.
    if os.geteuid() == 0:
        return Path("/var/cache/hoverboard-platform")
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hoverboard-platform"


@dataclass(frozen=True)
class StackConfig:
    """Resolved settings of one local stack."""

    home: Path
    cache_dir: Path
    ports: dict[str, int] = field(default_factory=dict)
    n_part: int = 6
    ingest_instances: int = INGEST_INSTANCES
    #: Kafka nodes (``HOVER_KAFKA_BROKERS``): 1 for speed, 3 for production's shape.
    kafka_brokers: int = 1
    backup_bucket: str = "hoverboard-backups"
    ready_timeout: float = 120.0

    @classmethod
    def from_env(cls) -> StackConfig:
        home = Path(os.environ.get("HOVER_STACK_HOME") or _default_home()).resolve()
        cache = Path(os.environ.get("HOVER_CACHE_DIR") or _default_cache_dir()).resolve()
        instances = _env_int("HOVER_INGEST_INSTANCES", INGEST_INSTANCES)
        if instances < 1:
            raise SystemExit(f"HOVER_INGEST_INSTANCES={instances} must be at least 1")
        defaults = default_ports(instances, _env_int("HOVER_INGEST_BASE_PORT", INGEST_BASE_PORT))
        ports = {
            name: _env_int(f"HOVER_{name.upper()}_PORT", default)
            for name, default in defaults.items()
        }
        return cls(
            home=home,
            cache_dir=cache,
            ports=ports,
            n_part=_env_int("HOVER_N_PART", 6),
            ingest_instances=instances,
            kafka_brokers=_kafka_brokers(home),
            backup_bucket=os.environ.get("HOVER_BACKUP_BUCKET", "hoverboard-backups"),
            ready_timeout=float(_env_int("HOVER_READY_TIMEOUT", 120)),
        )

    # Layout of the state directory: one folder per service plus shared run/log folders.
    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    @property
    def env_file(self) -> Path:
        return self.home / "stack.env"

    def data_dir(self, service: str) -> Path:
        return self.home / "data" / service

    def conf_dir(self, service: str) -> Path:
        return self.home / "conf" / service

    def log_file(self, service: str) -> Path:
        return self.log_dir / f"{service}.log"

    def pid_file(self, service: str) -> Path:
        return self.run_dir / f"{service}.pid"

    @property
    def runs_as_root(self) -> bool:
        return os.geteuid() == 0

    def service_account(self) -> pwd.struct_passwd | None:
        """The account that unprivileged servers run as, or None to run as ourselves."""
        if not self.runs_as_root:
            return None
        try:
            return pwd.getpwnam(SERVICE_USER)
        except KeyError:
            raise SystemExit(
                f"running as root needs the system user {SERVICE_USER!r} for PostgreSQL and "
                "Elasticsearch (both refuse to run as root); bin/setup creates it"
            ) from None
