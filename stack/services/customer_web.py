"""The customer web app (``customer_web/``), served by gunicorn on 127.0.0.1 and reached
through NGINX on its own port (the ``customer_nginx`` service).

Its settings come from the stack: the warehouse as the app's own role (HOVER_CUSTOMER_WEB_DSN,
password from the stack's secrets), the signing key from the secrets, the SMTP catcher, and
its public URL (NGINX's). Plain HTTP on 127.0.0.1, so cookies are not marked Secure here.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from stack.config import REPO_ROOT
from stack.process import StackError, http_status
from stack.services.base import Launch, Service
from stack.services.elasticsearch import Elasticsearch
from stack.services.nginx import Nginx, render
from stack.services.postgres import APP_ROLE, Postgres
from stack.services.smtp import SmtpCatcher

GUNICORN_CONF = REPO_ROOT / "customer_web" / "gunicorn.conf.py"
TEMPLATE = REPO_ROOT / "deploy" / "nginx" / "customer_web.conf.template"
WSGI_APP = "customer_web.wsgi:app"


class CustomerWeb(Service):
    name = "customer_web"
    port_keys = ("customer_web",)
    depends_on = ("postgres", "smtp")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def public_url(self) -> str:
        return f"http://127.0.0.1:{self.config.ports['customer_nginx']}"

    def launch(self) -> Launch:
        gunicorn = Path(sys.executable).parent / "gunicorn"
        if not gunicorn.exists():
            raise StackError(f"gunicorn not found beside {sys.executable}; run bin/setup")
        smtp = SmtpCatcher(self.config, self.secrets)
        env = {
            **os.environ,
            "HOVER_CUSTOMER_WEB_DSN": Postgres(self.config, self.secrets).dsn(
                "warehouse", user=APP_ROLE),
            "HOVER_CUSTOMER_WEB_SECRET_KEY": self.secrets.customer_web_secret_key,
            "HOVER_CUSTOMER_WEB_PUBLIC_URL": self.public_url,
            "HOVER_CUSTOMER_WEB_SMTP_HOST": "127.0.0.1",
            "HOVER_CUSTOMER_WEB_SMTP_PORT": str(smtp.port),
            "HOVER_CUSTOMER_WEB_SESSION_COOKIE_SECURE": "false",
            "HOVER_CUSTOMER_WEB_PROXY_HOPS": "1",
            "HOVER_CUSTOMER_WEB_BIND": f"127.0.0.1:{self.port}",
            "HOVER_ELASTICSEARCH_URL": Elasticsearch(self.config, self.secrets).url,
        }
        return Launch(argv=[str(gunicorn), "-c", str(GUNICORN_CONF), WSGI_APP], env=env,
                      cwd=REPO_ROOT)

    def is_ready(self) -> bool:
        # Liveness only: the app starts before bin/platform has migrated the warehouse.
        return http_status(f"{self.url}/health") == 200

    def environment(self) -> dict[str, str]:
        return {"HOVER_CUSTOMER_WEB_URL": self.public_url}

    def describe(self) -> str:
        return f"{self.url} (customer web app, behind customer_nginx)"


class CustomerNginx(Nginx):
    """NGINX in front of the customer web app, on its own port (``customer_nginx``)."""

    name = "customer_nginx"
    port_keys = ("customer_nginx",)
    depends_on = ("customer_web",)

    def __init__(self, config, secrets) -> None:
        Service.__init__(self, config, secrets)
        self.app = CustomerWeb(config, secrets)

    @property
    def conf_file(self) -> Path:
        return self.conf_dir / "customer_web.conf"

    def prepare(self) -> None:
        values = {
            "LISTEN_ADDRESS": f"127.0.0.1:{self.port}",
            "APP_ADDRESS": f"127.0.0.1:{self.app.port}",
            "PID_FILE": str(self.data_dir / "nginx.pid"),
            "TEMP_DIR": str(self.data_dir / "temp"),
        }
        text = render(TEMPLATE.read_text(), values, [])
        (self.data_dir / "temp").mkdir(parents=True, exist_ok=True)
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        self.conf_file.write_text(text)

    def environment(self) -> dict[str, str]:
        return {}

    def describe(self) -> str:
        return f"{self.url} -> customer_web (the customer web app's entry point)"
