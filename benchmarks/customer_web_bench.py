"""The trips page under load against the same query straight through psycopg, same run.

    PYTHONPATH=.:plugins .venv/bin/python -m benchmarks.customer_web_bench [--quick]

Reads the running local stack's configuration (``bin/stack up postgres smtp``), creates a
scratch database (migrated), fills it with COPY: 10,000 customers and 1,000,000 trips
(``--quick``: 1,000 and 100,000), about 100 trips each over a year, ANALYZEs it, and starts
the app (``customer_web/gunicorn.conf.py``: one gthread worker) on it as the app's role,
with a signed-in session for each of 1,000 customers. Then, open loop at a fixed rate
(50 requests/s; the generator of ``benchmarks.ingest_bench``, which counts waiting from the
time a request was due):

- ``trips_page``: GET /trips (first page, 20 trips, newest first) of a random signed-in
  customer: session lookup, the customer-restricted transaction, the query under row-level
  security, the HTML page.
- ``baseline``: the same query through psycopg as the app's role in the same kind of
  transaction (``set_config`` + SELECT), from one connection.
- ``plan``: the index the query uses (EXPLAIN as the app role).

Goal: trips_page p99 <= 50 ms. One JSON object per line on stdout; progress on stderr.
Everything is removed at the end.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from benchmarks.common import SQL_SEEDED, emit, make_log, percentile, r, running_stack
from benchmarks.ingest_bench import free_port, open_loop
from customer_web.accounts import Accounts
from customer_web.data import TRIPS_PAGE
from customer_web.db import SET_CUSTOMER, Warehouse
from runtime.settings import warehouse_dsn
from tests.support.customer_web import app_dsn
from tests.support.warehouse import scratch_database

REPO = Path(__file__).resolve().parents[1]
GOAL_P99_MS = 50.0
RATE = 50
SIGNED_IN = 1000
log = make_log("customer_web_bench")


def fill(dsn: str, customers: int, trips: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    start = datetime(2025, 12, 1, tzinfo=UTC)
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        with cur.copy("COPY fleet.customer (id, updated_at, first_name, last_name, latitude,"
                      " longitude, email) FROM STDIN") as copy:
            for n in range(1, customers + 1):
                copy.write_row((n, start, f"F{n}", f"L{n}", 48 + rng.random(),
                                11 + rng.random(), f"rider{n}@example.com"))
        with cur.copy("COPY fleet.trip (hoverboard_id, customer_id, start_time, end_time,"
                      " trip_duration, start_latitude, start_longitude, end_latitude,"
                      " end_longitude) FROM STDIN") as copy:
            for _ in range(trips):
                when = start + timedelta(seconds=rng.randrange(365 * 86400))
                duration = rng.randrange(60, 3600)
                copy.write_row((rng.randrange(1, 2001), rng.randrange(1, customers + 1), when,
                                when + timedelta(seconds=duration), float(duration),
                                48.1, 11.5, 48.12, 11.53))
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE fleet.trip")
        conn.execute("VACUUM ANALYZE fleet.customer")


def start_app(dsn: str, port: int, smtp_port: str, log_file: Path) -> subprocess.Popen:
    env = {**os.environ, "HOVER_CUSTOMER_WEB_DSN": dsn,
           "HOVER_CUSTOMER_WEB_SECRET_KEY": os.urandom(24).hex(),
           "HOVER_CUSTOMER_WEB_PUBLIC_URL": f"http://127.0.0.1:{port}",
           "HOVER_CUSTOMER_WEB_SMTP_PORT": smtp_port,
           "HOVER_CUSTOMER_WEB_SESSION_COOKIE_SECURE": "false",
           "HOVER_CUSTOMER_WEB_BIND": f"127.0.0.1:{port}"}
    env.pop("HOVER_ELASTICSEARCH_URL", None)  # no lifecycle alerts from a benchmark
    gunicorn = Path(sys.executable).parent / "gunicorn"
    with log_file.open("ab") as out:
        process = subprocess.Popen([str(gunicorn), "-c", "customer_web/gunicorn.conf.py",
                                    "customer_web.wsgi:app"], cwd=REPO, env=env,
                                   stdout=out, stderr=out)
    deadline = time.monotonic() + 180  # a shared, busy machine starts slowly
    import urllib.request

    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2):
                return process
        except OSError:
            time.sleep(0.2)
    process.terminate()
    raise RuntimeError(f"the app did not become ready within 180 s; see {log_file}")


def baseline(dsn: str, customers: list[int], rate: float, duration: float) -> list[float]:
    """Open loop from one connection: latency counted from the time each query was due."""
    latencies = []
    with psycopg.connect(dsn) as conn:
        start = time.perf_counter() + 0.05
        for i in range(int(rate * duration)):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            customer = customers[i % len(customers)]
            with conn.transaction():
                conn.execute(SET_CUSTOMER, (str(customer),))
                conn.execute(TRIPS_PAGE, (customer, 21, 0)).fetchall()
            latencies.append(time.perf_counter() - due)
    return sorted(latencies)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 customers, 100,000 trips, 10 s")
    args = parser.parse_args(argv)
    customers, trips = (1_000, 100_000) if args.quick else (10_000, 1_000_000)
    duration = 10.0 if args.quick else 30.0
    _, env = running_stack()
    with scratch_database(warehouse_dsn(env), "webbench") as admin_dsn:
        started = time.monotonic()
        fill(admin_dsn, customers, trips)
        log(f"{customers} customers and {trips} trips loaded in "
            f"{time.monotonic() - started:.0f} s")
        dsn = app_dsn(env["HOVER_CUSTOMER_WEB_DSN"], admin_dsn)
        rng = random.Random(1)
        chosen = rng.sample(range(1, customers + 1), min(SIGNED_IN, customers))
        warehouse = Warehouse(dsn, max_size=2)
        warehouse.open()
        accounts = Accounts(warehouse, "unused", link_ttl_s=900, session_ttl_s=3600)
        cookies = [accounts.start_session(c) for c in chosen]
        warehouse.close()
        with psycopg.connect(dsn) as conn, conn.transaction():
            conn.execute(SET_CUSTOMER, (str(chosen[0]),))
            plan = "\n".join(row[0] for row in conn.execute(
                "EXPLAIN " + TRIPS_PAGE, (chosen[0], 21, 0)).fetchall())
        emit({"name": "plan", "customers": customers, "trips": trips,
              "uses_index": "trip_customer_idx" in plan, "plan": plan}, generator=SQL_SEEDED)
        port = free_port(21350)
        app_log = Path(tempfile.gettempdir()) / "customer_web_bench_app.log"
        app = start_app(dsn, port, env.get("HOVER_SMTP_PORT", "25"), app_log)
        try:
            requests = [(f"GET /trips HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                         f"Cookie: hover_session={cookie}\r\n\r\n").encode() for cookie in cookies]
            open_loop(port, requests[:50], 10, 2, 8)  # warm-up: pool, caches
            log(f"trips page at {RATE} req/s for {duration:.0f} s")
            result = open_loop(port, requests, RATE, duration, 16)
        finally:
            app.terminate()
            app.wait(30)
        page = {"name": "trips_page", "rate": RATE, "duration_s": duration,
                "requests": result.requests, "errors": result.errors,
                "statuses": {str(k): v for k, v in (result.statuses or {}).items()},
                "p50_ms": r(result.ms(50)),
                "p99_ms": r(result.ms(99)), "max_ms": r(result.ms(100)),
                "goal_p99_ms": GOAL_P99_MS, "met": result.ms(99) <= GOAL_P99_MS,
                "customers": customers, "trips": trips,
                "load_avg_1m": r(os.getloadavg()[0])}
        emit(page, generator=f"python open-loop HTTP generator at {RATE} req/s (benchmarks)")
        log("the same query through psycopg")
        latencies = baseline(dsn, chosen, RATE, duration)
        base = {"name": "baseline", "rate": RATE, "requests": len(latencies),
                "p50_ms": r(percentile(latencies, 50) * 1000),
                "p99_ms": r(percentile(latencies, 99) * 1000),
                "customers": customers, "trips": trips}
        emit(base, generator="python psycopg open loop, one connection (benchmarks)")
        emit({"name": "ratio", "p99_page_over_query": r(page["p99_ms"] / base["p99_ms"], 1),
              "p50_page_over_query": r(page["p50_ms"] / base["p50_ms"], 1)},
             generator=SQL_SEEDED)
    return 0


if __name__ == "__main__":
    sys.exit(main())
