"""Gaps between splits and how they read: ``split - reference`` per metric with its interval, and
the thresholds that make a gap a warning or critical.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from gengap_dash.metrics.classification import (
    get_metric,
)
from gengap_dash.stats.bootstrap import (
    Estimate,
)

Severity = Literal["ok", "warning", "critical"]


GapStatus = Literal["worse", "uncertain", "fine"]


@dataclass(frozen=True)
class GapThreshold:
    """How much worse a split must be, in display units, to be flagged.

    Attributes:
        warning: a gap at least this large, with an interval that excludes zero, is a problem.
        critical: a problem at least this large is critical.
    """

    warning: float
    critical: float


GAP_THRESHOLDS: Mapping[str, GapThreshold] = {
    "accuracy": GapThreshold(warning=3.0, critical=10.0),  # percentage points
    "macro_f1": GapThreshold(warning=3.0, critical=10.0),  # percentage points
    "ece": GapThreshold(warning=3.0, critical=10.0),  # percentage points of calibration error
    "nll": GapThreshold(warning=0.1, critical=0.5),  # nats
    "brier": GapThreshold(warning=0.03, critical=0.1),  # Brier units (0 to 2)
}
"""Per metric, the "worse by" amounts (display units) that make a gap a warning or critical."""


@dataclass(frozen=True)
class GapAssessment:
    """How one gap reads: how much worse the split is, and whether that is a problem.

    Attributes:
        metric: metric name.
        worse_by: the gap in display units (points for percentages), positive when the split is
            worse than the reference, with its interval.
        status: ``"worse"`` (at least the warning threshold, interval excludes zero),
            ``"fine"`` (below the warning threshold, interval too) or ``"uncertain"``.
        severity: ``"critical"``/``"warning"`` for a clear problem; ``"warning"`` for an
            uncertain gap whose point value reaches the warning threshold; else ``"ok"``.
    """

    metric: str
    worse_by: Estimate
    status: GapStatus
    severity: Severity


@dataclass(frozen=True)
class GapScores:
    """The gap of one split against a reference split: ``split - reference`` per metric.

    Attributes:
        split: the split compared.
        role: its role.
        reference: the reference split's name.
        reference_role: the reference split's role.
        metrics: metric name -> difference in the metric's own units (fractions for percentages),
            with a bootstrap interval from independent resamples of both splits.
    """

    split: str
    role: str
    reference: str
    reference_role: str
    metrics: Mapping[str, Estimate]

    def points(self, metric: str) -> Estimate:
        """The gap of a percentage metric in percentage points (``-0.086 -> -8.6``)."""
        definition = get_metric(metric)
        if definition.unit != "percent":
            raise ValueError(
                f"Expected a percentage metric for `points`, but got {metric!r} "
                f"(unit {definition.unit!r})."
            )
        return _scale(self._estimate(metric), definition.scale)

    def display(self, metric: str) -> Estimate:
        """The gap in display units: points for percentages, the metric's units otherwise."""
        return _scale(self._estimate(metric), get_metric(metric).scale)

    def assess(self, metric: str) -> GapAssessment:
        """Whether the split is clearly worse than the reference on ``metric``."""
        return assess_gap(self._estimate(metric), metric=metric)

    def _estimate(self, metric: str) -> Estimate:
        get_metric(metric)  # a clear error for an unknown name
        if metric not in self.metrics:
            raise ValueError(f"Expected a metric among {list(self.metrics)}, but got {metric!r}.")
        return self.metrics[metric]


def assess_gap(
    gap: Estimate,
    *,
    metric: str,
    thresholds: Mapping[str, GapThreshold] = GAP_THRESHOLDS,
) -> GapAssessment:
    """Read a gap (``split - reference``, metric units) against the metric's thresholds.

    Rules, with ``w`` the "worse by" amount in display units and ``[lo, hi]`` its interval:
    ``w >= warning`` and ``lo > 0``: worse (critical when ``w >= critical``);
    ``w < warning`` and ``hi < warning``: fine; otherwise uncertain.
    """
    definition = get_metric(metric)
    threshold = thresholds[metric]
    displayed = _scale(gap, definition.scale)
    worse_by = displayed if not definition.higher_is_better else _negate(displayed)
    value, low, high = worse_by.value, worse_by.low, worse_by.high
    if not (math.isfinite(value) and math.isfinite(low) and math.isfinite(high)):
        return GapAssessment(metric, worse_by, "uncertain", "ok")
    if value >= threshold.warning and low > 0:
        severity: Severity = "critical" if value >= threshold.critical else "warning"
        return GapAssessment(metric, worse_by, "worse", severity)
    if value < threshold.warning and high < threshold.warning:
        return GapAssessment(metric, worse_by, "fine", "ok")
    severity = "warning" if value >= threshold.warning else "ok"
    return GapAssessment(metric, worse_by, "uncertain", severity)


# Small helpers
def _scale(estimate: Estimate, factor: float) -> Estimate:
    return Estimate(estimate.value * factor, estimate.low * factor, estimate.high * factor)


def _negate(estimate: Estimate) -> Estimate:
    return Estimate(-estimate.value, -estimate.high, -estimate.low)


def _finite_or(value: float, default: float) -> float:
    return value if math.isfinite(value) else default
