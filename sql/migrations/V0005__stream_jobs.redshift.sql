-- The streaming supervisor's job events (see the PostgreSQL variant for the columns' meaning).
-- Redshift variant: a small table, copied to every node; sorted for "events of a job".

CREATE TABLE platform.stream_job_events (
    job     varchar(200)  NOT NULL ENCODE raw,
    event   varchar(16)   NOT NULL ENCODE zstd,
    reason  varchar(64)   ENCODE zstd,
    pid     integer       ENCODE az64,
    at      timestamptz   NOT NULL DEFAULT getdate() ENCODE raw,
    detail  super
)
DISTSTYLE ALL
COMPOUND SORTKEY (job, at);
