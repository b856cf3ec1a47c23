"""The one bootstrap engine: every interval in gengap-dash comes from here.

A metric is written as per-sample statistics ``F`` of shape ``(n, k)`` and a reducer
``g(S, n)`` of their column sums ``S``. The point estimate is ``g(F.sum(0), n)``; a bootstrap
replicate is ``g(w @ F, n)`` where ``w`` holds how often each sample was drawn. Thousands of
replicates therefore cost one matrix product, and the estimate and its interval share one
implementation.

The policy for large ``n`` (``docs/statistics.md``): a split of at most
:data:`EXACT_MAX_SAMPLES` samples is resampled sample by sample (the exact, multinomial
bootstrap). A larger split is cut, after a seeded random permutation, into :data:`N_BLOCKS`
blocks whose sizes differ by at most one; every metric's statistics are summed per block (one
O(n) pass) and the blocks are resampled. A replicate then costs ``N_BLOCKS`` draws whatever ``n``
is; the interval's coverage is checked by simulation in ``tests/test_bootstrap.py``.

Every view bootstraps split number ``position`` (project order) from one stream,
``np.random.default_rng(split_stream(seed, position))``: first the plan
(:func:`plan_resampling`, which draws the permutation when there are blocks), then the
resample counts (:func:`resample_column_sums`). The scorecard and the calibration page therefore
draw the same resamples and give the same interval for the same split at every ``n``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np

from gengap_dash.stats.checks import check_whole_number

Reducer = Callable[[np.ndarray, int], np.ndarray]
"""Maps column sums ``S`` of shape ``(..., k)`` and the sample count to values ``(...,)``."""

DEFAULT_RESAMPLES = 1000
DEFAULT_CONFIDENCE = 0.95
_BLOCK_ELEMENTS = 8_000_000  # resample-count entries materialised at once (~64 MB as float64)

EXACT_MAX_SAMPLES = 5_000
"""Splits of up to this many samples are resampled sample by sample (the exact bootstrap)."""

N_BLOCKS = 1_000
"""Larger splits are resampled in this many random blocks of (almost) equal size."""

Resampling = Literal["auto", "exact", "blocks"]
"""``"auto"``: exact up to :data:`EXACT_MAX_SAMPLES` samples, blocks above; or force one."""

ResamplingMethod = Literal["exact", "blocks", "none"]
"""What a plan did: sample by sample, random blocks, or no resampling (no intervals)."""

Seed = int | tuple[int, ...]
"""A bootstrap seed: an integer, or a tuple such as :func:`split_stream`'s ``(seed, position)``."""

IntervalKind = Literal["percentile", "basic"]
"""``"percentile"``: the replicates' quantiles; ``"basic"``: ``[2 v - q_high, 2 v - q_low]``."""

IntervalChoice = Literal["auto", "percentile", "basic"]
"""An interval option: a kind, or ``"auto"`` (each metric's own kind, from its registry entry)."""


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


def make_rng(seed: Seed) -> np.random.Generator:
    """The generator of one stream: ``default_rng(seed)`` (a tuple is used as a seed sequence).

    Raises:
        ValueError: for a seed that is not a non-negative integer or a non-empty tuple of them.
    """
    check_seed(seed)
    return np.random.default_rng(list(seed) if isinstance(seed, tuple) else int(seed))


def check_seed(seed: object) -> None:
    """A non-negative integer or a non-empty tuple of them (not bools).

    Raises:
        ValueError: "Expected `seed` to be a non-negative integer or a tuple of them, ..."
    """
    parts = seed if isinstance(seed, tuple) else (seed,)
    if not parts or any(
        isinstance(part, bool | np.bool_) or not isinstance(part, int | np.integer) or part < 0
        for part in parts
    ):
        raise ValueError(
            f"Expected `seed` to be a non-negative integer or a tuple of them, but got {seed!r}."
        )


@dataclass(frozen=True, eq=False)
class ResamplingPlan:
    """Which group each sample belongs to: the unit the bootstrap resamples.

    Attributes:
        method: ``"exact"`` (one group per sample), ``"blocks"`` (random blocks of equal size,
            differing by at most one) or ``"none"`` (one group; no resampling).
        groups: ``(n_samples,)`` int64 group index of each sample.
        n_groups: the number of groups.
    """

    method: ResamplingMethod
    groups: np.ndarray
    n_groups: int

    @property
    def n_samples(self) -> int:
        return int(self.groups.shape[0])

    def sum(self, values: np.ndarray) -> np.ndarray:
        """Per-group sums of per-sample values.

        Args:
            values: ``(n_samples,)`` or ``(n_samples, k)``.

        Returns:
            ``(n_groups,)`` or ``(n_groups, k)`` float64 sums.
        """
        values = np.asarray(values, dtype=np.float64)
        if values.ndim == 1:
            return np.bincount(self.groups, weights=values, minlength=self.n_groups)
        return np.stack([self.sum(column) for column in values.T], axis=1).reshape(
            self.n_groups, values.shape[1]
        )

    def sum_binned(
        self, bins: np.ndarray, n_bins: int, weights: np.ndarray | None = None
    ) -> np.ndarray:
        """``(n_groups, n_bins)``: per group and bin, the count (or sum of ``weights``).

        Args:
            bins: ``(n_samples,)`` bin index of each sample in ``[0, n_bins)``.
            weights: optional ``(n_samples,)`` values to sum instead of counting.
        """
        flat = self.groups * n_bins + np.asarray(bins, dtype=np.int64)
        sums = np.bincount(flat, weights=weights, minlength=self.n_groups * n_bins)
        return sums.astype(np.float64, copy=False).reshape(self.n_groups, n_bins)


def plan_resampling(
    n_samples: int,
    *,
    rng: np.random.Generator | None,
    resampling: Resampling = "auto",
    n_resamples: int = DEFAULT_RESAMPLES,
) -> ResamplingPlan:
    """The groups the bootstrap of one split resamples (the policy of this module).

    Args:
        n_samples: the split's size.
        rng: the split's stream; the block permutation is its first draw.
        resampling: ``"auto"`` (exact up to :data:`EXACT_MAX_SAMPLES`, else blocks), ``"exact"``
            or ``"blocks"``.
        n_resamples: 0 gives the ``"none"`` plan (one group, nothing drawn).

    Raises:
        ValueError: for a bad ``resampling``.
    """
    if resampling not in ("auto", "exact", "blocks"):
        raise ValueError(
            f"Expected `resampling` to be one of 'auto', 'exact', 'blocks', but got {resampling!r}."
        )
    check_whole_number(n_samples, name="n_samples", minimum=0)
    if n_resamples == 0 or rng is None:
        return ResamplingPlan("none", np.zeros(n_samples, dtype=np.int64), 1)
    exact = resampling == "exact" or (resampling == "auto" and n_samples <= EXACT_MAX_SAMPLES)
    if exact:
        return ResamplingPlan("exact", np.arange(n_samples, dtype=np.int64), int(n_samples))
    n_groups = max(1, min(int(n_samples), N_BLOCKS))
    groups = rng.permutation(n_samples) % n_groups
    return ResamplingPlan("blocks", groups.astype(np.int64, copy=False), n_groups)


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
    for start, counts in resample_counts(n_samples, n_resamples=n_resamples, rng=rng):
        sums[start : start + counts.shape[0]] = counts.astype(np.float64) @ statistics
    return sums


def resample_counts(
    n_samples: int, *, n_resamples: int, rng: np.random.Generator
) -> Iterator[tuple[int, np.ndarray]]:
    """The multiplicities of :func:`resample_column_sums`' resamples, block by block (the same
    draws from the same generator state), for callers that combine them with sparse statistics
    (``gengap_dash.stats.grouped_bootstrap``).

    Yields:
        ``(start, counts)``: ``counts`` is ``(size, n_samples)`` int64, rows ``start`` to
        ``start + size - 1`` of the ``(B, n_samples)`` multiplicities.
    """
    block = max(1, _BLOCK_ELEMENTS // max(1, n_samples))
    for start in range(0, n_resamples, block):
        size = min(block, n_resamples - start)
        draws = rng.integers(0, n_samples, size=(size, n_samples))
        draws += (np.arange(size) * n_samples)[:, None]
        counts = np.bincount(draws.ravel(), minlength=size * n_samples).reshape(size, n_samples)
        yield start, counts


def percentile_interval(
    replicates: np.ndarray, *, confidence: float = DEFAULT_CONFIDENCE
) -> tuple[float, float]:
    """The equal-tailed percentile interval of bootstrap replicates (NaN replicates ignored)."""
    check_confidence(confidence)
    replicates = np.asarray(replicates, dtype=np.float64)
    finite = replicates[np.isfinite(replicates)]
    if finite.size == 0:
        return float("nan"), float("nan")
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(finite, [tail, 100.0 - tail])
    return float(low), float(high)


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
    resampling: Resampling = "auto",
) -> tuple[Estimate, np.ndarray]:
    """Point estimate, percentile interval and the replicates of one metric.

    Args:
        statistics: ``(n_samples, k)`` per-sample statistics of the metric.
        reducer: ``g(S, n)`` from column sums to the metric value.
        resampling: the policy of :func:`plan_resampling` (exact up to
            :data:`EXACT_MAX_SAMPLES` samples, random blocks above).

    Returns:
        The estimate and the ``(B,)`` replicate values (kept so that gaps can be bootstrapped).

    Raises:
        ValueError: for bad ``statistics``, ``n_resamples`` or ``confidence``; all are checked
            before any resample is drawn, so ``rng`` is left untouched on error.
    """
    statistics = _check_statistics(statistics)
    _check_resamples(n_resamples)
    check_confidence(confidence)  # before drawing, so a bad level costs no resampling
    n_samples = statistics.shape[0]
    value = float(reducer(statistics.sum(axis=0), n_samples))
    plan = plan_resampling(n_samples, rng=rng, resampling=resampling, n_resamples=n_resamples)
    grouped = statistics if plan.method == "exact" else plan.sum(statistics)
    replicates = np.asarray(
        reducer(resample_column_sums(grouped, n_resamples=n_resamples, rng=rng), n_samples),
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


def check_confidence(confidence: object) -> None:
    """An interval level strictly between 0 and 1 (not a bool).

    Raises:
        ValueError: "Expected `confidence` in (0, 1), but got 1.5."
    """
    if (
        isinstance(confidence, bool | np.bool_)
        or not isinstance(confidence, int | float | np.integer | np.floating)
        or not 0.0 < confidence < 1.0
    ):
        raise ValueError(f"Expected `confidence` in (0, 1), but got {confidence!r}.")
