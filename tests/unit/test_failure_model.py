"""Failure detection's pure parts, as a spec: the features on a few readings, the
evaluation on a few windows, the promotion gate's decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ml.evaluation import Label, Metrics, Window, evaluate, p95
from ml.gate import decide

T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def minutes(m: float) -> datetime:
    return T0 + timedelta(minutes=m)


def reading(board: int, second: int, *, temperature=20.0, charge=80.0, docked=True,
            magnetic=50.0, speed=0.0, weight=0.0) -> dict:
    return {"id": board, "event_time": T0 + timedelta(seconds=second),
            "temperature": temperature, "charge": charge, "isdocked": docked,
            "magneticfield": magnetic, "speed": speed, "weight": weight}


# -- features ------------------------------------------------------------------------------

def test_window_features_are_rates_per_minute_and_spikes(spark) -> None:
    from ml.features import telemetry_windows

    # Board 1 on the dock for a minute: +1 °C and -0.5 % of charge every 10 s.
    rows = [reading(1, s, temperature=20 + s / 10, charge=90 - s / 20) for s in range(0, 60, 5)]
    # Board 2 rides: 20 km/h, a 400 µT spike once, 80 kg on the deck.
    rows += [reading(2, s, docked=False, speed=20.0, weight=80.0,
                     magnetic=400.0 if s == 30 else 55.0) for s in range(0, 60, 5)]
    found = {r["board_id"]: r for r in telemetry_windows(spark.createDataFrame(rows)).collect()}
    assert found[1]["samples"] == 12 and found[1]["docked_share"] == 1.0
    assert found[1]["temp_slope"] == pytest.approx(6.0)  # °C per minute
    assert found[1]["charge_slope_docked"] == pytest.approx(-3.0)
    assert found[1]["charge_slope_riding"] is None  # it never rode
    assert found[2]["mag_max"] == 400.0 and found[2]["load_mean"] == 80.0
    # above the window's mean: a spike, whatever the city's own field
    assert found[2]["mag_spike"] == pytest.approx(400.0 - (11 * 55.0 + 400.0) / 12)
    assert found[2]["window_start"] == minutes(0).replace(tzinfo=None)
    assert found[2]["window_end"] == minutes(1).replace(tzinfo=None)


def test_a_ride_drain_is_charge_per_km_ridden_per_75_kg(spark) -> None:
    from ml.features import MIN_RIDING_READINGS, telemetry_windows

    # Board 1 rides the whole minute at 18 km/h with 150 kg on the deck, losing 6 % a minute:
    # 20 % per km ridden, 10 per 75 kg. Board 2 pushes off at the minute's last 3 readings.
    rows = [reading(1, s, docked=False, speed=18.0, weight=150.0, charge=90 - s / 10)
            for s in range(0, 60, 5)]
    rows += [reading(2, s, docked=s < 45, speed=0.0 if s < 50 else 8.0, weight=0.0 if s < 45
                     else 70.0, charge=90 - max(0, s - 45) / 10) for s in range(0, 60, 5)]
    found = {r["board_id"]: r for r in telemetry_windows(spark.createDataFrame(rows)).collect()}
    assert found[1]["ride_drain_per_km_75kg"] == pytest.approx(10.0)
    assert 3 < MIN_RIDING_READINGS and found[2]["ride_drain_per_km_75kg"] is None


def test_readings_of_one_instant_give_no_slope_and_stop_nothing(spark) -> None:
    from ml.features import telemetry_windows

    # A reading sent twice (a client retry): two readings, one instant, no time to divide by.
    rows = [reading(3, 30, temperature=21.0), reading(3, 30, temperature=21.0)]
    [found] = telemetry_windows(spark.createDataFrame(rows)).collect()
    assert found["samples"] == 2 and found["temp_mean"] == 21.0
    assert found["temp_slope"] is None and found["charge_slope_docked"] is None


def test_a_window_the_watermark_cut_to_a_few_readings_is_not_judged(spark) -> None:
    from ml.features import MIN_READINGS, complete, telemetry_windows

    # Board 1 reported its whole minute; of board 2's minute only the first three readings
    # came before the watermark passed (its partition read behind the other's): the rest
    # were dropped as late. Its three readings rise steeply, as no healthy minute does.
    rows = [reading(1, s) for s in range(0, 60, 5)]
    rows += [reading(2, s, temperature=20.0 + s) for s in range(0, 15, 5)]
    windows = telemetry_windows(spark.createDataFrame(rows))
    assert {r["board_id"]: r["samples"] for r in windows.collect()} == {1: 12.0, 2: 3.0}
    assert [r["board_id"] for r in complete(windows).collect()] == [1]
    assert MIN_READINGS <= 12 // 2  # half a minute of readings is still judged


def test_drain_per_km_relates_a_trip_to_the_charge_at_its_first_and_last_tick(spark) -> None:
    from ml.features import telemetry_windows, trip_drain, with_trip_features

    telemetry = spark.createDataFrame([
        reading(1, 0, charge=80.0, docked=False, weight=100.0),
        reading(1, 50, charge=74.0, docked=False, weight=100.0),
        reading(1, 110, charge=70.0), reading(2, 30, charge=50.0)])
    # 0.01° of latitude is 1.112 km; board 1 used 10 points of charge on the way, carrying
    # 100 kg.
    trips = spark.createDataFrame([{
        "hoverboard_id": 1, "customer_id": 9, "start_time": T0,
        "end_time": T0 + timedelta(seconds=110), "start_latitude": 52.50,
        "start_longitude": 13.40, "end_latitude": 52.51, "end_longitude": 13.40}])
    windows = with_trip_features(telemetry_windows(telemetry), trip_drain(trips, telemetry))
    found = {(r["board_id"], r["window_start"].minute): r for r in windows.collect()}
    assert found[1, 1]["trip_km"] == pytest.approx(1.112, abs=0.001)
    assert found[1, 1]["drain_per_km"] == pytest.approx(10 / 1.112, rel=1e-3)
    assert found[1, 1]["drain_per_km_75kg"] == pytest.approx(10 * 0.75 / 1.112, rel=1e-3)
    assert found[1, 0]["trip_km"] == 0.0  # the trip had not ended yet
    assert found[2, 0]["trip_km"] == 0.0 and found[2, 0]["drain_per_km"] == 0.0  # no trip
    assert found[2, 0]["charge_slope_riding"] == 0.0  # every feature is a number for the model


def test_a_trip_stays_a_feature_of_its_board_for_the_lookback_after_it_ended(spark) -> None:
    """A trip ends in one window only; an alarm needs consecutive flagged windows."""
    from ml.features import TRIP_LOOKBACK_S, telemetry_windows, trip_drain, with_trip_features

    ended = 110
    telemetry = spark.createDataFrame([
        reading(1, 0, charge=80.0, docked=False, weight=75.0), reading(1, ended, charge=70.0),
        reading(1, ended + TRIP_LOOKBACK_S - 60, charge=72.0),  # window ends before the edge
        reading(1, ended + TRIP_LOOKBACK_S + 60, charge=75.0)])  # window starts after it
    trips = spark.createDataFrame([{
        "hoverboard_id": 1, "customer_id": 9, "start_time": T0,
        "end_time": T0 + timedelta(seconds=ended), "start_latitude": 52.50,
        "start_longitude": 13.40, "end_latitude": 52.51, "end_longitude": 13.40}])
    windows = with_trip_features(telemetry_windows(telemetry), trip_drain(trips, telemetry))
    km = [r["trip_km"] for r in windows.orderBy("window_start").collect()]
    assert km == [0.0, pytest.approx(1.112, abs=0.001), pytest.approx(1.112, abs=0.001), 0.0]


def test_labels_start_at_the_onset_and_the_window_around_it_is_left_out(spark) -> None:
    from ml.features import label_windows

    windows = spark.createDataFrame([
        {"board_id": b, "window_start": minutes(m), "window_end": minutes(m + 2)}
        for b in (1, 2) for m in (0, 2, 4)])
    labels = spark.createDataFrame([{"board_id": 1, "onset": minutes(3)}])
    found = {(r["board_id"], r["window_start"].minute): r["label"]
             for r in label_windows(windows, labels).collect()}
    assert found == {(1, 0): 0.0, (1, 4): 1.0, (2, 0): 0.0, (2, 2): 0.0, (2, 4): 0.0}


# -- evaluation ----------------------------------------------------------------------------

def windows(board: int, alarms: set[int], count: int = 6) -> list[Window]:
    return [Window(board, minutes(2 * i), minutes(2 * i + 2), i in alarms) for i in range(count)]


def test_board_precision_recall_and_the_delay_after_onset() -> None:
    labels = {1: Label(1, minutes(3), "thermal"), 2: Label(2, minutes(1), "magnetic")}
    scored = (windows(1, {3, 4}) + windows(2, set()) + windows(3, {0}) + windows(4, set()))
    metrics = evaluate(scored, labels, confirm_windows=1)  # every flagged window alarms
    # Board 1 found, board 2 missed, healthy board 3 alarmed, board 4 quiet.
    assert (metrics.found, metrics.faulty_boards, metrics.false_boards) == (1, 2, 1)
    assert (metrics.missed, metrics.false_alarms) == ((2,), (3,))  # which, for the scientist
    assert metrics.precision == 0.5 and metrics.recall == 0.5
    # Board 1's onset at 3 min, first alarm in the window ending at 8 min: 5 min.
    assert metrics.delay_p95_s == 300.0 and metrics.delay_p95_s_by_fault == {"thermal": 300.0}
    # Windows: board 1's 4-6 and 10-12 missed, 6-10 found (2-4 holds the onset: left out);
    # board 2's five from 2 min missed; board 3's 0-2 a false alarm.
    assert metrics.window_precision == pytest.approx(2 / 3)
    assert metrics.window_recall == pytest.approx(2 / 9)


def test_an_alarm_is_two_consecutive_flagged_windows_of_a_board() -> None:
    labels = {1: Label(1, minutes(3), "thermal")}
    # Faulty board 1 flagged from 6 min on; healthy board 3 flagged in two windows, apart.
    metrics = evaluate(windows(1, {3, 4, 5}) + windows(3, {0, 2}), labels)
    assert (metrics.found, metrics.false_boards) == (1, 0)
    # The alarm is the second flagged window, ending at 10 min: 7 min after the onset.
    assert metrics.delay_p95_s == 420.0
    # Window figures still judge every flagged window: board 1's three are true, board 3's
    # two false.
    assert metrics.window_precision == pytest.approx(3 / 5)


def test_one_window_scored_near_certain_is_an_alarm_alone() -> None:
    from ml.evaluation import CERTAIN_SCORE

    labels = {1: Label(1, minutes(3), "magnetic")}
    # Faulty board 1: one spike window (8-10 min) the model is sure of, then quiet; healthy
    # board 3: one odd window flagged just over the threshold.
    scored = [Window(1, w.window_start, w.window_end, w.alarm, CERTAIN_SCORE if w.alarm else 0.1)
              for w in windows(1, {4})]
    scored += [Window(3, w.window_start, w.window_end, w.alarm, 0.6 if w.alarm else 0.1)
               for w in windows(3, {2})]
    metrics = evaluate(scored, labels)
    assert (metrics.found, metrics.false_boards) == (1, 0)
    assert metrics.delay_p95_s == 420.0  # the spike window's end, 10 min, 7 min after onset
    # A yes/no without a score (the threshold rule) still needs two windows.
    assert evaluate(windows(1, {4}), labels).found == 0


def test_a_run_grows_only_with_the_window_right_after_it() -> None:
    from ml.evaluation import advance

    run = advance(None, minutes(0), minutes(2), 0.6)
    run = advance(run, minutes(2), minutes(4), 0.8)
    assert (run.start, run.end, run.count, run.score) == (minutes(0), minutes(4), 2, 0.8)
    assert advance(run, minutes(6), minutes(8)).count == 1  # a gap: a new run


def test_an_alarm_before_the_onset_does_not_count_as_finding_the_fault() -> None:
    metrics = evaluate(windows(1, {0, 1}), {1: Label(1, minutes(5), "drain")})
    assert metrics.found == 0 and metrics.recall == 0.0 and metrics.delay_p95_s is None


def test_an_onset_too_near_the_stretch_end_to_be_detected_in_time_is_not_judged() -> None:
    # The stretch ends at 12 min; detection may take 5 min (DELAY_BUDGET_S). Board 1's onset
    # at 8 min leaves 4: not judged. Board 2's at 6.5 min leaves 5.5: judged, and missed.
    labels = {1: Label(1, minutes(8), "magnetic"), 2: Label(2, minutes(6.5), "thermal")}
    metrics = evaluate(windows(1, set()) + windows(2, set()) + windows(3, set()), labels)
    assert (metrics.unjudged, metrics.missed) == ((1,), (2,))
    assert (metrics.faulty_boards, metrics.recall) == (1, 0.0)
    # Its windows are still judged: board 1's 10-12 min (8-10 holds the onset) is a miss.
    assert metrics.window_recall == 0.0


def test_days_pooled_count_every_board_and_every_timed_onset_once() -> None:
    from ml.evaluation import pooled

    day1 = evaluate([Window(1, minutes(11), minutes(12), True),
                     Window(1, minutes(12), minutes(13), True),
                     Window(2, minutes(10), minutes(11), False),
                     Window(2, minutes(30), minutes(31), False)],
                    {1: Label(1, minutes(10), "thermal")})
    day2 = evaluate([Window(1, minutes(10), minutes(11), False),
                     Window(3, minutes(10), minutes(11), True),
                     Window(3, minutes(11), minutes(12), True),
                     Window(4, minutes(10), minutes(11), True),
                     Window(4, minutes(11), minutes(12), True),
                     Window(4, minutes(30), minutes(31), False)],
                    {3: Label(3, minutes(10), "thermal")})
    both = pooled([day1, day2])
    assert (both["boards"], both["faulty_boards"], both["found"], both["false_boards"]) == (
        5, 2, 2, 1)
    assert both["precision"] == pytest.approx(2 / 3) and both["recall"] == 1.0
    # onsets at 10 min, alarms ending at 13 and 12: delays 180 s and 120 s
    assert both["onsets_timed_by_fault"] == {"thermal": 2}
    assert both["delay_p95_s_by_fault"] == {"thermal": 180.0}


def test_p95_is_the_nearest_rank() -> None:
    assert p95([float(v) for v in range(1, 101)]) == 95.0
    assert p95([7.0]) == 7.0 and p95([]) is None


# -- the gate ------------------------------------------------------------------------------

def metrics(f1: float, window_f1: float) -> Metrics:
    return Metrics(precision=f1, recall=f1, f1=f1, window_precision=window_f1,
                   window_recall=window_f1, window_f1=window_f1, delay_p95_s=None)


def test_the_first_model_is_promoted_when_it_beats_the_baseline() -> None:
    decision = decide(metrics(0.9, 0.8), metrics(0.7, 0.6), None)
    assert decision.promote and "no model was promoted yet" in decision.reason


def test_a_model_that_does_not_beat_the_baseline_is_not_promoted() -> None:
    decision = decide(metrics(0.9, 0.6), metrics(0.9, 0.6), None)
    assert not decision.promote and "threshold baseline" in decision.reason


def test_a_model_must_beat_the_promoted_one_on_the_same_holdout() -> None:
    tie = decide(metrics(0.95, 0.8), metrics(0.7, 0.6), metrics(0.95, 0.8), promoted_version=4)
    assert not tie.promote and "promoted version 4" in tie.reason
    better = decide(metrics(0.95, 0.85), metrics(0.7, 0.6), metrics(0.95, 0.8),
                    promoted_version=4)
    assert better.promote and "promoted version 4" in better.reason


# -- supervision ---------------------------------------------------------------------------

def test_the_supervisor_submits_the_scoring_job_its_config_names(monkeypatch) -> None:
    from hoverboard.streaming.launcher import CODE_ROOT, LocalProcessLauncher
    from hoverboard.streaming.registry import discover_jobs

    monkeypatch.setenv("AIRFLOW_CONN_SPARK_DEFAULT",
                       '{"conn_type": "spark", "host": "local[2]"}')
    monkeypatch.setenv("HOVER_SPARK_CHECKPOINTS", "/checkpoints")
    jobs = discover_jobs()
    assert jobs["failure_detection"].topic == "hoverboard"
    argv = LocalProcessLauncher(jobs_dir=CODE_ROOT).command(jobs["failure_detection"])
    assert str(CODE_ROOT / "ml" / "scoring_job.py") in argv
    assert str(CODE_ROOT / "spark" / "sink_job.py") in (
        LocalProcessLauncher(jobs_dir=CODE_ROOT).command(jobs["trip_sink"]))


def test_only_the_scoring_driver_gets_the_s3_keys_it_reads_its_model_with(monkeypatch) -> None:
    from hoverboard.streaming.launcher import LocalProcessLauncher
    from hoverboard.streaming.registry import discover_jobs

    monkeypatch.setenv("HOVER_SPARK_CHECKPOINTS", "/checkpoints")
    for name, value in {"HOVER_S3_ENDPOINT": "http://127.0.0.1:9000",
                        "AWS_ACCESS_KEY_ID": "key", "AWS_SECRET_ACCESS_KEY": "secret",
                        "HOVER_AIRFLOW_DB_DSN": "postgresql://airflow:pw@db/airflow"}.items():
        monkeypatch.setenv(name, value)
    jobs = discover_jobs()
    scoring = LocalProcessLauncher.environment("postgres://h/db",
                                               jobs["failure_detection"].environment)
    assert scoring["AWS_SECRET_ACCESS_KEY"] == "secret"
    assert scoring["HOVER_S3_ENDPOINT"] == "http://127.0.0.1:9000"
    assert "HOVER_AIRFLOW_DB_DSN" not in scoring
    sink = LocalProcessLauncher.environment("postgres://h/db", jobs["trip_sink"].environment)
    assert "AWS_SECRET_ACCESS_KEY" not in sink and "HOVER_S3_ENDPOINT" not in sink


# -- alerts --------------------------------------------------------------------------------

def test_an_alert_that_went_to_the_spool_is_sent_again_only_after_a_pause() -> None:
    from ml.scoring_job import SPOOL_RETRY_S, retry_due

    assert retry_due(None, now=5.0)  # never tried by this process
    assert not retry_due(100.0, now=100.0 + SPOOL_RETRY_S - 1)  # the next batches wait
    assert retry_due(100.0, now=100.0 + SPOOL_RETRY_S)


def noisy_windows(count: int, seed: int) -> list[dict]:
    """Windows whose label a forest can only guess at: every seeded bootstrap grows
    different trees."""
    import random

    from ml.features import FEATURES

    rng = random.Random(seed)
    rows = []
    for n in range(count):
        row = {name: rng.gauss(0, 1) for name in FEATURES}
        row |= {"board_id": n % 20, "window_start": minutes(n // 20),
                "label": float(row["temp_slope"] + rng.gauss(0, 1.5) > 0.8)}
        rows.append(row)
    return rows


def test_the_same_windows_in_another_order_train_the_same_model(spark) -> None:
    """Training is reproducible: the JDBC reads and the feature shuffle hand the same
    windows over in another order run to run, and a seeded forest samples by row order."""
    import random

    from ml.train import in_stable_order, pipeline, with_score

    rows = noisy_windows(400, seed=5)
    shuffled = rows[:]
    random.Random(1).shuffle(shuffled)
    probe = spark.createDataFrame(noisy_windows(50, seed=6))
    scores = []
    for order, slices in ((rows, 2), (shuffled, 3)):
        windows = spark.createDataFrame(order).repartition(slices)
        model = pipeline(seed=19).fit(in_stable_order(windows, 4))
        scores.append([r["score"] for r in with_score(model.transform(probe))
                       .orderBy("board_id", "window_start").select("score").collect()])
    assert scores[0] == scores[1]


def test_the_state_fingerprint_names_the_window_and_every_aggregate(spark, monkeypatch) -> None:
    """The scoring job's state lives under it: the same definition, the same name (a
    restart resumes); another window or aggregate, another name (a new state)."""
    from pyspark.sql import functions as F

    from ml import features

    same = features.state_fingerprint()
    assert features.state_fingerprint() == same
    assert features.state_fingerprint("2 minutes") != same
    current = features.window_aggregates
    monkeypatch.setattr(features, "window_aggregates",
                        lambda: [*current()[:-1], F.max("speed").alias("riding_speed")])
    assert features.state_fingerprint() != same


# -- the healthy envelope ------------------------------------------------------------------

def healthy_and_magnetic_windows(count: int) -> list[dict]:
    """A fleet's history whose only labelled fault is magnetic: rides draining 8-14 % per km
    per 75 kg, a dock charging at +1.8 %/min, and field spikes on the faulty windows."""
    import random

    from ml.features import FEATURES

    rng = random.Random(3)
    rows = []
    for n in range(count):
        faulty = n % 10 == 0
        row = {name: 0.0 for name in FEATURES} | {
            "board_id": n % 20, "window_start": minutes(n // 20), "samples": 12.0,
            "docked_share": float(n % 2), "temp_mean": rng.uniform(5, 30),
            "ride_drain_per_km_75kg": 0.0 if n % 2 else rng.uniform(8, 14),
            "charge_slope_docked": rng.uniform(1.7, 1.9) if n % 2 else 0.0,
            "mag_spike": rng.uniform(900, 2900) if faulty else rng.uniform(0.5, 8),
            "label": 1.0 if faulty else 0.0}
        rows.append(row)
    return rows


def test_a_kind_of_fault_training_never_showed_is_flagged_outside_the_healthy_envelope(
        spark) -> None:
    """A worn battery (twice a healthy ride's drain) when training only showed magnetic
    faults: the forest has no reason to flag it, the envelope does; flagged, not an alarm
    alone (a second window must follow)."""
    from ml.evaluation import CERTAIN_SCORE
    from ml.train import THRESHOLD, pipeline, with_score

    model = pipeline().fit(spark.createDataFrame(healthy_and_magnetic_windows(600)))
    normal, worn = healthy_and_magnetic_windows(2)[1], healthy_and_magnetic_windows(2)[1]
    normal |= {"board_id": 1, "docked_share": 0.0, "charge_slope_docked": 0.0,
               "ride_drain_per_km_75kg": 13.0}
    worn |= {"board_id": 2, "docked_share": 0.0, "charge_slope_docked": 0.0,
             "ride_drain_per_km_75kg": 25.0}
    scored = {r["board_id"]: r for r in
              with_score(model.transform(spark.createDataFrame([normal, worn]))).collect()}
    assert scored[1]["outside_envelope"] is False and scored[1]["score"] < THRESHOLD
    assert scored[2]["outside_envelope"] is True
    assert THRESHOLD <= scored[2]["score"] < CERTAIN_SCORE


def test_the_envelope_bounds_the_healthy_tail_by_a_share_of_the_healthy_spread(spark) -> None:
    """Bounds come from healthy windows with the signal measured (not 0) only; the docked
    charge is judged only on windows docked throughout."""
    from ml.envelope import HealthyEnvelope, Limit

    rows = [{"drain": float(v), "dock": 1.8, "docked_share": 1.0, "label": 0.0}
            for v in range(1, 11)]
    # unmeasured drain (no ride), and a board docking mid-window
    rows += [{"drain": 0.0, "dock": -3.0, "docked_share": 0.5, "label": 0.0}] * 20
    # a fault: not learnt from
    rows += [{"drain": 50.0, "dock": -1.2, "docked_share": 1.0, "label": 1.0}]
    limits = [Limit("drain").as_param(),
              Limit("dock", high=False, where="docked_share = 1").as_param()]
    model = HealthyEnvelope(limits=limits, quantile=1.0, margin=0.5).fit(
        spark.createDataFrame(rows))
    # drain: max 10 + 0.5 * (10 - median 5) = 12.5; dock: -(-1.8 + 0.5 * 0) = 1.8
    assert model.described() == {"drain >": 12.5, "dock < (docked_share = 1)": 1.8}
    probe = spark.createDataFrame([
        {"drain": 12.0, "dock": 1.9, "docked_share": 1.0},
        {"drain": 13.0, "dock": 1.9, "docked_share": 1.0},
        {"drain": 0.0, "dock": -1.0, "docked_share": 0.5},
        {"drain": 0.0, "dock": 1.0, "docked_share": 1.0}])
    assert [r["outside_envelope"] for r in model.transform(probe).collect()] == [
        False, True, False, True]


def test_the_forest_alone_flags_only_when_near_certain_the_envelope_flags_for_two(
        spark) -> None:
    """A window's score: the forest's probability from near certainty (an alarm alone),
    else the envelope's flag (an alarm with a second window), else nothing: the forest's
    middling probabilities (a healthy board's quiet window that resembles a faulty board's
    quiet one) flag nothing."""
    from pyspark.ml.linalg import Vectors

    from ml.evaluation import CERTAIN_SCORE
    from ml.train import OUTSIDE_ENVELOPE_SCORE, THRESHOLD, with_score

    cases = [(0.95, False), (0.6, False), (0.6, True), (0.2, True), (0.95, True)]
    scored = with_score(spark.createDataFrame(
        [(n, Vectors.dense([1 - p, p]), outside) for n, (p, outside) in enumerate(cases)],
        ["n", "probability", "outside_envelope"]))
    scores = [r["score"] for r in scored.orderBy("n").collect()]
    assert scores == pytest.approx([0.95, 0.0, OUTSIDE_ENVELOPE_SCORE,
                                    OUTSIDE_ENVELOPE_SCORE, 0.95])
    assert THRESHOLD <= OUTSIDE_ENVELOPE_SCORE < CERTAIN_SCORE


def test_a_saved_model_scores_as_the_trained_one_with_its_envelope(spark, tmp_path) -> None:
    """The scoring job loads the model from the object store: the envelope's bounds go
    with it."""
    from pyspark.ml import PipelineModel

    from ml.train import pipeline, with_score

    model = pipeline().fit(spark.createDataFrame(healthy_and_magnetic_windows(300)))
    model.write().overwrite().save(str(tmp_path / "v1"))
    probe = spark.createDataFrame([healthy_and_magnetic_windows(2)[1] | {
        "ride_drain_per_km_75kg": 30.0, "docked_share": 0.0}])
    loaded = PipelineModel.load(str(tmp_path / "v1"))
    assert (with_score(loaded.transform(probe)).first()["score"]
            == with_score(model.transform(probe)).first()["score"])
    assert loaded.stages[-1].described() == model.stages[-1].described()
