"""Failure detection on the telemetry stream: the promoted model scored per board and window.

Reads the telemetry topic (the sink's Kafka source and parsing, ``spark.sink_job`` and
``spark.transform``), computes the training features (``ml.features``) over event-time
windows under a watermark, so a window is scored once, when no more of its readings are
expected; each micro-batch of closed windows with enough readings (``min_readings``: one
the watermark cut is not scored) is related to the trips that ended in them (from the
warehouse, those of the lookback before them too, ``fleet.trip`` and the telemetry at each
trip's first and last tick) and scored with the promoted model of ``ml.models``. Then, in
one warehouse transaction (``loader``'s, with the batch's ``platform.stream_progress`` row,
which the supervisor's lag watch reads): an alarm of a board without an open detection
(``confirm_windows`` consecutive flagged windows, or one scored ``certain_score``) becomes
a row of ``ml.detections`` (board, from the run's first window to the alarming one, score,
model version), as the gate judged the model (``ml.evaluation``); a flagged window of a
board whose detection is open (its last flagged window ended less than
``realert_after_minutes`` before) extends it. A replayed batch finds its windows already
counted: nothing new. After the commit, every detection without an
alert gets one ``board_failure_risk`` alert (its id is derived from board and window, so a
resend after a crash replaces, never duplicates) and is marked alerted once Elasticsearch
has it.

A newly promoted model is picked up at the next batch: the query, its checkpoint and its
position stay, and detections already alerted are not alerted again. Until a model is
promoted (a new platform) the job idles: it reads the stream and records its progress like
any batch, scores nothing, and logs "no promoted ... model yet"; it does not fail, so the
supervisor sees no crash loop and raises no alert.

Usage (supervised by ``streaming_supervisor`` through ``spark/conf/failure_detection.conf``)::

    python -m ml.scoring_job --config spark/conf/failure_detection.conf
"""

from __future__ import annotations

import argparse
import configparser
import json
import logging
import os
import sys
import threading
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from alerts.document import Severity, alert_document
from alerts.writer import AlertWriter
from loader.base import Loader
from loader.bookkeeping import COMMITTED, BatchProgress, record_progress
from loader.concurrency import first_line
from loader.outage import OutagePolicy, run_through_outage
from loader.tables import table_spec
from ml import features, registry
from ml.evaluation import CERTAIN_SCORE, CONFIRM_WINDOWS, Run, advance, alarming
from ml.session import Warehouse
from ml.train import THRESHOLD, with_score
from spark.config import SinkConfig
from spark.sink_job import read_topic
from spark.transform import decode, flatten

log = logging.getLogger("ml.scoring_job")

COMPONENT = "failure_scoring"
ACTION = "board_failure_risk"

FIND_OPEN = (
    "SELECT window_start FROM ml.detections WHERE board_id = CAST(%s AS bigint)"
    " AND window_start <= CAST(%s AS timestamptz) AND last_window_end >= CAST(%s AS timestamptz)"
    " ORDER BY window_start DESC LIMIT 1")
EXTEND = (
    "UPDATE ml.detections SET last_window_end = CAST(%s AS timestamptz)"
    " WHERE board_id = CAST(%s AS bigint) AND window_start = CAST(%s AS timestamptz)"
    " AND last_window_end < CAST(%s AS timestamptz)")
INSERT = (
    "INSERT INTO ml.detections (board_id, window_start, window_end, last_window_end, score,"
    " model_name, model_version, query_name, detected_at) VALUES (CAST(%s AS bigint),"
    " CAST(%s AS timestamptz), CAST(%s AS timestamptz), CAST(%s AS timestamptz),"
    " CAST(%s AS double precision), CAST(%s AS varchar(100)), CAST(%s AS integer),"
    " CAST(%s AS varchar(200)), CAST(%s AS timestamptz))")
UNALERTED = (
    "SELECT board_id, window_start, window_end, score, model_name, model_version"
    " FROM ml.detections WHERE query_name = CAST(%s AS varchar(200)) AND alerted_at IS NULL"
    " ORDER BY window_start")
MARK_ALERTED = (
    "UPDATE ml.detections SET alerted_at = CAST(%s AS timestamptz)"
    " WHERE board_id = CAST(%s AS bigint) AND window_start = CAST(%s AS timestamptz)")
#: The trips that ended in a batch's windows and the telemetry at their first and last tick,
#: restricted in the warehouse (the window bounds are the batch's own timestamps).
TRIPS_WHERE = "end_time >= '{lo}' AND end_time < '{hi}'"
TRIP_TICKS_WHERE = (
    "(id, event_time) IN (SELECT hoverboard_id, start_time FROM fleet.trip WHERE {trips})"
    " OR (id, event_time) IN (SELECT hoverboard_id, end_time FROM fleet.trip WHERE {trips})")


@dataclass(frozen=True)
class ScoringConfig:
    sink: SinkConfig
    model_name: str
    watermark_seconds: int
    threshold: float
    realert_after_minutes: float
    confirm_windows: int = CONFIRM_WINDOWS
    certain_score: float = CERTAIN_SCORE
    min_readings: int = features.MIN_READINGS

    @classmethod
    def load(cls, path: str | Path, message_type: str | None = None) -> ScoringConfig:
        parser = configparser.ConfigParser(interpolation=None)
        if not parser.read(path):
            raise FileNotFoundError(f"scoring configuration {path} not found")
        section = parser["scoring"]
        return cls(SinkConfig.load(path, message_type),
                   section.get("model_name", registry.MODEL_NAME),
                   section.getint("watermark_seconds", 60),
                   section.getfloat("threshold", THRESHOLD),
                   section.getfloat("realert_after_minutes", 30.0),
                   section.getint("confirm_windows", CONFIRM_WINDOWS),
                   section.getfloat("certain_score", CERTAIN_SCORE),
                   section.getint("min_readings", features.MIN_READINGS))


@dataclass(frozen=True)
class Flagged:
    board_id: int
    window_start: datetime
    window_end: datetime
    score: float


def record_detections(cursor, flagged: list[Flagged], runs: dict[int, Run], *,
                      confirm_windows: int, certain_score: float, model_name: str,
                      model_version: int, query_name: str, realert_after: timedelta,
                      now: datetime) -> int:
    """New detections for ``flagged`` windows (in window order); a window of a board with an
    open detection extends it. Otherwise the window advances the board's run of consecutive
    flagged windows (``runs``, updated in place; ``ml.evaluation.advance``): once the run is
    an alarm (``ml.evaluation.alarming``, as the gate judged the model: the
    ``confirm_windows``-th window, or one scored ``certain_score``) it makes a detection
    from the run's first window to this one. Returns how many detections are new."""
    new = 0
    for f in sorted(flagged, key=lambda f: (f.board_id, f.window_start)):
        cursor.execute(FIND_OPEN, (f.board_id, f.window_start, f.window_start - realert_after))
        row = cursor.fetchone()
        if row is not None:
            cursor.execute(EXTEND, (f.window_end, f.board_id, row[0], f.window_end))
            runs.pop(f.board_id, None)
            continue
        run = advance(runs.get(f.board_id), f.window_start, f.window_end, f.score)
        if not alarming(run, confirm_windows, certain_score):
            runs[f.board_id] = run
            continue
        runs.pop(f.board_id, None)
        cursor.execute(INSERT, (f.board_id, run.start, f.window_end, f.window_end,
                                run.score, model_name, model_version, query_name, now))
        new += 1
    return new


def alert_for(row: tuple) -> dict:
    board_id, start, end, score, model_name, version = row
    return alert_document(
        component=COMPONENT, action=ACTION, severity=Severity.WARNING,
        message=f"board {board_id} is at risk of failure: {model_name} v{version} scored "
                f"{score:.2f} for the window {start:%Y-%m-%d %H:%M}-{end:%H:%M} UTC",
        details={"board_id": board_id, "window_start": start.isoformat(),
                 "window_end": end.isoformat(), "score": round(score, 4),
                 "model_name": model_name, "model_version": version},
        labels={"query": COMPONENT}, timestamp=end,
        dedup_key=f"{ACTION}:{board_id}:{start.isoformat()}")


def checkpoint_offsets(checkpoint: str, batch_id: int, topic: str) -> dict[int, int]:
    """The batch's end offsets per partition, from the checkpoint's offset log (written by
    Spark before the batch runs); {} where it cannot be read (a remote checkpoint)."""
    path = Path(checkpoint.removeprefix("file:")) / "offsets" / str(batch_id)
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return {}
    for line in lines[2:]:
        try:
            offsets = json.loads(line)
        except ValueError:
            continue
        if isinstance(offsets, dict) and topic in offsets:
            return {int(p): int(o) for p, o in offsets[topic].items()}
    return {}


#: How often one process sends again an alert that went to the spool.
SPOOL_RETRY_S = 60.0


def retry_due(spooled_at: float | None, now: float, retry_s: float = SPOOL_RETRY_S) -> bool:
    """Whether to send a detection's alert now: never tried by this process, or its last
    send went to the spool at least ``retry_s`` ago (a spool entry per batch would pile up
    copies while Elasticsearch is away)."""
    return spooled_at is None or now - spooled_at >= retry_s


class Scorer:
    """The ``foreachBatch`` function of the scoring query."""

    def __init__(self, config: ScoringConfig, wh: Warehouse, loader: Loader,
                 alerts: AlertWriter | None) -> None:
        self.config = config
        self.wh = wh
        self.loader = loader
        self.alerts = alerts
        self._model: tuple[int, PipelineModel] | None = None
        self._run_id: str | None = None
        self._run_known = threading.Event()
        self._said_idle = False
        self._runs: dict[int, Run] = {}  # boards' flagged windows not yet a detection
        #: detections whose alert went to the spool: when this process last tried each
        self._spooled: dict[tuple[int, datetime], float] = {}

    def started(self, run_id: str) -> None:
        self._run_id = run_id
        self._run_known.set()

    def model(self) -> tuple[int, PipelineModel] | None:
        """The promoted model, loaded again only when another version was promoted; None
        while none is (the job then idles, see :meth:`__call__`)."""
        current = self.loader.run(lambda c: registry.promoted(c, self.config.model_name))
        if current is None:
            if self._model is not None or not self._said_idle:
                log.warning("no promoted %s model yet in ml.models: reading the stream, "
                            "scoring nothing until the failure_model_training DAG promotes "
                            "one (picked up at the next batch, no restart)",
                            self.config.model_name)
                self._said_idle = True
            self._model = None
            return None
        if self._model is None or self._model[0] != current.version:
            log.info("scoring with %s v%d (%s)", self.config.model_name, current.version,
                     current.model_uri)
            self._model = (current.version, PipelineModel.load(current.model_uri))
        return self._model

    def features(self, windows: DataFrame) -> DataFrame:
        spark = windows.sparkSession
        span = windows.agg(F.min("window_start").alias("lo"),
                           F.max("window_end").alias("hi")).first()
        # The trips of the windows' lookback too (``features.TRIP_LOOKBACK_S``).
        lo = span["lo"] - timedelta(seconds=features.TRIP_LOOKBACK_S)
        trips_where = TRIPS_WHERE.format(lo=lo.isoformat(), hi=span["hi"].isoformat())
        trips = self.wh.table(spark, "fleet.trip", partition_column="end_time", partitions=1,
                              where=trips_where)
        ticks = self.wh.table(spark, "fleet.hoverboard", partition_column="event_time",
                              partitions=1, where=TRIP_TICKS_WHERE.format(trips=trips_where)
                              ).select(*features.TELEMETRY_COLUMNS)
        return features.with_trip_features(windows, features.trip_drain(trips, ticks))

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        """The batch, run again whole while the warehouse is away (``loader.outage``, as the
        sinks do), up to the config's ``warehouse_outage_seconds``."""
        started = time.monotonic()
        run_through_outage(partial(self._score, batch, batch_id, started),
                           OutagePolicy(budget_s=self.config.sink.warehouse_outage_s),
                           what=f"{self.config.sink.query_name} batch {batch_id}",
                           on_outage=self._outage_began)

    def _outage_began(self, error: BaseException) -> None:
        if self.alerts is not None:
            self.alerts.send(alert_document(
                component=COMPONENT, action="warehouse_unavailable", severity=Severity.WARNING,
                message=f"{self.config.sink.query_name}: the warehouse is unreachable; the "
                        f"batch is tried again for up to "
                        f"{self.config.sink.warehouse_outage_s:.0f} s before the query fails",
                error=first_line(error), labels={"query": self.config.sink.query_name}))

    def _score(self, batch: DataFrame, batch_id: int, started: float) -> None:
        windows = batch.persist()
        try:
            count = windows.count()
            flagged: list[Flagged] = []
            version = 0
            # No promoted model yet (a new platform): the batch is read and its progress
            # recorded as any other, so the supervisor sees a healthy job keeping up, not a
            # crash loop; the windows of the wait are not scored later.
            loaded = self.model() if count else None
            if loaded is not None:
                version, model = loaded
                # A window the watermark cut (a backlog read unevenly across partitions) is
                # not scored: its few readings are no minute of the board.
                scorable = features.complete(windows, self.config.min_readings)
                cut = count - scorable.count()
                if cut:
                    log.warning("%s batch %d: %d of %d windows not scored: under %d readings",
                                self.config.sink.query_name, batch_id, cut, count,
                                self.config.min_readings)
                if cut < count:
                    scored = with_score(model.transform(self.features(scorable)))
                    flagged = [
                        Flagged(r["board_id"], r["window_start"].replace(tzinfo=UTC),
                                r["window_end"].replace(tzinfo=UTC), float(r["score"]))
                        for r in scored.where(F.col("score") >= self.config.threshold)
                        .select("board_id", "window_start", "window_end", "score").collect()]
        finally:
            windows.unpersist()
        self._write(batch_id, count, flagged, version, started)
        self._alert()

    def _write(self, batch_id: int, count: int, flagged: list[Flagged], version: int,
               started: float) -> None:
        sink = self.config.sink
        offsets = checkpoint_offsets(sink.checkpoint_location, batch_id, sink.topic)
        if not self._run_known.wait(60):
            raise RuntimeError("the scoring query's id is not known 60 s after its first batch")

        # The boards' unconfirmed runs after this batch: kept only once it commits (the
        # loader may run ``work`` again). In memory: a restart forgets them, which delays a
        # detection by at most ``confirm_windows - 1`` windows and never duplicates one.
        runs: dict[int, Run] = {}

        def work(cursor) -> int | None:
            cursor.execute(COMMITTED, (sink.query_name, self._run_id or "", batch_id))
            if cursor.fetchone() is not None:
                return None  # an attempt whose connection broke after its commit
            runs.clear()
            runs.update(self._runs)
            new = record_detections(
                cursor, flagged, runs, confirm_windows=self.config.confirm_windows,
                certain_score=self.config.certain_score, model_name=self.config.model_name,
                model_version=version, query_name=sink.query_name,
                realert_after=timedelta(minutes=self.config.realert_after_minutes),
                now=datetime.now(UTC))
            elapsed = time.monotonic() - started
            record_progress(cursor, self.loader.engine, BatchProgress(
                query_name=sink.query_name, run_id=self._run_id or "", batch_id=batch_id,
                input_rows=count, rows_written=new, dead_letters=0,
                rows_per_second=count / elapsed if elapsed > 0 else None,
                end_offsets=offsets, batch_time=datetime.now(UTC)))
            return new

        new = self.loader.run(work)
        if new is None:
            log.info("%s batch %d: committed before, nothing to do", sink.query_name, batch_id)
            return
        self._runs = runs
        if count and not version:
            log.info("%s batch %d: %d windows, not scored: no promoted %s model yet",
                     sink.query_name, batch_id, count, self.config.model_name)
        else:
            log.info("%s batch %d: %d windows, %d flagged, %d new detections", sink.query_name,
                     batch_id, count, len(flagged), new)

    def _alert(self) -> None:
        """An alert for every detection not yet alerted; ``alerted_at`` is set only once
        Elasticsearch has it. One that went to the spool (Elasticsearch away) stays
        unalerted: the spool is delivered by the supervisor's rounds, and this job sends it
        again (same id: replaced, not duplicated) at most every ``SPOOL_RETRY_S``, marking
        it when that send is indexed."""
        rows = self.loader.run(lambda c: (c.execute(UNALERTED, (self.config.sink.query_name,)),
                                          c.fetchall())[1])
        now = time.monotonic()
        for row in rows:
            key = (row[0], row[1])
            if not retry_due(self._spooled.get(key), now):
                continue
            if self.alerts is not None and not self.alerts.send(alert_for(row)):
                self._spooled[key] = now
                log.warning("alert of board %s (window %s) spooled: Elasticsearch unreachable; "
                            "the detection stays unalerted until a send is indexed", *key)
                continue
            self._spooled.pop(key, None)
            self.loader.run(lambda c, r=row: c.execute(MARK_ALERTED,
                                                       (datetime.now(UTC), r[0], r[1])))


def telemetry_stream(spark: SparkSession, config: ScoringConfig, bootstrap: str,
                     schema: dict) -> DataFrame:
    """Closed feature windows of the telemetry topic (append mode under the watermark)."""
    rows = flatten(decode(read_topic(spark, config.sink, bootstrap)), schema,
                   table_spec(config.sink.message_type))
    telemetry = rows.select(*features.TELEMETRY_COLUMNS).dropna()
    return features.telemetry_windows(
        telemetry.withWatermark("event_time", f"{config.watermark_seconds} seconds"))


def with_state_checkpoint(config: ScoringConfig) -> ScoringConfig:
    """The query's checkpoint under its features' state (``ml.features.state_fingerprint``):
    ``<checkpoint_location>/state-<digest>``. Spark fails a query whose checkpointed state
    has another shape on every start, so a deployed change of the features would stop
    scoring for good; under a new name it starts a new run from ``starting_offsets``
    (windows open at that moment are judged on the readings after it, or not at all under
    ``min_readings``)."""
    root = config.sink.checkpoint_location.rstrip("/")
    location = f"{root}/state-{features.state_fingerprint()}"
    return replace(config, sink=replace(config.sink, checkpoint_location=location))


def start(spark: SparkSession, config: ScoringConfig, *, bootstrap: str, schema: dict,
          wh: Warehouse, loader: Loader, alerts: AlertWriter | None,
          available_now: bool = False):
    config = with_state_checkpoint(config)
    log.info("%s: checkpoint %s", config.sink.query_name, config.sink.checkpoint_location)
    scorer = Scorer(config, wh, loader, alerts)
    writer = (telemetry_stream(spark, config, bootstrap, schema).writeStream
              .queryName(config.sink.query_name).outputMode("append")
              .foreachBatch(scorer)
              .option("checkpointLocation", config.sink.checkpoint_location))
    writer = (writer.trigger(availableNow=True) if available_now
              else writer.trigger(processingTime=f"{config.sink.trigger_seconds} seconds"))
    query = writer.start()
    scorer.started(str(query.id))
    return query


def main(argv: list[str] | None = None) -> int:
    from loader.factory import loader_from_environment
    from ml.session import session
    from schemas.registry import SchemaSource

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="spark/conf/failure_detection.conf")
    parser.add_argument("--type", dest="message_type",
                        help="the telemetry's message type (the supervisor passes it; it must "
                             "be the config's)")
    parser.add_argument("--available-now", action="store_true",
                        help="score what is in the topic now, then stop")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    config = ScoringConfig.load(args.config, args.message_type)
    schema = SchemaSource(os.environ.get("HOVER_SCHEMA_REGISTRY_URL")).resolve(
        config.sink.message_type, config.sink.schema_subject, config.sink.schema_version).schema
    url = os.environ.get("HOVER_ELASTICSEARCH_URL")
    alerts = AlertWriter.from_url(url) if url else None
    loader = loader_from_environment()
    try:
        query = start(session(config.sink.query_name), config,
                      bootstrap=os.environ["HOVER_KAFKA_BOOTSTRAP"], schema=schema,
                      wh=Warehouse.from_environment(), loader=loader, alerts=alerts,
                      available_now=args.available_now)
        query.awaitTermination()
    finally:
        loader.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
