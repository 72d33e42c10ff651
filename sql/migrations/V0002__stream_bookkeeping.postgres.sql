-- Bookkeeping of the streaming sinks, written in the same transaction as the rows they
-- describe (so a replayed batch rewrites nothing twice).

-- Records a sink could not load: not JSON, or not valid against the schema. Keyed by
-- their Kafka position, so a replayed batch does not add them again.
CREATE TABLE platform.dead_letters (
    source_topic     varchar(249)  NOT NULL,
    source_partition integer       NOT NULL,
    source_offset    bigint        NOT NULL,
    query_name       varchar(200)  NOT NULL,
    raw_key          bytea,
    raw_value        bytea,
    error            varchar(4000) NOT NULL,
    received_at      timestamptz,
    loaded_at        timestamptz   NOT NULL DEFAULT now(),
    PRIMARY KEY (source_topic, source_partition, source_offset)
);

-- One row per micro-batch of each streaming query: what Airflow's supervisor reads to
-- tell whether a job makes progress and how far behind Kafka it is.
CREATE TABLE platform.stream_progress (
    query_name       varchar(200)      NOT NULL,
    batch_id         bigint            NOT NULL,
    input_rows       bigint            NOT NULL,
    rows_written     bigint            NOT NULL,
    dead_letters     bigint            NOT NULL,
    rows_per_second  double precision,
    end_offsets      jsonb             NOT NULL,  -- {"<partition>": next offset to read}
    batch_time       timestamptz       NOT NULL DEFAULT now(),
    PRIMARY KEY (query_name, batch_id)
);
CREATE INDEX stream_progress_time_idx ON platform.stream_progress (query_name, batch_time);
