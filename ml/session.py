"""A Spark session on the warehouse: the data scientist's entry point, and the training job's.

``python -m ml.session`` (or ``bin/spark-session``) opens a pyspark shell with ``spark`` and
``wh`` (a :class:`Warehouse`) defined::

    >>> telemetry = wh.table(spark, "fleet.hoverboard", partition_column="event_time")
    >>> telemetry.groupBy("id").count().show()

Tables are read with Spark's JDBC reader, split into ``partitions`` range reads on a key or
time column (never one big query). Locally the PostgreSQL driver comes from Maven Central
through the stack's artifact cache, like the Kafka connector; in production
``HOVER_WAREHOUSE_ENGINE=redshift`` selects the Redshift JDBC driver with IAM authentication
(``HOVER_WAREHOUSE_JDBC_URL=jdbc:redshift:iam://cluster:region/db``, the cluster's role; its jar
in ``HOVER_SPARK_JARS``), same tables by name. Models go to S3 through ``s3a://`` with the
Hadoop AWS connector (also from Maven): the stack's s3proxy locally
(``HOVER_S3_ENDPOINT``), the instance role in production.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from stack.artifacts import ArtifactSet, Coordinate

#: The warehouse's JDBC driver (PostgreSQL locally), fetched once into the artifact cache.
WAREHOUSE_JDBC = ArtifactSet(
    name="warehouse-jdbc",
    coordinates=(Coordinate("org.postgresql:postgresql:42.7.8"),),
    transitive=False,
)
#: ``s3a://`` for the pinned pyspark's Hadoop (3.5.0) and the AWS SDK it is built against.
#: Not transitive: Hadoop's own jars ship with pyspark.
SPARK_S3A = ArtifactSet(
    name="spark-s3a-3.5.0",
    coordinates=(
        Coordinate("org.apache.hadoop:hadoop-aws:3.5.0"),
        Coordinate("software.amazon.awssdk:bundle:2.35.4"),
        Coordinate("software.amazon.s3.analyticsaccelerator:analyticsaccelerator-s3:1.3.1"),
    ),
    transitive=False,
)

DRIVERS = {"postgres": "org.postgresql.Driver",
           "redshift": "com.amazon.redshift.jdbc42.Driver"}


def ml_jars() -> list[str]:
    """The JDBC driver and s3a jars, fetched from Maven on first use."""
    from stack.config import StackConfig

    cache = StackConfig.from_env().cache_dir
    return [str(p) for s in (WAREHOUSE_JDBC, SPARK_S3A)
            for p in sorted(s.ensure(cache).glob("*.jar"))]


def configure_s3a(spark: SparkSession) -> None:
    """Apply :func:`s3a_settings` to a running session (file systems are made on first use)."""
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    for key, value in s3a_settings().items():
        conf.set(key.removeprefix("spark.hadoop."), value)


#: What :func:`s3a_settings` reads besides the region: a supervised driver that reaches the
#: local S3 (a checkpoint in ``s3a://``) needs these beyond the launcher's allow-list.
S3A_ENVIRONMENT = ("HOVER_S3_ENDPOINT", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


def s3a_settings() -> dict[str, str]:
    """Hadoop's s3a settings: the endpoint and keys of the environment when there is an
    endpoint (the local s3proxy: path-style addresses), the default credential chain
    (the instance role) otherwise."""
    settings = {"spark.hadoop.fs.s3a.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem"}
    endpoint = os.environ.get("HOVER_S3_ENDPOINT")
    if endpoint:
        settings |= {
            "spark.hadoop.fs.s3a.endpoint": endpoint,
            "spark.hadoop.fs.s3a.path.style.access": "true",
            "spark.hadoop.fs.s3a.connection.ssl.enabled": str(endpoint.startswith("https")).lower(),
            "spark.hadoop.fs.s3a.endpoint.region":
                os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
            "spark.hadoop.fs.s3a.aws.credentials.provider":
                "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
            "spark.hadoop.fs.s3a.access.key": os.environ.get("AWS_ACCESS_KEY_ID", ""),
            "spark.hadoop.fs.s3a.secret.key": os.environ.get("AWS_SECRET_ACCESS_KEY", ""),
            # s3proxy's filesystem store has no multipart-copy or checksum extras.
            "spark.hadoop.fs.s3a.change.detection.mode": "none",
            "spark.hadoop.fs.s3a.checksum.validation": "false",
        }
    return settings


def session(app_name: str = "hoverboard-ml", *,
            extra: dict[str, str] | None = None) -> SparkSession:
    """The sink's session settings (master, time zone, log level, Kafka jars) plus the
    warehouse driver and s3a. An already running session is returned as it is."""
    from spark.sink_job import spark_log_level

    jars = [j for j in os.environ.get("HOVER_SPARK_JARS", "").split(",") if j] + ml_jars()
    builder = (SparkSession.builder.appName(app_name)
               .master(os.environ.get("HOVER_SPARK_MASTER", "local[2]"))
               .config("spark.jars", ",".join(jars))
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.shuffle.partitions",
                       os.environ.get("HOVER_ML_SHUFFLE_PARTITIONS", "4"))
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false"))
    if os.environ.get("SPARK_LOCAL_IP"):
        builder = (builder.config("spark.driver.host", os.environ["SPARK_LOCAL_IP"])
                   .config("spark.driver.bindAddress", os.environ["SPARK_LOCAL_IP"]))
    for key, value in (s3a_settings() | (extra or {})).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    configure_s3a(spark)  # also when the session was already running
    spark.sparkContext.setLogLevel(spark_log_level())
    return spark


def jdbc_url(dsn: str) -> tuple[str, dict[str, str]]:
    """A libpq DSN (``runtime.settings.warehouse_dsn``) as a JDBC URL and its user/password
    properties."""
    from psycopg.conninfo import conninfo_to_dict

    params = conninfo_to_dict(dsn)
    url = (f"jdbc:postgresql://{params.get('host') or 'localhost'}:{params.get('port') or 5432}"
           f"/{params.get('dbname') or ''}")
    properties = {"user": str(params.get("user") or ""),
                  "password": str(params.get("password") or "")}
    return url, properties


@dataclass(frozen=True)
class Warehouse:
    """The warehouse as Spark reads it: a JDBC URL, its properties and its driver."""

    url: str
    properties: dict[str, str] = field(repr=False)
    engine: str = "postgres"
    dsn: str = field(default="", repr=False)

    @classmethod
    def from_environment(cls, dsn: str | None = None) -> Warehouse:
        """The warehouse of the platform's one setting (``AIRFLOW_CONN_WAREHOUSE_DEFAULT``,
        ``runtime.settings``), or of ``dsn``; the engine is the connection's type unless
        ``HOVER_WAREHOUSE_ENGINE`` says otherwise, as for the loader."""
        from runtime.settings import warehouse_connection

        connection = None if dsn else warehouse_connection()
        engine = (os.environ.get("HOVER_WAREHOUSE_ENGINE")
                  or (connection.conn_type if connection else "postgres"))
        dsn = dsn or connection.dsn()
        if engine == "redshift":
            url = os.environ.get("HOVER_WAREHOUSE_JDBC_URL")
            if not url:
                raise RuntimeError("HOVER_WAREHOUSE_ENGINE=redshift needs HOVER_WAREHOUSE_JDBC_URL "
                                   "(jdbc:redshift:iam://<cluster>:<region>/<database>)")
            return cls(url, {"driver": DRIVERS["redshift"]}, engine, dsn)
        url, properties = jdbc_url(dsn)
        return cls(url, properties | {"driver": DRIVERS["postgres"]}, engine, dsn)

    def table(self, spark: SparkSession, name: str, *, partition_column: str,
              lower: Any = None, upper: Any = None, partitions: int = 4,
              where: str | None = None) -> DataFrame:
        """``name`` read as ``partitions`` range queries on ``partition_column`` between
        ``lower`` and ``upper`` (the column's min and max when not given; rows outside
        still come, in the first and last range). ``where``: a filter sent to the
        warehouse with every range query."""
        source = f"(SELECT * FROM {name} WHERE {where}) AS t" if where else name
        if lower is None or upper is None:
            bounds = (spark.read.jdbc(self.url, f"(SELECT min({partition_column}) AS lo, "
                                      f"max({partition_column}) AS hi FROM {source}) AS b",
                                      properties=self.properties).first())
            if bounds is None or bounds["lo"] is None:
                return spark.read.jdbc(self.url, source, properties=self.properties)
            lower, upper = bounds["lo"], bounds["hi"]
        if isinstance(lower, datetime):
            lower, upper = lower.isoformat(), upper.isoformat()
        return (spark.read.format("jdbc").option("url", self.url).option("dbtable", source)
                .option("partitionColumn", partition_column).option("lowerBound", str(lower))
                .option("upperBound", str(upper)).option("numPartitions", partitions)
                .options(**self.properties).load())


def main() -> None:
    """An interactive pyspark shell with ``spark`` and ``wh`` ready."""
    import code

    spark = session("hoverboard-ml-shell")
    wh = Warehouse.from_environment()
    banner = (f"Spark {spark.version} on {os.environ.get('HOVER_SPARK_MASTER', 'local[2]')}; "
              f"warehouse {wh.url}\n"
              "wh.table(spark, 'fleet.hoverboard', partition_column='event_time') reads a table")
    code.interact(banner=banner, local={"spark": spark, "wh": wh, "Warehouse": Warehouse})


if __name__ == "__main__":
    main()
