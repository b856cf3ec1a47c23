"""Over time: every split's metric per calendar window, and when a change began.

Windows are the cohorts of the time column (``coding.code_column``, period from the span).
The change test looks for one change point in the accuracy of a split's windows: for every
cut between windows, the two-proportion z statistic of "after" against "before"; the statistic
is the largest ``|z|``, and the cut that reaches it is where the change began. Its p-value is
a permutation test: under no change the samples are exchangeable across windows, so the
number of correct predictions per window is multivariate hypergeometric given the window
sizes; ``B`` such draws give the null distribution of the largest ``|z|``, and
``p = (1 + #{max|z*| >= max|z|}) / (1 + B)``. This is the first step of binary segmentation
(a CUSUM-type test for a change in a proportion); it needs at least three windows. A gradual
drift has little power against one cut, so the same draws also test a linear trend (the
Cochran-Armitage statistic, two-sided). Every split
is tested, so the p-values are adjusted (Benjamini-Hochberg) over the splits.

Windows: with ``period="auto"`` the period is chosen from the longest span of one split (not of
all splits pooled, which may be years apart), so a twelve-week deployment gets weekly windows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gengap_dash.analysis.cohorts.table import CohortTable
from gengap_dash.stats.multiple_testing import benjamini_hochberg

DEFAULT_PERMUTATIONS = 999
MIN_WINDOWS = 3


@dataclass(frozen=True)
class ChangePoint:
    """The most likely change in one split's accuracy over its windows.

    Attributes:
        split: the split.
        window: the first window after the change (a cohort name of the time table).
        before, after: accuracy before and after it.
        statistic: the largest ``|z|``; ``p_value`` its permutation p-value, ``p_adjusted``
            that adjusted (Benjamini-Hochberg) over the splits tested.
        n_windows: non-empty windows tested.
        trend: the Cochran-Armitage z statistic of a linear trend in accuracy over the windows
            (negative: falling); ``trend_p_value`` its two-sided permutation p-value (the same
            draws), ``trend_p_adjusted`` adjusted over the splits.
    """

    split: str
    window: str
    before: float
    after: float
    statistic: float
    p_value: float
    n_windows: int
    p_adjusted: float = float("nan")
    trend: float = float("nan")
    trend_p_value: float = float("nan")
    trend_p_adjusted: float = float("nan")


@dataclass(frozen=True)
class OverTime:
    """The metric per time window (a cohort table of the time column) and the change tests."""

    column: str
    period: str
    table: CohortTable
    changes: tuple[ChangePoint, ...]


def max_z(correct: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each row of window counts, the largest ``|z|`` over cuts, and the cut reaching it.

    Args:
        correct: ``(..., W)`` correct predictions per window.
        counts: ``(W,)`` samples per window.

    Returns:
        ``(statistic, cut)``, each ``(...,)``; ``cut = t`` means windows ``t, t+1, ...`` come
        after the change.
    """
    correct = np.asarray(correct, dtype=np.float64)
    n_before = np.cumsum(counts)[:-1]
    n_total = counts.sum()
    n_after = n_total - n_before
    c_before = np.cumsum(correct, axis=-1)[..., :-1]
    c_total = correct.sum(axis=-1, keepdims=True)
    pooled = c_total / n_total
    variance = pooled * (1.0 - pooled) * (1.0 / n_before + 1.0 / n_after)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = ((c_total - c_before) / n_after - c_before / n_before) / np.sqrt(variance)
    z = np.where(np.isfinite(z), np.abs(z), 0.0)
    return z.max(axis=-1), z.argmax(axis=-1) + 1


def trend_z(correct: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The Cochran-Armitage trend statistic of rows of window counts (window ``i`` scored
    ``i``): ``sum n_i (p_i - p) (i - t) / sqrt(p (1 - p) sum n_i (i - t)^2)``."""
    correct = np.asarray(correct, dtype=np.float64)
    scores = np.arange(counts.shape[0], dtype=np.float64)
    total = counts.sum()
    mean_score = (counts * scores).sum() / total
    pooled = correct.sum(axis=-1) / total
    centred = scores - mean_score
    numerator = (correct * centred).sum(axis=-1)  # sum n_i p_i (i - t); sum n_i p (i - t) = 0
    variance = pooled * (1.0 - pooled) * (counts * centred**2).sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        z = numerator / np.sqrt(variance)
    return np.where(np.isfinite(z), z, 0.0)


def change_point(
    table: CohortTable, split: str, *, n_permutations: int = DEFAULT_PERMUTATIONS, seed: int = 0
) -> ChangePoint | None:
    """The change-point test of ``split`` (``None`` with fewer than three non-empty windows).

    The table's metric must be accuracy (the test is for a proportion)."""
    i = table.split_index(split)
    present = np.flatnonzero(table.n[i] > 0)
    if len(present) < MIN_WINDOWS or table.metric != "accuracy":
        return None
    counts = table.n[i, present].astype(np.int64)
    correct = np.rint(table.value[i, present] * counts).astype(np.int64)
    statistic, cut = max_z(correct, counts)
    rng = np.random.default_rng([seed, i, 7919])
    draws = rng.multivariate_hypergeometric(counts, int(correct.sum()), size=n_permutations)
    null, _ = max_z(draws, counts)
    p_value = (1 + int(np.sum(null >= statistic - 1e-12))) / (1 + n_permutations)
    trend = float(trend_z(correct, counts))
    null_trend = np.abs(trend_z(draws, counts))
    trend_p = (1 + int(np.sum(null_trend >= abs(trend) - 1e-12))) / (1 + n_permutations)
    cut = int(cut)
    return ChangePoint(
        split=split,
        window=table.cohorts[present[cut]],
        before=float(correct[:cut].sum() / counts[:cut].sum()),
        after=float(correct[cut:].sum() / counts[cut:].sum()),
        statistic=float(statistic),
        p_value=float(p_value),
        n_windows=len(present),
        trend=trend,
        trend_p_value=float(trend_p),
    )


def adjust(changes: list[ChangePoint]) -> tuple[ChangePoint, ...]:
    """The change points with their p-values adjusted over the splits (Benjamini-Hochberg)."""
    if not changes:
        return ()
    adjusted = benjamini_hochberg(np.array([c.p_value for c in changes]))
    trend_adjusted = benjamini_hochberg(np.array([c.trend_p_value for c in changes]))
    return tuple(
        ChangePoint(**{**c.__dict__, "p_adjusted": float(p), "trend_p_adjusted": float(t)})
        for c, p, t in zip(changes, adjusted, trend_adjusted, strict=True)
    )


def split_period(times) -> str:
    """The calendar period for the longest span of one split (see the module)."""
    import pandas as pd

    from gengap_dash.analysis.cohorts.coding import auto_period

    longest = max(times, key=lambda t: (t.max() - t.min()) if t.notna().any() else pd.Timedelta(0))
    return auto_period(longest)
