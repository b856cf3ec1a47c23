"""Numbers with their intervals, written for people: the one way every table of the project
writes an estimate (``"97.0% (95.6 to 98.3)"``). The scorecard's table is
:func:`gengap_dash.plots.scorecard.scorecard_table`."""

from __future__ import annotations

import numpy as np

from gengap_dash.metrics.classification import MetricDefinition
from gengap_dash.stats.bootstrap import Estimate


def with_interval(value_text: str, estimate: Estimate, *, unit: str) -> str:
    """``value_text`` followed by the estimate's interval in the same units: ``"97.0% (95.6 to
    98.3)"`` for ``"percent"``, ``"+5.2 pts (3.9 to 6.6)"`` for ``"points"``, ``"0.112 (0.091
    to 0.135)"`` otherwise; the value alone when there is no interval."""
    low, high = estimate.low, estimate.high
    if not (np.isfinite(low) and np.isfinite(high)):
        return value_text
    if unit == "percent":
        return f"{value_text} ({100 * low:.1f} to {100 * high:.1f})"
    if unit == "points":
        return f"{value_text} ({100 * low:+.1f} to {100 * high:+.1f})"
    return f"{value_text} ({low:.3f} to {high:.3f})"


def format_estimate(definition: MetricDefinition, estimate: Estimate) -> str:
    """A scorecard metric with its interval, e.g. ``"97.0% (95.6 to 98.3)"``."""
    return with_interval(definition.format_value(estimate.value), estimate, unit=definition.unit)
