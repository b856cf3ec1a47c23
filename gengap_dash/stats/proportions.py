"""Intervals for a proportion of successes, computed in closed form (no resampling)."""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

from gengap_dash.stats.bootstrap import DEFAULT_CONFIDENCE, check_confidence


def wilson_interval(
    successes: np.ndarray, counts: np.ndarray, *, confidence: float = DEFAULT_CONFIDENCE
) -> tuple[np.ndarray, np.ndarray]:
    """The Wilson score interval of ``successes / counts``, elementwise.

    Unlike the normal ("Wald") interval it stays inside [0, 1] and is not empty at 0 or n
    successes, which matters for the small bins of a reliability diagram. Reference:
    ``scipy.stats.binomtest(k, n).proportion_ci(method="wilson")``.

    Args:
        successes: ``(m,)`` numbers of successes (may be fractional sums of 0/1 hits).
        counts: ``(m,)`` numbers of trials; a count of 0 gives NaN bounds.
        confidence: the interval level in (0, 1).

    Returns:
        ``(m,)`` lower and ``(m,)`` upper bounds.
    """
    check_confidence(confidence)
    successes = np.asarray(successes, dtype=np.float64)
    counts = np.asarray(counts, dtype=np.float64)
    z = float(norm.ppf(0.5 + confidence / 2.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        share = successes / counts
        denominator = 1.0 + z**2 / counts
        centre = (share + z**2 / (2.0 * counts)) / denominator
        half = z * np.sqrt(share * (1.0 - share) / counts + z**2 / (4.0 * counts**2)) / denominator
    empty = counts <= 0
    low = np.where(empty, np.nan, np.clip(centre - half, 0.0, 1.0))
    high = np.where(empty, np.nan, np.clip(centre + half, 0.0, 1.0))
    return low, high
