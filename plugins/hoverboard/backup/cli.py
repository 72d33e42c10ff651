"""``bin/restore``: restore warehouse backups from the store, or list them.

    bin/restore hoverboard --day 2026-11-26                 into restore_hoverboard.hoverboard
    bin/restore trip --from 2026-11-20 --to 2026-11-26 --schema drill
    bin/restore customer --latest --in-place                 the table itself, by natural key
    bin/restore hoverboard --list                            backups in the store

Uses the same code and Airflow connections as the ``warehouse_restore`` DAG: the warehouse
``warehouse_default`` and the store ``aws_default`` (from the environment, which bin/restore
reads from the local stack's stack.env, or Airflow's metadata database). Every restored
backup is checked against its manifest (row count and checksum) before it is committed.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from datetime import date, timedelta

from hoverboard.backup.layout import DEFAULT_BUCKET, DEFAULT_PREFIX
from hoverboard.backup.tables import backup_tables
from hoverboard.hooks.warehouse import DEFAULT_CONN_ID

AWS_CONN_ID = "aws_default"


def day_range(first: date, last: date) -> list[date]:
    if last < first:
        raise ValueError(f"--to {last} is before --from {first}")
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bin/restore",
                                     description="Restore warehouse backups, or list them.",
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[2:7]))
    parser.add_argument("table", choices=backup_tables())
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--day", type=date.fromisoformat, help="one day (event tables)")
    what.add_argument("--from", dest="first", type=date.fromisoformat,
                      help="first day of a range (event tables; with --to)")
    what.add_argument("--snapshot", type=date.fromisoformat, help="a snapshot's date")
    what.add_argument("--latest", action="store_true", help="the latest snapshot")
    what.add_argument("--list", action="store_true", help="list the backups in the store")
    parser.add_argument("--to", dest="last", type=date.fromisoformat, help="last day, inclusive")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--schema", help="scratch schema to restore into (restore_<table>)")
    target.add_argument("--in-place", action="store_true",
                        help="restore into the table itself, replacing rows by natural key")
    parser.add_argument("--bucket", default=os.environ.get("HOVER_BACKUP_BUCKET", DEFAULT_BUCKET),
                        help="default: $HOVER_BACKUP_BUCKET or %(default)s")
    parser.add_argument("--prefix", default=DEFAULT_PREFIX, help="default: %(default)s")
    parser.add_argument("--conn-id", default=DEFAULT_CONN_ID)
    parser.add_argument("--aws-conn-id", default=AWS_CONN_ID)
    parser.add_argument("--iam-role", default=os.environ.get("HOVER_BACKUP_IAM_ROLE"),
                        help="Redshift only: the IAM role COPY reads S3 with")
    args = parser.parse_args(argv)
    if args.first and not args.last:
        parser.error("--from needs --to")
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    from hoverboard.backup.service import BackupError, BackupMismatch, BackupService
    from hoverboard.backup.tables import backup_table

    try:
        service = BackupService.from_connections(
            conn_id=args.conn_id, aws_conn_id=args.aws_conn_id, bucket=args.bucket,
            prefix=args.prefix, iam_role=args.iam_role)
        if args.list:
            table = backup_table(args.table)
            days = service.backup_days(table)
            if not days:
                print(f"no backups of {table.qualified} under "
                      f"{service.layout.uri(service.layout.kind_prefix(table.name, table.kind))}")
            for day in days:
                manifest = service.manifest(table, day)
                state = (f"{manifest.rows} rows  {manifest.checksum}  {manifest.backup_id}"
                         if manifest else "no manifest (incomplete run)")
                print(f"{table.kind:8}  {day}  {state}")
            return 0
        days = ([args.day] if args.day else day_range(args.first, args.last) if args.first
                else [])
        results = service.restore(args.table, days=days, snapshot=args.snapshot,
                                  latest_snapshot=args.latest, target_schema=args.schema,
                                  in_place=args.in_place)
        for result in results:
            print(json.dumps(result))
    except (BackupError, BackupMismatch, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
