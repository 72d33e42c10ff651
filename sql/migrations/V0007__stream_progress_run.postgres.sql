-- Streaming progress per run of a query. A run is one checkpoint's sequence of micro-batches,
-- named by Spark's query id; a new or lost checkpoint starts a new run whose batch ids start
-- again at 0. Keyed by run, a new run's batch 0 no longer replaces the old run's batch 0, its
-- offsets are not merged with the old run's, and the latest batch is the newest by time.
-- Rows written before this migration belong to the run ''.

ALTER TABLE platform.stream_progress ADD COLUMN run_id varchar(64) NOT NULL DEFAULT '';
ALTER TABLE platform.stream_progress DROP CONSTRAINT stream_progress_pkey;
ALTER TABLE platform.stream_progress ADD PRIMARY KEY (query_name, run_id, batch_id);
