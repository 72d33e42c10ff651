-- Sinks that scale out (issue 20): the sink jobs' leases (see the PostgreSQL variant for the
-- columns' meaning). Redshift stages batches in S3, so it needs no staging schema.
-- A small table, copied to every node.

CREATE TABLE platform.stream_leases (
    query_name  varchar(200)  NOT NULL ENCODE raw,
    holder      varchar(200)  NOT NULL ENCODE zstd,
    acquired_at timestamptz   NOT NULL ENCODE az64,
    expires_at  timestamptz   NOT NULL ENCODE az64,
    PRIMARY KEY (query_name)
)
DISTSTYLE ALL
SORTKEY (query_name);
