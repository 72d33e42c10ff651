-- Seed of tests/stack/test_superset.py.
-- Known rows: four boards (one low on charge, one hot, one silent for an hour, one fine),
-- three customers (one riding three times, one twice), seven trips over two days, and the
-- platform's bookkeeping. All ids far from what the simulator uses.
INSERT INTO fleet.hoverboard (id, event_time, elevation, temperature, latitude, longitude,
    humidity, charge, speed, isdocked, weight, acceleration, magneticfield, received_at,
    loaded_at)
VALUES
 (901, now() - interval '2 minutes', 40, 21.5, 52.5201, 13.4049, 50, 12, 0, true, 80, 0, 45,
  now() - interval '119 seconds', now() - interval '110 seconds'),
 (901, now() - interval '30 minutes', 40, 20.0, 52.5200, 13.4000, 50, 40, 5, false, 80, 0, 45,
  now() - interval '1799 seconds', now() - interval '1790 seconds'),
 (902, now() - interval '1 minute', 40, 51.0, 52.5301, 13.4149, 50, 85, 0, true, 80, 0, 45,
  now() - interval '58 seconds', now() - interval '55 seconds'),
 (903, now() - interval '1 hour', 40, 18.0, 48.1371, 11.5753, 50, 64, 0, true, 80, 0, 45,
  now() - interval '3599 seconds', now() - interval '3590 seconds'),
 (904, now() - interval '3 minutes', 40, 24.0, 48.1400, 11.5800, 50, 97, 12, false, 80, 0, 45,
  now() - interval '179 seconds', now() - interval '170 seconds');
INSERT INTO fleet.customer (id, updated_at, first_name, last_name, latitude, longitude, email,
    received_at, loaded_at)
VALUES (71, now() - interval '3 days', 'Grace', 'Hopper', 52.51234, 13.39876,
        'grace@example.invalid', now() - interval '3 days', now() - interval '3 days'),
       (72, now() - interval '3 days', 'Alan', 'Turing', 48.13512, 11.58198,
        'alan@example.invalid', now() - interval '3 days', now() - interval '3 days'),
       (73, now() - interval '3 days', 'Ada', 'Lovelace', 52.52001, 13.40499,
        'ada@example.invalid', now() - interval '3 days', now() - interval '3 days');
INSERT INTO fleet.trip (hoverboard_id, customer_id, start_time, end_time, trip_duration,
    start_latitude, start_longitude, end_latitude, end_longitude, received_at, loaded_at)
SELECT b, c, s, s + make_interval(secs => d), d, la, lo, la + 0.01, lo + 0.02,
       s + make_interval(secs => d + 1), s + make_interval(secs => d + 5)
FROM (VALUES (901, 71, date_trunc('day', now()) - interval '1 day' + interval '9 hours', 420, 52.5201, 13.4049),
             (901, 71, date_trunc('day', now()) - interval '1 day' + interval '11 hours', 960, 52.5205, 13.4040),
             (902, 71, date_trunc('day', now()) - interval '1 day' + interval '15 hours', 1500, 52.5301, 13.4149),
             (902, 72, date_trunc('day', now()) - interval '1 day' + interval '15 hours', 300, 48.1371, 11.5753),
             (904, 72, date_trunc('day', now()) - interval '2 days' + interval '8 hours', 2400, 48.1400, 11.5800),
             (904, 73, date_trunc('day', now()) - interval '2 days' + interval '10 hours', 660, 52.5201, 13.4049),
             (903, 73, date_trunc('day', now()) - interval '2 days' + interval '10 hours', 180, 48.1371, 11.5753)
     ) AS t (b, c, s, d, la, lo);
INSERT INTO platform.dead_letters (source_topic, source_partition, source_offset, query_name,
    raw_value, error, received_at, loaded_at)
VALUES ('hoverboard', 0, 1, 'hoverboard_sink', 'x', 'not JSON', now() - interval '2 hours', now() - interval '2 hours'),
       ('hoverboard', 0, 2, 'hoverboard_sink', 'x', 'not JSON', now() - interval '2 hours', now() - interval '2 hours'),
       ('trip', 1, 7, 'trip_sink', 'x', 'charge: 900 is greater than 100', now() - interval '20 minutes', now() - interval '20 minutes');
INSERT INTO platform.stream_progress (query_name, batch_id, input_rows, rows_written,
    dead_letters, rows_per_second, end_offsets, batch_time)
VALUES ('hoverboard_sink', 1, 10, 9, 1, 5.0, '{}', now() - interval '5 minutes'),
       ('hoverboard_sink', 2, 4, 4, 0, 2.0, '{}', now() - interval '1 minute'),
       ('trip_sink', 1, 3, 3, 0, 1.0, '{}', now() - interval '40 minutes');
INSERT INTO platform.dq_results (check_name, table_name, observed, min_allowed, max_allowed,
    passed, dag_id, run_id, checked_at)
VALUES ('freshness', 'fleet.hoverboard', 60, 0, 900, true, 'data_quality', 'r1', now() - interval '1 hour'),
       ('charge_range', 'fleet.hoverboard', 0, 0, 0, true, 'data_quality', 'r1', now() - interval '1 hour'),
       ('freshness', 'fleet.trip', 4000, 0, 900, false, 'data_quality', 'r2', now() - interval '10 minutes');
INSERT INTO platform.backup_catalog (backup_id, table_name, kind, day, row_count, byte_count,
    file_count, checksum, location, schema_version, status, created_at, verified, verified_at,
    run_id)
VALUES ('b1', 'fleet.trip', 'day', current_date - 1, 7, 900, 1, 'c', 's3://b/t/', 12,
        'published', now() - interval '1 day', true, now() - interval '23 hours', 'test'),
       ('b2', 'fleet.trip', 'day', current_date - 2, 3, 400, 1, 'c', 's3://b/t2/', 12,
        'published', now() - interval '2 days', true, now() - interval '47 hours', 'test'),
       ('b3', 'fleet.hoverboard', 'day', current_date - 1, 5, 800, 1, 'c', 's3://b/h/', 12,
        'published', now() - interval '1 day', false, NULL, 'test');
