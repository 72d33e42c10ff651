-- Every data-quality check's result, passed or not, so trends can be charted.
CREATE TABLE platform.dq_results (
    check_name   varchar(200)      NOT NULL,
    table_name   varchar(200)      NOT NULL,
    observed     double precision,
    min_allowed  double precision,
    max_allowed  double precision,
    passed       boolean           NOT NULL,
    dag_id       varchar(250)      NOT NULL,
    run_id       varchar(250)      NOT NULL,
    checked_at   timestamptz       NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, check_name)
);
CREATE INDEX dq_results_check_time_idx ON platform.dq_results (check_name, checked_at);
