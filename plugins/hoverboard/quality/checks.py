"""Data-quality checks built from configuration (``dags/config/data_quality.yaml``).

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
    import yaml

    return yaml.safe_load(path.read_text())


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
            outside = " OR ".join(f"{_ident(c)} < {float(lo)!r} OR {_ident(c)} > {float(hi)!r}"
                                  for c, (lo, hi) in spec["ranges"].items())
            checks.append(Check(
                f"{short}.ranges", table, f"SELECT COUNT(*) {_since(table)} AND ({outside})",
                "since", max_allowed=0, description="rows with a value out of its range"))
        key = ", ".join(_ident(k) for k in spec["key"])
        checks.append(Check(
            f"{short}.unique_key", table,
            f"SELECT COUNT(*) FROM (SELECT {key} {_since(table)} GROUP BY {key} "
            "HAVING COUNT(*) > 1) duplicated", "since", max_allowed=0,
            description="natural keys present more than once"))
    trips = config.get("trips")
    if trips is not None:
        checks += [
            Check("trip.unknown_board", "fleet.trip",
                  f"SELECT COUNT(*) {_since('fleet.trip')} AND NOT EXISTS (SELECT 1 FROM "
                  'fleet.hoverboard h WHERE h.id = "fleet"."trip".hoverboard_id)', "since",
                  max_allowed=0, description="trips of a board that never sent telemetry"),
            Check("trip.unknown_customer", "fleet.trip",
                  f"SELECT COUNT(*) {_since('fleet.trip')} AND NOT EXISTS (SELECT 1 FROM "
                  'fleet.customer c WHERE c.id = "fleet"."trip".customer_id)', "since",
                  max_allowed=0, description="trips of a customer with no profile"),
            Check("trip.ends_before_start", "fleet.trip",
                  f"SELECT COUNT(*) {_since('fleet.trip')} AND end_time < start_time", "since",
                  max_allowed=0, description="trips that end before they start"),
            Check("trip.duration_mismatch", "fleet.trip",
                  f"SELECT COUNT(*) {_since('fleet.trip')} AND ABS(trip_duration - "
                  "(EXTRACT(EPOCH FROM end_time) - EXTRACT(EPOCH FROM start_time))) > "
                  f"{float(trips['duration_tolerance_seconds'])!r}", "since", max_allowed=0,
                  description="trips whose duration disagrees with their times"),
        ]
    names = [c.name for c in checks]
    if len(names) != len(set(names)):
        raise ValueError(f"duplicate check names in the configuration: {names}")
    return checks
