"""Backups of the warehouse to S3, verified against the source, and restores from them.

Engine-neutral logic (layout, manifest, checksum, verification, retention, restore) lives
here; only the export and load steps differ per engine (:mod:`.engines`): PostgreSQL
streams ``COPY (SELECT ...) TO STDOUT`` into Parquet files it uploads, Redshift writes the
Parquet files itself with ``UNLOAD ... IAM_ROLE ... FORMAT AS PARQUET``. The Airflow
operators (``hoverboard.operators.backup``) and ``bin/restore`` (:mod:`.cli`) are thin
layers over :class:`.service.BackupService`.

Layout of the store (see :mod:`.layout`)::

    s3://<bucket>/<prefix>/<table>/dt=YYYY-MM-DD/manifest.json            event tables, a day
    s3://<bucket>/<prefix>/<table>/dt=YYYY-MM-DD/run=<backup id>/part-*.parquet
    s3://<bucket>/<prefix>/<table>/snapshot/dt=YYYY-MM-DD/manifest.json   full snapshots
    s3://<bucket>/<prefix>/<table>/snapshot/dt=YYYY-MM-DD/run=<backup id>/part-*.parquet

A folder is a backup only when it holds ``manifest.json``, and only the files the manifest
lists belong to it.
"""
