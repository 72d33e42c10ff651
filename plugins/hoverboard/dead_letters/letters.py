"""Dead letters as operators handle them: which ones (a selection), what one holds, and
the SQL that reads and updates ``platform.dead_letters`` (V0002, status columns V0006).

The statements are the same on both engines (parameters, no engine-specific functions:
times come from Python); the Redshift parse of each is tested.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

STATUSES = ("pending", "replayed", "discarded")

COLUMNS = ("source_topic", "source_partition", "source_offset", "query_name", "raw_key",
           "raw_value", "error", "received_at", "loaded_at", "status", "attempts",
           "last_attempt_at", "replay_error", "replayed_at", "discarded_at", "discard_reason",
           "corrected_value", "handled_by")

_WHERE_LETTER = "source_topic = %s AND source_partition = %s AND source_offset = %s"

#: A replay that loaded the letter, run inside the load's transaction. ``status =
#: 'pending'`` makes a concurrent replay or discard of the same letter lose (0 rows): the
#: caller then rolls the load back.
MARK_REPLAYED = (
    "UPDATE platform.dead_letters SET status = 'replayed', attempts = attempts + 1,"
    " last_attempt_at = %s, replayed_at = %s, replay_error = NULL,"
    " corrected_value = COALESCE(%s, corrected_value), handled_by = %s"
    f" WHERE {_WHERE_LETTER} AND status = 'pending'"
)
#: A replay that failed: the letter stays pending with the new reason.
MARK_FAILED = (
    "UPDATE platform.dead_letters SET attempts = attempts + 1, last_attempt_at = %s,"
    " replay_error = %s, corrected_value = COALESCE(%s, corrected_value), handled_by = %s"
    f" WHERE {_WHERE_LETTER} AND status = 'pending'"
)
MARK_DISCARDED = (
    "UPDATE platform.dead_letters SET status = 'discarded', discarded_at = %s,"
    " discard_reason = %s, handled_by = %s"
    f" WHERE {_WHERE_LETTER} AND status = 'pending'"
)

_RELATIVE = re.compile(r"^(\d+)([mhd])$")


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``30m``, ``24h``, ``7d`` (ago), or an ISO date/time (UTC unless it has an offset)."""
    text = text.strip()
    match = _RELATIVE.match(text)
    if match:
        unit = {"m": "minutes", "h": "hours", "d": "days"}[match[2]]
        return (now or datetime.now(UTC)) - timedelta(**{unit: int(match[1])})
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"since {text!r}: expected 30m, 24h, 7d or a date/time like "
                         f"2026-12-01T08:00") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


_POINTER = re.compile(r"^(?P<topic>[A-Za-z0-9._-]+):(?P<partition>\d+):(?P<offset>\d+)$")


@dataclass(frozen=True, order=True)
class LetterId:
    """Where the record was in Kafka: the dead letter's key, written ``topic:partition:offset``."""

    topic: str
    partition: int
    offset: int

    @classmethod
    def parse(cls, text: str) -> LetterId:
        match = _POINTER.match(text.strip())
        if match is None:
            raise ValueError(f"{text!r} is not a dead letter: write it as topic:partition:offset "
                             f"(the first column of bin/dead-letters list), e.g. trip:3:1042")
        return cls(match["topic"], int(match["partition"]), int(match["offset"]))

    def __str__(self) -> str:
        return f"{self.topic}:{self.partition}:{self.offset}"

    @property
    def params(self) -> tuple[str, int, int]:
        return (self.topic, self.partition, self.offset)


@dataclass(frozen=True)
class DeadLetter:
    id: LetterId
    query_name: str
    raw_key: bytes | None
    raw_value: bytes | None
    error: str  # why the sink refused it (as written then, never changed)
    received_at: datetime | None
    loaded_at: datetime
    status: str = "pending"
    attempts: int = 0
    last_attempt_at: datetime | None = None
    replay_error: str | None = None  # why the last replay failed
    replayed_at: datetime | None = None
    discarded_at: datetime | None = None
    discard_reason: str | None = None
    corrected_value: bytes | None = None
    handled_by: str | None = None

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> DeadLetter:
        values = dict(zip(COLUMNS, row, strict=True))
        for name in ("raw_key", "raw_value", "corrected_value"):
            if values[name] is not None:
                values[name] = bytes(values[name])  # memoryview (psycopg) or bytes
        topic, partition, offset = (values.pop(k) for k in
                                    ("source_topic", "source_partition", "source_offset"))
        return cls(id=LetterId(topic, partition, offset), **values)

    @property
    def reason(self) -> str:
        """Why it is (still) a dead letter: the last replay's failure, else the sink's."""
        return self.replay_error or self.error

    @property
    def value(self) -> bytes | None:
        """What a replay loads: the operator's corrected record if there is one."""
        return self.corrected_value if self.corrected_value is not None else self.raw_value


@dataclass(frozen=True)
class Selection:
    """Which dead letters: given ones, and/or the filters (all of them apply).

    :param letters: explicit letters; empty: any.
    :param query: the sink's query_name.
    :param topic: the Kafka topic.
    :param since: loaded (dead-lettered) at or after this time.
    :param error: text the reason contains (case-insensitive), sink's or last replay's.
    :param status: pending, replayed or discarded; None: any.
    :param limit: at most this many, oldest first.
    """

    letters: tuple[LetterId, ...] = ()
    query: str | None = None
    topic: str | None = None
    since: datetime | None = None
    error: str | None = None
    status: str | None = None
    limit: int = 1000

    def __post_init__(self) -> None:
        if self.status is not None and self.status not in STATUSES:
            raise ValueError(f"status {self.status!r}: expected one of {', '.join(STATUSES)}")
        if int(self.limit) < 1:
            raise ValueError(f"limit must be at least 1, not {self.limit}")

    @property
    def narrowed(self) -> bool:
        """Whether anything beyond the status narrows it (replay/discard of "everything"
        must be asked for explicitly)."""
        return bool(self.letters or self.query or self.topic or self.since or self.error)

    def statement(self) -> tuple[str, list[Any]]:
        conditions: list[str] = []
        params: list[Any] = []
        if self.letters:
            conditions.append("(" + " OR ".join(f"({_WHERE_LETTER})" for _ in self.letters)
                              + ")")
            for letter in self.letters:
                params.extend(letter.params)
        for column, value in (("query_name", self.query), ("source_topic", self.topic),
                              ("status", self.status)):
            if value:
                conditions.append(f"{column} = %s")
                params.append(value)
        if self.since is not None:
            conditions.append("loaded_at >= %s")
            params.append(self.since)
        if self.error:
            conditions.append("(error ILIKE %s OR replay_error ILIKE %s)")
            pattern = "%" + re.sub(r"([\\%_])", r"\\\1", self.error) + "%"
            params.extend([pattern, pattern])
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        # The limit is an int (checked above), so it can be part of the text.
        return (f"SELECT {', '.join(COLUMNS)} FROM platform.dead_letters{where}"
                f" ORDER BY loaded_at, source_topic, source_partition, source_offset"
                f" LIMIT {int(self.limit)}", params)


# jsonschema's messages start with the offending value ("'Ada' is too long", "91.5 is
# greater than the maximum of 90"), and a value may be a name, an email or a location.
# Greedy: a value that itself contains " is too long" is masked whole.
_VALUE_FIRST = re.compile(
    r"^(?P<value>.*) (?P<rest>(?:is not of type|is greater than|is less than|is too long"
    r"|is too short|is not a |does not match|is not one of|is not valid under|is not a multiple"
    r"|is a dependency|should be non-empty|has non-unique|is expected to be empty"
    r"|is not allowed for|was expected|has too many|has too few|is not ).*)$", re.DOTALL)
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
REDACTED = "<value>"
#: Messages that quote no value: jsonschema's about property names, and ``spark.checks``'s
#: own (JSON parser messages give positions, not content).
_OWN_MESSAGES = ("Additional properties", "not a JSON object", "no value",
                 "valid, but the sink could not convert")


def public_reason(reason: str) -> str:
    """``reason`` with the record's values masked, for output that is not the operator's
    own look at one letter (``list``, task logs): pointers and the rule broken stay.

    Reasons are ``pointer: message`` parts joined by ``; `` (``spark.checks``). A message
    that starts with the value has it replaced; in any other message quoted text is
    masked, since a database error may quote the value too.
    """
    parts = []
    for part in reason.split("; "):
        pointer, sep, message = part.partition(": ")
        if not sep:
            pointer, message = "", part
        match = _VALUE_FIRST.match(message)
        if message.endswith("is a required property") or message.startswith(
                _OWN_MESSAGES):
            masked = message  # property names, or the sink's own words: no values
        elif match is not None:
            masked = f"{REDACTED} {match['rest']}"
        else:
            masked = _QUOTED.sub(REDACTED, message)
        parts.append(f"{pointer}{sep}{masked}" if sep else masked)
    return "; ".join(parts)
