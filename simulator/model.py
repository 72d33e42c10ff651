"""The fleet model: hoverboards, customers and trips in simulated time.

Pure and deterministic: a :class:`Fleet` built with the same arguments (seed and start
included) yields the same events, value for value, whatever later happens to them. Time is
kept in integer milliseconds since the start, so a trip's ``trip_duration`` is exactly the
difference of its two timestamps.

The world, per tick of a board (about every 5 s of simulated time):

- Boards live in a few cities (one city per 20 boards, at most five), each with a home dock
  within 3 km of the centre. A docked board recharges (about 1.8 %/min) and reports speed 0,
  acceleration 0, weight 0 and ``isdocked: true``.
- A charged board (>= 25 %) is taken, now and then, by a free customer of its city: the trip
  starts at that tick, at the board's position. The rider heads for a destination 0.3-2.5 km
  from the board's home; charge drains with speed and rider weight. The trip ends at the tick
  the board arrives (or runs low, or after 45 min); the board docks where it stopped and the
  trip is posted then, with the start and end positions and times of those two ticks.
- Elevation follows the terrain under the board, battery temperature the ambient (a daily
  cycle per city) plus the heat of riding or charging, the magnetic field the local Earth
  field plus the motors.
- Faulty boards (``faulty_share``) develop one fault at a random onset (30 s to
  ``fault_onset_within_s`` after the start): ``thermal``, the temperature creeps up while the
  charge drops fast (even on the dock); ``magnetic``, spikes of the magnetic field that
  become more frequent; or ``drain``, a worn battery that uses ``DRAIN_FAULT_FACTOR`` times
  the charge per kilometre ridden. A drain fault has no sign in any one reading: a heavy
  rider on a fast ride drains a healthy battery as quickly per second, so it only shows as
  charge per kilometre under the rider's load: per trip kilometre (telemetry related to
  trips) or over a ride's readings (the charge's slope against speed and load).
  :attr:`Fleet.faults` (and :meth:`Fleet.labels`) is the ground truth for failure-detection
  work; it never appears in the events.
- Customers send their profile about every 30 s: the location is where they are (on the board
  while riding, where the last trip ended after it).

With ``invalid_share``, that fraction of the events is replaced by a copy that breaks the
schema on purpose (:func:`corrupt`); the world goes on as if the valid event had been sent.
"""

from __future__ import annotations

import heapq
import math
import random
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from ingest_api.config import load_message_configs
from schemas.keys import key_text

MESSAGE_TYPES = ("hoverboard", "customer", "trip")
BOARD_INTERVAL_MS = (4_500, 5_500)  # telemetry about every 5 s
CUSTOMER_INTERVAL_MS = (27_000, 33_000)  # profile about every 30 s
IDLE_MEAN_S = 180.0  # mean wait of a charged board at its dock before someone takes it
MIN_CHARGE_TO_RIDE = 25.0
LOW_CHARGE_END = 3.0  # a ride ends here, wherever the board is
MAX_TRIP_MS = 45 * 60 * 1000
TRIP_RADIUS_M = (300.0, 2_500.0)  # destinations lie this far from the board's home
HOME_RADIUS_M = 3_000.0
BOARDS_PER_CITY = 20
CHARGE_PER_S = 0.03  # % per second on the dock
THERMAL_DRAIN_PER_S = 0.05  # extra % per second of a board with a thermal fault
DRAIN_FAULT_FACTOR = 2.2  # a worn battery's charge used per km, against a healthy one's
FAULT_KINDS = ("thermal", "magnetic", "drain")
FAULT_ONSET_MS = (30_000, 300_000)
M_PER_DEG = 111_320.0
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Position = tuple[float, float]


@cache
def key_fields() -> dict[str, tuple[str, ...]]:
    """Partition key fields per message type, from the types' declarations (the one place
    they are configured)."""
    configs = load_message_configs()
    return {name: configs[name].key_fields for name in MESSAGE_TYPES}


def rfc3339(epoch_ms: int) -> str:
    """``2026-11-27T09:00:05.123Z``: RFC 3339 in UTC, millisecond precision."""
    moment = EPOCH + timedelta(milliseconds=epoch_ms)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{epoch_ms % 1000:03d}Z"


def epoch_ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("the start time needs an offset (e.g. 2026-11-27T08:00:00Z)")
    return (moment - EPOCH) // timedelta(milliseconds=1)


@dataclass(frozen=True)
class City:
    name: str
    latitude: float
    longitude: float
    elevation: float  # m above sea level
    temperature: float  # mean ambient, °C
    humidity: float  # mean relative humidity, %
    magnetic: float  # local Earth field, µT


CITIES = (
    City("Berlin", 52.5200, 13.4050, 34.0, 11.0, 70.0, 49.6),
    City("Lisbon", 38.7223, -9.1393, 45.0, 18.0, 68.0, 43.9),
    City("Hill Valley", 34.1808, -118.3090, 185.0, 19.0, 55.0, 47.2),
    City("Oslo", 59.9139, 10.7522, 23.0, 6.0, 75.0, 52.4),
    City("Melbourne", -37.8136, 144.9631, 31.0, 15.0, 65.0, 60.1),
)

FIRST_NAMES = (
    "Marty", "Jennifer", "Emmett", "Lorraine", "George", "Biff", "Clara", "Dave", "Linda",
    "Ana", "João", "Zoë", "Łukasz", "Siân", "Aarav", "Mei", "Oluwaseun", "Ingrid", "Mateo",
    "Fatima", "Kenji", "Chloé", "Björn", "Priya", "Noah", "Amara", "Lucía", "Olivia", "Yusuf",
)
LAST_NAMES = (
    "McFly", "Parker", "Brown", "Baines", "Tannen", "Strickland", "Clayton", "Silva",
    "García", "Müller", "Nakamura", "O'Brien", "Kowalski", "Haugen", "Okafor", "Chen",
    "Dubois", "Sørensen", "Patel", "Rossi", "Novák", "Al-Sayed", "Johansson", "Kim",
)
EMAIL_DOMAINS = ("example.com", "example.org", "mail.example.net", "hillvalley.example")
_ASCII_EXTRA = str.maketrans({"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "ß": "ss", "æ": "ae"})


def _ascii_word(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.translate(_ASCII_EXTRA))
    return "".join(ch for ch in folded.lower() if ch.isascii() and ch.isalnum())


def _move(position: Position, north_m: float, east_m: float) -> Position:
    lat, lon = position
    return (lat + north_m / M_PER_DEG,
            lon + east_m / (M_PER_DEG * math.cos(math.radians(lat))))


def distance_m(a: Position, b: Position) -> float:
    """Equirectangular distance: plenty at city scale."""
    mean_lat = math.radians((a[0] + b[0]) / 2)
    return math.hypot((b[0] - a[0]) * M_PER_DEG,
                      (b[1] - a[1]) * M_PER_DEG * math.cos(mean_lat))


def _point_near(rng: random.Random, centre: Position, r_min: float, r_max: float) -> Position:
    angle = rng.uniform(0, 2 * math.pi)
    radius = r_min + (r_max - r_min) * math.sqrt(rng.random())
    return _move(centre, radius * math.cos(angle), radius * math.sin(angle))


def _terrain_m(position: Position) -> float:
    """Hills of a few hundred metres' wavelength, so elevation follows the location."""
    lat, lon = position
    return 12.0 * math.sin(lat * 900.0) + 8.0 * math.cos(lon * 700.0)


def _location(position: Position) -> dict[str, float]:
    return {"latitude": round(position[0], 6), "longitude": round(position[1], 6)}


def _clamp(value: float, low: float, high: float) -> float:
    return min(high, max(low, value))


@dataclass(frozen=True)
class SimEvent:
    """One event as the simulator sends it."""

    sim_ms: int  # simulated milliseconds since the start
    type: str  # message type: hoverboard | customer | trip
    record: dict[str, Any]
    key: str  # partition key text of the record's entity (also when the record is broken)
    invalid: str | None = None  # what was broken on purpose; None for a valid event


@dataclass(frozen=True)
class Fault:
    kind: str  # "thermal" | "magnetic" | "drain"
    onset_ms: int


@dataclass
class Customer:
    id: int
    city: City
    first_name: str
    last_name: str
    email: str
    weight: float  # kg, what the deck reads while they ride
    position: Position
    riding: bool = False


@dataclass
class Ride:
    customer: Customer
    start_ms: int
    start: Position
    destination: Position
    cruise_kmh: float
    deadline_ms: int


@dataclass
class Board:
    id: int
    city: City
    home: Position
    position: Position
    charge: float
    temperature: float  # without the heat of a thermal fault
    humidity: float
    magnetic: float
    speed_kmh: float = 0.0
    acceleration: float = 0.0
    heat_excess: float = 0.0  # °C added by a thermal fault
    ride: Ride | None = None
    fault: Fault | None = None
    last_ms: int = 0

    def fault_active(self, kind: str, now_ms: int) -> bool:
        return self.fault is not None and self.fault.kind == kind and now_ms >= self.fault.onset_ms


_BOARD, _CUSTOMER = 0, 1


class Fleet:
    """The simulated fleet; :meth:`events` yields its events in simulated-time order."""

    def __init__(self, *, boards: int, customers: int, seed: int | str, start: datetime,
                 invalid_share: float = 0.0, faulty_share: float = 0.0,
                 fault_onset_within_s: float = FAULT_ONSET_MS[1] / 1000) -> None:
        if boards < 0 or customers < 0:
            raise ValueError("boards and customers cannot be negative")
        onset_range = (FAULT_ONSET_MS[0],
                       max(FAULT_ONSET_MS[0], round(fault_onset_within_s * 1000)))
        for name, share in (("invalid_share", invalid_share), ("faulty_share", faulty_share)):
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, not {share}")
        self.seed = seed
        self.start_ms = epoch_ms(start)
        self.invalid_share = invalid_share
        # Separate streams: the share of invalid events does not change the world.
        self._rng = random.Random(f"hover-sim:{seed}:world")
        self._bad = random.Random(f"hover-sim:{seed}:invalid")
        self._keys = key_fields()
        n_cities = math.ceil(max(boards, customers, 1) / BOARDS_PER_CITY)
        self.cities = CITIES[:min(len(CITIES), n_cities)]
        self.customers = [self._new_customer(i) for i in range(1, customers + 1)]
        self.boards = [self._new_board(i) for i in range(1, boards + 1)]
        self._free: dict[str, list[Customer]] = {city.name: [] for city in self.cities}
        for customer in self.customers:
            self._free[customer.city.name].append(customer)
        n_faulty = 0 if faulty_share <= 0 or not boards else max(1, round(faulty_share * boards))
        for board in self._rng.sample(self.boards, n_faulty):
            board.fault = Fault(self._rng.choice(FAULT_KINDS),
                                self._rng.randint(*onset_range))
        self._queue: list[tuple[int, int, int, int]] = []
        self._seq = 0
        for index in range(len(self.boards)):
            self._schedule(self._rng.randint(0, BOARD_INTERVAL_MS[1]), _BOARD, index)
        for index in range(len(self.customers)):
            self._schedule(self._rng.randint(0, CUSTOMER_INTERVAL_MS[1]), _CUSTOMER, index)

    # -- public ----------------------------------------------------------------------------

    @property
    def faults(self) -> list[dict[str, Any]]:
        """Ground truth of the faulty boards: id, kind and the onset's time."""
        return [{"id": b.id, "fault": b.fault.kind, "onset": self.time(b.fault.onset_ms)}
                for b in self.boards if b.fault is not None]

    def labels(self) -> list[dict[str, Any]]:
        """Ground truth per board of the run, for evaluation only (``--labels``): every board
        with its fault and onset, or ``None`` for both when it stays healthy."""
        return [{"board_id": b.id, "fault": b.fault.kind if b.fault else None,
                 "onset": self.time(b.fault.onset_ms) if b.fault else None}
                for b in self.boards]

    def time(self, sim_ms: int) -> str:
        return rfc3339(self.start_ms + sim_ms)

    def events(self) -> Iterator[SimEvent]:
        """Every event of the fleet in simulated-time order; endless while there is anyone."""
        while self._queue:
            due, _, kind, index = heapq.heappop(self._queue)
            if kind == _BOARD:
                yield from self._board_tick(self.boards[index], due)
                self._schedule(due + self._rng.randint(*BOARD_INTERVAL_MS), _BOARD, index)
            else:
                yield self._customer_tick(self.customers[index], due)
                self._schedule(due + self._rng.randint(*CUSTOMER_INTERVAL_MS), _CUSTOMER,
                               index)

    # -- setup -----------------------------------------------------------------------------

    def _schedule(self, due_ms: int, kind: int, index: int) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (due_ms, self._seq, kind, index))

    def _new_customer(self, customer_id: int) -> Customer:
        rng = self._rng
        city = self.cities[(customer_id - 1) % len(self.cities)]
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        local = ".".join(w for w in (_ascii_word(first), _ascii_word(last)) if w) or "rider"
        email = f"{local}.{customer_id}@{rng.choice(EMAIL_DOMAINS)}"
        centre = (city.latitude, city.longitude)
        return Customer(customer_id, city, first, last, email, round(rng.uniform(45, 115), 1),
                        _point_near(rng, centre, 0.0, HOME_RADIUS_M))

    def _new_board(self, board_id: int) -> Board:
        rng = self._rng
        city = self.cities[(board_id - 1) % len(self.cities)]
        home = _point_near(rng, (city.latitude, city.longitude), 0.0, HOME_RADIUS_M)
        return Board(board_id, city, home, home, charge=rng.uniform(40.0, 100.0),
                     temperature=city.temperature + rng.uniform(-1.0, 1.0),
                     humidity=city.humidity + rng.uniform(-5.0, 5.0), magnetic=city.magnetic)

    # -- the board's tick ------------------------------------------------------------------

    def _board_tick(self, board: Board, now_ms: int) -> Iterator[SimEvent]:
        dt = (now_ms - board.last_ms) / 1000.0
        board.last_ms = now_ms
        finished = None
        if board.ride is None:
            self._dock(board, dt, now_ms)
            if self._someone_takes(board, dt):
                self._start_ride(board, now_ms)
        else:
            arrived = self._ride(board, dt, now_ms)
            if arrived or board.charge <= LOW_CHARGE_END or now_ms >= board.ride.deadline_ms:
                finished = self._end_ride(board, now_ms)
        self._sensors(board, dt, now_ms)
        yield self._emit(now_ms, "hoverboard", self._telemetry(board, now_ms))
        if finished is not None:
            yield self._emit(now_ms, "trip", finished)

    def _dock(self, board: Board, dt: float, now_ms: int) -> None:
        rate = CHARGE_PER_S
        if board.fault_active("thermal", now_ms):
            rate -= THERMAL_DRAIN_PER_S  # the charger cannot keep up: the charge drops
        board.charge = _clamp(board.charge + rate * dt, 0.0, 100.0)
        board.speed_kmh = 0.0
        board.acceleration = 0.0

    def _someone_takes(self, board: Board, dt: float) -> bool:
        if board.charge < MIN_CHARGE_TO_RIDE or not self._free[board.city.name]:
            return False
        return self._rng.random() < 1.0 - math.exp(-dt / IDLE_MEAN_S)

    def _start_ride(self, board: Board, now_ms: int) -> None:
        rng = self._rng
        free = self._free[board.city.name]
        index = rng.randrange(len(free))
        customer = free[index]
        free[index] = free[-1]
        free.pop()
        customer.riding = True
        customer.position = board.position
        board.ride = Ride(customer, now_ms, board.position,
                          _point_near(rng, board.home, *TRIP_RADIUS_M),
                          cruise_kmh=rng.uniform(10.0, 22.0), deadline_ms=now_ms + MAX_TRIP_MS)
        # The instant the rider steps on: not docked, not moving yet, pushing off.
        board.speed_kmh = 0.0
        board.acceleration = rng.uniform(0.8, 1.6)

    def _ride(self, board: Board, dt: float, now_ms: int) -> bool:
        """Move the board for ``dt`` seconds; True when it reached the destination."""
        rng = self._rng
        ride = board.ride
        assert ride is not None
        previous = board.speed_kmh
        speed = previous + (ride.cruise_kmh - previous) * 0.6 + rng.gauss(0.0, 1.5)
        speed = _clamp(speed, 2.0, 35.0)
        mean_speed = (previous + speed) / 2
        drain = (0.015 + 0.002 * mean_speed) * ride.customer.weight / 75.0
        if board.fault_active("drain", now_ms):
            drain *= DRAIN_FAULT_FACTOR
        if board.fault_active("thermal", now_ms):
            drain += THERMAL_DRAIN_PER_S
        board.charge = _clamp(board.charge - drain * dt, 0.0, 100.0)
        travelled = mean_speed / 3.6 * dt
        remaining = distance_m(board.position, ride.destination)
        if travelled >= remaining:
            board.position = ride.destination
            ride.customer.position = board.position
            return True
        part = travelled / remaining
        lat, lon = board.position
        board.position = (lat + (ride.destination[0] - lat) * part,
                          lon + (ride.destination[1] - lon) * part)
        ride.customer.position = board.position
        board.acceleration = (speed - previous) / 3.6 / dt if dt > 0 else 0.0
        board.speed_kmh = speed
        return False

    def _end_ride(self, board: Board, now_ms: int) -> dict[str, Any]:
        ride = board.ride
        assert ride is not None
        board.ride = None
        board.speed_kmh = 0.0
        board.acceleration = 0.0
        customer = ride.customer
        customer.riding = False
        customer.position = board.position
        self._free[customer.city.name].append(customer)
        return {
            "hoverboard_id": board.id,
            "customer_id": customer.id,
            "trip_duration": (now_ms - ride.start_ms) / 1000,
            "start_location": _location(ride.start),
            "end_location": _location(board.position),
            "start_time_and_date": self.time(ride.start_ms),
            "end_time_and_date": self.time(now_ms),
        }

    def _ambient(self, city: City, now_ms: int) -> float:
        solar_hour = ((self.start_ms + now_ms) / 3_600_000 + city.longitude / 15.0) % 24.0
        return city.temperature + 4.0 * math.sin(2 * math.pi * (solar_hour - 9.0) / 24.0)

    def _sensors(self, board: Board, dt: float, now_ms: int) -> None:
        rng = self._rng
        ambient = self._ambient(board.city, now_ms)
        if board.ride is not None:
            target = ambient + 6.0 + 0.25 * board.speed_kmh
        elif board.charge < 100.0:
            target = ambient + 4.0  # charging
        else:
            target = ambient
        board.temperature += (target - board.temperature) * (1 - math.exp(-dt / 180.0))
        board.temperature += rng.gauss(0.0, 0.05)
        if board.fault_active("thermal", now_ms):
            board.heat_excess = min(90.0, board.heat_excess + rng.uniform(0.03, 0.06) * dt)
        board.humidity += (board.city.humidity - board.humidity) * 0.02 + rng.gauss(0.0, 0.4)
        board.humidity = _clamp(board.humidity, 5.0, 100.0)
        field = board.city.magnetic + rng.gauss(0.0, 0.6) + 0.4 * board.speed_kmh
        if board.fault_active("magnetic", now_ms):
            assert board.fault is not None
            since = (now_ms - board.fault.onset_ms) / 600_000  # spikes grow over 10 minutes
            if rng.random() < min(0.6, 0.05 + 0.5 * since):
                field = rng.uniform(300.0, 3_000.0)
        board.magnetic = _clamp(field, 0.0, 5_000.0)

    def _telemetry(self, board: Board, now_ms: int) -> dict[str, Any]:
        docked = board.ride is None
        weight = 0.0 if docked else round(board.ride.customer.weight  # type: ignore[union-attr]
                                          + self._rng.gauss(0.0, 0.3), 1)
        return {
            "id": board.id,
            "event_time": self.time(now_ms),
            "elevation": round(board.city.elevation + _terrain_m(board.position), 1),
            "temperature": round(_clamp(board.temperature + board.heat_excess, -60.0, 118.0), 1),
            "location": _location(board.position),
            "humidity": round(board.humidity, 1),
            "charge": round(board.charge, 2),
            "speed": round(board.speed_kmh, 1),
            "isdocked": docked,
            "weight": weight,
            "acceleration": round(_clamp(board.acceleration, -100.0, 100.0), 2),
            "magneticfield": round(board.magnetic, 1),
        }

    # -- customers -------------------------------------------------------------------------

    def _customer_tick(self, customer: Customer, now_ms: int) -> SimEvent:
        return self._emit(now_ms, "customer", {
            "id": customer.id,
            "updated_at": self.time(now_ms),
            "customer_name": {"first_name": customer.first_name,
                              "last_name": customer.last_name},
            "customer_location": _location(customer.position),
            "customer_email": customer.email,
        })

    def _emit(self, now_ms: int, message_type: str, record: dict[str, Any]) -> SimEvent:
        key = key_text(record, self._keys[message_type])
        if self.invalid_share and self._bad.random() < self.invalid_share:
            broken, kind = corrupt(message_type, record, self._bad)
            return SimEvent(now_ms, message_type, broken, key, kind)
        return SimEvent(now_ms, message_type, record, key)


# -- deliberately invalid events ----------------------------------------------------------

def _bad_latitude(rng: random.Random) -> float:
    return round(rng.choice((-1, 1)) * rng.uniform(90.5, 180.0), 6)


def _bad_longitude(rng: random.Random) -> float:
    return round(rng.choice((-1, 1)) * rng.uniform(180.5, 360.0), 6)


def _bad_email(email: str, rng: random.Random) -> str:
    local, _, domain = email.partition("@")
    return rng.choice((
        f"{local}{domain}",  # no @
        f"{local}@localhost",  # no dotted domain
        f"{local} @{domain}",  # whitespace
        f"{local}@{domain}@{domain}",  # two @
    ))


def corrupt(message_type: str, record: dict[str, Any],
            rng: random.Random) -> tuple[dict[str, Any], str]:
    """A copy of a valid ``record`` that its schema rejects, and what was broken."""
    bad = {k: dict(v) if isinstance(v, dict) else v for k, v in record.items()}
    common = ("missing-field", "unknown-field", "wrong-type")
    specific = {
        "hoverboard": ("latitude-out-of-range", "longitude-out-of-range", "charge-out-of-range",
                       "negative-speed", "local-time"),
        "customer": ("bad-email", "bad-email", "latitude-out-of-range", "empty-name",
                     "local-time"),
        "trip": ("negative-duration", "latitude-out-of-range", "longitude-out-of-range",
                 "bad-date-time"),
    }[message_type]
    kind = rng.choice(specific + common)
    location = {"hoverboard": "location", "customer": "customer_location"}.get(
        message_type, rng.choice(("start_location", "end_location")))
    time_field = {"hoverboard": "event_time", "customer": "updated_at"}.get(
        message_type, "end_time_and_date")
    id_field = "hoverboard_id" if message_type == "trip" else "id"
    if kind == "missing-field":
        field = rng.choice(sorted(bad))
        del bad[field]
        kind = f"missing-field:{field}"
    elif kind == "unknown-field":
        bad["firmware_note"] = "added by the simulator"
    elif kind == "wrong-type":
        bad[id_field] = str(bad[id_field])
    elif kind == "latitude-out-of-range":
        bad[location]["latitude"] = _bad_latitude(rng)
    elif kind == "longitude-out-of-range":
        bad[location]["longitude"] = _bad_longitude(rng)
    elif kind == "charge-out-of-range":
        bad["charge"] = round(rng.choice((rng.uniform(100.5, 200.0), -rng.uniform(0.5, 50.0))), 2)
    elif kind == "negative-speed":
        bad["speed"] = -round(rng.uniform(0.1, 20.0), 1)
    elif kind == "local-time":
        bad[time_field] = bad[time_field].removesuffix("Z")  # no offset: ambiguous
    elif kind == "bad-email":
        bad["customer_email"] = _bad_email(bad["customer_email"], rng)
    elif kind == "empty-name":
        bad["customer_name"]["first_name"] = ""
    elif kind == "negative-duration":
        bad["trip_duration"] = -(bad["trip_duration"] or 1)
    elif kind == "bad-date-time":
        bad[time_field] = rng.choice(("yesterday", "27/11/2026 09:10", "2026-11-27 09:10"))
    return bad, kind
