"""Calibration: does the model's confidence match how often it is right?

The binning core below is shared by the scorecard's ECE and every calibration view. Binned
metrics are written as sufficient statistics (see ``gengap_dash.bootstrap``): per sample, its
bin's indicator times (1, confidence, hit); the column sums per bin are the bin's count, total
confidence and number of hits, and every calibration error is a reducer of those sums.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

CalibrationNorm = Literal["l1", "l2", "max"]
DEFAULT_N_BINS = 15


def equal_width_edges(n_bins: int = DEFAULT_N_BINS) -> np.ndarray:
    """``n_bins + 1`` equal-width bin edges on [0, 1]."""
    _check_n_bins(n_bins)
    return np.linspace(0.0, 1.0, n_bins + 1)


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


def bin_statistics(confidences: np.ndarray, hits: np.ndarray, *, edges: np.ndarray) -> np.ndarray:
    """Per-sample sufficient statistics of a binned calibration error.

    Args:
        confidences: ``(n_samples,)`` predicted probability of the event (top-label confidence).
        hits: ``(n_samples,)`` 1 where the event happened (the prediction was correct), else 0.
        edges: ``(n_bins + 1,)`` bin edges.

    Returns:
        ``(n_samples, 3 * n_bins)``: columns ``[0, n_bins)`` are bin indicators,
        ``[n_bins, 2 n_bins)`` indicator x confidence, ``[2 n_bins, 3 n_bins)`` indicator x hit.
    """
    confidences = np.asarray(confidences, dtype=np.float64)
    hits = np.asarray(hits, dtype=np.float64)
    n_bins = len(edges) - 1
    bins = assign_bins(confidences, edges)
    statistics = np.zeros((confidences.shape[0], 3 * n_bins), dtype=np.float64)
    rows = np.arange(confidences.shape[0])
    statistics[rows, bins] = 1.0
    statistics[rows, n_bins + bins] = confidences
    statistics[rows, 2 * n_bins + bins] = hits
    return statistics


def binned_sums(confidences: np.ndarray, hits: np.ndarray, *, edges: np.ndarray) -> np.ndarray:
    """The column sums of :func:`bin_statistics`, computed without materialising it.

    Returns:
        ``(3 * n_bins,)``: counts, confidence sums and hit sums per bin.
    """
    n_bins = len(edges) - 1
    bins = assign_bins(confidences, edges)
    counts = np.bincount(bins, minlength=n_bins).astype(np.float64)
    confidence_sums = np.bincount(bins, weights=confidences, minlength=n_bins)
    hit_sums = np.bincount(bins, weights=np.asarray(hits, dtype=np.float64), minlength=n_bins)
    return np.concatenate([counts, confidence_sums, hit_sums])


def calibration_error_from_sums(
    sums: np.ndarray, n_samples: int, *, norm: CalibrationNorm = "l1"
) -> np.ndarray:
    """Calibration error from per-bin sums (a bootstrap reducer).

    Args:
        sums: ``(..., 3 * n_bins)`` as returned by :func:`binned_sums` or a resample of
            :func:`bin_statistics`.
        n_samples: the number of samples the sums cover.
        norm: ``"l1"`` (ECE: count-weighted mean of |accuracy - confidence|), ``"l2"`` (RMS: square
            root of the count-weighted mean of squared gaps) or ``"max"`` (MCE: largest gap over
            non-empty bins).

    Returns:
        ``(...)`` calibration errors; NaN where there are no samples.
    """
    sums = np.asarray(sums, dtype=np.float64)
    n_bins = sums.shape[-1] // 3
    counts = sums[..., :n_bins]
    confidence_sums = sums[..., n_bins : 2 * n_bins]
    hit_sums = sums[..., 2 * n_bins :]
    total = counts.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        gaps = np.where(counts > 0, np.abs(hit_sums - confidence_sums) / counts, 0.0)
        if norm == "l1":
            result = np.abs(hit_sums - confidence_sums).sum(axis=-1) / total
        elif norm == "l2":
            result = np.sqrt((counts * gaps**2).sum(axis=-1) / total)
        elif norm == "max":
            result = np.where(counts > 0, gaps, -np.inf).max(axis=-1)
            result = np.where(total > 0, result, np.nan)
        else:
            raise ValueError(f"Expected `norm` to be one of 'l1', 'l2', 'max', but got {norm!r}.")
    return np.where(total > 0, result, np.nan)


def expected_calibration_error(
    confidences: np.ndarray,
    hits: np.ndarray,
    *,
    n_bins: int = DEFAULT_N_BINS,
    norm: CalibrationNorm = "l1",
) -> float:
    """Top-label calibration error with equal-width bins.

    Args:
        confidences: ``(n_samples,)`` top-label confidence.
        hits: ``(n_samples,)`` whether the top label was correct.
        n_bins: number of equal-width bins on [0, 1].
        norm: ``"l1"`` = ECE, ``"l2"`` = RMS calibration error, ``"max"`` = MCE.
    """
    confidences = np.asarray(confidences, dtype=np.float64)
    hits = np.asarray(hits, dtype=np.float64)
    if confidences.shape != hits.shape or confidences.ndim != 1:
        raise ValueError(
            "Expected `confidences` and `hits` to be 1-D arrays of the same length, but got "
            f"shapes {confidences.shape} and {hits.shape}."
        )
    edges = equal_width_edges(n_bins)
    sums = binned_sums(confidences, hits, edges=edges)
    return float(calibration_error_from_sums(sums, confidences.shape[0], norm=norm))


def _check_n_bins(n_bins: int) -> None:
    if isinstance(n_bins, bool) or not isinstance(n_bins, int | np.integer) or n_bins < 1:
        raise ValueError(f"Expected `n_bins` to be a positive integer, but got {n_bins!r}.")
