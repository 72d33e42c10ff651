"""The threshold rule an operator would write by hand, on the same features as the model.

It is the bar every model must clear in the same evaluation (``ml.gate``): alarm when the
battery heats up fast, when the charge drops on the dock, when the magnetic field spikes, or
when a trip used far more charge per kilometre than a healthy battery does.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column
from pyspark.sql import functions as F


@dataclass(frozen=True)
class Thresholds:
    temp_slope: float = 1.5  # °C/min; riding warms a healthy battery by up to ~3 °C/min
    charge_slope_docked: float = -0.5  # %/min on the dock; a healthy one charges (+1.8)
    mag_max: float = 150.0  # µT; the Earth's field plus the motors stays under ~80
    drain_per_km: float = 20.0  # % per trip km; a healthy battery uses ~5-15


DEFAULT = Thresholds()


def alarm(thresholds: Thresholds = DEFAULT) -> Column:
    """1.0 where the rule fires, else 0.0 (a window's ``prediction``)."""
    fires = ((F.col("temp_slope") > thresholds.temp_slope)
             | (F.col("charge_slope_docked") < thresholds.charge_slope_docked)
             | (F.col("mag_max") > thresholds.mag_max)
             | (F.col("drain_per_km") > thresholds.drain_per_km))
    return F.when(fires, 1.0).otherwise(0.0)
