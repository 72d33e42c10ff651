-- Sinks that scale out (issue 20).
-- PostgreSQL variant (local stack). The Redshift variant has the same lease table; its
-- batches are staged in S3, so it has no staging schema.

-- Batch-scoped staging tables of the streaming sinks (loader/staged.py): executors COPY a
-- micro-batch's rows and dead letters into staging.stage_<query>_b<batch>[_dl], the driver
-- merges them and drops them in the transaction that commits the batch. A table left here
-- belongs to an attempt that crashed; the query's next batch drops it.
CREATE SCHEMA IF NOT EXISTS staging;

-- Which supervisor runs each sink's driver (plugins/hoverboard/streaming): one row per query,
-- taken with an insert or a conditional update, so two supervisors on two hosts never run
-- two drivers of one query. A holder renews its lease while its driver lives; a lease not
-- renewed before expires_at is taken over by another supervisor.
CREATE TABLE platform.stream_leases (
    query_name  varchar(200)  NOT NULL PRIMARY KEY,
    holder      varchar(200)  NOT NULL,  -- the supervisor: host and jobs directory
    acquired_at timestamptz   NOT NULL,
    expires_at  timestamptz   NOT NULL
);
