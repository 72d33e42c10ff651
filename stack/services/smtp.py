"""A local SMTP catcher (aiosmtpd, 127.0.0.1 only): every mail the platform sends, sign-in
links of the customer web app included, lands in a Maildir under the stack's state instead
of leaving the machine. ``bin/platform`` prints where; any mail reader, or Python's
``mailbox.Maildir``, opens it. Production points the app at a real relay instead.
"""

from __future__ import annotations

import os
import smtplib
import sys
from pathlib import Path

from stack.services.base import Launch, Service


class SmtpCatcher(Service):
    name = "smtp"
    port_keys = ("smtp",)

    @property
    def maildir(self) -> Path:
        return self.data_dir / "Maildir"

    def prepare(self) -> None:
        for folder in ("cur", "new", "tmp"):
            (self.maildir / folder).mkdir(parents=True, exist_ok=True)

    def launch(self) -> Launch:
        # aiosmtpd's own Mailbox handler writes each message into the Maildir.
        argv = [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{self.port}",
                "-c", "aiosmtpd.handlers.Mailbox", str(self.maildir)]
        return Launch(argv=argv, env=dict(os.environ), cwd=self.data_dir)

    def is_ready(self) -> bool:
        try:
            with smtplib.SMTP("127.0.0.1", self.port, timeout=2) as smtp:
                return smtp.noop()[0] == 250
        except OSError:
            return False

    def environment(self) -> dict[str, str]:
        return {"HOVER_SMTP_HOST": "127.0.0.1", "HOVER_SMTP_PORT": str(self.port),
                "HOVER_MAILDIR": str(self.maildir)}

    def describe(self) -> str:
        return f"smtp://127.0.0.1:{self.port} (mail caught into {self.maildir})"
