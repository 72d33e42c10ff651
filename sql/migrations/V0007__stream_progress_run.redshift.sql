-- Streaming progress per run of a query (see the PostgreSQL variant). Redshift names a
-- table's primary key <table>_pkey, and keeps it as information for the planner only.

ALTER TABLE platform.stream_progress ADD COLUMN run_id varchar(64) NOT NULL DEFAULT '' ENCODE zstd;
ALTER TABLE platform.stream_progress DROP CONSTRAINT stream_progress_pkey;
ALTER TABLE platform.stream_progress ADD PRIMARY KEY (query_name, run_id, batch_id);
