-- The catalog of warehouse backups (see the PostgreSQL variant for the columns' meaning).
-- Redshift variant: a small table, copied to every node; sorted for "backups of a table".

CREATE TABLE platform.backup_catalog (
    backup_id        varchar(64)    NOT NULL ENCODE zstd,
    table_name       varchar(200)   NOT NULL ENCODE raw,
    kind             varchar(16)    NOT NULL ENCODE zstd,
    day              date           ENCODE az64,
    snapshot_date    date           ENCODE az64,
    row_count        bigint         NOT NULL ENCODE az64,
    byte_count       bigint         NOT NULL ENCODE az64,
    file_count       integer        NOT NULL ENCODE az64,
    checksum         varchar(80)    NOT NULL ENCODE zstd,
    location         varchar(1024)  NOT NULL ENCODE zstd,
    schema_version   integer        NOT NULL ENCODE az64,
    status           varchar(16)    NOT NULL ENCODE zstd,
    created_at       timestamp      NOT NULL ENCODE raw,
    verified         boolean        NOT NULL DEFAULT false ENCODE zstd,
    verified_at      timestamp      ENCODE az64,
    verify_error     varchar(4000)  ENCODE zstd,
    deleted_at       timestamp      ENCODE az64,
    run_id           varchar(250)   NOT NULL ENCODE zstd,
    PRIMARY KEY (backup_id)
)
DISTSTYLE ALL
COMPOUND SORTKEY (table_name, created_at);
