"""Structured Streaming sink: one Kafka topic into its warehouse table, exactly once.

Reads the topic named in the config file, parses each record with a Spark schema derived
from the topic's JSON Schema (from the schema registry, ``schemas/`` as fallback), flattens
it to the table's columns and hands every micro-batch to ``loader.batch`` through
``foreachBatch``. The rows never come to the driver: each executor checks its partition's
records with the ingest API's validator (``spark.checks``) and the table's own limits
(``loader.limits``) and stages them (``loader.staged``); the driver commits the batch:

* valid rows are bulk-loaded and merged on the natural key (``loader/``), so a batch that
  Spark replays after a crash (its offsets are checkpointed only after it succeeded)
  changes nothing the second time: no duplicates, no gaps;
* records that are invalid or that a column cannot hold go to ``platform.dead_letters``
  with their raw bytes and the reasons (pointer, column, rule): never a failed batch;
* the batch's progress (rows, rate, offsets per partition) goes to
  ``platform.stream_progress``, in the same transaction as the rows, under the query's run
  (Spark's query id, one per checkpoint: a new checkpoint's batch ids start again at 0).

Usage (settings from the environment: stack.env locally)::

    spark-submit --jars "$HOVER_SPARK_JARS" spark/sink_job.py --type trip
    python -m spark.sink_job --type trip  # master: $HOVER_SPARK_MASTER
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time
from functools import partial

from pyspark.sql import DataFrame, SparkSession

from alerts.document import Severity
from alerts.emitter import AlertEmitter
from loader.base import Loader
from loader.concurrency import first_line
from loader.factory import loader_from_environment
from loader.outage import OutagePolicy, run_through_outage
from loader.staged import (
    SUMMARY_DDL,
    PartitionSummary,
    StagedLoad,
    StagedResult,
    stage_batches,
    staging_for,
)
from loader.tables import TableSpec, table_spec
from schemas.registry import SchemaSource
from spark.config import SINK_CONF, SinkConfig
from spark.transform import decode, flatten

log = logging.getLogger("spark.sink_job")

#: How long a batch waits for ``start()`` to return the query's id.
RUN_ID_TIMEOUT_S = 60.0


def object_store(checkpoint: str) -> tuple[list[str], dict[str, str]]:
    """The driver's extra classpath and settings for a checkpoint in the object store
    (``s3a://bucket/prefix``), so a driver restarted on another host resumes from it:
    Hadoop's s3a settings (``ml.session.s3a_settings``: the local S3's endpoint and keys; the
    instance role without an endpoint) and the connector's jars from the artifact cache,
    unless ``HOVER_SPARK_DRIVER_CLASSPATH`` names them (a deployment's own copy). Only the
    driver reads and writes the checkpoint: the jars (the AWS SDK alone is 655 MB) are not
    shipped to executors. Nothing for a checkpoint on a local disk."""
    if not checkpoint.startswith("s3a://"):
        return [], {}
    from ml.session import SPARK_S3A, s3a_settings

    classpath = [p for p in os.environ.get("HOVER_SPARK_DRIVER_CLASSPATH", "").split(":") if p]
    if not classpath:
        from stack.config import StackConfig

        classpath = [str(p) for p in sorted(SPARK_S3A.ensure(StackConfig.from_env().cache_dir)
                                            .glob("*.jar"))]
    return classpath, s3a_settings()


def build_session(app_name: str, checkpoint: str = "") -> SparkSession:
    from pyspark import SparkConf

    log_level = spark_log_level()  # a typo fails here, before a session is started
    builder = SparkSession.builder.appName(app_name).config("spark.sql.session.timeZone", "UTC")
    # spark-submit's --master (the supervisor's, from the spark_default connection) wins;
    # HOVER_SPARK_MASTER only applies to a driver started directly with python.
    if os.environ.get("HOVER_SPARK_MASTER") and not SparkConf().contains("spark.master"):
        builder = builder.master(os.environ["HOVER_SPARK_MASTER"])
    if os.environ.get("HOVER_SPARK_JARS"):  # the connector from the local cache, no resolving
        builder = builder.config("spark.jars", os.environ["HOVER_SPARK_JARS"])
    # A checkpoint in S3: s3a on the driver. Its classpath applies when this process starts
    # the JVM (python -m); spark-submit is given it (--driver-class-path, as the launcher does
    # from HOVER_SPARK_DRIVER_CLASSPATH).
    classpath, store_settings = object_store(checkpoint)
    if classpath:
        builder = builder.config("spark.driver.extraClassPath", ":".join(classpath))
    for key, value in store_settings.items():
        builder = builder.config(key, value)
    # Executors run this job's Python (loader.staged): the driver's interpreter unless
    # spark-submit (spark.pyspark.python) or a packaged environment names another.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if os.environ.get("SPARK_LOCAL_IP"):
        builder = (builder.config("spark.driver.host", os.environ["SPARK_LOCAL_IP"])
                   .config("spark.driver.bindAddress", os.environ["SPARK_LOCAL_IP"]))
    spark = (builder.config("spark.ui.enabled", "false")
             .config("spark.ui.showConsoleProgress", "false").getOrCreate())
    # At INFO, Spark writes dozens of lines per micro-batch (a batch every few seconds,
    # forever: gigabytes a day into the job's log). The progress is in
    # platform.stream_progress and this job logs one line per batch itself.
    spark.sparkContext.setLogLevel(log_level)
    return spark


SPARK_LOG_LEVELS = ("ALL", "TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", "OFF")


def spark_log_level() -> str:
    """Spark's (log4j's) level for the driver: ``HOVER_SPARK_LOG_LEVEL``, WARN by default."""
    level = os.environ.get("HOVER_SPARK_LOG_LEVEL", "WARN").strip().upper()
    if level not in SPARK_LOG_LEVELS:
        raise ValueError(f"HOVER_SPARK_LOG_LEVEL={level!r}: expected one of "
                         f"{', '.join(SPARK_LOG_LEVELS)}")
    return level


#: Options of the Kafka source shared by the streaming job and the benchmark's read-only run.
KAFKA_SOURCE_OPTIONS = {
    "includeHeaders": "true",
    # A micro-batch reads up to the latest offsets, so a task's last fetch asks for records
    # that do not exist yet and the broker holds it for fetch.max.wait.ms (500 ms by
    # default) before the task can finish. 10 ms halved the time to read 200k records
    # (timed once with and without; sink_bench's spark_read_only line times it with);
    # the consumer is idle between batches anyway.
    "kafka.fetch.max.wait.ms": "10",
}


def read_topic(spark: SparkSession, config: SinkConfig, bootstrap: str) -> DataFrame:
    return (
        spark.readStream.format("kafka")
        .options(**KAFKA_SOURCE_OPTIONS)
        .option("kafka.bootstrap.servers", bootstrap)
        .option("subscribe", config.topic)
        .option("startingOffsets", config.starting_offsets)
        .option("maxOffsetsPerTrigger", config.max_offsets_per_trigger)
        # A deleted-and-recreated topic must stop the job, not silently skip data.
        .option("failOnDataLoss", "true")
        .load()
    )


class BatchWriter:
    """The ``foreachBatch`` function: the driver readies the batch's staging area, one Spark
    action stages every partition on the executors (``loader.staged``: validate, check the
    table's limits, COPY; only summaries come back), the driver merges and records dead
    letters and progress in one transaction, then alerts if records became dead letters."""

    def __init__(self, config: SinkConfig, spec: TableSpec, schema: dict, loader: Loader,
                 alerts: AlertEmitter | None = None) -> None:
        self.config = config
        self.spec = spec
        self.schema = schema
        self.loader = loader
        self.alerts = alerts
        self._run_id: str | None = None
        self._run_known = threading.Event()
        self.load = StagedLoad(staging=staging_for(loader), spec=spec, schema=schema,
                               loader=loader, query_name=config.query_name,
                               run_id=lambda: self.run_id)

    def started(self, run_id: str) -> None:
        """The query's id, known once ``writeStream.start()`` returned."""
        self._run_id = run_id
        self._run_known.set()

    @property
    def run_id(self) -> str:
        # The first batch may be called (on py4j's callback thread) before start() returned.
        if not self._run_known.wait(RUN_ID_TIMEOUT_S):
            raise RuntimeError(f"{self.config.query_name}: the streaming query's id is not "
                               f"known {RUN_ID_TIMEOUT_S} s after its first batch")
        return self._run_id

    def load_batch(self, batch: DataFrame, batch_id: int, started: float
                   ) -> StagedResult | None:
        """One attempt at the batch, from an empty staging area to the commit; None when
        the batch committed before (a replay, or an attempt whose connection broke after
        its commit)."""
        plan = self.load.begin(batch_id)
        if plan is None:
            return None
        return self.load.commit(plan, self.stage(batch, plan), started=started)

    def outage_began(self, error: BaseException) -> None:
        """The warehouse is away: one alert per outage (the emitter's rate limit keeps a
        flapping connection to one a minute), while the batch waits for it."""
        log.warning("%s: warehouse unreachable, the batch waits up to %.0f s for it",
                    self.config.query_name, self.config.warehouse_outage_s)
        if self.alerts is not None:
            self.alerts.emit(
                "warehouse_unavailable",
                f"{self.config.query_name}: the warehouse is unreachable; the batch is tried "
                f"again for up to {self.config.warehouse_outage_s:.0f} s before the query "
                "fails", error=first_line(error),
                details={"query": self.config.query_name, "topic": self.config.topic},
                rate_key="warehouse_unavailable")

    def stage(self, batch: DataFrame, plan) -> list[PartitionSummary]:
        """The batch's one Spark action: every partition staged where it was read."""
        staged = batch.mapInArrow(partial(stage_batches, plan), SUMMARY_DDL)
        return [PartitionSummary.from_json(row.summary) for row in staged.collect()]

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        started = time.monotonic()
        result = run_through_outage(
            partial(self.load_batch, batch, batch_id, started),
            OutagePolicy(budget_s=self.config.warehouse_outage_s),
            what=f"{self.config.query_name} batch {batch_id}", on_outage=self.outage_began)
        if result is None:
            log.info("%s batch %d: committed before, nothing to do", self.config.query_name,
                     batch_id)
            return
        if result.dead_letters and self.alerts is not None:
            partition, offset, error = result.first_letter
            self.alerts.emit(
                "dead_letters",
                f"{self.config.query_name}: {result.dead_letters} record(s) of batch "
                f"{batch_id} could not be loaded and went to platform.dead_letters",
                details={"query": self.config.query_name, "batch_id": batch_id,
                         "count": result.dead_letters, "topic": self.config.topic,
                         "first": {"partition": partition, "offset": offset, "error": error}},
                rate_key="dead_letters")
        log.info("%s batch %d: %d in, %d written, %d dead letters", self.config.query_name,
                 batch_id, result.input_rows, result.written, result.dead_letters)


def start(spark: SparkSession, config: SinkConfig, *, bootstrap: str, loader: Loader,
          schema: dict, available_now: bool = False, alerts: AlertEmitter | None = None):
    spec = table_spec(config.message_type)
    rows = flatten(decode(read_topic(spark, config, bootstrap)), schema, spec)
    batch_writer = BatchWriter(config, spec, schema, loader, alerts)
    writer = (
        rows.writeStream.queryName(config.query_name)
        .foreachBatch(batch_writer)
        .option("checkpointLocation", config.checkpoint_location)
    )
    if available_now:
        writer = writer.trigger(availableNow=True)
    else:
        writer = writer.trigger(processingTime=f"{config.trigger_seconds} seconds")
    query = writer.start()
    batch_writer.started(str(query.id))
    return query


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(SINK_CONF),
                        help="sink configuration (default: spark/conf/sink.conf)")
    parser.add_argument("--type", dest="message_type",
                        help="the message type to sink (default: the config's message_type)")
    parser.add_argument("--available-now", action="store_true",
                        help="process what is in the topic now, then stop (backfills, tests)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    config = SinkConfig.load(args.config, args.message_type)
    resolved = SchemaSource(os.environ.get("HOVER_SCHEMA_REGISTRY_URL")).resolve(
        config.message_type, config.schema_subject, config.schema_version)
    log.info("%s: %s v%s (from %s) into %s", config.query_name, resolved.subject,
             resolved.version, resolved.origin, table_spec(config.message_type).table)
    alerts = AlertEmitter.from_environment("spark_sink",
                                           labels={"query": config.query_name})
    spark = build_session(config.query_name, config.checkpoint_location)
    loader = loader_from_environment()
    try:
        query = start(spark, config, bootstrap=os.environ["HOVER_KAFKA_BOOTSTRAP"],
                      loader=loader, schema=resolved.schema,
                      available_now=args.available_now, alerts=alerts)
        alerts.emit("query_started", f"{config.query_name} started on topic {config.topic}",
                    Severity.INFO)
        query.awaitTermination()
    except Exception as exc:
        alerts.emit("query_failed", f"{config.query_name} failed: {exc}", Severity.ERROR,
                    error=exc, details={"query": config.query_name, "topic": config.topic})
        raise
    else:
        alerts.emit("query_stopped", f"{config.query_name} stopped", Severity.INFO)
    finally:
        loader.close()
        alerts.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
