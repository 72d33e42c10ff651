"""Data-quality checks built from the message types' declarations and schemas
(``schemas/<type>/type.yaml``: freshness, volume, required columns, consistency; the JSON
Schema's ``minimum``/``maximum``: ranges) and the platform-wide settings of
``dags/config/data_quality.yaml`` (the checked window).

Each check is one query returning one number, the observed value, which must lie within
``[min_allowed, max_allowed]``. Queries use only SQL that PostgreSQL and Redshift share (the
tests parse them with the Redshift dialect and run them on PostgreSQL), and each has exactly
one parameter, ``%s``: the check's reference time (``at``: freshness) or the start of its
window (``since``: everything else). Identifiers come from the configuration and are
checked to be plain names before they are used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runtime.settings import asset

CONFIG_PATH = asset("dags", "config", "data_quality.yaml")
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


@dataclass(frozen=True)
class Check:
    name: str  # "<table>.<check>", unique
    table: str
    sql: str
    parameter: str  # "at" or "since"
    min_allowed: float | None = None
    max_allowed: float | None = None
    description: str = ""

    def passes(self, observed: float | None) -> bool:
        if observed is None:
            return False
        if self.min_allowed is not None and observed < self.min_allowed:
            return False
        return self.max_allowed is None or observed <= self.max_allowed


def _ident(name: str) -> str:
    parts = name.split(".")
    if not all(_NAME.match(p) for p in parts):
        raise ValueError(f"{name!r} is not a plain (schema.)table or column name")
    return ".".join(f'"{p}"' for p in parts)


def _since(table: str) -> str:
    return f"FROM {_ident(table)} WHERE loaded_at >= CAST(%s AS TIMESTAMPTZ)"


def load_config(path: Path = CONFIG_PATH) -> dict[str, Any]:
    """The platform-wide settings, with a ``tables`` entry per declared message type."""
    import yaml

    config = yaml.safe_load(path.read_text())
    return {**config, "tables": declared_tables()}


def declared_tables() -> dict[str, dict[str, Any]]:
    """Per table, what its type's declaration and latest schema expect of its rows."""
    from schemas.types import declarations

    declared = declarations()
    tables = {}
    for d in declared.values():
        q = d.quality
        unknown = [r.target_type for r in q.references if r.target_type not in declared]
        if unknown:
            raise ValueError(f"{d.path}: quality.references name {unknown}, not a declared "
                             f"message type ({', '.join(declared)})")
        tables[d.table] = {
            "freshness_max_minutes": q.freshness_max_minutes,
            "volume_min_rows": q.volume_min_rows,
            "key": list(d.natural_key),
            "required": list(q.required),
            "ranges": {column: [low, high] for column, low, high in d.ranges},
            "references": {r.check: {"column": r.column, "table": declared[r.target_type].table,
                                     "target_column": r.target_column} for r in q.references},
            "ordered": {check: [earlier, later] for check, earlier, later in q.ordered},
            "durations": {x.check: {"column": x.column, "start": x.start, "end": x.end,
                                    "tolerance_seconds": x.tolerance_seconds}
                          for x in q.durations},
        }
    return tables


def build_checks(config: dict[str, Any]) -> list[Check]:
    checks: list[Check] = []
    for table, spec in config["tables"].items():
        short = table.split(".")[-1]
        checks.append(Check(
            f"{short}.freshness", table,
            "SELECT COALESCE((EXTRACT(EPOCH FROM CAST(%s AS TIMESTAMPTZ)) - "
            f"EXTRACT(EPOCH FROM MAX(loaded_at))) / 60.0, 1e9) FROM {_ident(table)}",
            "at", max_allowed=spec["freshness_max_minutes"],
            description="minutes since the newest row was loaded"))
        checks.append(Check(
            f"{short}.volume", table, f"SELECT COUNT(*) {_since(table)}", "since",
            min_allowed=spec["volume_min_rows"], description="rows loaded in the window"))
        if spec.get("required"):
            any_null = " OR ".join(f"{_ident(c)} IS NULL" for c in spec["required"])
            checks.append(Check(
                f"{short}.nulls", table,
                f"SELECT COUNT(*) {_since(table)} AND ({any_null})", "since", max_allowed=0,
                description="rows with a required column empty"))
        if spec.get("ranges"):
            outside = " OR ".join(
                f"{_ident(c)} {op} {float(bound)!r}" for c, (lo, hi) in spec["ranges"].items()
                for op, bound in (("<", lo), (">", hi)) if bound is not None)
            checks.append(Check(
                f"{short}.ranges", table, f"SELECT COUNT(*) {_since(table)} AND ({outside})",
                "since", max_allowed=0, description="rows with a value out of its range"))
        key = ", ".join(_ident(k) for k in spec["key"])
        checks.append(Check(
            f"{short}.unique_key", table,
            f"SELECT COUNT(*) FROM (SELECT {key} {_since(table)} GROUP BY {key} "
            "HAVING COUNT(*) > 1) duplicated", "since", max_allowed=0,
            description="natural keys present more than once"))
        row = f"{_ident(table)}"
        for name, ref in spec.get("references", {}).items():
            checks.append(Check(
                f"{short}.{name}", table,
                f"SELECT COUNT(*) {_since(table)} AND NOT EXISTS (SELECT 1 FROM "
                f"{_ident(ref['table'])} r WHERE r.{_ident(ref['target_column'])} = "
                f"{row}.{_ident(ref['column'])})", "since", max_allowed=0,
                description=f"rows whose {ref['column']} is not in {ref['table']}"))
        for name, (earlier, later) in spec.get("ordered", {}).items():
            checks.append(Check(
                f"{short}.{name}", table,
                f"SELECT COUNT(*) {_since(table)} AND {_ident(later)} < {_ident(earlier)}",
                "since", max_allowed=0, description=f"rows whose {later} is before {earlier}"))
        for name, d in spec.get("durations", {}).items():
            checks.append(Check(
                f"{short}.{name}", table,
                f"SELECT COUNT(*) {_since(table)} AND ABS({_ident(d['column'])} - "
                f"(EXTRACT(EPOCH FROM {_ident(d['end'])}) - EXTRACT(EPOCH FROM "
                f"{_ident(d['start'])}))) > {float(d['tolerance_seconds'])!r}", "since",
                max_allowed=0, description=f"rows whose {d['column']} disagrees with "
                                           f"{d['end']} - {d['start']}"))
    names = [c.name for c in checks]
    if len(names) != len(set(names)):
        raise ValueError(f"duplicate check names in the configuration: {names}")
    return checks
