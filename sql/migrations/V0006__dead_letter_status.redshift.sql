-- Dead letters can be fixed and replayed (see the PostgreSQL variant for the columns'
-- meaning). Redshift variant: one column per ALTER TABLE, no CHECK constraints (Redshift
-- does not enforce them; the replay code writes only pending, replayed, discarded), the
-- corrected record in VARBYTE like raw_value.

ALTER TABLE platform.dead_letters ADD COLUMN status varchar(16) DEFAULT 'pending' ENCODE zstd NOT NULL;
ALTER TABLE platform.dead_letters ADD COLUMN attempts integer DEFAULT 0 ENCODE az64 NOT NULL;
ALTER TABLE platform.dead_letters ADD COLUMN last_attempt_at timestamptz ENCODE az64;
ALTER TABLE platform.dead_letters ADD COLUMN replay_error varchar(4000) ENCODE zstd;
ALTER TABLE platform.dead_letters ADD COLUMN replayed_at timestamptz ENCODE az64;
ALTER TABLE platform.dead_letters ADD COLUMN discarded_at timestamptz ENCODE az64;
ALTER TABLE platform.dead_letters ADD COLUMN discard_reason varchar(4000) ENCODE zstd;
ALTER TABLE platform.dead_letters ADD COLUMN corrected_value varbyte(1024000);
ALTER TABLE platform.dead_letters ADD COLUMN handled_by varchar(200) ENCODE zstd;
