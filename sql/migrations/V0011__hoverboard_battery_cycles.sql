-- schemas/hoverboard/v2.json adds the optional battery_cycles (0..1000000). Nullable: rows
-- of v1 records, and every row loaded before this migration, have no value. One file for
-- both engines: ADD COLUMN of a nullable column without a default is the same statement on
-- PostgreSQL and Redshift, and runs inside a transaction on both.
ALTER TABLE fleet.hoverboard ADD COLUMN battery_cycles integer;
