"""Validating events against their JSON Schema: fast on the hot path, precise on failure.

``jsonschema-rs`` (Rust) answers valid or not in about a microsecond per event
(``benchmarks.ingest_bench --only validation``). ``jsonschema`` is the reference
implementation and its error messages are the ones clients read, so only a rejected record is
run through it to explain why. The two agree on what is valid, a test runs both over a
corpus: the reference is given our format checks (``FORMATS``), and the fast validator the
same rules in a form it runs without calling back into Python (``fast_schema``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import jsonschema
import jsonschema_rs

# An address with one "@", a non-empty local part and a dotted domain, no whitespace. Real
# deliverability is not ours to judge; this rejects what is plainly not an address.
# jsonschema-rs runs the same pattern (Rust regex), so keep it portable.
EMAIL_PATTERN = r"^[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+$"
_EMAIL = re.compile(EMAIL_PATTERN)


def is_email(value: Any) -> bool:
    # fullmatch: "$" alone would let a trailing newline through.
    return not isinstance(value, str) or _EMAIL.fullmatch(value) is not None


# RFC 3339's date-time (section 5.6) with an offset: a local time is ambiguous. Leap seconds
# are refused, as jsonschema's own check (rfc3339-validator) refuses them. That package did
# the same work at twice the cost when the two were timed once side by side, and it lets a
# trailing newline through ("$"), which fullmatch does not.
_DATE_TIME = re.compile(
    r"(\d{4})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
    r"T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d+)?"
    r"(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)",
    re.ASCII,
)


def is_date_time(value: Any) -> bool:
    if not isinstance(value, str):
        return True
    match = _DATE_TIME.fullmatch(value)
    if match is None:
        return False
    year, month, day = match.group(1, 2, 3)
    if day < "29" and year != "0000":  # every month has these days: skip the calendar
        return True
    try:
        date(int(year), int(month), int(day))  # year 0, 30 February, 31 April...
    except ValueError:
        return False
    return True


#: The formats our schemas use; the reference validator runs these checks.
FORMATS: Mapping[str, Callable[[Any], bool]] = {"email": is_email, "date-time": is_date_time}

# The same rules for jsonschema-rs, as patterns it runs natively: handing it the Python checks
# above made it call back into Python for every formatted value, which cost more than the
# rest of the validation (1.1 of 1.9 µs per telemetry event, timed once; the validation line
# of benchmarks.ingest_bench shows the current figure). Its own date-time check does
# the calendar (30 February, leap years); the pattern narrows its syntax to ours: "T" and
# "Z" in capitals, no leap second, no year 0. Explicit [0-9], as \d is any Unicode digit
# in Rust's regex.
DATE_TIME_PATTERN = (r"^(?:[1-9][0-9]{3}|0[1-9][0-9]{2}|00[1-9][0-9]|000[1-9])-[0-9]{2}-[0-9]{2}"
                     r"T[0-9]{2}:[0-9]{2}:[0-5][0-9](?:\.[0-9]+)?(?:Z|[+-][0-9]{2}:[0-9]{2})$")
_NATIVE_FORMATS = {"date-time": DATE_TIME_PATTERN}
_PATTERN_FORMATS = {"email": EMAIL_PATTERN}
# Keywords whose values are data, not subschemas: a "format" in there is not a format.
_DATA_KEYWORDS = frozenset({"enum", "const", "default", "examples"})


def fast_schema(node: Any) -> Any:
    """``node`` with each of our formats replaced by its pattern (date-time: kept, plus its
    pattern), and any other format dropped, as the reference ignores formats it is not given."""
    if isinstance(node, list):
        return [fast_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: value if key in _DATA_KEYWORDS else fast_schema(value)
           for key, value in node.items() if not (key == "format" and isinstance(value, str))}
    fmt = node.get("format")
    if isinstance(fmt, str):
        pattern = _NATIVE_FORMATS.get(fmt) or _PATTERN_FORMATS.get(fmt)
        if fmt in _NATIVE_FORMATS:
            out["format"] = fmt
        if pattern is not None:
            if "pattern" in out:  # keep the schema's own pattern too
                out["allOf"] = [*out.get("allOf", ()), {"pattern": pattern}]
            else:
                out["pattern"] = pattern
    return out


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
        fast = fast_schema(self.schema)
        self._fast = jsonschema_rs.validator_for(fast, validate_formats=True)
        # A whole batch in one call when every record is valid, the common case.
        self._fast_batch = jsonschema_rs.validator_for(
            {**{k: fast[k] for k in ("$schema",) if k in fast}, "type": "array", "items": fast},
            validate_formats=True)
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

    def all_valid(self, records: list[Any]) -> bool:
        """Whether every record is valid (then ``errors`` would be empty for each)."""
        return self._fast_batch.is_valid(records)

    def is_valid_fast(self, record: Any) -> bool:
        return self._fast.is_valid(record)

    def is_valid_reference(self, record: Any) -> bool:
        return self._reference.is_valid(record)
