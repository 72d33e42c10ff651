"""Load the simulator's ground truth into ``ml.fault_labels``, for evaluation only.

Usage: ``python -m ml.labels labels.jsonl`` (the file of ``bin/simulate --labels``), into
the warehouse of the platform's one setting (``runtime.settings.warehouse_dsn``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import psycopg

from ml.registry import store_labels
from runtime.settings import warehouse_dsn


def load(dsn: str, path: Path) -> int:
    labels = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    with psycopg.connect(dsn) as conn, conn.cursor() as cursor:
        return store_labels(cursor, labels, source=path.name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path, help="JSON lines from bin/simulate --labels")
    args = parser.parse_args(argv)
    try:
        dsn = warehouse_dsn()
    except RuntimeError as exc:
        parser.error(f"{exc}; locally: set -a; . \"$(bin/stack env)\"; set +a")
    print(f"{load(dsn, args.file)} fault label(s) stored in ml.fault_labels")
    return 0


if __name__ == "__main__":
    sys.exit(main())
