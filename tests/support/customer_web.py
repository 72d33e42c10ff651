"""The customer web app under test: a scratch warehouse with two customers, the app built by
its factory on it (real PostgreSQL as the app's role, the stack's real SMTP catcher), and
the sign-in mails read back from the catcher's Maildir."""

from __future__ import annotations

import mailbox
import re
import secrets
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
from flask import Flask

from runtime.settings import warehouse_dsn

LINK = re.compile(r"https?://\S+?(/sign-in/[A-Za-z0-9_.\-]+)")


@dataclass(frozen=True)
class Customer:
    id: int
    first_name: str
    last_name: str
    email: str
    hoverboard_id: int
    latitude: float

    def identifiers(self) -> tuple[str, ...]:
        """What would betray this customer's data on a page: name, email, board, place."""
        return (self.first_name, self.last_name, self.email, str(self.hoverboard_id),
                f"{self.latitude:.4f}")


def make_customer(number: int) -> Customer:
    tag = uuid.uuid4().hex[:8]
    return Customer(id=700_000 + number * 1000 + int(tag[:3], 16), first_name=f"First{tag}",
                    last_name=f"Last{tag}", email=f"c{number}-{tag}@example.com",
                    hoverboard_id=880_000_000 + number * 1000 + int(tag[3:6], 16),
                    latitude=10 + number + int(tag[:4], 16) / 100_000)


def seed(admin_dsn: str, customer: Customer, trips: int,
         first: datetime = datetime(2026, 9, 1, 8, tzinfo=UTC)) -> list[datetime]:
    """The customer and ``trips`` trips a day apart (as the sinks would load them)."""
    starts = [first + timedelta(days=n, minutes=n) for n in range(trips)]
    with psycopg.connect(admin_dsn) as conn:
        conn.execute(
            "INSERT INTO fleet.customer (id, updated_at, first_name, last_name, latitude,"
            " longitude, email) VALUES (%s, now(), %s, %s, %s, 13.25, %s)",
            (customer.id, customer.first_name, customer.last_name, customer.latitude,
             customer.email))
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO fleet.trip (hoverboard_id, customer_id, start_time, end_time,"
                " trip_duration, start_latitude, start_longitude, end_latitude, end_longitude)"
                " VALUES (%s, %s, %s, %s, %s, %s, 13.25, %s, 13.27)",
                [(customer.hoverboard_id, customer.id, s, s + timedelta(minutes=12), 720.0,
                  customer.latitude, customer.latitude + 0.01) for s in starts])
    return starts


def app_dsn(app_role_dsn: str, database_dsn: str) -> str:
    """The app role's DSN (the stack's) pointed at the database of ``database_dsn``."""
    return app_role_dsn.rsplit("/", 1)[0] + "/" + database_dsn.rsplit("/", 1)[1]


def new_mail(maildir: str, address: str, seen: set[str], *, timeout: float = 15.0):
    """A message to ``address`` whose Maildir key is not in ``seen`` (added to it), waiting
    for the catcher to write it; None when none came in time."""
    deadline = time.monotonic() + timeout
    while True:
        for key, message in mailbox.Maildir(maildir, create=False).iteritems():
            if key not in seen and message["To"] == address:
                seen.add(key)
                return message
        if time.monotonic() > deadline:
            return None
        time.sleep(0.1)


def link_path(message) -> str:
    """The path of the sign-in link in a caught mail (quoted-printable decoded)."""
    body = message.get_payload(decode=True).decode()
    return LINK.search(body).group(1)


@contextmanager
def app_on_scratch_warehouse(stack_env: dict[str, str], seeds: list[tuple[Customer, int]],
                             **config) -> Iterator[tuple[Flask, str, dict[int, list[datetime]]]]:
    """The app from its factory on a migrated scratch warehouse holding ``seeds`` (customer,
    number of trips), mailing through the stack's SMTP catcher; yields the app, the scratch
    database's admin DSN and each customer's trip starts."""
    from customer_web import create_app
    from tests.support.warehouse import scratch_database

    with scratch_database(warehouse_dsn(stack_env), "webtest") as admin_dsn:
        starts = {customer.id: seed(admin_dsn, customer, trips) for customer, trips in seeds}
        app = create_app({
            "DSN": app_dsn(stack_env["HOVER_CUSTOMER_WEB_DSN"], admin_dsn),
            "SECRET_KEY": secrets.token_urlsafe(32),
            "SMTP_HOST": stack_env["HOVER_SMTP_HOST"],
            "SMTP_PORT": int(stack_env["HOVER_SMTP_PORT"]),
            **config,
        })
        try:
            yield app, admin_dsn, starts
        finally:
            app.extensions["hover_warehouse"].close()
