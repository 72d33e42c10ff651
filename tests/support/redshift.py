"""Redshift cannot run here; sqlglot's ``redshift`` dialect stands in for its parser. A
statement sqlglot cannot model falls back to a generic ``Command``: that is not a parse, so
it is only accepted for the statements listed below, checked by their exact shape."""

from __future__ import annotations

import re

import sqlglot
from sqlglot import exp

# Statements sqlglot does not model, with the exact shape we allow.
_TABLE = r'(?:"?[a-z_]+"?\."?[a-z_]+"?)'
_NAME = r"[a-z_]+"
UNMODELLED = {"LOCK": re.compile(rf"^LOCK {_TABLE}(?:, {_TABLE})*$"),
              "SET": re.compile(r"^SET TIME ZONE 'UTC'$"),
              # Row-level security (V0013): an RBAC role, its policies and their attachment.
              "CREATE": re.compile(rf"^CREATE (?:ROLE {_NAME}|RLS POLICY {_NAME}"
                                   rf"(?: WITH \((?:{_NAME} [a-z]+(?:\(\d+\))?(?:, )?)+\))?"
                                   r" USING \((?P<predicate>.+)\))$", re.S),
              "ATTACH": re.compile(rf"^ATTACH RLS POLICY {_NAME} ON {_TABLE}"
                                   rf" TO (?:PUBLIC|ROLE {_NAME})$"),
              "ALTER": re.compile(rf"^ALTER TABLE {_TABLE} ROW LEVEL SECURITY (?:ON|OFF)$")}


def parse_redshift(statement: str) -> exp.Expression:
    # A migration's first statement carries the file's leading comment.
    statement = "\n".join(line for line in statement.splitlines()
                          if not line.lstrip().startswith("--")).strip()
    keyword = statement.split()[0].upper()
    if keyword == "ATTACH":  # sqlglot reads ATTACH as SQLite's ATTACH DATABASE and fails
        assert UNMODELLED[keyword].match(statement), (
            f"sqlglot could not parse this as Redshift SQL:\n{statement}")
        return exp.Command(this=keyword, expression=exp.Literal.string(statement[7:]))
    parsed = sqlglot.parse_one(statement, read="redshift", error_level=sqlglot.ErrorLevel.RAISE)
    if isinstance(parsed, exp.Command):
        match = UNMODELLED.get(keyword) and UNMODELLED[keyword].match(statement)
        assert match, f"sqlglot could not parse this as Redshift SQL:\n{statement}"
        if match.groupdict().get("predicate"):  # a policy's predicate is real SQL
            sqlglot.parse_one(f"SELECT 1 WHERE {match['predicate']}", read="redshift",
                              error_level=sqlglot.ErrorLevel.RAISE)
    return parsed
