"""Alerts carry no record values: what a record held is cut out of every text of an alert.

Alert texts are written by many hands (the sinks' dead-letter reasons, exception texts of a
failed query, a task's error, a job's log tail) and several of them quote the record:
jsonschema starts its messages with the offending value (``'Ada…' is too long``,
``'ada@' is not a 'email'``, ``95.5 is greater than the maximum of 90``), PostgreSQL
quotes rows and fields (``DETAIL: Failing row contains (7, Ada, …)``, ``Key (id)=(7)``,
``CONTEXT: COPY customer, line 1, column first_name: "Ada"``), Python quotes values in
exceptions. :func:`redact` removes them all, and ``alerts.document.alert_document`` applies
it to every text it is given, so no caller can forget. The raw record stays where it is
kept on purpose: ``platform.dead_letters`` in the warehouse.

The rules keep what an operator needs and a record cannot hold: JSON pointers, offsets,
counts, the schema's own limits and the names it defines (a quoted ``'first_name'`` stays,
any other quoted text goes), the tables and constraints PostgreSQL names, and the files of a
traceback.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any

REDACTED = "<redacted>"

# PostgreSQL's row and key details and COPY's context line quote the record itself.
# The rest of the line goes: a value may hold parentheses, so they cannot tell where it ends.
_FAILING_ROW = re.compile(r"(Failing row contains )[^\n]*")
_KEY_VALUES = re.compile(r"(Key \([^)\n]*\)=)\(.*\)")
_COPY_CONTEXT = re.compile(r"(COPY [^,\n]+, line \d+(?:, column [^:\n]+)?): [^\n]*")
# A quoted literal as Python's repr and PostgreSQL write them, on one line; one that a cut
# (a text shortened to fit) left open runs to the end of the line. A quote right after or
# before a letter is an apostrophe ("job's"), not a quote.
_QUOTED = re.compile(r"""(?<![\w'"])(?:'(?:[^'\\\n]|\\.)*(?:'|\\?$)|"(?:[^"\\\n]|\\.)*(?:"|\\?$))"""
                     r"""(?![\w'"])""", re.MULTILINE)
_IDENTIFIER_BEFORE = re.compile(
    r"\b(?:relation|constraint|column|table|index|schema|type|encoding) $")
# An address anywhere, quoted or not.
_EMAIL = re.compile(r"[^\s@'\"<>(),;:]+@[^\s@'\"<>(),;:]+\.[^\s@'\"<>(),;:]+")
# A jsonschema message after its pointer ("/latitude: 95.5 is greater than ..."): the value
# before the verb, once quoted strings are gone a number, a constant or a dict/list repr.
_LEADING_VALUE = re.compile(
    r"((?:^|[;\n]|: )\s*(?:/[^\s:;]*|\(record\)): )"
    r"(-?\d[\w.+-]*|True|False|None|\{[^;\n]*?\}|\[[^;\n]*?\]|[{\[][^;\n]*$)"
    r"(?= (?:is|does|was|has|should|are)\b| ?\S{0,6}$)", re.MULTILINE)  # or cut short


@cache
def _schema_words() -> frozenset[str]:
    """Names the platform's schemas define (properties, types, formats, patterns, enums):
    quoted in a message they say where or what, never what a record held."""
    words = {"string", "integer", "number", "object", "array", "boolean", "null"}
    try:
        from schemas import message_types, versions
    except ImportError:  # alerts sent from somewhere without the schemas: redact them all
        return frozenset(words)
    for message_type in message_types():
        words.add(message_type)
        for version in versions(message_type):
            words.update(_names(version.schema))
    return frozenset(words)


def _names(node: Any) -> Iterator[str]:
    if isinstance(node, list):
        for item in node:
            yield from _names(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key in ("properties", "patternProperties", "definitions", "$defs") \
                    and isinstance(value, dict):
                yield from value
            elif key == "required" and isinstance(value, list):
                yield from (v for v in value if isinstance(v, str))
            elif key in ("type", "format", "pattern", "const", "enum"):
                yield from (v for v in (value if isinstance(value, list) else [value])
                            if isinstance(v, str))
            yield from _names(value)


def _quoted(match: re.Match[str]) -> str:
    literal = match.group(0)
    if literal[1:-1] in _schema_words():
        return literal
    before = match.string[max(0, match.start() - 12):match.start()]
    if before.endswith("File "):  # a traceback: File "x.py", line 3
        return literal
    if _IDENTIFIER_BEFORE.search(before):  # PostgreSQL names a table: relation "customer"
        return literal
    return REDACTED


def redact(text: str) -> str:
    """``text`` without the values of any record it quotes."""
    text = _FAILING_ROW.sub(rf"\1({REDACTED}).", text)
    text = _KEY_VALUES.sub(rf"\1({REDACTED})", text)
    text = _COPY_CONTEXT.sub(rf"\1: {REDACTED}", text)
    text = _QUOTED.sub(_quoted, text)
    text = _EMAIL.sub(REDACTED, text)
    return _LEADING_VALUE.sub(rf"\1{REDACTED}", text)


def redact_values(value: Any) -> Any:
    """``value`` with every string in it redacted (mappings and lists followed; keys, numbers
    and other types are the sender's own and stay)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {key: redact_values(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact_values(item) for item in value]
    return value
