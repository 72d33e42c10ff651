-- Failure detection (issue 19): the simulator's ground truth, the model registry and the
-- stream's detections. Schema ml: nothing in fleet.* depends on it, and no feature reads
-- ml.fault_labels (evaluation only). JSON documents are text on both engines: they are
-- written and read whole by ml/, never queried by field.
-- PostgreSQL variant (local stack). The Redshift variant has the same columns.

CREATE SCHEMA IF NOT EXISTS ml;

-- Ground truth, keyed by board and onset: the board is faulty from its onset on. Loaded
-- from the simulator's --labels file (python -m ml.labels).
CREATE TABLE ml.fault_labels (
    board_id     bigint        NOT NULL,
    onset        timestamptz   NOT NULL,
    fault        varchar(32)   NOT NULL,
    source       varchar(200)  NOT NULL,
    PRIMARY KEY (board_id, onset)
);

-- Every trained model, promoted or not, with what the gate decided and why. At most one
-- row per model_name has status 'promoted'; the scoring job follows it.
CREATE TABLE ml.models (
    model_name      varchar(100)   NOT NULL,
    version         integer        NOT NULL,
    trained_at      timestamptz    NOT NULL,
    model_uri       varchar(1024)  NOT NULL,
    features        varchar(4000)  NOT NULL,
    metrics         varchar(65535) NOT NULL,
    holdout_start   timestamptz    NOT NULL,
    holdout_end     timestamptz    NOT NULL,
    status          varchar(16)    NOT NULL,
    gate_decision   varchar(4000)  NOT NULL,
    promoted_at     timestamptz,
    PRIMARY KEY (model_name, version)
);

-- One row per detection (an episode of one board): from the first of the consecutive
-- flagged windows that confirmed it (window_start) to the confirming one (window_end),
-- extended while later windows of the board stay flagged. alerted_at is set once its
-- board_failure_risk alert is in Elasticsearch.
CREATE TABLE ml.detections (
    board_id         bigint            NOT NULL,
    window_start     timestamptz       NOT NULL,
    window_end       timestamptz       NOT NULL,
    last_window_end  timestamptz       NOT NULL,
    score            double precision  NOT NULL,
    model_name       varchar(100)      NOT NULL,
    model_version    integer           NOT NULL,
    query_name       varchar(200)      NOT NULL,
    detected_at      timestamptz       NOT NULL,
    alerted_at       timestamptz,
    PRIMARY KEY (board_id, window_start)
);
CREATE INDEX detections_window_end_idx ON ml.detections (window_end);
