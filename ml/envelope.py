"""The healthy envelope: the part of the failure model that needs no example of a fault.

A classifier finds the kinds of fault its training data showed. A fleet's history can lack
a kind or hold too little of it (one simulated day's first 70 % held no worn battery,
another's a single one; a new battery supplier's fault has no label yet), and then the
forest scores that kind's windows
as healthy however far they are from anything a healthy board does. The envelope learns,
from the healthy training windows only, how far each physical signal goes on a healthy
board, and marks a window beyond that on any of them: a battery using more charge per
kilometre than any healthy ride did, a charge falling on the dock, a field or a temperature
no healthy board reached.

It is a ``pyspark.ml`` estimator, the last stage of the training pipeline, so the saved
model carries its bounds and the scoring job applies them where it applies the forest
(``ml.train.with_score`` turns a window outside the envelope into a flagged score).

Each bound, per :class:`Limit`, over the healthy windows (label 0) the limit judges with the
feature measured (not 0, what an unmeasured feature is filled with: no riding readings, no
trip): the healthy extreme on the fault's side (``quantile``), widened by ``margin`` times
its distance from the median, so the bound sits beyond every healthy window of the training
stretch by a share of the healthy spread.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from functools import reduce

from pyspark import keyword_only
from pyspark.ml import Estimator, Model
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import HasLabelCol
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F


@dataclass(frozen=True)
class Limit:
    """One signal the envelope bounds: ``feature`` (a window column), the side a fault
    pushes it to (``high``: up), and ``where``, a SQL condition on the window for the limit
    to judge it (empty: every window)."""

    feature: str
    high: bool = True
    where: str = ""

    def as_param(self) -> list:
        return [self.feature, self.high, self.where]

    @classmethod
    def from_param(cls, value: list) -> Limit:
        return cls(str(value[0]), bool(value[1]), str(value[2]))

    def signed(self) -> Column:
        """The feature with the fault's side up, null where the limit does not judge."""
        value = F.col(self.feature) if self.high else -F.col(self.feature)
        return F.when(F.expr(self.where), value) if self.where else value


#: The signals bounded, each one a fault moves past where a healthy board goes.
LIMITS = (
    # a worn or overheating battery uses more charge per km ridden (per 75 kg of load)...
    Limit("ride_drain_per_km_75kg"),
    # ...and per km of a trip, related to the telemetry at its first and last tick
    Limit("drain_per_km_75kg"),
    # a charger that cannot keep up; only windows docked throughout: a board that docks
    # mid-window reports its ride's last, lower charge among its first docked readings
    Limit("charge_slope_docked", high=False, where="docked_share = 1"),
    Limit("mag_spike"),
    Limit("temp_mean"),
)
#: The healthy windows' quantile each bound starts from (1.0: the most extreme healthy
#: window), and how far beyond it the bound sits, in multiples of its distance from the
#: median. Not a quantile under 1: a healthy signal can be a spike with a sparse tail (a
#: docked battery charges at +1.8 %/min, and slower only in the minute it fills up), and a
#: bound inside the tail flags healthy windows; a training stretch's one healthy outlier
#: only widens the envelope.
QUANTILE = 1.0
MARGIN = 0.5


class _EnvelopeParams(HasLabelCol):
    limits = Param(Params._dummy(), "limits",
                   "[feature, high, where] per bounded signal", TypeConverters.identity)

    def get_limits(self) -> tuple[Limit, ...]:
        return tuple(Limit.from_param(v) for v in self.getOrDefault(self.limits))


class HealthyEnvelope(Estimator, _EnvelopeParams, DefaultParamsReadable, DefaultParamsWritable):
    """Learns a :class:`HealthyEnvelopeModel` from labelled windows (label 0: healthy)."""

    quantile = Param(Params._dummy(), "quantile", "healthy extreme quantile a bound starts from",
                     TypeConverters.toFloat)
    margin = Param(Params._dummy(), "margin", "widening beyond it, in its distance from the "
                   "median", TypeConverters.toFloat)

    @keyword_only
    def __init__(self, *, limits: list | None = None, quantile: float = QUANTILE,
                 margin: float = MARGIN, labelCol: str = "label") -> None:
        super().__init__()
        self._setDefault(limits=[limit.as_param() for limit in LIMITS], quantile=QUANTILE,
                         margin=MARGIN, labelCol="label")
        self._set(**self._input_kwargs)

    def _fit(self, dataset: DataFrame) -> HealthyEnvelopeModel:
        quantile, margin = self.getOrDefault(self.quantile), self.getOrDefault(self.margin)
        healthy = dataset.where(F.col(self.getLabelCol()) == 0.0)
        kept, bounds = [], []
        for limit in self.get_limits():
            measured = (healthy.select(limit.signed().alias("v"))
                        .where(F.col("v").isNotNull() & (F.col("v") != 0.0)))
            found = measured.approxQuantile("v", [quantile, 0.5], 0.0)
            if len(found) < 2:
                continue  # never measured on a healthy window: nothing to bound it by
            extreme, median = found
            kept.append(limit.as_param())
            bounds.append(extreme + margin * (extreme - median))
        return HealthyEnvelopeModel(limits=kept, bounds=bounds)


class HealthyEnvelopeModel(Model, _EnvelopeParams, DefaultParamsReadable, DefaultParamsWritable):
    """Adds ``outside_envelope``: whether any bounded signal of the window is past its
    healthy bound."""

    bounds = Param(Params._dummy(), "bounds", "per limit, the bound on its signed feature",
                   TypeConverters.toListFloat)

    @keyword_only
    def __init__(self, *, limits: list | None = None, bounds: list | None = None) -> None:
        super().__init__()
        self._setDefault(limits=[], bounds=[], labelCol="label")
        self._set(**self._input_kwargs)

    def bounded(self) -> list[tuple[Limit, float]]:
        return list(zip(self.get_limits(), self.getOrDefault(self.bounds), strict=True))

    def described(self) -> dict[str, float]:
        """Each bound in the feature's own terms: ``feature > x`` or ``feature < x``."""
        return {f"{limit.feature} {'>' if limit.high else '<'}"
                f"{' (' + limit.where + ')' if limit.where else ''}":
                round(bound if limit.high else -bound, 3)
                for limit, bound in self.bounded()}

    def _transform(self, dataset: DataFrame) -> DataFrame:
        past = [F.coalesce(limit.signed() > F.lit(bound), F.lit(False))
                for limit, bound in self.bounded()]
        return dataset.withColumn("outside_envelope", reduce(operator.or_, past, F.lit(False)))
