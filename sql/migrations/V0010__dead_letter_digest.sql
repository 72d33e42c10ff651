-- A dead letter's raw value is cut to the Redshift column's declared size (varbyte(1024000),
-- V0002; Kafka's default largest record is 1 MiB + 12 bytes). Its original length and
-- SHA-256 are kept on both engines, so a cut value is recognisable (length > octet length
-- of raw_value) and can be matched with the record still in Kafka.
ALTER TABLE platform.dead_letters ADD COLUMN raw_value_length integer;
ALTER TABLE platform.dead_letters ADD COLUMN raw_value_sha256 char(64);
