"""Kafka headers the ingest API puts on every record, read downstream (the Spark sink, the
freshness benchmark) to measure end-to-end latency and to trace an event."""

RECEIVED_AT = "hover-received-at"  # epoch milliseconds (decimal text) when the API received it
SCHEMA_SUBJECT = "hover-schema-subject"
SCHEMA_VERSION = "hover-schema-version"
REQUEST_ID = "hover-request-id"
