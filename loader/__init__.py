"""Bulk loading of events into the warehouse: one interface, two engines.

A loader takes a batch of rows for one table (an Arrow table with the table's load
columns), stages it in bulk and merges it with one set-based statement on the natural key,
so a batch loaded twice changes nothing:

* PostgreSQL (local): ``COPY`` into a temporary staging table, then ``INSERT ... ON
  CONFLICT``.
* Redshift (production): the documented path: the batch is written to S3, ``COPY``-ed into
  a staging table with an IAM role, then inserted or ``MERGE``-d.

Used by the Spark streaming sink (``spark/``) and by ingest instances configured with
``sink = warehouse`` (the seed's Version 1), so both write the same way.
"""
