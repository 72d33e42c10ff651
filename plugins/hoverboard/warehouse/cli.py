"""``bin/migrate [--dry-run] [--conn-id ID]``: apply the warehouse migrations from a shell.

Uses the same runner and Airflow connection as the ``warehouse_migrations`` DAG; the
connection comes from the environment (``AIRFLOW_CONN_WAREHOUSE_DEFAULT``, written by the
local stack to its stack.env) or Airflow's metadata database.
"""

from __future__ import annotations

import argparse
import logging
import sys

from hoverboard.hooks.warehouse import DEFAULT_CONN_ID, WarehouseHook
from hoverboard.warehouse.migrations import MigrationError, MigrationRunner


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bin/migrate", description=__doc__.splitlines()[0])
    parser.add_argument("--conn-id", default=DEFAULT_CONN_ID)
    parser.add_argument("--dry-run", action="store_true", help="list pending migrations only")
    parser.add_argument("--lock-timeout", type=float, default=300.0, metavar="SECONDS")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        warehouse = WarehouseHook(args.conn_id)
        runner = MigrationRunner(warehouse.get_conn, warehouse.engine,
                                 lock_timeout_s=args.lock_timeout)
        if args.dry_run:
            pending = runner.pending()
            for migration in pending:
                print(f"pending  {migration.path.name}")
            print(f"{len(pending)} pending on {args.conn_id} ({warehouse.engine})")
        else:
            applied = runner.migrate()
            for m in applied:
                print(f"applied  V{m.version:04d}__{m.name}  {m.duration_ms} ms")
            print(f"{len(applied)} applied on {args.conn_id} ({warehouse.engine})")
    except (MigrationError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
