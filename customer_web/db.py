"""The warehouse as the app sees it: its own role, one customer per transaction.

Every read runs in a transaction that first sets ``hover.customer_id`` locally
(``set_config(..., true)``, PostgreSQL's SET LOCAL, also Redshift's); the row-level security
policies of migration V0013 restrict the app's role to that customer's rows, so a query
that forgot its ``WHERE`` still returns nothing of anybody else's.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg_pool import ConnectionPool

SET_CUSTOMER = "SELECT set_config('hover.customer_id', %s, true)"
SET_SIGN_IN_EMAIL = "SELECT set_config('hover.sign_in_email', %s, true)"


class Warehouse:
    def __init__(self, dsn: str, *, max_size: int = 8) -> None:
        self.pool = ConnectionPool(dsn, min_size=1, max_size=max_size, open=False,
                                   kwargs={"autocommit": True}, name="customer_web")

    def open(self) -> None:
        self.pool.open(wait=False)

    def close(self) -> None:
        self.pool.close()

    def fetch_one(self, query: str, params: tuple) -> tuple | None:
        """One statement on its own (autocommit): one round trip, no BEGIN/COMMIT."""
        with self.pool.connection() as conn:
            return conn.execute(query, params).fetchone()

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection]:
        """A transaction that sees no fleet rows (the app's own tables only)."""
        with self.pool.connection() as conn, conn.transaction():
            yield conn

    @contextmanager
    def as_customer(self, customer_id: int) -> Iterator[psycopg.Connection]:
        """A transaction that sees only ``customer_id``'s fleet rows."""
        with self.transaction() as conn:
            conn.execute(SET_CUSTOMER, (str(int(customer_id)),))
            yield conn

    @contextmanager
    def for_sign_in(self, email: str) -> Iterator[psycopg.Connection]:
        """A transaction that sees only the profile with this (normalised) email."""
        with self.transaction() as conn:
            conn.execute(SET_SIGN_IN_EMAIL, (email,))
            yield conn
