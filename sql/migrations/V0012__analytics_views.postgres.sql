-- What Superset may read, and the two read-only roles it reads it as (deploy/superset,
-- README "Analytics (Superset)"). Analysts get the views of schema analytics: customers as
-- a stable pseudonym (a keyed hash of the id) and locations rounded to 2 decimals (about
-- 1 km); no names, no emails, no exact positions. The operations manager also gets the
-- views of schema operations: boards' latest reports and the platform's own tables (dead
-- letters without their raw records). Neither role may read fleet.* or platform.* itself:
-- a view runs with its owner's rights, so a SELECT on the view is all a reader needs.
-- The roles are created without login; the stack (or the deployment) gives each a
-- password of its secrets with ALTER ROLE ... LOGIN PASSWORD, never stored here.
-- PostgreSQL variant (local stack). Roles are cluster-wide in PostgreSQL: a second
-- database migrated on the same server finds them there.

CREATE SCHEMA analytics;
CREATE SCHEMA operations;
DO $$ BEGIN CREATE ROLE analytics_reader NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
DO $$ BEGIN CREATE ROLE operations_reader NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;

-- The key of the customer pseudonyms: random, made by the database, readable only by the
-- owner. Without it a pseudonym cannot be traced back by hashing every possible id.
CREATE TABLE platform.pseudonym_key (
    salt char(32) NOT NULL
);
INSERT INTO platform.pseudonym_key (salt) SELECT md5(gen_random_uuid()::text || gen_random_uuid()::text);

-- Trips: the customer as a pseudonym, places as areas. customer_trip_number counts the
-- customer's trips from the first (2 and more: a returning customer).
CREATE VIEW analytics.trips AS
SELECT t.hoverboard_id,
       md5(k.salt || CAST(t.customer_id AS varchar(20))) AS customer_key,
       t.start_time,
       t.end_time,
       t.trip_duration,
       t.trip_duration / 60.0 AS duration_min,
       2 * 6371.0 * asin(sqrt(power(sin(radians(t.end_latitude - t.start_latitude) / 2), 2)
           + cos(radians(t.start_latitude)) * cos(radians(t.end_latitude))
           * power(sin(radians(t.end_longitude - t.start_longitude) / 2), 2))) AS distance_km,
       CAST(t.start_latitude AS decimal(9, 2)) AS start_latitude,
       CAST(t.start_longitude AS decimal(9, 2)) AS start_longitude,
       CAST(CAST(t.start_latitude AS decimal(9, 2)) AS varchar(12)) || ', '
           || CAST(CAST(t.start_longitude AS decimal(9, 2)) AS varchar(12)) AS start_area,
       CAST(t.end_latitude AS decimal(9, 2)) AS end_latitude,
       CAST(t.end_longitude AS decimal(9, 2)) AS end_longitude,
       ROW_NUMBER() OVER (PARTITION BY t.customer_id ORDER BY t.start_time) AS customer_trip_number
FROM fleet.trip AS t
CROSS JOIN platform.pseudonym_key AS k;

CREATE VIEW analytics.customers AS
SELECT md5(k.salt || CAST(c.id AS varchar(20))) AS customer_key,
       CAST(c.latitude AS decimal(9, 2)) AS home_latitude,
       CAST(c.longitude AS decimal(9, 2)) AS home_longitude,
       c.updated_at
FROM fleet.customer AS c
CROSS JOIN platform.pseudonym_key AS k;

-- Each board's latest report and what looks wrong with it.
CREATE VIEW operations.board_status AS
SELECT id AS hoverboard_id, event_time, latitude, longitude, charge, temperature, speed,
       isdocked,
       EXTRACT(EPOCH FROM (now() - event_time)) / 60.0 AS minutes_since_report,
       floor(charge / 10) * 10 AS charge_band,
       floor(temperature / 5) * 5 AS temperature_band,
       CASE WHEN EXTRACT(EPOCH FROM (now() - event_time)) > 600 THEN 'no report for 10 min'
            WHEN charge < 20 THEN 'low charge'
            WHEN temperature > 45 THEN 'high temperature'
            ELSE 'ok' END AS health
FROM (SELECT h.*, ROW_NUMBER() OVER (PARTITION BY h.id ORDER BY h.event_time DESC) AS newest
      FROM fleet.hoverboard AS h) AS latest
WHERE newest = 1;

-- Every loaded row of the three tables with its three times: the load and ingest rates
-- and the freshness (event or receipt to load) per table.
CREATE VIEW operations.loads AS
SELECT 'fleet.hoverboard' AS table_name, event_time, received_at, loaded_at,
       EXTRACT(EPOCH FROM (loaded_at - received_at)) AS receive_to_load_s,
       EXTRACT(EPOCH FROM (loaded_at - event_time)) AS event_to_load_s
FROM fleet.hoverboard
UNION ALL
SELECT 'fleet.customer', updated_at, received_at, loaded_at,
       EXTRACT(EPOCH FROM (loaded_at - received_at)), EXTRACT(EPOCH FROM (loaded_at - updated_at))
FROM fleet.customer
UNION ALL
SELECT 'fleet.trip', end_time, received_at, loaded_at,
       EXTRACT(EPOCH FROM (loaded_at - received_at)), EXTRACT(EPOCH FROM (loaded_at - end_time))
FROM fleet.trip;

-- Dead letters without the raw records (they may hold a customer's name and email).
CREATE VIEW operations.dead_letters AS
SELECT source_topic, source_partition, source_offset, query_name, error, received_at, loaded_at
FROM platform.dead_letters;

CREATE VIEW operations.sink_batches AS
SELECT query_name, batch_id, input_rows, rows_written, dead_letters, rows_per_second,
       batch_time, EXTRACT(EPOCH FROM (now() - batch_time)) AS seconds_ago
FROM platform.stream_progress;

CREATE VIEW operations.dq_results AS
SELECT check_name, table_name, observed, min_allowed, max_allowed, passed, checked_at
FROM platform.dq_results;

CREATE VIEW operations.backups AS
SELECT table_name, kind, day, snapshot_date, row_count, status, created_at, verified,
       verified_at
FROM platform.backup_catalog;

GRANT USAGE ON SCHEMA analytics TO analytics_reader, operations_reader;
GRANT SELECT ON analytics.trips TO analytics_reader, operations_reader;
GRANT SELECT ON analytics.customers TO analytics_reader, operations_reader;
GRANT USAGE ON SCHEMA operations TO operations_reader;
GRANT SELECT ON operations.board_status TO operations_reader;
GRANT SELECT ON operations.loads TO operations_reader;
GRANT SELECT ON operations.dead_letters TO operations_reader;
GRANT SELECT ON operations.sink_batches TO operations_reader;
GRANT SELECT ON operations.dq_results TO operations_reader;
GRANT SELECT ON operations.backups TO operations_reader;
