-- Fleet data: one table per message type, columns flattened from the v1 JSON Schemas,
-- plus load metadata (where the row came from in Kafka, when the API received it, when it
-- was loaded). The primary keys are the natural event keys: the streaming sinks insert with
-- ON CONFLICT on them, which is what makes a replayed batch harmless.
-- PostgreSQL variant (local stack). The Redshift variant has the same columns.

CREATE SCHEMA IF NOT EXISTS fleet;

-- Telemetry: an event table, many rows per board, never an upsert.
CREATE TABLE fleet.hoverboard (
    id               bigint            NOT NULL,
    event_time       timestamptz       NOT NULL,
    elevation        double precision  NOT NULL,
    temperature      double precision  NOT NULL,
    latitude         double precision  NOT NULL,
    longitude        double precision  NOT NULL,
    humidity         double precision  NOT NULL,
    charge           double precision  NOT NULL,
    speed            double precision  NOT NULL,
    isdocked         boolean           NOT NULL,
    weight           double precision  NOT NULL,
    acceleration     double precision  NOT NULL,
    magneticfield    double precision  NOT NULL,
    source_topic     varchar(249),
    source_partition integer,
    source_offset    bigint,
    received_at      timestamptz,
    loaded_at        timestamptz       NOT NULL DEFAULT now(),
    PRIMARY KEY (id, event_time)
);
-- "Recent data" queries scan by load time (freshness checks, dashboards' last hour).
CREATE INDEX hoverboard_event_time_idx ON fleet.hoverboard (event_time);
CREATE INDEX hoverboard_loaded_at_idx ON fleet.hoverboard (loaded_at);

-- Customers: one row per id; the latest version (by updated_at) wins.
CREATE TABLE fleet.customer (
    id               bigint            NOT NULL PRIMARY KEY,
    updated_at       timestamptz       NOT NULL,
    first_name       varchar(100)      NOT NULL,
    last_name        varchar(100)      NOT NULL,
    latitude         double precision  NOT NULL,
    longitude        double precision  NOT NULL,
    email            varchar(254)      NOT NULL,
    source_topic     varchar(249),
    source_partition integer,
    source_offset    bigint,
    received_at      timestamptz,
    loaded_at        timestamptz       NOT NULL DEFAULT now()
);

-- Trips: an event table, one row per (board, customer, start).
CREATE TABLE fleet.trip (
    hoverboard_id    bigint            NOT NULL,
    customer_id      bigint            NOT NULL,
    start_time       timestamptz       NOT NULL,
    end_time         timestamptz       NOT NULL,
    trip_duration    double precision  NOT NULL,
    start_latitude   double precision  NOT NULL,
    start_longitude  double precision  NOT NULL,
    end_latitude     double precision  NOT NULL,
    end_longitude    double precision  NOT NULL,
    source_topic     varchar(249),
    source_partition integer,
    source_offset    bigint,
    received_at      timestamptz,
    loaded_at        timestamptz       NOT NULL DEFAULT now(),
    PRIMARY KEY (hoverboard_id, customer_id, start_time)
);
CREATE INDEX trip_customer_idx ON fleet.trip (customer_id, start_time);
CREATE INDEX trip_loaded_at_idx ON fleet.trip (loaded_at);
