-- Failure detection (issue 19): the simulator's ground truth, the model registry and the
-- stream's detections. Redshift variant: same columns as the PostgreSQL one.

CREATE SCHEMA IF NOT EXISTS ml;

CREATE TABLE ml.fault_labels (
    board_id     bigint        NOT NULL ENCODE az64,
    onset        timestamptz   NOT NULL ENCODE az64,
    fault        varchar(32)   NOT NULL ENCODE zstd,
    source       varchar(200)  NOT NULL ENCODE zstd,
    PRIMARY KEY (board_id, onset)
)
DISTSTYLE ALL
SORTKEY (board_id);

CREATE TABLE ml.models (
    model_name      varchar(100)   NOT NULL ENCODE zstd,
    version         integer        NOT NULL ENCODE az64,
    trained_at      timestamptz    NOT NULL ENCODE az64,
    model_uri       varchar(1024)  NOT NULL ENCODE zstd,
    features        varchar(4000)  NOT NULL ENCODE zstd,
    metrics         varchar(65535) NOT NULL ENCODE zstd,
    holdout_start   timestamptz    NOT NULL ENCODE az64,
    holdout_end     timestamptz    NOT NULL ENCODE az64,
    status          varchar(16)    NOT NULL ENCODE zstd,
    gate_decision   varchar(4000)  NOT NULL ENCODE zstd,
    promoted_at     timestamptz    ENCODE az64,
    PRIMARY KEY (model_name, version)
)
DISTSTYLE ALL
SORTKEY (model_name, version);

-- Detections grow with time like the fleet tables: sorted by window end, spread by board.
CREATE TABLE ml.detections (
    board_id         bigint            NOT NULL ENCODE az64,
    window_start     timestamptz       NOT NULL ENCODE az64,
    window_end       timestamptz       NOT NULL ENCODE az64,
    last_window_end  timestamptz       NOT NULL ENCODE az64,
    score            double precision  NOT NULL ENCODE zstd,
    model_name       varchar(100)      NOT NULL ENCODE zstd,
    model_version    integer           NOT NULL ENCODE az64,
    query_name       varchar(200)      NOT NULL ENCODE zstd,
    detected_at      timestamptz       NOT NULL ENCODE az64,
    alerted_at       timestamptz       ENCODE az64,
    PRIMARY KEY (board_id, window_start)
)
DISTKEY (board_id)
SORTKEY (window_end);
