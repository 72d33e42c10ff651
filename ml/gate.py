"""The promotion gate: a pure decision over metrics measured on one holdout.

A candidate is promoted only when it beats the threshold baseline and the promoted model,
both evaluated on the candidate's own holdout (the same windows, the same ground truth).
Beating means a higher board F1, or the same board F1 and a higher window F1; a tie keeps
what is promoted.
"""

from __future__ import annotations

from dataclasses import dataclass

from ml.evaluation import Metrics


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str


def _show(m: Metrics) -> str:
    return f"board F1 {m.f1:.3f}, window F1 {m.window_f1:.3f}"


def decide(candidate: Metrics, baseline: Metrics, promoted: Metrics | None,
           promoted_version: int | None = None) -> Decision:
    if candidate.quality <= baseline.quality:
        return Decision(False, f"not promoted: the candidate ({_show(candidate)}) does not "
                               f"beat the threshold baseline ({_show(baseline)})")
    if promoted is not None and candidate.quality <= promoted.quality:
        return Decision(False, f"not promoted: the candidate ({_show(candidate)}) does not "
                               f"beat promoted version {promoted_version} "
                               f"({_show(promoted)}) on the same holdout")
    against = ("no model was promoted yet" if promoted is None else
               f"promoted version {promoted_version}: {_show(promoted)}")
    return Decision(True, f"promoted: the candidate ({_show(candidate)}) beats the threshold "
                          f"baseline ({_show(baseline)}) and {against}")
