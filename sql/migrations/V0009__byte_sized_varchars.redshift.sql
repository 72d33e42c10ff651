-- hover:no-transaction
-- Redshift's VARCHAR(n) counts bytes, the schemas count characters, and a UTF-8 character
-- takes up to 4 bytes: a valid 100-character name could fail the COPY. Each column is sized
-- at 4 bytes per character of its limit (schemas/customer/v1.json: first and last name 100,
-- email 254; the dead-letter error text is cut to 4000 characters by loader.bookkeeping).
-- Redshift refuses ALTER COLUMN ... TYPE inside a transaction block, hence the marker above:
-- the runner applies these statements one by one, each committing on its own; each is
-- idempotent, so a run interrupted half-way is completed by running it again.
ALTER TABLE fleet.customer ALTER COLUMN first_name TYPE varchar(400);
ALTER TABLE fleet.customer ALTER COLUMN last_name TYPE varchar(400);
ALTER TABLE fleet.customer ALTER COLUMN email TYPE varchar(1016);
ALTER TABLE platform.dead_letters ALTER COLUMN error TYPE varchar(16000);
