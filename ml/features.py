"""The features of failure detection, per board and event-time window: one definition for
training (a batch read of the warehouse) and for scoring (the telemetry stream).

Every function is a plain DataFrame transformation with built-in functions (no UDFs), so it
runs on a static DataFrame as on a streaming one: :func:`telemetry_windows` is a
``groupBy(board, window(event_time))`` of aggregates that Structured Streaming keeps as state
under a watermark. The trip features relate telemetry to trips: the charge a board used per
kilometre of a trip, from the telemetry at the trip's first and last tick (the simulator, like
a board's firmware, reports at the instants a trip starts and ends).

Features (per window):

- ``samples``, ``docked_share``: how many readings, the share on the dock;
- ``temp_mean``, ``temp_slope`` (°C/min): battery temperature and its rate of change;
- ``charge_slope_docked``, ``charge_slope_riding`` (%/min): the charge's rate of change on
  the dock (a charger that cannot keep up: negative) and while riding;
- ``mag_spike``, ``mag_std`` (µT): magnetic-field spikes, as the window's maximum above its
  mean and the spread (the rule reads ``mag_max``, the maximum itself, which the model does
  not: the Earth's field differs from city to city, and with it the forest learnt the field
  of the cities its magnetic boards were in and flagged healthy boards there);
- ``speed_mean`` (km/h) and ``load_mean`` (kg on the deck while riding);
- ``ride_drain_per_km_75kg`` (% per km per 75 kg): while riding, the charge used per
  kilometre ridden (the riding charge slope over the riding speed) per 75 kg of load: what a
  trip's drain says, already during the ride, so a battery losing charge on the road (a
  thermal or a worn one) shows in the minute it does, not when the trip ends;
- ``trip_km`` and ``drain_per_km`` (% per km; the rule reads it, the model does not: see
  :data:`FEATURES`): the trips of the board that ended in the
  ``TRIP_LOOKBACK_S`` up to the window's end, and ``drain_per_km_75kg``, the same per 75 kg
  of rider (each trip's charge scaled by 75 / the load at its first tick): a heavy rider
  drains a healthy battery faster per km, a worn battery drains faster under anyone.
"""

from __future__ import annotations

import hashlib

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

#: Length of a feature window. One minute: enough readings (about 12) for a rate of
#: change, and two of them (an alarm, ``ml.evaluation.CONFIRM_WINDOWS``) fit in the 5
#: minutes after an onset that detection may take; 2-minute windows made the alarm come
#: 4-6 minutes after a thermal onset.
WINDOW = "1 minute"
WINDOW_S = 60
#: A trip's drain stays a feature of its board's windows this long after it ended: a trip
#: ends in one window only, and an alarm needs consecutive flagged windows.
TRIP_LOOKBACK_S = 600
#: A window with fewer readings than this is not judged (not trained on, evaluated or
#: scored): a board reports about every 5 s, a dozen readings a window, and a window with
#: under half of them was cut, by the stretch's edge in the warehouse or, on the stream, by
#: the watermark when a micro-batch read one Kafka partition far ahead of another (catching
#: up a backlog): the slower partition's readings then arrive late and are dropped, and the
#: few left make slopes and spreads no healthy minute has.
MIN_READINGS = 6
#: Riding readings a window needs for ``ride_drain_per_km_75kg``: fewer (a ride starting or
#: ending in it) give a slope of two or three readings, at the push-off's speed near 0.
MIN_RIDING_READINGS = 6
#: Trips shorter than this (straight line, start to end) say nothing about drain per km.
MIN_TRIP_KM = 0.2

#: What the model reads. Not ``drain_per_km`` (the rule's): the trip drain per 75 kg says
#: the same without the rider's weight in it; with both, the forest split on the raw one and
#: flagged healthy boards after a heavy rider's trip (18-20 % per km, 13 per 75 kg).
FEATURES = ("samples", "docked_share", "temp_mean", "temp_slope", "charge_slope_docked",
            "charge_slope_riding", "mag_spike", "mag_std", "speed_mean", "load_mean",
            "ride_drain_per_km_75kg", "trip_km", "drain_per_km_75kg")
TELEMETRY_COLUMNS = ("id", "event_time", "temperature", "charge", "isdocked", "magneticfield",
                     "speed", "weight")


def _per_minute(x: Column, y: Column) -> Column:
    """Least-squares slope of y over x (seconds), per minute; null under two readings or
    when they share one instant (a retried reading): schema-valid data must not stop the
    scoring stream, and ANSI SQL fails a division by zero."""
    return F.try_divide(F.covar_samp(x, y), F.var_samp(x)) * 60.0


def window_aggregates() -> list[Column]:
    """What :func:`telemetry_windows` keeps per board and window: on a stream, the shape of
    the query's state (:func:`state_fingerprint`)."""
    t = F.col("event_time").cast("double")
    docked = F.col("isdocked")
    return [
        F.count(F.lit(1)).cast("double").alias("samples"),
        F.avg(docked.cast("double")).alias("docked_share"),
        F.avg("temperature").alias("temp_mean"),
        _per_minute(t, F.col("temperature")).alias("temp_slope"),
        _per_minute(F.when(docked, t), F.when(docked, F.col("charge"))).alias(
            "charge_slope_docked"),
        _per_minute(F.when(~docked, t), F.when(~docked, F.col("charge"))).alias(
            "charge_slope_riding"),
        F.max("magneticfield").alias("mag_max"),
        F.avg("magneticfield").alias("mag_mean"),
        F.stddev_pop("magneticfield").alias("mag_std"),
        F.avg("speed").alias("speed_mean"),
        F.avg(F.when(~docked, F.col("weight"))).alias("load_mean"),
        F.count(F.when(~docked, F.lit(1))).alias("riding_readings"),
        F.avg(F.when(~docked, F.col("speed"))).alias("riding_speed"),
    ]


def state_fingerprint(window: str = WINDOW) -> str:
    """A digest of the window and of every aggregate the streaming query keeps in its state.
    Spark refuses to restart a checkpoint whose state has another shape (a feature added or
    changed), so the scoring job keeps its state under this name: a new feature definition
    starts a new state and run instead of a query that fails on every restart."""
    text = "\n".join([window, *(str(c) for c in window_aggregates())])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def telemetry_windows(telemetry: DataFrame, window: str = WINDOW) -> DataFrame:
    """Telemetry rows (``fleet.hoverboard`` columns) -> one row per board and window:
    ``board_id``, ``window_start``, ``window_end`` and the telemetry features. On a stream,
    call it after ``withWatermark("event_time", ...)``."""
    windows = telemetry.groupBy(F.col("id").alias("board_id"),
                                F.window("event_time", window).alias("w")).agg(
        *window_aggregates())
    # %/min over km/h * 60 is % per km; a heavier rider drains a healthy battery faster.
    per_km = F.try_divide(-F.col("charge_slope_riding") * 60.0, F.col("riding_speed"))
    ride_drain = F.when(F.col("riding_readings") >= MIN_RIDING_READINGS,
                        F.try_divide(per_km * 75.0, F.col("load_mean")))
    return windows.select("board_id", F.col("w.start").alias("window_start"),
                          F.col("w.end").alias("window_end"),
                          *[c for c in windows.columns[2:]
                            if c not in ("riding_readings", "riding_speed", "mag_mean")],
                          (F.col("mag_max") - F.col("mag_mean")).alias("mag_spike"),
                          ride_drain.alias("ride_drain_per_km_75kg"))


def complete(windows: DataFrame, min_readings: int = MIN_READINGS) -> DataFrame:
    """The windows of :func:`telemetry_windows` with at least ``min_readings`` readings."""
    return windows.where(F.col("samples") >= min_readings)


def _km(lat1: Column, lon1: Column, lat2: Column, lon2: Column) -> Column:
    """Great-circle distance in km (haversine)."""
    dlat, dlon = F.radians(lat2 - lat1), F.radians(lon2 - lon1)
    a = (F.sin(dlat / 2) ** 2
         + F.cos(F.radians(lat1)) * F.cos(F.radians(lat2)) * F.sin(dlon / 2) ** 2)
    return 2 * 6371.0 * F.asin(F.sqrt(a))


def trip_drain(trips: DataFrame, telemetry: DataFrame) -> DataFrame:
    """Trips (``fleet.trip`` columns) related to the telemetry at their first and last tick:
    ``board_id``, ``end_time``, ``km``, ``used`` (charge points used on the trip) and
    ``load`` (kg on the deck at its first tick; null when none was reported)."""
    at_start = telemetry.select(F.col("id").alias("hoverboard_id"),
                                F.col("event_time").alias("start_time"),
                                F.col("charge").alias("start_charge"),
                                F.when(F.col("weight") > 0, F.col("weight")).alias("load"))
    at_end = telemetry.select(F.col("id").alias("hoverboard_id"),
                              F.col("event_time").alias("end_time"),
                              F.col("charge").alias("end_charge"))
    return (trips.join(at_start, ["hoverboard_id", "start_time"])
            .join(at_end, ["hoverboard_id", "end_time"])
            .select(F.col("hoverboard_id").alias("board_id"), "end_time",
                    _km(F.col("start_latitude"), F.col("start_longitude"),
                        F.col("end_latitude"), F.col("end_longitude")).alias("km"),
                    (F.col("start_charge") - F.col("end_charge")).alias("used"), "load"))


def with_trip_features(windows: DataFrame, drains: DataFrame) -> DataFrame:
    """Windows with ``trip_km``, ``drain_per_km`` and ``drain_per_km_75kg`` of the trips
    that ended in the ``TRIP_LOOKBACK_S`` up to their end (0 when no trip of at least
    ``MIN_TRIP_KM`` did), every feature non-null."""
    trips = drains.where(F.col("km") >= MIN_TRIP_KM).alias("d")
    w = windows.alias("w")
    since = F.col("w.window_end") - F.expr(f"INTERVAL {TRIP_LOOKBACK_S} SECONDS")
    joined = w.join(trips, (F.col("w.board_id") == F.col("d.board_id"))
                    & (F.col("d.end_time") >= since)
                    & (F.col("d.end_time") < F.col("w.window_end")), "left")
    keys = ["board_id", "window_start", "window_end"]
    telemetry_features = [c for c in windows.columns if c not in keys]
    per_window = joined.groupBy(*[F.col(f"w.{k}").alias(k) for k in keys]).agg(
        *[F.first(F.col(f"w.{c}")).alias(c) for c in telemetry_features],
        F.sum("d.km").alias("trip_km"), F.sum("d.used").alias("trip_used"),
        F.sum(F.when(F.col("d.load").isNotNull(), F.col("d.km"))).alias("loaded_km"),
        F.sum(F.col("d.used") * 75.0 / F.col("d.load")).alias("trip_used_75kg"))
    return (per_window
            .withColumn("drain_per_km",
                        F.coalesce(F.try_divide(F.col("trip_used"), F.col("trip_km")), F.lit(0.0)))
            .withColumn("drain_per_km_75kg", F.coalesce(
                F.try_divide(F.col("trip_used_75kg"), F.col("loaded_km")), F.lit(0.0)))
            .withColumn("trip_km", F.coalesce(F.col("trip_km"), F.lit(0.0)))
            .drop("trip_used", "loaded_km", "trip_used_75kg")
            .fillna(0.0, subset=[*FEATURES, "drain_per_km"]))


def label_windows(windows: DataFrame, labels: DataFrame) -> DataFrame:
    """Windows with ``label`` (1.0 from the board's fault onset on, 0.0 before it and for
    healthy boards) and ``onset``; a window the onset falls inside is left out (neither
    healthy nor faulty). ``labels``: ``board_id``, ``onset`` (``ml.fault_labels``)."""
    first = labels.groupBy("board_id").agg(F.min("onset").alias("onset"))
    joined = windows.join(first, "board_id", "left")
    straddles = (F.col("onset") > F.col("window_start")) & (F.col("onset") < F.col("window_end"))
    label = F.when(F.col("onset").isNotNull() & (F.col("window_start") >= F.col("onset")),
                   1.0).otherwise(0.0)
    return joined.where(~F.coalesce(straddles, F.lit(False))).withColumn("label", label)
