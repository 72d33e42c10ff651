-- What Airflow's streaming supervisor (plugins/hoverboard/streaming) did to each sink job and
-- why: every start and stop, every crash-loop and lag alert. It counts a job's starts of the
-- last hour from here (crash-loop limit), and remembers that a crash loop was already
-- reported, so one episode raises one alert however often the supervisor runs.
-- PostgreSQL variant (local stack). The Redshift variant has the same columns.

CREATE TABLE platform.stream_job_events (
    job     varchar(200)  NOT NULL,  -- the sink's query_name (= the job's name)
    event   varchar(16)   NOT NULL,  -- started, stopped, crash_loop, lag
    reason  varchar(64),             -- first start, not running, stalled, manual, ...
    pid     integer,                 -- the driver process started or stopped, if any
    at      timestamptz   NOT NULL DEFAULT now(),
    detail  jsonb                    -- free-form: lag per partition, command, log file, run
);
CREATE INDEX stream_job_events_job_idx ON platform.stream_job_events (job, event, at);
