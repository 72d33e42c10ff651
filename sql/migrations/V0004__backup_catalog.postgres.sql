-- The catalog of warehouse backups (S3, see plugins/hoverboard/backup): one row per backup
-- run of a table's day (event tables) or snapshot (customer), what it holds, where, whether
-- its verification against the source passed, and what became of it. The store's
-- manifest.json files are the truth about what a folder holds; this table is the history.
-- PostgreSQL variant (local stack). The Redshift variant has the same columns.

CREATE TABLE platform.backup_catalog (
    backup_id        varchar(64)    NOT NULL PRIMARY KEY,  -- also its folder: run=<backup_id>/
    table_name       varchar(200)   NOT NULL,              -- schema.table
    kind             varchar(16)    NOT NULL,              -- 'day' or 'snapshot'
    day              date,                                 -- the day backed up; NULL for snapshots
    snapshot_date    date,                                 -- a snapshot's folder date; else NULL
    row_count        bigint         NOT NULL,
    byte_count       bigint         NOT NULL,              -- Parquet bytes in the store
    file_count       integer        NOT NULL,
    checksum         varchar(80)    NOT NULL,              -- rowhash64-sum/1, see the manifest
    location         varchar(1024)  NOT NULL,              -- s3://bucket/prefix/table/dt=.../
    schema_version   integer        NOT NULL,              -- latest applied migration
    status           varchar(16)    NOT NULL,              -- published, replaced, deleted
    created_at       timestamp      NOT NULL,              -- UTC
    verified         boolean        NOT NULL DEFAULT false,
    verified_at      timestamp,                            -- UTC, last verification (pass or fail)
    verify_error     varchar(4000),                        -- what the last failed one found
    deleted_at       timestamp,                            -- UTC, when retention removed it
    run_id           varchar(250)   NOT NULL               -- airflow:<dag>/<run id> or cli:<user>@<host>
);
CREATE INDEX backup_catalog_table_idx ON platform.backup_catalog (table_name, kind, status);
