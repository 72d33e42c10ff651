"""Sign-in mails through any SMTP relay (host, port, STARTTLS, optional login), the local
stack's catcher (``smtp`` service) included."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

from flask import Flask


def sign_in_message(*, sender: str, to: str, link: str, ttl_minutes: int) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = "Your Hoverboard sign-in link"
    message.set_content(
        f"Open this link to sign in to your Hoverboard account:\n\n{link}\n\n"
        f"It works once, within {ttl_minutes} minutes. If you did not ask for it, ignore "
        "this mail: nobody can sign in without the link.\n")
    return message


def send(app: Flask, message: EmailMessage) -> None:
    config = app.config
    with smtplib.SMTP(config["SMTP_HOST"], int(config["SMTP_PORT"]),
                      timeout=float(config["SMTP_TIMEOUT_S"])) as smtp:
        if config["SMTP_STARTTLS"]:
            smtp.starttls()
        if config["SMTP_USER"]:
            smtp.login(config["SMTP_USER"], config["SMTP_PASSWORD"])
        smtp.send_message(message)
