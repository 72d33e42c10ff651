"""Sample events and the ways to break them."""

from __future__ import annotations

import copy

_SAMPLES = {
    "hoverboard": {
        "id": 17, "event_time": "2026-11-27T09:00:00Z", "elevation": 41.5,
        "temperature": 21.3, "location": {"latitude": 52.52, "longitude": 13.405},
        "humidity": 55.0, "charge": 87.5, "speed": 12.3, "isdocked": False, "weight": 81.2,
        "acceleration": 0.4, "magneticfield": 48.1,
    },
    "customer": {
        "id": 230, "updated_at": "2026-11-27T09:00:00+01:00",
        "customer_name": {"first_name": "Marty", "last_name": "McFly"},
        "customer_location": {"latitude": 34.14, "longitude": -118.35},
        "customer_email": "marty@hillvalley.example",
    },
    "trip": {
        "hoverboard_id": 17, "customer_id": 230, "trip_duration": 600,
        "start_location": {"latitude": 52.52, "longitude": 13.405},
        "end_location": {"latitude": 52.53, "longitude": 13.41},
        "start_time_and_date": "2026-11-27T09:00:00Z", "end_time_and_date": "2026-11-27T09:10:00Z",
    },
}


def sample(message_type: str, **changes) -> dict:
    event = copy.deepcopy(_SAMPLES[message_type])
    event.update(changes)
    return event


# Values that are wrong somewhere: other types, out-of-range numbers, bad formats.
BAD_VALUES = [None, True, "text", "", -1, 10**20, -1e9, 1e9, 3.5, [], {}, "2026-13-45T99:00:00Z",
              "2026-11-27 09:00:00", "2026-11-27T09:00:00", "a@b", "no-at-sign", "x@y.z",
              # What the warehouse cannot hold, and its neighbours that it can.
              "Ada\x00", "\x00", "é" * 100, "0001-01-01T00:00:00+05:00",
              "0001-01-01T05:00:00+05:00", "9999-12-31T23:59:59-05:00",
              "9999-12-31T18:59:59.999999-05:00", "9999-12-31T23:59:59.9999995Z",
              "a\x00@x.example", "2026-11-27T09:00:00Z\x00"]


def mutations(event: dict):
    """The event with each field, nested ones included, removed or replaced by bad values."""
    def walk(node: dict, path: tuple):
        for key, value in node.items():
            yield path + (key,), value
            if isinstance(value, dict):
                yield from walk(value, path + (key,))

    for path, _ in list(walk(event, ())):
        parent_path, key = path[:-1], path[-1]
        removed = copy.deepcopy(event)
        parent = removed
        for p in parent_path:
            parent = parent[p]
        del parent[key]
        yield removed
        for bad in BAD_VALUES:
            changed = copy.deepcopy(event)
            parent = changed
            for p in parent_path:
                parent = parent[p]
            parent[key] = bad
            yield changed
    yield {**event, "unexpected": 1}
    yield [event]
    yield "not an object"
