"""Confidence bins: edges, assignment and per-bin sums, shared by every binned metric.

Bins are ``(lo, hi]`` and 0 falls in the first bin. A binned calibration error needs, per bin,
the count, the sum of confidences and the number of hits; :func:`binned_group_sums` gives them
per bootstrap group (see ``gengap_dash.stats.bootstrap``), so the point value and every replicate
come from the same sums.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from gengap_dash.stats.bootstrap import ResamplingPlan

DEFAULT_N_BINS = 15
"""Equal-width bins on [0, 1] for every ECE in the project (scorecard and calibration)."""

BinningStrategy = Literal["uniform", "quantile"]


def check_n_bins(n_bins: object) -> None:
    """Raises ValueError "Expected `n_bins` to be a positive integer, but got 0." """
    if isinstance(n_bins, bool) or not isinstance(n_bins, int | np.integer) or n_bins < 1:
        raise ValueError(f"Expected `n_bins` to be a positive integer, but got {n_bins!r}.")


def check_strategy(strategy: object) -> None:
    """Raises ValueError unless ``strategy`` is ``"uniform"`` or ``"quantile"``."""
    if strategy not in ("uniform", "quantile"):
        raise ValueError(
            f"Expected `strategy` to be one of 'uniform', 'quantile', but got {strategy!r}."
        )


def equal_width_edges(n_bins: int = DEFAULT_N_BINS) -> np.ndarray:
    """``n_bins + 1`` equal-width bin edges on [0, 1]."""
    check_n_bins(n_bins)
    return np.linspace(0.0, 1.0, n_bins + 1)


def equal_mass_edges(confidences: np.ndarray, n_bins: int = DEFAULT_N_BINS) -> np.ndarray:
    """Equal-mass ("adaptive") bin edges: the quantiles of ``confidences``, deduplicated.

    The inner edges are the ``i / n_bins`` quantiles (``inverted_cdf``, so every edge is an
    observed value); repeated edges, an edge at 0 and edges at or above the largest confidence are
    dropped. With ``(lo, hi]`` bins no bin is therefore empty, and there may be fewer than
    ``n_bins`` bins (ties, or fewer samples than bins). The outer edges are 0 and 1.

    Args:
        confidences: ``(n_samples,)`` values in [0, 1].
        n_bins: the number of bins asked for.

    Returns:
        ``(n_edges,)`` increasing edges from 0 to 1, with ``2 <= n_edges <= n_bins + 1``.
    """
    check_n_bins(n_bins)
    confidences = np.asarray(confidences, dtype=np.float64).ravel()
    if confidences.size == 0:
        return np.array([0.0, 1.0])
    # the inverted-CDF quantile at i / n_bins is the ceil(n i / n_bins)-th smallest value
    n_samples = confidences.shape[0]
    steps = np.arange(1, n_bins, dtype=np.int64)
    ranks = np.maximum((n_samples * steps + n_bins - 1) // n_bins - 1, 0)
    inner = np.unique(np.partition(confidences, ranks)[ranks])
    inner = inner[(inner > 0.0) & (inner < confidences.max())]
    return np.concatenate([[0.0], inner, [1.0]])


def bin_edges(
    confidences: np.ndarray,
    *,
    n_bins: int = DEFAULT_N_BINS,
    strategy: BinningStrategy = "uniform",
) -> np.ndarray:
    """Bin edges for ``strategy``: ``"uniform"`` (equal width) or ``"quantile"`` (equal mass).

    Args:
        confidences: ``(n_samples,)`` values in [0, 1] (only used by ``"quantile"``).
    """
    check_strategy(strategy)
    if strategy == "uniform":
        return equal_width_edges(n_bins)
    return equal_mass_edges(confidences, n_bins)


def assign_bins(confidences: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """The bin index of each confidence; bins are ``(lo, hi]`` and 0 falls in the first bin.

    Args:
        confidences: ``(n_samples,)`` values in [0, 1].
        edges: ``(n_bins + 1,)`` increasing edges from 0 to 1.

    Returns:
        ``(n_samples,)`` int64 bin indices in ``[0, n_bins)``.
    """
    edges = np.asarray(edges, dtype=np.float64)
    inner = edges[1:-1]
    return np.searchsorted(inner, np.asarray(confidences, dtype=np.float64), side="left").astype(
        np.int64
    )


def uniform_bins(values: np.ndarray, n_bins: int) -> np.ndarray:
    """:func:`assign_bins` with :func:`equal_width_edges`, by arithmetic instead of a search.

    ``ceil(v * n_bins) - 1`` is the ``(lo, hi]`` bin except, through rounding, for values within a
    few ulps of an edge; those few are re-assigned by :func:`assign_bins`.
    """
    values = np.asarray(values, dtype=np.float64)
    scaled = values * n_bins
    bins = np.ceil(scaled)
    near_edge = np.abs(scaled - np.rint(scaled)) < 1e-9
    bins -= 1.0
    np.clip(bins, 0, n_bins - 1, out=bins)
    bins = bins.astype(np.int64)
    if near_edge.any():
        bins[near_edge] = assign_bins(values[near_edge], equal_width_edges(n_bins))
    return bins


def _bins_of(confidences: np.ndarray, edges: np.ndarray) -> np.ndarray:
    n_bins = edges.shape[0] - 1
    if n_bins > 1 and np.array_equal(edges, equal_width_edges(n_bins)):
        return uniform_bins(confidences, n_bins)
    return assign_bins(confidences, edges)


def binned_group_sums(
    confidences: np.ndarray, hits: np.ndarray, edges: np.ndarray, plan: ResamplingPlan
) -> np.ndarray:
    """Per bootstrap group, the per-bin count, confidence sum and hit sum.

    Args:
        confidences: ``(n_samples,)`` predicted probability of the event (top-label confidence).
        hits: ``(n_samples,)`` 1 where the event happened (the prediction was right), else 0.
        edges: ``(n_bins + 1,)`` bin edges.
        plan: the split's resampling plan (one group per sample gives per-sample statistics).

    Returns:
        ``(n_groups, 3 * n_bins)``: columns ``[0, n_bins)`` are counts, ``[n_bins, 2 n_bins)``
        confidence sums, ``[2 n_bins, 3 n_bins)`` hit sums.
    """
    confidences = np.asarray(confidences, dtype=np.float64)
    hits = np.asarray(hits, dtype=np.float64)
    edges = np.asarray(edges, dtype=np.float64)
    n_bins = edges.shape[0] - 1
    bins = _bins_of(confidences, edges)
    return np.hstack(
        [
            plan.sum_binned(bins, n_bins),
            plan.sum_binned(bins, n_bins, confidences),
            plan.sum_binned(bins, n_bins, hits),
        ]
    )


def bin_statistics(confidences: np.ndarray, hits: np.ndarray, *, edges: np.ndarray) -> np.ndarray:
    """Per-sample sufficient statistics of a binned calibration error.

    Returns:
        ``(n_samples, 3 * n_bins)``: bin indicators, indicator x confidence, indicator x hit
        (:func:`binned_group_sums` with one group per sample).
    """
    confidences = np.asarray(confidences, dtype=np.float64)
    plan = ResamplingPlan(
        "exact", np.arange(confidences.shape[0], dtype=np.int64), len(confidences)
    )
    return binned_group_sums(confidences, hits, edges, plan)


def binned_sums(confidences: np.ndarray, hits: np.ndarray, *, edges: np.ndarray) -> np.ndarray:
    """The column sums of :func:`bin_statistics`, computed without materialising it.

    Returns:
        ``(3 * n_bins,)``: counts, confidence sums and hit sums per bin.
    """
    confidences = np.asarray(confidences, dtype=np.float64)
    plan = ResamplingPlan("none", np.zeros(confidences.shape[0], dtype=np.int64), 1)
    return binned_group_sums(confidences, hits, edges, plan)[0]
