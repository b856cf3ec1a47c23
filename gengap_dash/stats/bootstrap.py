"""Seeded, vectorised bootstrap over sufficient statistics.

A metric is written as per-sample statistics ``F`` of shape ``(n, k)`` and a reducer
``g(S, n)`` of their column sums ``S``. The point estimate is ``g(F.sum(0), n)``; a bootstrap
replicate is ``g(w @ F, n)`` where ``w`` holds how often each sample was drawn. Thousands of
replicates therefore cost one matrix product, and the estimate and its interval share one
implementation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from gengap_dash.stats.checks import check_whole_number

Reducer = Callable[[np.ndarray, int], np.ndarray]
"""Maps column sums ``S`` of shape ``(..., k)`` and the sample count to values ``(...,)``."""

DEFAULT_RESAMPLES = 1000
DEFAULT_CONFIDENCE = 0.95
_BLOCK_ELEMENTS = 8_000_000  # resample-count entries materialised at once (~64 MB as float64)


@dataclass(frozen=True)
class Estimate:
    """A point estimate with a percentile bootstrap interval."""

    value: float
    low: float
    high: float

    def to_dict(self) -> dict[str, float]:
        return {"value": self.value, "low": self.low, "high": self.high}


def split_stream(seed: int, position: int) -> tuple[int, int]:
    """The seed of split number ``position`` (project order): every view that bootstraps a
    split draws from ``np.random.default_rng([seed, position])``, so the scorecard and the
    calibration page give the same interval for the same split, and splits of equal size do not
    share resamples."""
    return (int(seed), int(position))


def resample_column_sums(
    statistics: np.ndarray, *, n_resamples: int = DEFAULT_RESAMPLES, rng: np.random.Generator
) -> np.ndarray:
    """Column sums of ``statistics`` over bootstrap resamples.

    Args:
        statistics: ``(n_samples, k)`` per-sample statistics.
        n_resamples: number of bootstrap replicates ``B``.
        rng: the random generator; the same generator state gives the same replicates.

    Returns:
        ``(B, k)`` float64 array: row ``b`` is ``counts_b @ statistics`` where ``counts_b`` are the
        multiplicities of a resample of ``n`` samples drawn with replacement.

    Raises:
        ValueError: for ``statistics`` that is not 1- or 2-dimensional, or ``n_resamples`` that
            is not a positive integer (a bool is refused: ``True`` is not a replicate count).
    """
    statistics = _check_statistics(statistics)
    _check_resamples(n_resamples)
    n_samples = statistics.shape[0]
    sums = np.empty((n_resamples, statistics.shape[1]), dtype=np.float64)
    if n_samples == 0:
        sums[:] = 0.0
        return sums
    block = max(1, _BLOCK_ELEMENTS // n_samples)
    for start in range(0, n_resamples, block):
        size = min(block, n_resamples - start)
        draws = rng.integers(0, n_samples, size=(size, n_samples))
        draws += (np.arange(size) * n_samples)[:, None]
        counts = np.bincount(draws.ravel(), minlength=size * n_samples).reshape(size, n_samples)
        sums[start : start + size] = counts.astype(np.float64) @ statistics
    return sums


def percentile_interval(
    replicates: np.ndarray, *, confidence: float = DEFAULT_CONFIDENCE
) -> tuple[float, float]:
    """The equal-tailed percentile interval of bootstrap replicates (NaN replicates ignored)."""
    _check_confidence(confidence)
    replicates = np.asarray(replicates, dtype=np.float64)
    finite = replicates[np.isfinite(replicates)]
    if finite.size == 0:
        return float("nan"), float("nan")
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(finite, [tail, 100.0 - tail])
    return float(low), float(high)


IntervalKind = Literal["percentile", "basic"]


def interval_from_replicates(
    value: float,
    replicates: np.ndarray,
    *,
    kind: IntervalKind = "percentile",
    confidence: float = DEFAULT_CONFIDENCE,
    floor: float | None = None,
    ceiling: float | None = None,
) -> tuple[float, float]:
    """A bootstrap interval around ``value`` from its replicates.

    Args:
        value: the plug-in estimate.
        replicates: ``(B,)`` bootstrap replicates of it.
        kind: ``"percentile"`` (the replicates' quantiles) or ``"basic"``
            (``[2 value - q_high, 2 value - q_low]``, which corrects a plug-in estimate that is
            biased, such as the binned calibration errors).
        floor, ceiling: the range the metric cannot leave (applied to the basic interval, which
            can otherwise step outside it, e.g. an MCE interval above 100%).
    """
    low, high = percentile_interval(replicates, confidence=confidence)
    if kind == "basic":
        low, high = 2.0 * value - high, 2.0 * value - low
        if floor is not None:
            low, high = max(low, floor), max(high, floor)
        if ceiling is not None:
            low, high = min(low, ceiling), min(high, ceiling)
    elif kind != "percentile":
        raise ValueError(f"Expected `kind` to be 'percentile' or 'basic', but got {kind!r}.")
    return float(low), float(high)


def estimate(
    statistics: np.ndarray,
    reducer: Reducer,
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    rng: np.random.Generator,
) -> tuple[Estimate, np.ndarray]:
    """Point estimate, percentile interval and the replicates of one metric.

    Args:
        statistics: ``(n_samples, k)`` per-sample statistics of the metric.
        reducer: ``g(S, n)`` from column sums to the metric value.

    Returns:
        The estimate and the ``(B,)`` replicate values (kept so that gaps can be bootstrapped).

    Raises:
        ValueError: for bad ``statistics``, ``n_resamples`` or ``confidence``; all are checked
            before any resample is drawn, so ``rng`` is left untouched on error.
    """
    statistics = _check_statistics(statistics)
    _check_resamples(n_resamples)
    _check_confidence(confidence)  # before drawing, so a bad level costs no resampling
    n_samples = statistics.shape[0]
    value = float(reducer(statistics.sum(axis=0), n_samples))
    replicates = np.asarray(
        reducer(resample_column_sums(statistics, n_resamples=n_resamples, rng=rng), n_samples),
        dtype=np.float64,
    )
    low, high = percentile_interval(replicates, confidence=confidence)
    return Estimate(value, low, high), replicates


def difference(
    value_a: float,
    replicates_a: np.ndarray,
    value_b: float,
    replicates_b: np.ndarray,
    *,
    confidence: float = DEFAULT_CONFIDENCE,
    kind: IntervalKind = "percentile",
) -> Estimate:
    """``a - b`` for two independently resampled samples, with its bootstrap interval."""
    replicates_a = np.asarray(replicates_a, dtype=np.float64)
    replicates_b = np.asarray(replicates_b, dtype=np.float64)
    if replicates_a.shape != replicates_b.shape:
        raise ValueError(
            "Expected replicates of the same length, but got "
            f"{replicates_a.shape} and {replicates_b.shape}."
        )
    value = float(value_a - value_b)
    low, high = interval_from_replicates(
        value, replicates_a - replicates_b, kind=kind, confidence=confidence
    )
    return Estimate(value, low, high)


def _check_statistics(statistics: np.ndarray) -> np.ndarray:
    statistics = np.asarray(statistics, dtype=np.float64)
    if statistics.ndim == 1:
        statistics = statistics[:, None]
    if statistics.ndim != 2:
        raise ValueError(
            f"Expected `statistics` of shape (n_samples, k), but got shape {statistics.shape}."
        )
    return statistics


def _check_resamples(n_resamples: int) -> None:
    check_whole_number(n_resamples, name="n_resamples", minimum=1)


def _check_confidence(confidence: float) -> None:
    if (
        isinstance(confidence, bool | np.bool_)
        or not isinstance(confidence, int | float | np.integer | np.floating)
        or not 0.0 < confidence < 1.0
    ):
        raise ValueError(f"Expected `confidence` in (0, 1), but got {confidence!r}.")
