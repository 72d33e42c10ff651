"""How well alarms match the ground truth, on a held-out stretch of event time.

Pure Python over what a model (or the baseline) said per board and window, so the same
function judges both and is tested on a handful of windows. Per board (what an operator
sees): an alarm is a run of ``confirm_windows`` consecutive flagged windows of a board, or
one flagged window whose score reaches ``certain_score``, as the scoring job raises a
detection (:func:`advance` and :func:`alarming`, shared with it): one noisy window is not an
alarm, one near-certain window is. A faulty board is found when an alarm ends after its
onset; a healthy board with any alarm is a false positive. Per window: the windows' labels
as in training (``ml.features.label_windows``). Detection delay: from the onset to the end
of the first alarmed window after it, for onsets inside the holdout (an earlier onset has no
measurable delay there). A fault whose onset comes less than ``DELAY_BUDGET_S`` before the
stretch's end is not judged per board (neither found nor missed, no delay): the stretch ends
before the time detection is allowed to take, so a miss there says nothing about the model;
its windows are still judged.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Window:
    board_id: int
    window_start: datetime
    window_end: datetime
    alarm: bool
    score: float = 0.0  # the model's probability of a fault; 0 for a rule's yes/no


#: Consecutive flagged windows of a board that make an alarm (a detection on the stream).
#: Two: a fault persists, a healthy board's odd window (seen: a ride's end) does not; it
#: costs one window (``ml.features.WINDOW``, 1 min) of delay.
CONFIRM_WINDOWS = 2
#: A flagged window scored at least this is an alarm alone, without the next window: a
#: fault whose first signs are sparse (a magnetic fault's first spikes) gives isolated
#: windows the forest is sure of, and waiting for a second may never end before the board
#: is off the road. A healthy board's odd window scores near the flagging threshold, not
#: here. A rule's yes/no (score 0) never reaches it.
CERTAIN_SCORE = 0.9
#: How long after an onset detection may take (the goal: thermal delay p95 within 5
#: minutes). A board whose onset is later than this before the end of the evaluated stretch
#: cannot be expected to be found in it: it is left out of the board figures (an alarm
#: before its onset is no false alarm either, as for every faulty board).
DELAY_BUDGET_S = 300


@dataclass(frozen=True)
class Run:
    """Consecutive flagged windows of one board: the first's start, the last's end, how
    many, the highest score."""

    start: datetime
    end: datetime
    count: int
    score: float = 0.0


def advance(run: Run | None, start: datetime, end: datetime, score: float = 0.0) -> Run:
    """The run after a flagged window ``start``-``end`` of the same board (windows in
    order): the window right after the run's last extends it, any other starts a new run."""
    if run is not None and run.end == start:
        return Run(run.start, end, run.count + 1, max(run.score, score))
    return Run(start, end, 1, score)


def alarming(run: Run, confirm_windows: int = CONFIRM_WINDOWS,
             certain_score: float = CERTAIN_SCORE) -> bool:
    """Whether a run of flagged windows is an alarm: ``confirm_windows`` of them, or one
    scored at least ``certain_score``."""
    return run.count >= confirm_windows or run.score >= certain_score


def confirmed(windows: Iterable[Window], confirm_windows: int = CONFIRM_WINDOWS,
              certain_score: float = CERTAIN_SCORE) -> list[Window]:
    """``windows`` with ``alarm`` kept only where the window makes (or continues) an alarm
    of its board (:func:`alarming`)."""
    runs: dict[int, Run | None] = {}
    out = []
    for w in sorted(windows, key=lambda w: (w.board_id, w.window_start)):
        run = (advance(runs.get(w.board_id), w.window_start, w.window_end, w.score)
               if w.alarm else None)
        runs[w.board_id] = run
        out.append(Window(w.board_id, w.window_start, w.window_end,
                          run is not None and alarming(run, confirm_windows, certain_score),
                          w.score))
    return out


@dataclass(frozen=True)
class Label:
    board_id: int
    onset: datetime
    fault: str


@dataclass(frozen=True)
class Metrics:
    precision: float  # boards
    recall: float
    f1: float
    window_precision: float
    window_recall: float
    window_f1: float
    delay_p95_s: float | None  # every fault kind
    delay_p95_s_by_fault: dict[str, float] = field(default_factory=dict)
    boards: int = 0
    faulty_boards: int = 0
    found: int = 0
    false_boards: int = 0
    windows: int = 0
    missed: tuple[int, ...] = ()  # faulty boards without an alarm after their onset
    unjudged: tuple[int, ...] = ()  # onset under DELAY_BUDGET_S before the stretch's end
    false_alarms: tuple[int, ...] = ()  # healthy boards with an alarm
    delays_s_by_fault: dict[str, tuple[float, ...]] = field(default_factory=dict)  # per onset

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def quality(self) -> tuple[float, float]:
        """What the gate compares: board F1, then window F1."""
        return (self.f1, self.window_f1)


def _ratio(a: int, b: int) -> float:
    return a / b if b else 0.0


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def p95(values: list[float]) -> float | None:
    """Nearest-rank 95th percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def evaluate(windows: Iterable[Window], labels: Mapping[int, Label], *,
             confirm_windows: int = CONFIRM_WINDOWS,
             certain_score: float = CERTAIN_SCORE) -> Metrics:
    """Board and window precision/recall and detection delays of ``windows`` (one
    stretch of event time) against ``labels`` (by board; boards without one are healthy).
    Window figures judge every flagged window; board figures and delays the alarms
    (:func:`alarming`)."""
    windows = list(windows)
    if not windows:
        raise ValueError("nothing to evaluate: no windows in the holdout")
    alarms = {(w.board_id, w.window_start): w.alarm
              for w in confirmed(windows, confirm_windows, certain_score)}
    holdout_start = min(w.window_start for w in windows)
    holdout_end = max(w.window_end for w in windows)
    by_board: dict[int, list[Window]] = {}
    for w in windows:
        by_board.setdefault(w.board_id, []).append(w)
    tp = fp = fn = 0
    missed: list[int] = []
    unjudged: list[int] = []
    judged_until = holdout_end - timedelta(seconds=DELAY_BUDGET_S)
    false_alarms: list[int] = []
    wtp = wfp = wfn = 0
    delays: dict[str, list[float]] = {}
    for board_id, board_windows in by_board.items():
        label = labels.get(board_id)
        onset = label.onset if label is not None and label.onset < holdout_end else None
        for w in board_windows:
            if onset is not None and w.window_start < onset < w.window_end:
                continue  # the onset is inside: neither healthy nor faulty
            truth = onset is not None and w.window_start >= onset
            wtp += w.alarm and truth
            wfp += w.alarm and not truth
            wfn += (not w.alarm) and truth
        if onset is not None and onset > judged_until:
            unjudged.append(board_id)
            continue
        alarmed = [w for w in board_windows if alarms[(w.board_id, w.window_start)]]
        if onset is None:
            fp += bool(alarmed)
            if alarmed:
                false_alarms.append(board_id)
            continue
        after = sorted((w for w in alarmed if w.window_end > onset), key=lambda w: w.window_end)
        if after:
            tp += 1
            if onset >= holdout_start:
                delays.setdefault(label.fault, []).append(
                    (after[0].window_end - onset).total_seconds())
        else:
            fn += 1
            missed.append(board_id)
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    wprecision, wrecall = _ratio(wtp, wtp + wfp), _ratio(wtp, wtp + wfn)
    every_delay = [d for ds in delays.values() for d in ds]
    return Metrics(
        precision=precision, recall=recall, f1=_f1(precision, recall),
        window_precision=wprecision, window_recall=wrecall, window_f1=_f1(wprecision, wrecall),
        delay_p95_s=p95(every_delay),
        delay_p95_s_by_fault={k: p95(v) for k, v in sorted(delays.items())},
        boards=len(by_board), faulty_boards=tp + fn, found=tp, false_boards=fp,
        windows=len(windows), missed=tuple(sorted(missed)),
        false_alarms=tuple(sorted(false_alarms)), unjudged=tuple(sorted(unjudged)),
        delays_s_by_fault={k: tuple(sorted(v)) for k, v in sorted(delays.items())})


def pooled(stretches: Iterable[Metrics]) -> dict:
    """Board figures and delays over several evaluated stretches (simulated days) taken as
    one: every board of every stretch counts once, every timed onset is one delay. A day
    holds a handful of onsets in its holdout, so one day's delay p95 is one or two onsets'."""
    stretches = list(stretches)
    found = sum(m.found for m in stretches)
    faulty = sum(m.faulty_boards for m in stretches)
    false_boards = sum(m.false_boards for m in stretches)
    delays: dict[str, list[float]] = {}
    for m in stretches:
        for fault, values in m.delays_s_by_fault.items():
            delays.setdefault(fault, []).extend(values)
    precision, recall = _ratio(found, found + false_boards), _ratio(found, faulty)
    return {"stretches": len(stretches), "boards": sum(m.boards for m in stretches),
            "faulty_boards": faulty, "found": found, "false_boards": false_boards,
            "precision": precision, "recall": recall, "f1": _f1(precision, recall),
            "delay_p95_s_by_fault": {k: p95(v) for k, v in sorted(delays.items())},
            "onsets_timed_by_fault": {k: len(v) for k, v in sorted(delays.items())}}
