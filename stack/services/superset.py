"""Apache Superset for analysts and the operations manager (README "Analytics (Superset)").

Superset needs SQLAlchemy < 2 and Airflow >= 2, so it runs from a virtual environment of its
own (``.venv-superset``, built by bin/setup from ``deploy/superset/requirements.txt``),
under gunicorn on 127.0.0.1, with its metadata in the stack's PostgreSQL (database
``superset``) and the settings of ``deploy/superset/superset_config.py``, which compose
uses too. Its first start (and the first after a new lock) brings the metadata schema up
to date and makes the admin user with the stack's password; its bootstrap migrates the
warehouse (the views it reads), gives the read-only roles their passwords, imports the
bundle of ``analytics/superset`` and makes the roles ``Analyst`` and ``Operations``
(``deploy/superset/access.py``).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

from stack.config import REPO_ROOT, StackConfig
from stack.process import StackError, http_status
from stack.secrets import Secrets
from stack.services.base import Launch, Service
from stack.services.postgres import Postgres
from stack.superset_bundle import (
    BUNDLE_DIR,
    Bundle,
    BundleError,
    explainer,
    import_bundle,
    load,
    login,
)

ADMIN_USER = "admin"
DEPLOY = REPO_ROOT / "deploy" / "superset"


def superset_venv() -> Path:
    return Path(os.environ.get("HOVER_SUPERSET_VENV") or REPO_ROOT / ".venv-superset")


class Superset(Service):
    name = "superset"
    port_keys = ("superset",)
    depends_on = ("postgres",)
    # First start: the metadata schema (a few hundred migrations) and `superset init`.
    ready_timeout = 600.0
    signal_group = True  # gunicorn's arbiter and its worker

    def __init__(self, config: StackConfig, secrets: Secrets) -> None:
        super().__init__(config, secrets)
        self.postgres = Postgres(config, secrets)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fetch(self) -> None:
        if not (superset_venv() / "bin" / "superset").exists():
            raise StackError(f"Superset is not installed in {superset_venv()}: run bin/setup "
                             "(builds it from deploy/superset/requirements.txt)")

    def _env(self) -> dict[str, str]:
        venv_bin = superset_venv() / "bin"
        return {
            **os.environ,
            "PATH": f"{venv_bin}:{os.environ.get('PATH', '')}",
            "SUPERSET_CONFIG_PATH": str(DEPLOY / "superset_config.py"),
            "SUPERSET_HOME": str(self.data_dir),
            "SUPERSET_SECRET_KEY": self.secrets.superset_secret_key,
            "SUPERSET_DATABASE_URI": self.postgres.dsn("superset", driver="postgresql+psycopg2"),
            "SUPERSET_ADMIN_PASSWORD": self.secrets.superset_admin_password,
            "FLASK_APP": "superset",
            # The platform's .venv must not leak into Superset's interpreter.
            "PYTHONPATH": "",
            "VIRTUAL_ENV": str(superset_venv()),
        }

    def prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def launch(self) -> Launch:
        venv_bin = superset_venv() / "bin"
        # Schema up to date, roles and permissions synced, the admin user there: slow (a
        # minute or more each), so done once per lock file and stack, recorded in a stamp.
        # Then the shell becomes gunicorn (one worker, threads), so the pid is the server's.
        stamp = self.data_dir / "initialised.sha256"
        want = hashlib.sha256((DEPLOY / "requirements.txt").read_bytes()).hexdigest()
        script = (
            f'if [ "$(cat "{stamp}" 2>/dev/null)" != "{want}" ]; then '
            f'"{venv_bin}/superset" db upgrade && "{venv_bin}/superset" init && '
            f'"{venv_bin}/python" "{DEPLOY / "access.py"}" admin && '
            f'echo "{want}" > "{stamp}" || exit 1; fi; '
            f'exec "{venv_bin}/gunicorn" --bind 127.0.0.1:{self.port} --workers 1 '
            "--worker-class gthread --threads 8 --timeout 120 --limit-request-line 0 "
            '"superset.app:create_app()"'
        )
        return Launch(argv=["/bin/sh", "-c", script], env=self._env(), cwd=self.data_dir)

    def is_ready(self) -> bool:
        return http_status(f"{self.url}/health") == 200

    def bootstrap(self) -> None:
        self._warehouse_readers()
        try:
            self.import_bundle(load(), self.postgres.dsn("warehouse"))
        except BundleError as exc:
            raise StackError(f"superset: {exc}") from None
        result = subprocess.run(
            [str(superset_venv() / "bin" / "python"), str(DEPLOY / "access.py"), "roles"],
            env=self._env(), cwd=self.data_dir, capture_output=True, text=True, timeout=600)
        if result.returncode != 0:
            raise StackError(f"superset: creating its roles failed:\n{result.stderr[-3000:]}")

    def import_bundle(self, bundle: Bundle, warehouse: str, directory: Path = BUNDLE_DIR) -> None:
        """``bundle`` imported with its databases pointed at ``warehouse``; a refusal is a
        BundleError naming each file Superset finds wrong, and why."""
        session = login(self.url, ADMIN_USER, self.secrets.superset_admin_password)
        import_bundle(session, self.url, bundle, warehouse=warehouse,
                      passwords=self.reader_passwords(), directory=directory,
                      explain=explainer(str(superset_venv() / "bin" / "python"),
                                        DEPLOY / "access.py", self._env(), self.data_dir))

    def reader_passwords(self) -> dict[str, str]:
        """The warehouse's read-only roles (migration V0012) -> the stack's secret of each."""
        from hoverboard.warehouse.readers import READERS

        return {role: getattr(self.secrets, f"{role}_password") for role in READERS}

    def _warehouse_readers(self) -> None:
        """The views Superset reads exist (pending migrations applied, as the
        warehouse_migrations DAG would) and their roles log in with the stack's passwords."""
        import psycopg
        from hoverboard.warehouse.migrations import MigrationRunner
        from hoverboard.warehouse.readers import allow_logins

        dsn = self.postgres.dsn("warehouse")
        MigrationRunner(lambda: psycopg.connect(dsn), "postgres").migrate()
        allow_logins(dsn, self.reader_passwords())

    def environment(self) -> dict[str, str]:
        return {
            "HOVER_SUPERSET_URL": self.url,
            "HOVER_SUPERSET_USER": ADMIN_USER,
            "HOVER_SUPERSET_PASSWORD": self.secrets.superset_admin_password,
        }

    def describe(self) -> str:
        return f"{self.url} (user {ADMIN_USER}, password in stack.env HOVER_SUPERSET_PASSWORD)"

