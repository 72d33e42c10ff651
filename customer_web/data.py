"""What a customer sees of the warehouse: the profile, the trips, monthly totals, the export.

Every query names the customer in its ``WHERE`` and runs in a transaction restricted to that
customer (``Warehouse.as_customer``): the application and the database each enforce it.
Pure helpers (distance, a trip's reference in a URL, the little map) are plain functions.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from customer_web.db import Warehouse

PROFILE = (
    "SELECT id, first_name, last_name, email, latitude, longitude, updated_at"
    " FROM fleet.customer WHERE id = %s"
)
_TRIP_COLUMNS = ("hoverboard_id, start_time, end_time, trip_duration, start_latitude,"
                 " start_longitude, end_latitude, end_longitude")
# Newest first, one page: served by trip_customer_idx (customer_id, start_time) backwards.
TRIPS_PAGE = (
    f"SELECT {_TRIP_COLUMNS} FROM fleet.trip WHERE customer_id = %s"
    " ORDER BY start_time DESC, hoverboard_id DESC LIMIT %s OFFSET %s"
)
ONE_TRIP = (
    f"SELECT {_TRIP_COLUMNS} FROM fleet.trip"
    " WHERE customer_id = %s AND hoverboard_id = %s AND start_time = %s"
)
ALL_TRIPS = (
    f"SELECT {_TRIP_COLUMNS} FROM fleet.trip WHERE customer_id = %s"
    " ORDER BY start_time DESC, hoverboard_id DESC"
)
MONTHLY_TOTALS = (
    "SELECT date_trunc('month', start_time AT TIME ZONE 'UTC') AS month, count(*),"
    " sum(trip_duration) FROM fleet.trip WHERE customer_id = %s GROUP BY 1 ORDER BY 1 DESC"
)

EARTH_RADIUS_KM = 6371.0088


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance between start and end (haversine): the trip's straight line."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, a)))


def trip_ref(start_time: datetime) -> int:
    """A trip's start in whole microseconds since the epoch: exact, and fits a URL."""
    delta = start_time - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86400 + delta.seconds) * 10**6 + delta.microseconds


def from_ref(micros: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)


@dataclass(frozen=True)
class Trip:
    hoverboard_id: int
    start_time: datetime
    end_time: datetime
    duration_s: float
    start_latitude: float
    start_longitude: float
    end_latitude: float
    end_longitude: float

    @property
    def ref(self) -> int:
        return trip_ref(self.start_time)

    @property
    def distance_km(self) -> float:
        return distance_km(self.start_latitude, self.start_longitude, self.end_latitude,
                           self.end_longitude)

    def as_export(self) -> dict[str, Any]:
        item = asdict(self)
        item["start_time"] = self.start_time.isoformat()
        item["end_time"] = self.end_time.isoformat()
        item["distance_km"] = round(self.distance_km, 3)
        return item


@dataclass(frozen=True)
class MapView:
    """Start and end of a trip as points in a 200x120 SVG box, padded, north up."""

    start: tuple[float, float]
    end: tuple[float, float]
    width: int = 200
    height: int = 120


def map_view(trip: Trip, *, width: int = 200, height: int = 120, pad: int = 16) -> MapView:
    lats = (trip.start_latitude, trip.end_latitude)
    lons = (trip.start_longitude, trip.end_longitude)
    span = max(max(lats) - min(lats), max(lons) - min(lons), 1e-6)
    scale = min(width - 2 * pad, height - 2 * pad) / span
    mid_lat, mid_lon = sum(lats) / 2, sum(lons) / 2

    def point(lat: float, lon: float) -> tuple[float, float]:
        return (round(width / 2 + (lon - mid_lon) * scale, 1),
                round(height / 2 - (lat - mid_lat) * scale, 1))

    return MapView(point(trip.start_latitude, trip.start_longitude),
                   point(trip.end_latitude, trip.end_longitude), width, height)


@dataclass(frozen=True)
class MonthTotal:
    month: str  # YYYY-MM
    trips: int
    duration_s: float


_PROFILE_KEYS = ("id", "first_name", "last_name", "email", "latitude", "longitude", "updated_at")


def _profile(row: tuple | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {**dict(zip(_PROFILE_KEYS, row, strict=True)), "updated_at": row[6].isoformat()}


def _trip(row: tuple) -> Trip:
    return Trip(int(row[0]), row[1], row[2], float(row[3]), *map(float, row[4:8]))


class CustomerData:
    def __init__(self, warehouse: Warehouse) -> None:
        self.warehouse = warehouse

    def profile(self, customer_id: int) -> dict[str, Any] | None:
        with self.warehouse.as_customer(customer_id) as conn:
            return _profile(conn.execute(PROFILE, (customer_id,)).fetchone())

    def trips(self, customer_id: int, *, page: int, per_page: int) -> tuple[list[Trip], bool]:
        """One page (1-based) and whether another follows."""
        with self.warehouse.as_customer(customer_id) as conn:
            rows = conn.execute(TRIPS_PAGE, (customer_id, per_page + 1,
                                             (page - 1) * per_page)).fetchall()
        return [_trip(r) for r in rows[:per_page]], len(rows) > per_page

    def trip(self, customer_id: int, hoverboard_id: int, start_time: datetime) -> Trip | None:
        with self.warehouse.as_customer(customer_id) as conn:
            row = conn.execute(ONE_TRIP, (customer_id, hoverboard_id, start_time)).fetchone()
        return None if row is None else _trip(row)

    def monthly_totals(self, customer_id: int) -> list[MonthTotal]:
        with self.warehouse.as_customer(customer_id) as conn:
            rows = conn.execute(MONTHLY_TOTALS, (customer_id,)).fetchall()
        return [MonthTotal(f"{m:%Y-%m}", int(n), float(d)) for m, n, d in rows]

    def export(self, customer_id: int) -> dict[str, Any]:
        """Everything the warehouse holds about the customer (the right of access), read in
        one transaction so the parts agree."""
        with self.warehouse.as_customer(customer_id) as conn:
            profile = conn.execute(PROFILE, (customer_id,)).fetchone()
            trips = [_trip(r) for r in conn.execute(ALL_TRIPS, (customer_id,)).fetchall()]
            totals = conn.execute(MONTHLY_TOTALS, (customer_id,)).fetchall()
        return {
            "exported_at": datetime.now(UTC).isoformat(),
            "profile": _profile(profile),
            "trips": [t.as_export() for t in trips],
            "monthly_totals": [{"month": f"{m:%Y-%m}", "trips": int(n), "duration_s": float(d)}
                               for m, n, d in totals],
        }
