-- Dead letters can be fixed and replayed (bin/dead-letters, the dead_letter_replay DAG).
-- A letter starts pending; a replay that loads it makes it replayed, an operator's discard
-- makes it discarded. Nothing is deleted: the original raw_value and error stay as the sink
-- wrote them, so what arrived and why it was refused remain on record.
-- PostgreSQL variant (local stack). The Redshift variant has the same columns.

ALTER TABLE platform.dead_letters
    ADD COLUMN status          varchar(16)   NOT NULL DEFAULT 'pending',
    ADD COLUMN attempts        integer       NOT NULL DEFAULT 0,  -- replays tried
    ADD COLUMN last_attempt_at timestamptz,
    ADD COLUMN replay_error    varchar(4000),  -- why the last replay failed (NULL: none did)
    ADD COLUMN replayed_at     timestamptz,
    ADD COLUMN discarded_at    timestamptz,
    ADD COLUMN discard_reason  varchar(4000),
    ADD COLUMN corrected_value bytea,          -- an operator's corrected record, if given
    ADD COLUMN handled_by      varchar(200),   -- who replayed or discarded it (cli:..., airflow:...)
    ADD CONSTRAINT dead_letters_status_check
        CHECK (status IN ('pending', 'replayed', 'discarded'));

-- Operators look for what is still pending, newest first.
CREATE INDEX dead_letters_status_idx ON platform.dead_letters (status, loaded_at);
