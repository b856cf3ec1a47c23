"""Adjusting p-values for the number of hypotheses tested.

The cohort and slice views test many slices at once; a p-value of 0.01 among a thousand tests is
no surprise. :func:`benjamini_hochberg` controls the false discovery rate (the expected share of
false findings among those reported) at the level the adjusted p-values are compared with. It is
valid for independent or positively dependent tests (nested and overlapping slices are
positively dependent); ``tests/test_slices.py`` checks by simulation that, with nothing
planted, a search reports any adjusted p-value below 0.05 in at most about 5% of runs.
"""

from __future__ import annotations

import numpy as np


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (the step-up procedure, as
    ``scipy.stats.false_discovery_control(p, method="bh")``).

    Rejecting every hypothesis whose adjusted p-value is at most ``q`` controls the false
    discovery rate at ``q``.

    Args:
        p_values: ``(m,)`` p-values in [0, 1] (any shape; the result has the same shape).

    Returns:
        ``(m,)`` float64 adjusted p-values: ``min_{j >= i} (m / j) p_(j)``, capped at 1.

    Raises:
        ValueError: for p-values that are not finite numbers in [0, 1].
    """
    p = np.asarray(p_values, dtype=np.float64)
    if p.size == 0:
        return p.copy()
    if not np.all(np.isfinite(p)) or p.min() < 0.0 or p.max() > 1.0:
        bad = float(p[~(np.isfinite(p) & (p >= 0.0) & (p <= 1.0))][0])
        raise ValueError(f"Expected `p_values` to be numbers in [0, 1], but got {bad!r}.")
    flat = p.ravel()
    m = flat.size
    order = np.argsort(flat, kind="stable")
    ranked = flat[order] * m / np.arange(1, m + 1)
    adjusted_sorted = np.minimum.accumulate(ranked[::-1])[::-1]
    adjusted = np.empty(m, dtype=np.float64)
    adjusted[order] = np.minimum(adjusted_sorted, 1.0)
    return adjusted.reshape(p.shape)
