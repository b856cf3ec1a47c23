"""Intervals of the saliency view's statistics, from the one bootstrap engine
(:mod:`gengap_dash.stats.bootstrap`): a mean over samples (or pairs), resampled from the stream
of the split's position in the project."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from gengap_dash.analysis.attribution.maps import pixel_maps, rank_correlation
from gengap_dash.analysis.attribution.results import (
    AverageShift,
    GroupComparison,
    PairComparison,
)
from gengap_dash.stats.bootstrap import (
    Estimate,
    estimate,
    interval_from_replicates,
    make_rng,
    split_stream,
)

DEFAULT_RESAMPLES = 1000


def mean_estimate(
    values: np.ndarray, *, seed: int, position: int, n_resamples: int = DEFAULT_RESAMPLES
) -> Estimate:
    """The mean of ``values`` (NaN values left out) with its 95% bootstrap interval; NaN when
    no value is finite."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return Estimate(float("nan"), float("nan"), float("nan"))
    rng = make_rng(split_stream(seed, position))
    found, _ = estimate(
        values[:, None], lambda sums, n: sums[..., 0] / n, n_resamples=n_resamples, rng=rng
    )
    return found


def compare_pairs(
    correlations: np.ndarray,
    overlaps: np.ndarray,
    *,
    split: str,
    method: str,
    groups: Sequence[str] | None = None,
    group_column: str | None = None,
    seed: int,
    position: int,
    n_resamples: int = DEFAULT_RESAMPLES,
) -> PairComparison:
    """Per-pair statistics ``(n,)`` summarised with intervals, overall and per group."""
    correlations = np.asarray(correlations, dtype=np.float64)
    overlaps = np.asarray(overlaps, dtype=np.float64)
    by_group = []
    if groups is not None:
        labels = np.asarray([str(g) for g in groups], dtype=object)
        for group in sorted(set(labels.tolist())):
            chosen = labels == group
            by_group.append(
                GroupComparison(
                    group=group,
                    n_pairs=int(chosen.sum()),
                    rank_correlation=mean_estimate(
                        correlations[chosen], seed=seed, position=position, n_resamples=n_resamples
                    ),
                    topk_overlap=mean_estimate(
                        overlaps[chosen], seed=seed, position=position, n_resamples=n_resamples
                    ),
                )
            )
    return PairComparison(
        split=split,
        method=method,
        n_pairs=len(correlations),
        rank_correlation=mean_estimate(
            correlations, seed=seed, position=position, n_resamples=n_resamples
        ),
        topk_overlap=mean_estimate(overlaps, seed=seed, position=position, n_resamples=n_resamples),
        groups=tuple(by_group),
        group_column=group_column if groups is not None else None,
    )


def average_map_distance(
    reference_averages: np.ndarray,
    maps: np.ndarray,
    labels: np.ndarray,
    *,
    split: str,
    method: str,
    seed: int,
    position: int,
    n_resamples: int = 200,
) -> AverageShift:
    """How far a split's class-average magnitude maps are from ``reference_averages`` (a
    bias-corrected estimate with its basic bootstrap interval).

    The distance is ``1 -`` the mean over classes (present in both) of the Spearman correlation
    between the split's class-average map and the reference's; its interval resamples the
    split's samples (the class averages are ratios of column sums, so the bootstrap engine
    resamples them in one product).

    Args:
        reference_averages: ``(K, P)`` class-average maps of the reference.
        maps: the split's maps ``(n, C, H, W)`` or ``(n, F)``.
        labels: ``(n,)`` the class each map belongs to.
    """
    values = np.abs(pixel_maps(maps))
    labels = np.asarray(labels, dtype=np.int64)
    n_classes, n_pixels = reference_averages.shape
    one_hot = np.zeros((len(labels), n_classes))
    one_hot[np.arange(len(labels)), labels] = 1.0
    statistics = np.concatenate(
        [(one_hot[:, :, None] * values[:, None, :]).reshape(len(labels), -1), one_hot], axis=1
    )

    def reduce(sums: np.ndarray, n: int) -> np.ndarray:
        sums = np.asarray(sums, dtype=np.float64)
        lead = sums.shape[:-1]
        totals = sums[..., : n_classes * n_pixels].reshape(*lead, n_classes, n_pixels)
        counts = sums[..., n_classes * n_pixels :]
        with np.errstate(invalid="ignore", divide="ignore"):
            averages = totals / counts[..., None]
        flat = averages.reshape(-1, n_pixels)
        reference = np.broadcast_to(reference_averages, averages.shape).reshape(-1, n_pixels)
        with np.errstate(invalid="ignore"):
            corr = rank_correlation(flat, reference)
        corr = np.where(np.isfinite(flat).all(axis=1), corr, np.nan).reshape(-1, n_classes)
        with warnings.catch_warnings():  # a replicate without any class present gives NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            out = 1.0 - np.nanmean(corr, axis=1)
        return out.reshape(lead)

    rng = make_rng(split_stream(seed, position))
    found, replicates = estimate(statistics, reduce, n_resamples=n_resamples, rng=rng)
    # the plug-in distance of noisy class averages is biased upwards: the estimate and the basic
    # interval correct for that bias (2 v - median of the replicates; as for the binned
    # calibration errors), so the interval is centred on the estimate
    low, high = interval_from_replicates(found.value, replicates, kind="basic", floor=0.0)
    finite = replicates[np.isfinite(replicates)]
    value = found.value
    if finite.size:
        value = max(0.0, 2.0 * found.value - float(np.median(finite)))
    distance = Estimate(value, low, high)
    return AverageShift(split=split, method=method, n_samples=len(labels), distance=distance)


def paired_difference(
    a: np.ndarray,
    b: np.ndarray,
    *,
    seed: int,
    position: int,
    n_resamples: int = DEFAULT_RESAMPLES,
) -> Estimate:
    """The mean of ``a - b`` over samples measured twice (e.g. a method's deletion AUC and the
    random order's on the same samples), with its 95% bootstrap interval."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"Expected paired values of one shape, but got {a.shape} and {b.shape}.")
    return mean_estimate(a - b, seed=seed, position=position, n_resamples=n_resamples)
