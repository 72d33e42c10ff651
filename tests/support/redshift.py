"""Redshift cannot run here; sqlglot's ``redshift`` dialect stands in for its parser. A
statement sqlglot cannot model falls back to a generic ``Command``: that is not a parse, so
it is only accepted for the statements listed below, checked by their exact shape."""

from __future__ import annotations

import re

import sqlglot
from sqlglot import exp

# Statements sqlglot does not model, with the exact shape we allow.
_TABLE = r'(?:"?[a-z_]+"?\."?[a-z_]+"?)'
UNMODELLED = {"LOCK": re.compile(rf"^LOCK {_TABLE}(?:, {_TABLE})*$"),
              "SET": re.compile(r"^SET TIME ZONE 'UTC'$"),
              # Superset's read-only users (V0012): no password until the deployment sets one.
              "CREATE": re.compile(r"^CREATE USER [a-z_]+ PASSWORD DISABLE$")}


def parse_redshift(statement: str) -> exp.Expression:
    parsed = sqlglot.parse_one(statement, read="redshift", error_level=sqlglot.ErrorLevel.RAISE)
    if isinstance(parsed, exp.Command):
        keyword = statement.split()[0].upper()
        assert keyword in UNMODELLED and UNMODELLED[keyword].match(statement), (
            f"sqlglot could not parse this as Redshift SQL:\n{statement}")
    return parsed
