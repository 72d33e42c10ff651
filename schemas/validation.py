"""Validating events against their JSON Schema: fast on the hot path, precise on failure.

``jsonschema-rs`` (Rust) answers valid or not in a couple of microseconds per event
(``benchmarks.ingest_bench --only validation``; about half of what ``fastjsonschema``, the
validator it replaced, took when the two were timed side by side). ``jsonschema`` is the
reference implementation and its error messages are the ones clients read, so only a
rejected record is run through it to explain why. Both are given the same format checks,
defined once here, so they agree on what is valid (a test runs both over a corpus).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema
import jsonschema_rs
from rfc3339_validator import validate_rfc3339

# An address with one "@", a non-empty local part and a dotted domain, no whitespace. Real
# deliverability is not ours to judge; this rejects what is plainly not an address.
# The same pattern is used by the Spark sink (Java regex), so keep it portable.
EMAIL_PATTERN = r"^[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+$"
_EMAIL = re.compile(EMAIL_PATTERN)


def is_email(value: Any) -> bool:
    return not isinstance(value, str) or _EMAIL.match(value) is not None


def is_date_time(value: Any) -> bool:
    # RFC 3339 requires the offset ("Z" or "+hh:mm"): a local time is ambiguous.
    return not isinstance(value, str) or validate_rfc3339(value)


#: The formats our schemas use, enforced identically by both validators.
FORMATS: Mapping[str, Callable[[Any], bool]] = {"email": is_email, "date-time": is_date_time}


def _format_checker() -> jsonschema.FormatChecker:
    checker = jsonschema.FormatChecker(formats=())
    for name, check in FORMATS.items():
        checker.checks(name)(check)
    return checker


@dataclass(frozen=True)
class FieldError:
    """One reason a record was rejected: a JSON pointer into the record and a message."""

    pointer: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"pointer": self.pointer, "detail": self.detail}


def _pointer(path) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


class EventValidator:
    """Validator of one schema version."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self.schema = dict(schema)
        self._fast = jsonschema_rs.validator_for(self.schema, validate_formats=True,
                                                 formats=dict(FORMATS))
        validator_cls = jsonschema.validators.validator_for(self.schema)
        validator_cls.check_schema(self.schema)
        self._reference = validator_cls(self.schema, format_checker=_format_checker())

    def errors(self, record: Any) -> list[FieldError]:
        """Every reason ``record`` is invalid, empty when it is valid."""
        if self._fast.is_valid(record):
            return []
        found = [
            FieldError(_pointer(err.absolute_path), err.message)
            for err in self._reference.iter_errors(record)
        ]
        if not found:  # the two disagree: trust the reference, but this should never happen
            return []
        return sorted(found, key=lambda e: e.pointer)

    def is_valid_fast(self, record: Any) -> bool:
        return self._fast.is_valid(record)

    def is_valid_reference(self, record: Any) -> bool:
        return self._reference.is_valid(record)
