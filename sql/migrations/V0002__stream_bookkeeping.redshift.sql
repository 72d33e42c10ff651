-- Bookkeeping of the streaming sinks (see the PostgreSQL variant). Redshift variant:
-- raw bytes in VARBYTE, offsets in SUPER; small tables, distributed evenly.

CREATE TABLE platform.dead_letters (
    source_topic     varchar(249)      NOT NULL ENCODE zstd,
    source_partition integer           NOT NULL ENCODE az64,
    source_offset    bigint            NOT NULL ENCODE az64,
    query_name       varchar(200)      NOT NULL ENCODE zstd,
    raw_key          varbyte(65535),
    raw_value        varbyte(1024000),
    error            varchar(4000)     NOT NULL ENCODE zstd,
    received_at      timestamptz       ENCODE az64,
    loaded_at        timestamptz       NOT NULL DEFAULT getdate() ENCODE az64,
    PRIMARY KEY (source_topic, source_partition, source_offset)
)
DISTSTYLE EVEN
SORTKEY (loaded_at);

CREATE TABLE platform.stream_progress (
    query_name       varchar(200)      NOT NULL ENCODE zstd,
    batch_id         bigint            NOT NULL ENCODE az64,
    input_rows       bigint            NOT NULL ENCODE az64,
    rows_written     bigint            NOT NULL ENCODE az64,
    dead_letters     bigint            NOT NULL ENCODE az64,
    rows_per_second  double precision  ENCODE zstd,
    end_offsets      super             NOT NULL,
    batch_time       timestamptz       NOT NULL DEFAULT getdate() ENCODE az64,
    PRIMARY KEY (query_name, batch_id)
)
DISTSTYLE EVEN
SORTKEY (query_name, batch_time);
