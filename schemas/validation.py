"""Validating events against their JSON Schema: fast on the hot path, precise on failure.

``jsonschema-rs`` (Rust) answers valid or not in about a microsecond per event
(``benchmarks.ingest_bench --only validation``). ``jsonschema`` is the reference
implementation and its error messages are the ones clients read, so only a rejected record is
run through it to explain why. The two agree on what is valid, a test runs both over a
corpus: the reference is given our format checks (``FORMATS``), and the fast validator the
same rules in a form it runs without calling back into Python (``fast_schema``).

Both also apply ``WarehouseRules``: what JSON Schema cannot say but the warehouse needs (no
U+0000, date-times within years 1 to 9999 in UTC; ``schemas/README.md``). The hot path
stays in Rust: a stricter schema (``suspicious_schema``) passes nearly every record, and
only the few it stops are looked at in Python.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
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
    r"T([01]\d|2[0-3]):([0-5]\d):([0-5]\d)(?:\.(\d+))?"
    r"(?:Z|([+-])((?:[01]\d|2[0-3]):[0-5]\d))",
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


# The instants the warehouse holds, in UTC: Python's datetime, Arrow's text form and both
# engines agree on these and on nothing wider (year 0 in UTC is "0000" to Arrow, which
# PostgreSQL refuses; year 10000 does not exist for Python or Redshift's TIMEFORMAT).
EARLIEST = datetime(1, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)


def date_time_out_of_range(value: str) -> str | None:
    """Why a well-formed RFC 3339 ``value`` cannot be stored, or None: its instant in UTC
    must lie in [EARLIEST, LATEST]. Only years 0001 and 9999 can leave it (an offset is
    less than a day), so any other value costs a slice and a comparison."""
    match = _DATE_TIME.fullmatch(value)
    if match is None or match.group(1) not in ("0001", "9999"):
        return None
    fraction = match.group(7) or ""
    try:
        local = datetime(int(match.group(1)), int(match.group(2)), int(match.group(3)),
                         *map(int, match.group(4, 5, 6)), int((fraction + "000000")[:6]))
    except ValueError:  # not a calendar date: the format check says so
        return None
    sign, offset = match.group(8), match.group(9)
    minutes = 0 if offset is None else int(offset[:2]) * 60 + int(offset[3:])
    zone = timezone(timedelta(minutes=-minutes if sign == "-" else minutes))
    try:
        instant = local.replace(tzinfo=zone).astimezone(UTC)
    except OverflowError:  # before year 1 or after year 9999 in UTC
        instant = None
    # Digits past the microsecond: PostgreSQL rounds them, so .9999995 at the last
    # microsecond would become year 10000.
    if instant is not None and not (instant == LATEST and fraction[6:].strip("0")) \
            and EARLIEST <= instant <= LATEST:
        return None
    return (f"{value!r} is outside the times the warehouse can hold: in UTC it must lie "
            f"between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z")


NUL_MESSAGE = ("contains the NUL character (U+0000), which neither PostgreSQL nor Redshift "
               "can store: remove it")


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


# Strings the warehouse may refuse (schemas/README.md, "What the warehouse can hold"): any
# with U+0000, and date-times in the two years where an offset can leave the range. The hot
# path refuses these in Rust; WarehouseRules then decides exactly, in Python, for the few.
_NO_NUL = {"pattern": "^[^\\x00]*$"}
_NOT_EDGE_YEAR = {"not": {"pattern": "^(?:0001|9999)-"}}


def suspicious_schema(node: Any) -> Any:
    """``fast_schema`` output that also refuses every string with U+0000 and every
    date-time in year 0001 or 9999: stricter than valid, so "valid" from it is final."""
    if isinstance(node, list):
        return [suspicious_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: value if key in _DATA_KEYWORDS else suspicious_schema(value)
           for key, value in node.items()}
    if node.get("type") == "string":
        extra = [_NO_NUL, *([_NOT_EDGE_YEAR] if node.get("format") == "date-time" else [])]
        out["allOf"] = [*out.get("allOf", ()), *extra]
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


class WarehouseRules:
    """What JSON Schema cannot say but the warehouse needs (``schemas/README.md``, "What
    the warehouse can hold"): no U+0000 in any string, date-times within the instants both
    engines hold. Run after the schema's own validation, on every record, so it must stay
    cheap: for a schema whose objects are closed (``additionalProperties: false``, no
    arrays), as ours are, it looks only at the string fields the schema names."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self.strings: list[tuple[tuple[str, ...], bool]] = []  # (path, is a date-time)
        self.closed = self._collect(schema, ())

    def _collect(self, node: Any, path: tuple[str, ...]) -> bool:
        if not isinstance(node, dict):
            return False
        kinds = node.get("type")
        if kinds == "string":
            self.strings.append((path, node.get("format") == "date-time"))
            return True
        if kinds != "object":
            return kinds in ("integer", "number", "boolean", "null")
        closed = node.get("additionalProperties") is False and "patternProperties" not in node
        for name, child in node.get("properties", {}).items():
            closed = self._collect(child, (*path, name)) and closed
        return closed

    def _suspects(self, record: Any) -> list[tuple[tuple[str, ...], bool, str]]:
        """The named strings worth a closer look (a NUL, or a date-time in year 0001 or
        9999); usually none, found with a few dict lookups per record."""
        suspects = []
        for path, is_date_time in self.strings:
            value = record
            for part in path:
                value = value.get(part) if value.__class__ is dict else None
            if value.__class__ is str and ("\x00" in value or (
                    is_date_time and value[:4] in _EDGE_YEARS)):
                suspects.append((path, is_date_time, value))
        return suspects

    def errors(self, record: Any) -> list[FieldError]:
        found = []
        for path, is_date_time, value in self._suspects(record):
            if "\x00" in value:
                found.append(FieldError(_pointer(path), NUL_MESSAGE))
            elif is_date_time and (problem := date_time_out_of_range(value)):
                found.append(FieldError(_pointer(path), problem))
        if not self.closed:  # strings the schema does not name: look at every one
            named = {path for path, _ in self.strings}
            found += [FieldError(_pointer(path), NUL_MESSAGE)
                      for path, value in _strings(record, ())
                      if path not in named and "\x00" in value]
        return found


_EDGE_YEARS = ("0001", "9999")


def _strings(node: Any, path: tuple):
    if isinstance(node, str):
        yield path, node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _strings(value, (*path, index))


class EventValidator:
    """Validator of one schema version."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self.schema = dict(schema)
        fast = fast_schema(self.schema)
        self._fast = jsonschema_rs.validator_for(fast, validate_formats=True)
        # The hot path: stricter than valid (suspicious_schema), so its "valid" is final,
        # for one record and for a whole batch in one call, the common case.
        self.warehouse = WarehouseRules(self.schema)
        # An open schema has strings no pattern is attached to: never final there.
        strict = suspicious_schema(fast) if self.warehouse.closed else False
        self._strict = jsonschema_rs.validator_for(strict, validate_formats=True)
        self._strict_batch = jsonschema_rs.validator_for(
            {**{k: fast[k] for k in ("$schema",) if k in fast}, "type": "array", "items": strict},
            validate_formats=True)
        validator_cls = jsonschema.validators.validator_for(self.schema)
        validator_cls.check_schema(self.schema)
        self._reference = validator_cls(self.schema, format_checker=_format_checker())

    def errors(self, record: Any) -> list[FieldError]:
        """Every reason ``record`` is invalid, empty when it is valid."""
        if self._strict.is_valid(record):
            return []
        if self._fast.is_valid(record):
            return self.warehouse.errors(record)
        found = [
            FieldError(_pointer(err.absolute_path), err.message)
            for err in self._reference.iter_errors(record)
        ]
        if not found:  # the two disagree: trust the reference, but this should never happen
            return self.warehouse.errors(record)
        return sorted(found + self.warehouse.errors(record), key=lambda e: e.pointer)

    def all_valid(self, records: list[Any]) -> bool:
        """Whether every record is valid (then ``errors`` would be empty for each)."""
        if self._strict_batch.is_valid(records):
            return True
        return all(map(self.is_valid_fast, records))

    def is_valid_fast(self, record: Any) -> bool:
        if self._strict.is_valid(record):
            return True
        return self._fast.is_valid(record) and not self.warehouse.errors(record)

    def is_valid_reference(self, record: Any) -> bool:
        return self._reference.is_valid(record) and not self.warehouse.errors(record)
