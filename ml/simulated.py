"""A simulated stretch of the fleet, straight into the warehouse as the sinks would load it.

For the benchmark and the tests: the fleet model's events (``simulator.model.Fleet``) of
``seconds`` of simulated time, loaded through the sinks' own loader (``loader/``), and the
run's ground truth into ``ml.fault_labels``. Skipping HTTP and Kafka here is deliberate: the
ingest path has its own tests and benchmarks; what is measured here is learning and scoring.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from loader.postgres import PostgresLoader
from loader.tables import rows_from_events, table_spec
from ml.registry import store_labels
from simulator.model import Fleet, SimEvent


def events_until(fleet: Fleet, seconds: float) -> Iterator[SimEvent]:
    for event in fleet.events():
        if event.sim_ms > seconds * 1000:
            return
        yield event


def load(dsn: str, events: list[SimEvent], *, chunk: int = 50_000) -> dict[str, int]:
    """Telemetry and trips of ``events`` into ``fleet.*`` (customers are not needed by the
    features); returns the rows per type."""
    loader = PostgresLoader(dsn)
    counts = {}
    try:
        for message_type in ("hoverboard", "trip"):
            spec = table_spec(message_type)
            records = [e.record for e in events if e.type == message_type]
            for i in range(0, len(records), chunk):
                part = records[i:i + chunk]
                loader.load(spec, rows_from_events(spec, part, received_at=[None] * len(part)))
            counts[message_type] = len(records)
    finally:
        loader.close()
    return counts


def store_ground_truth(dsn: str, fleet: Fleet, source: str) -> int:
    import psycopg

    with psycopg.connect(dsn) as conn, conn.cursor() as cursor:
        return store_labels(cursor, fleet.labels(), source)


def fleet(*, boards: int, seed: int, start: datetime, faulty_share: float,
          fault_onset_within_s: float) -> Fleet:
    return Fleet(boards=boards, customers=boards, seed=seed, start=start.astimezone(UTC),
                 faulty_share=faulty_share, fault_onset_within_s=fault_onset_within_s)
