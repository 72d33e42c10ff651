"""PostgreSQL from Debian's packages, in a cluster of its own under the stack's state.

It stands in for Redshift locally (database ``warehouse``) and holds Airflow's metadata
(database ``airflow``). Only TCP on 127.0.0.1 is enabled; the Unix socket is off so the
cluster never collides with the system's own PostgreSQL.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import quote

from stack.process import StackError
from stack.services.base import Launch, Service

USER = "hover"
DATABASES = ("warehouse", "airflow")
#: The customer web app's role (sql/migrations/V0013__customer_web.postgres.sql).
APP_ROLE = "customer_web"


def postgres_bindir() -> Path:
    override = os.environ.get("HOVER_PG_BINDIR")
    if override:
        return Path(override)
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name)
    )
    if not candidates:
        raise StackError(
            "PostgreSQL server binaries not found under /usr/lib/postgresql; run bin/setup "
            "(installs Debian's postgresql) or set HOVER_PG_BINDIR"
        )
    return candidates[-1]


class Postgres(Service):
    name = "postgres"
    port_keys = ("postgres",)
    needs_unprivileged_user = True
    # SIGINT is PostgreSQL's "fast" shutdown: roll back open transactions, checkpoint, exit.
    stop_signal = signal.SIGINT

    def dsn(self, database: str, *, driver: str = "postgresql", user: str = USER) -> str:
        secret = (self.secrets.customer_web_db_password if user == APP_ROLE
                  else self.secrets.postgres_password)
        password = quote(secret, safe="")
        return f"{driver}://{user}:{password}@127.0.0.1:{self.port}/{database}"

    def prepare(self) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.own(self.data_dir)
        ids = self.run_as()
        with tempfile.NamedTemporaryFile("w", dir=self.config.home, delete=False) as pwfile:
            pwfile.write(self.secrets.postgres_password + "\n")
        try:
            if ids is not None:
                os.chown(pwfile.name, *ids)

            def demote() -> None:
                if ids is not None:
                    os.setgroups([])
                    os.setgid(ids[1])
                    os.setuid(ids[0])

            result = subprocess.run(
                [
                    str(postgres_bindir() / "initdb"),
                    "-D", str(self.data_dir),
                    "-U", USER,
                    "--auth=scram-sha-256",
                    f"--pwfile={pwfile.name}",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                ],
                capture_output=True,
                text=True,
                preexec_fn=demote,
                cwd="/",
            )
        finally:
            os.unlink(pwfile.name)
        if result.returncode != 0:
            raise StackError(f"initdb failed for {self.data_dir}:\n{result.stderr[-2000:]}")

    def launch(self) -> Launch:
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": "",
            # Airflow's scheduler, API server and DAG processor, the Spark sinks and the
            # ingest instances each hold pools; the default of 100 is too tight locally.
            "max_connections": "200",
            "shared_buffers": "128MB",
            "log_line_prefix": "%m [%p] %u@%d ",
        }
        argv = [str(postgres_bindir() / "postgres"), "-D", str(self.data_dir)]
        for key, value in settings.items():
            argv += ["-c", f"{key}={value}"]
        return Launch(argv=argv, env={**os.environ, "LC_ALL": "C.UTF-8"}, cwd=Path("/"))

    def _connect(self, database: str = "postgres", timeout: int = 2):
        import psycopg

        return psycopg.connect(self.dsn(database), connect_timeout=timeout, autocommit=True)

    def is_ready(self) -> bool:
        try:
            with self._connect() as conn:
                conn.execute("SELECT 1")
            return True
        except Exception:  # noqa: BLE001 - any failure means "not yet"
            return False

    def bootstrap(self) -> None:
        from psycopg import sql

        with self._connect() as conn:
            existing = {
                row[0] for row in conn.execute("SELECT datname FROM pg_database").fetchall()
            }
            for database in DATABASES:
                if database not in existing:
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
            # The customer web app's login (a cluster-wide role): its grants and row-level
            # security come with migration V0013, its password only from the secrets.
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s",
                                  (APP_ROLE,)).fetchone()
            conn.execute(sql.SQL("{} ROLE {} LOGIN PASSWORD {}").format(
                sql.SQL("ALTER" if exists else "CREATE"), sql.Identifier(APP_ROLE),
                sql.Literal(self.secrets.customer_web_db_password)))

    def environment(self) -> dict[str, str]:
        warehouse = {
            "conn_type": "postgres",
            "host": "127.0.0.1",
            "port": self.port,
            "login": USER,
            "password": self.secrets.postgres_password,
            "schema": "warehouse",
        }
        # The warehouse's one setting: Airflow reads it as warehouse_default, the Spark
        # sinks and the loader derive their DSN from it (runtime.settings.warehouse_dsn).
        return {
            # The customer web app's own role: reads only its rows (V0013).
            "HOVER_CUSTOMER_WEB_DSN": self.dsn("warehouse", user=APP_ROLE),
            "HOVER_AIRFLOW_DB_DSN": self.dsn("airflow"),
            "AIRFLOW_CONN_WAREHOUSE_DEFAULT": json.dumps(warehouse),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.dsn(
                "airflow", driver="postgresql+psycopg"
            ),
        }

    def describe(self) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/warehouse (and /airflow)"
