"""One declaration per message type: ``schemas/<type>/type.yaml``, beside its schema versions.

The declaration says how the platform carries the type (topic, partition key, table, merge
rule, backups, data-quality expectations the schema cannot state); everything else comes
from the JSON Schema: the columns (a property is a column of the same name unless the
declaration maps it), which columns are date-times, the range checks (``minimum`` and
``maximum``). The ingest API, the sinks, the loaders, the backups and the data-quality
checks all read their per-type settings from here, so adding a type or a field is a
declaration and a schema, never code.

A bad declaration is refused with the file and the field: ``schemas/trip/type.yaml:
merge.version_by: 'changed_at' is not a column (columns: ...)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from schemas import latest, message_types, schema_dir, subject_for, versions

DECLARATION_FILE = "type.yaml"
MERGE_RULES = ("insert", "latest")
BACKUP_KINDS = ("day", "snapshot")
#: The only tiebreak between two versions of a key with the same version value: the later
#: Kafka offset wins (the loaders' merge; ``loader.tables.METADATA_COLUMNS``).
TIEBREAKS = ("source_offset",)
_FIELDS = {"versions", "topic", "key_fields", "table", "natural_key", "merge", "event_time",
           "range_by", "columns", "backup", "quality"}
_QUALITY_FIELDS = {"freshness_max_minutes", "volume_min_rows", "required", "references",
                   "ordered", "durations"}


class DeclarationError(ValueError):
    """A type.yaml that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class Merge:
    """How a row for an existing natural key is treated: ``insert`` (the first write wins:
    events) or ``latest`` (the highest ``version_by`` wins, ties by ``tiebreak``)."""

    rule: str
    version_by: str | None = None
    tiebreak: str | None = None


@dataclass(frozen=True)
class Reference:
    """A column whose value must exist as ``target_column`` of another type's table."""

    check: str  # check name, e.g. unknown_board
    column: str
    target_type: str
    target_column: str


@dataclass(frozen=True)
class Duration:
    """A column that must equal the seconds between two time columns, within a tolerance."""

    check: str
    column: str
    start: str
    end: str
    tolerance_seconds: float


@dataclass(frozen=True)
class Quality:
    """Data-quality expectations the JSON Schema cannot state."""

    freshness_max_minutes: float
    volume_min_rows: int
    required: tuple[str, ...]
    references: tuple[Reference, ...] = ()
    #: (check name, earlier column, later column): rows where the later is before the earlier.
    ordered: tuple[tuple[str, str, str], ...] = ()
    durations: tuple[Duration, ...] = ()


@dataclass(frozen=True)
class Declaration:
    """One message type, as ``schemas/<type>/type.yaml`` and its latest schema define it."""

    name: str
    path: Path
    #: How many schema versions the type has (the compatibility test pairs all of them).
    versions: int
    topic: str
    key_fields: tuple[str, ...]  # the Kafka partition key, in this order
    table: str  # schema.table
    natural_key: tuple[str, ...]
    merge: Merge
    event_time: str  # the column of the event's own time
    range_by: str  # the leading sort key column: merges scan only a batch's range of it
    columns: tuple[tuple[str, str], ...]  # (column, JSON pointer), in schema order
    time_columns: tuple[str, ...]  # columns holding RFC 3339 date-times
    #: Column: (minimum, maximum) from the latest schema; either may be None.
    ranges: tuple[tuple[str, float | None, float | None], ...]
    backup: str  # "day" (by the day of event_time) or "snapshot"
    quality: Quality

    @property
    def subject(self) -> str:
        return subject_for(self.name)

    @property
    def backup_column(self) -> str | None:
        """The time column whose day a backup covers; None: full snapshots."""
        return self.event_time if self.backup == "day" else None


def declared_types() -> list[str]:
    """Every message type with schema versions; each must have a declaration."""
    return message_types()


def declaration(message_type: str) -> Declaration:
    root = schema_dir()
    return _load(root, message_type, latest(message_type).version)


def declarations() -> dict[str, Declaration]:
    return {name: declaration(name) for name in declared_types()}


@cache
def _load(root: Path, message_type: str, _latest_version: int) -> Declaration:
    import yaml

    path = root / message_type / DECLARATION_FILE
    if not path.exists():
        raise DeclarationError(f"{path}: missing; every folder of schemas/ with a v<N>.json "
                               f"needs its {DECLARATION_FILE} (see schemas/README.md)")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise DeclarationError(f"{path}: not valid YAML: {exc}") from None
    return parse(message_type, raw, latest(message_type).schema, path=path,
                 found_versions=len(versions(message_type)))


def parse(message_type: str, raw: Any, schema: Mapping[str, Any], *, path: Path,
          found_versions: int | None = None) -> Declaration:
    """A declaration from its YAML content and the type's latest JSON Schema."""

    def fail(field: str, problem: str) -> DeclarationError:
        return DeclarationError(f"{path}: {field}: {problem}")

    if not isinstance(raw, Mapping):
        raise DeclarationError(f"{path}: expected a mapping of settings, got {type(raw).__name__}")
    unknown = sorted(set(raw) - _FIELDS)
    if unknown:
        raise fail(unknown[0], f"unknown setting; the settings are {', '.join(sorted(_FIELDS))}")

    def required(field: str) -> Any:
        if raw.get(field) in (None, "", []):
            raise fail(field, "missing")
        return raw[field]

    def names(field: str, value: Any) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise fail(field, f"expected a list of names, got {value!r}")
        return tuple(value)

    properties = schema.get("properties", {})
    key_fields = names("key_fields", required("key_fields"))
    for field in key_fields:
        if field not in properties or field not in schema.get("required", ()):
            raise fail("key_fields", f"{field!r} is not a required property of the schema")

    columns = _columns(raw.get("columns") or {}, schema, fail)
    column_names = [c for c, _ in columns]

    def column(field: str, value: Any) -> str:
        if value not in column_names:
            raise fail(field, f"{value!r} is not a column (columns: {', '.join(column_names)})")
        return value

    natural_key = tuple(column("natural_key", c)
                        for c in names("natural_key", required("natural_key")))
    merge = _merge(required("merge"), column, fail)
    event_time = column("event_time", required("event_time"))
    range_by = column("range_by", required("range_by"))
    if range_by not in natural_key:
        raise fail("range_by", f"{range_by!r} must be part of natural_key {list(natural_key)} "
                               "(a merge compares only the batch's range of it)")
    time_columns = tuple(c for c, pointer in columns
                         if _node(schema, pointer).get("format") == "date-time")
    if event_time not in time_columns:
        raise fail("event_time", f"{event_time!r} is not a date-time column "
                                 f"(date-time columns: {', '.join(time_columns) or 'none'})")
    backup = raw.get("backup", "snapshot")
    if backup not in BACKUP_KINDS:
        raise fail("backup", f"must be one of {BACKUP_KINDS} (day: by the day of event_time), "
                             f"not {backup!r}")
    table = required("table")
    if not isinstance(table, str) or table.count(".") != 1:
        raise fail("table", f"expected schema.table, got {table!r}")
    declared_versions = raw.get("versions", 1)
    if not isinstance(declared_versions, int) or declared_versions < 1:
        raise fail("versions", f"expected a number of schema versions (1, 2, ...), "
                               f"not {declared_versions!r}")
    if found_versions is not None and found_versions < declared_versions:
        raise fail("versions", f"declares {declared_versions} schema versions, "
                               f"{path.parent} has {found_versions}")
    ranges = []
    for name, pointer in columns:
        node = _node(schema, pointer)
        if node.get("type") in ("number", "integer") and (
                "minimum" in node or "maximum" in node):
            ranges.append((name, node.get("minimum"), node.get("maximum")))
    return Declaration(
        name=message_type, path=path, versions=declared_versions,
        topic=str(raw.get("topic", message_type)), key_fields=key_fields,
        table=table, natural_key=natural_key, merge=merge, event_time=event_time,
        range_by=range_by, columns=columns, time_columns=time_columns, ranges=tuple(ranges),
        backup=backup, quality=_quality(raw.get("quality"), column, fail))


def _node(schema: Mapping[str, Any], pointer: str) -> Mapping[str, Any]:
    node = schema
    for part in pointer.strip("/").split("/"):
        node = node.get("properties", {})[part]
    return node


def _columns(explicit: Any, schema: Mapping[str, Any], fail) -> tuple[tuple[str, str], ...]:
    """Every property is a column of its name, except where ``explicit`` maps columns to
    pointers into it (a nested object's fields, a renamed field): those take its place."""
    if not isinstance(explicit, Mapping):
        raise fail("columns", "expected a mapping of column: /json/pointer")
    for name, pointer in explicit.items():
        if not isinstance(pointer, str) or not pointer.startswith("/"):
            raise fail(f"columns.{name}", f"expected a JSON pointer like /location/latitude, "
                                          f"got {pointer!r}")
        try:
            _node(schema, pointer)
        except (KeyError, AttributeError):
            raise fail(f"columns.{name}", f"{pointer} is not a property of the schema") from None
    columns: list[tuple[str, str]] = []
    for prop, node in schema.get("properties", {}).items():
        mapped = [(name, pointer) for name, pointer in explicit.items()
                  if pointer.strip("/").split("/")[0] == prop]
        if mapped:
            columns += mapped
        elif node.get("type") in ("object", "array"):
            raise fail("columns", f"property {prop!r} is an {node['type']}; map its fields to "
                                  f"columns (for example: {prop}_x: /{prop}/x)")
        else:
            columns.append((prop, f"/{prop}"))
    names = [c for c, _ in columns]
    if len(names) != len(set(names)):
        raise fail("columns", f"a column name is used twice: {names}")
    return tuple(columns)


def _merge(raw: Any, column, fail) -> Merge:
    if raw == "insert":
        return Merge("insert")
    if not isinstance(raw, Mapping) or raw.get("rule") not in MERGE_RULES:
        raise fail("merge", "expected insert, or {rule: latest, version_by: <column>, "
                            f"tiebreak: source_offset}}, not {raw!r}")
    if raw["rule"] == "insert":
        return Merge("insert")
    tiebreak = raw.get("tiebreak", "source_offset")
    if tiebreak not in TIEBREAKS:
        raise fail("merge.tiebreak", f"must be one of {TIEBREAKS}, not {tiebreak!r}")
    return Merge("latest", column("merge.version_by", raw.get("version_by")), tiebreak)


def _quality(raw: Any, column, fail) -> Quality:
    if not isinstance(raw, Mapping):
        raise fail("quality", "missing; give at least freshness_max_minutes and volume_min_rows")
    unknown = sorted(set(raw) - _QUALITY_FIELDS)
    if unknown:
        raise fail(f"quality.{unknown[0]}",
                   f"unknown setting; the settings are {', '.join(sorted(_QUALITY_FIELDS))}")
    for field in ("freshness_max_minutes", "volume_min_rows"):
        if not isinstance(raw.get(field), int | float):
            raise fail(f"quality.{field}", f"expected a number, got {raw.get(field)!r}")
    references = []
    for check, ref in (raw.get("references") or {}).items():
        target = str(ref.get("references", "")) if isinstance(ref, Mapping) else ""
        if target.count(".") != 1:
            raise fail(f"quality.references.{check}",
                       "expected {column: <column>, references: <type>.<column>}")
        target_type, target_column = target.split(".")
        references.append(Reference(check, column(f"quality.references.{check}.column",
                                                   ref.get("column")),
                                    target_type, target_column))
    ordered = []
    for check, pair in (raw.get("ordered") or {}).items():
        if not isinstance(pair, list) or len(pair) != 2:
            raise fail(f"quality.ordered.{check}", "expected [earlier column, later column]")
        ordered.append((check, column(f"quality.ordered.{check}", pair[0]),
                        column(f"quality.ordered.{check}", pair[1])))
    durations = []
    for check, spec in (raw.get("durations") or {}).items():
        if not isinstance(spec, Mapping) or not isinstance(
                spec.get("tolerance_seconds"), int | float):
            raise fail(f"quality.durations.{check}", "expected {column, start, end, "
                                                     "tolerance_seconds}")
        durations.append(Duration(check, *(column(f"quality.durations.{check}.{f}", spec.get(f))
                                           for f in ("column", "start", "end")),
                                  float(spec["tolerance_seconds"])))
    return Quality(
        freshness_max_minutes=raw["freshness_max_minutes"],
        volume_min_rows=int(raw["volume_min_rows"]),
        required=tuple(column("quality.required", c) for c in raw.get("required") or ()),
        references=tuple(references), ordered=tuple(ordered), durations=tuple(durations))
