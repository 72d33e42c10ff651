-- Fleet data: one table per message type (see the PostgreSQL variant for the columns'
-- meaning). Redshift variant: same columns; physical design for the queries analysts run.
--
-- Redshift does not enforce primary keys: they are declared for the planner, and the
-- sinks' MERGE on the natural key is what keeps one row per key.
--
-- Distribution: telemetry and trips are distributed on the board id, so "one board over
-- time" and telemetry-trip joins per board stay on one slice; customers are a small
-- dimension copied to every node (DISTSTYLE ALL), so joins to it never move data.
-- Sort keys: event time first, because most queries are "recent data" or a time range
-- (zone maps skip old blocks); leading sort key columns stay RAW (compressing them
-- defeats the zone maps). Integers and timestamps use AZ64; floating point, booleans
-- and text ZSTD (AZ64 does not support them).

CREATE SCHEMA IF NOT EXISTS fleet;

CREATE TABLE fleet.hoverboard (
    id               bigint            NOT NULL ENCODE az64,
    event_time       timestamptz       NOT NULL ENCODE raw,
    elevation        double precision  NOT NULL ENCODE zstd,
    temperature      double precision  NOT NULL ENCODE zstd,
    latitude         double precision  NOT NULL ENCODE zstd,
    longitude        double precision  NOT NULL ENCODE zstd,
    humidity         double precision  NOT NULL ENCODE zstd,
    charge           double precision  NOT NULL ENCODE zstd,
    speed            double precision  NOT NULL ENCODE zstd,
    isdocked         boolean           NOT NULL ENCODE zstd,
    weight           double precision  NOT NULL ENCODE zstd,
    acceleration     double precision  NOT NULL ENCODE zstd,
    magneticfield    double precision  NOT NULL ENCODE zstd,
    source_topic     varchar(249)      ENCODE zstd,
    source_partition integer           ENCODE az64,
    source_offset    bigint            ENCODE az64,
    received_at      timestamptz       ENCODE az64,
    loaded_at        timestamptz       NOT NULL DEFAULT getdate() ENCODE az64,
    PRIMARY KEY (id, event_time)
)
DISTSTYLE KEY
DISTKEY (id)
COMPOUND SORTKEY (event_time, id);

CREATE TABLE fleet.customer (
    id               bigint            NOT NULL ENCODE raw,
    updated_at       timestamptz       NOT NULL ENCODE az64,
    first_name       varchar(100)      NOT NULL ENCODE zstd,
    last_name        varchar(100)      NOT NULL ENCODE zstd,
    latitude         double precision  NOT NULL ENCODE zstd,
    longitude        double precision  NOT NULL ENCODE zstd,
    email            varchar(254)      NOT NULL ENCODE zstd,
    source_topic     varchar(249)      ENCODE zstd,
    source_partition integer           ENCODE az64,
    source_offset    bigint            ENCODE az64,
    received_at      timestamptz       ENCODE az64,
    loaded_at        timestamptz       NOT NULL DEFAULT getdate() ENCODE az64,
    PRIMARY KEY (id)
)
DISTSTYLE ALL
SORTKEY (id);

CREATE TABLE fleet.trip (
    hoverboard_id    bigint            NOT NULL ENCODE az64,
    customer_id      bigint            NOT NULL ENCODE az64,
    start_time       timestamptz       NOT NULL ENCODE raw,
    end_time         timestamptz       NOT NULL ENCODE az64,
    trip_duration    double precision  NOT NULL ENCODE zstd,
    start_latitude   double precision  NOT NULL ENCODE zstd,
    start_longitude  double precision  NOT NULL ENCODE zstd,
    end_latitude     double precision  NOT NULL ENCODE zstd,
    end_longitude    double precision  NOT NULL ENCODE zstd,
    source_topic     varchar(249)      ENCODE zstd,
    source_partition integer           ENCODE az64,
    source_offset    bigint            ENCODE az64,
    received_at      timestamptz       ENCODE az64,
    loaded_at        timestamptz       NOT NULL DEFAULT getdate() ENCODE az64,
    PRIMARY KEY (hoverboard_id, customer_id, start_time)
)
DISTSTYLE KEY
DISTKEY (hoverboard_id)
COMPOUND SORTKEY (start_time, customer_id);
