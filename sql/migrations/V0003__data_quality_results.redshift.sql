-- Every data-quality check's result, passed or not, so trends can be charted.
CREATE TABLE platform.dq_results (
    check_name   varchar(200)      NOT NULL ENCODE zstd,
    table_name   varchar(200)      NOT NULL ENCODE zstd,
    observed     double precision  ENCODE zstd,
    min_allowed  double precision  ENCODE zstd,
    max_allowed  double precision  ENCODE zstd,
    passed       boolean           NOT NULL ENCODE zstd,
    dag_id       varchar(250)      NOT NULL ENCODE zstd,
    run_id       varchar(250)      NOT NULL ENCODE zstd,
    checked_at   timestamptz       NOT NULL DEFAULT getdate() ENCODE az64,
    PRIMARY KEY (run_id, check_name)
)
DISTSTYLE EVEN
SORTKEY (checked_at);
