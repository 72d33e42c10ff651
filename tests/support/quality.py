"""A small warehouse every data-quality check passes on: five boards with twenty seconds of
telemetry each, five customers, one trip each, all loaded just now."""

from __future__ import annotations

SEED = """
INSERT INTO fleet.hoverboard (id, event_time, elevation, temperature, latitude, longitude,
    humidity, charge, speed, isdocked, weight, acceleration, magneticfield)
SELECT b, now() - make_interval(secs => s), 40, 20, 52.5, 13.4, 50, 80, 10, false, 80, 0.1, 45
FROM generate_series(1, 5) b, generate_series(1, 20) s;
INSERT INTO fleet.customer (id, updated_at, first_name, last_name, latitude, longitude, email)
SELECT c, now(), 'Ada', 'Lovelace', 51.5, -0.1, 'ada' || c || '@x.example'
FROM generate_series(1, 5) c;
INSERT INTO fleet.trip (hoverboard_id, customer_id, start_time, end_time, trip_duration,
    start_latitude, start_longitude, end_latitude, end_longitude)
SELECT t, t, now() - interval '1 hour', now() - interval '50 minutes', 600, 52.5, 13.4, 52.6, 13.5
FROM generate_series(1, 5) t;
"""
