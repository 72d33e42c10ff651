"""NGINX, the load balancer in front of the ingest API instances (Debian's nginx package).

Its configuration is rendered from ``deploy/nginx/ingest.conf.template``, the one template
the containers use too, into the stack's conf folder. Everything nginx writes (pid file,
temporary files, logs) stays under the stack's state: ``-p`` sets the prefix, ``-e stderr``
the error log used before the configuration is read, and the access log goes to stdout,
the service's log file. Run by root, the master keeps root and the workers run as the
stack's service account.
"""

from __future__ import annotations

import grp
import os
import re
import shutil
import signal
from collections.abc import Mapping, Sequence
from pathlib import Path

from stack.config import REPO_ROOT, StackConfig
from stack.process import StackError, http_status
from stack.secrets import Secrets
from stack.services.base import Launch, Service
from stack.services.ingest import IngestInstance

TEMPLATE = REPO_ROOT / "deploy" / "nginx" / "ingest.conf.template"
#: The template variable whose line is written once per ingest instance.
REPEATED = "INGEST_ADDRESS"
HEALTH_PATH = "/nginx-health"

_VARIABLE = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")


def render(template: str, values: Mapping[str, str], addresses: Sequence[str]) -> str:
    """Fill in the template: a line naming ``${INGEST_ADDRESS}`` once per address, every
    other ``${NAME}`` from ``values``; a name without a value is an error, not left as is.
    (nginx's own variables are lower case, ``$upstream_addr``, and never match.)"""
    marker = "${" + REPEATED + "}"
    lines: list[str] = []
    for line in template.splitlines(keepends=True):
        if marker in line:
            lines += [line.replace(marker, address) for address in addresses]
        else:
            lines.append(line)

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise StackError(f"{TEMPLATE}: no value for the variable {name}")
        return values[name]

    return _VARIABLE.sub(value, "".join(lines))


def nginx_binary() -> str:
    # /usr/sbin is not on an ordinary user's PATH.
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    found = shutil.which("nginx", path=path)
    if found is None:
        raise StackError(
            "nginx not found (on PATH or in /usr/sbin); run bin/setup (installs Debian's "
            "nginx-light)"
        )
    return found


class Nginx(Service):
    name = "nginx"
    port_keys = ("nginx",)
    # SIGQUIT is nginx's graceful stop: requests in flight are answered first.
    stop_signal = signal.SIGQUIT

    def __init__(self, config: StackConfig, secrets: Secrets,
                 instances: Sequence[IngestInstance]) -> None:
        super().__init__(config, secrets)
        self.instances = tuple(instances)
        self.depends_on = tuple(instance.name for instance in self.instances)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def conf_file(self) -> Path:
        return self.conf_dir / "ingest.conf"

    def prepare(self) -> None:
        # Rewritten on every start: ports and the number of instances may have changed.
        values = {
            "LISTEN_ADDRESS": f"127.0.0.1:{self.port}",
            "PID_FILE": str(self.data_dir / "nginx.pid"),
            "TEMP_DIR": str(self.data_dir / "temp"),
        }
        text = render(TEMPLATE.read_text(), values, [i.address for i in self.instances])
        (self.data_dir / "temp").mkdir(parents=True, exist_ok=True)
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        self.conf_file.write_text(text)

    def launch(self) -> Launch:
        argv = [nginx_binary(), "-p", f"{self.data_dir}/", "-e", "stderr",
                "-c", str(self.conf_file)]
        account = self.config.service_account()
        if account is not None:
            # The master needs root only to start; workers (which handle every request)
            # drop to the service account. nginx creates its temporary folders for them.
            group = grp.getgrgid(account.pw_gid).gr_name
            argv += ["-g", f"user {account.pw_name} {group};"]
        return Launch(argv=argv, env=dict(os.environ), cwd=self.data_dir)

    def is_ready(self) -> bool:
        return http_status(f"{self.url}{HEALTH_PATH}") == 200

    def environment(self) -> dict[str, str]:
        # Clients reach the ingest API through the balancer, never an instance directly.
        return {"HOVER_INGEST_URL": self.url}

    def describe(self) -> str:
        names = ", ".join(instance.name for instance in self.instances)
        return f"{self.url} -> {names} (consistent hash on X-Hover-Key)"
