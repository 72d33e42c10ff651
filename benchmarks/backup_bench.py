"""Backup throughput against a raw COPY plus one upload of the same rows, in the same run.

    PYTHONPATH=.:plugins .venv/bin/python -m benchmarks.backup_bench [--quick] [--rows N]

Reads the running local stack's configuration (``bin/stack env``), creates a scratch
database (migrated) whose ``fleet.hoverboard`` holds one day of rows made with
``generate_series`` (1,000,000; ``--quick``: 200,000), and measures, alternating, several
times (the machine is small and shared: medians are reported, every run is in ``runs``):

- ``backup``: ``BackupService.backup`` with the PostgreSQL engine, the code path of the
  ``warehouse_backup`` DAG: COPY ... TO STDOUT streamed through pyarrow into Parquet files,
  checksummed, uploaded to the stack's S3 store, manifest published, catalog row written.
- ``baseline``: the same ``COPY (SELECT ...) TO STDOUT (FORMAT csv)`` with psycopg into a
  local file, then one ``upload_file`` of that file to the same store (no Parquet, no
  checksum, no manifest).
- ``ratio``: backup rows/s over baseline rows/s (goal >= 0.5).
- ``verify``: reading the backup back and comparing it with the source (for information).

MB/s are of the CSV text of the rows (the same bytes for both), so the two are comparable;
``parquet_mb`` is what the backup stores. ``peak_rss_mib`` is the process's resident memory
at its highest during the backup (sampled every 50 ms), against the CSV size: memory is
bounded by a CSV block and a row group, not by the table. One JSON object per line on
stdout; progress on stderr. Everything is removed at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from contextlib import ExitStack
from datetime import date
from pathlib import Path

import boto3
import psutil
import psycopg
from botocore.config import Config
from hoverboard.backup.engines import PostgresEngine
from hoverboard.backup.layout import Layout
from hoverboard.backup.service import BackupService
from hoverboard.backup.store import ObjectStore
from hoverboard.backup.tables import backup_table
from psycopg import sql

from benchmarks.common import SQL_SEEDED, emit, make_log, running_stack
from runtime.settings import warehouse_dsn
from tests.support import scratch_database

DAY = date(2026, 11, 26)
GOAL = 0.5
SEED = """
INSERT INTO fleet.hoverboard (id, event_time, elevation, temperature, latitude, longitude,
    humidity, charge, speed, isdocked, weight, acceleration, magneticfield, source_topic,
    source_partition, source_offset, received_at, loaded_at)
SELECT g %% 1000, t, random() * 1000, random() * 60 - 20, random() * 180 - 90,
    random() * 360 - 180, random() * 100, random() * 100, random() * 30, g %% 2 = 0,
    60 + random() * 40, random(), random() * 100, 'hoverboard', g %% 6, g,
    t + interval '1 second', t + interval '2 seconds'
FROM generate_series(0, %(rows)s - 1) g,
     LATERAL (SELECT %(day)s::timestamptz + g * (interval '1 day' / %(rows)s) AS t) x
"""


log = make_log("backup_bench")


def r(value: float, digits: int = 3) -> float:
    return round(value, digits)


class PeakRss:
    """Highest resident memory of this process while the block runs."""

    def __init__(self) -> None:
        self.process = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()

    def __enter__(self) -> PeakRss:
        self.peak = self.before = self.process.memory_info().rss
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


class Bench:
    def __init__(self, env: dict[str, str], rows: int) -> None:
        self.env = env
        self.rows = rows
        self.admin = warehouse_dsn(env)
        self.exits = ExitStack()
        self.dsn = ""  # the scratch database, from setup()
        client = boto3.client(
            "s3", endpoint_url=env["HOVER_S3_ENDPOINT"], region_name=env["AWS_DEFAULT_REGION"],
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            config=Config(s3={"addressing_style": "path"}))
        self.store = ObjectStore(client, env["HOVER_BACKUP_BUCKET"])
        self.layout = Layout(self.store.bucket, f"bench/backup-{uuid.uuid4().hex[:8]}")
        self.service = BackupService(lambda: psycopg.connect(self.dsn),
                                     PostgresEngine(self.store), self.store, self.layout,
                                     run_id="backup_bench")
        self.csv_bytes = 0

    def setup(self) -> None:
        self.dsn = self.exits.enter_context(scratch_database(self.admin, "backup_bench"))
        started = time.perf_counter()
        with psycopg.connect(self.dsn) as conn:
            conn.execute(SEED, {"rows": self.rows, "day": DAY.isoformat()})
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE fleet.hoverboard")
        log(f"seeded {self.rows:,} rows in {time.perf_counter() - started:.1f}s "
            f"into {self.dsn.rsplit('/', 1)[1]}")

    def teardown(self) -> None:
        self.store.delete_prefix(self.layout.prefix + "/")
        self.exits.close()

    def select(self) -> sql.Composed:
        table = backup_table("hoverboard")
        with psycopg.connect(self.dsn) as conn:
            columns = [c.name for c in self.service.table_columns(conn, table.schema,
                                                                  table.table)]
        return BackupService.select(table.identifier, columns, table, DAY)

    def baseline(self, select: sql.Composed) -> dict:
        key = f"{self.layout.prefix}/baseline/{uuid.uuid4().hex}.csv"
        with tempfile.TemporaryDirectory(prefix="backup-bench-") as tmp:
            path = Path(tmp) / "rows.csv"
            started = time.perf_counter()
            with psycopg.connect(self.dsn) as conn, conn.cursor() as cur, open(path, "wb") as f:
                cur.execute("SET TimeZone = 'UTC'")
                with cur.copy(sql.SQL("COPY ({}) TO STDOUT (FORMAT csv)").format(select)) as cp:
                    for chunk in cp:
                        f.write(chunk)
            copied = time.perf_counter()
            self.store.upload_file(path, key)
            seconds = time.perf_counter() - started
            self.csv_bytes = path.stat().st_size
        self.store.delete_keys([key])
        return {"seconds": r(seconds), "copy_s": r(copied - started),
                "upload_s": r(seconds - copied + started)}

    def backup(self) -> dict:
        with PeakRss() as rss:
            started = time.perf_counter()
            manifest = self.service.backup("hoverboard", DAY)
            seconds = time.perf_counter() - started
        assert manifest.rows == self.rows, (manifest.rows, self.rows)
        return {"seconds": r(seconds), "files": len(manifest.files),
                "parquet_mb": r(manifest.bytes / 1e6, 1),
                "rss_before_mib": r(rss.before / 2**20, 0),
                "peak_rss_mib": r(rss.peak / 2**20, 0)}

    def verify(self) -> dict:
        started = time.perf_counter()
        result = self.service.verify("hoverboard", DAY)
        return {"seconds": r(time.perf_counter() - started), "rows": result.rows}


def throughput(name: str, runs: list[dict], rows: int, csv_bytes: int) -> dict:
    seconds = statistics.median(run["seconds"] for run in runs)
    return {"bench": name, "rows": rows, "seconds": seconds,
            "rows_per_s": round(rows / seconds), "mb_per_s": r(csv_bytes / 1e6 / seconds, 1),
            "csv_mb": r(csv_bytes / 1e6, 1), "runs": runs}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="200,000 rows, two repetitions")
    parser.add_argument("--rows", type=int, help="rows to back up (default 1,000,000)")
    parser.add_argument("--repeat", type=int, help="repetitions of each measurement")
    args = parser.parse_args(argv)
    rows = args.rows or (200_000 if args.quick else 1_000_000)
    repeat = args.repeat or (2 if args.quick else 3)

    _, env = running_stack()
    emit({"bench": "run", "load_avg_1m": r(os.getloadavg()[0], 2),
          "rows": rows, "repeat": repeat, "quick": args.quick}, generator=SQL_SEEDED)

    bench = Bench(env, rows)
    try:
        bench.setup()
        select = bench.select()
        backups, baselines = [], []
        for n in range(repeat):  # alternating, so load changes hit both alike
            baselines.append(bench.baseline(select))
            log(f"run {n + 1}/{repeat}: baseline {baselines[-1]['seconds']}s")
            backups.append(bench.backup())
            log(f"run {n + 1}/{repeat}: backup {backups[-1]['seconds']}s")
        backup = throughput("backup", backups, rows, bench.csv_bytes)
        baseline = throughput("baseline_copy_to_file_plus_upload", baselines, rows,
                              bench.csv_bytes)
        emit(backup, generator=SQL_SEEDED)
        emit(baseline, generator=SQL_SEEDED)
        ratio = backup["rows_per_s"] / baseline["rows_per_s"]
        emit({"bench": "ratio", "backup_over_baseline": r(ratio), "goal": GOAL,
              "met": ratio >= GOAL,
              "per_run": [r(b["seconds"] / k["seconds"]) for b, k in zip(baselines, backups,
                                                                           strict=True)],
              "load_avg_1m": r(os.getloadavg()[0], 2)}, generator=SQL_SEEDED)
        verify = bench.verify()
        emit({"bench": "verify", **verify,
              "rows_per_s": round(verify["rows"] / verify["seconds"])}, generator=SQL_SEEDED)
    finally:
        bench.teardown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
