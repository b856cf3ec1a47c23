"""The ECE family, computed from per-bin sums (``gengap_dash.stats.binning``).

Every binned calibration error is a reducer of the per-bin count, confidence sum and hit sum
(top-label errors) or of the per-class, per-bin residual sums (classwise ECE), so a point value
and a bootstrap replicate are the same computation on different sums.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from gengap_dash.stats.binning import (
    DEFAULT_N_BINS,
    BinningStrategy,
    assign_bins,
    binned_sums,
    check_n_bins,
    check_strategy,
    equal_mass_edges,
    equal_width_edges,
    uniform_bins,
)
from gengap_dash.stats.bootstrap import ResamplingPlan
from gengap_dash.stats.checks import check_outputs

CalibrationNorm = Literal["l1", "l2", "max"]


def calibration_error_from_sums(
    sums: np.ndarray, n_samples: int = 0, *, norm: CalibrationNorm = "l1"
) -> np.ndarray:
    """Calibration error from per-bin sums (a bootstrap reducer).

    Args:
        sums: ``(..., 3 * n_bins)`` per-bin counts, confidence sums and hit sums
            (``gengap_dash.stats.binning.binned_sums`` or a resample of them).
        n_samples: unused (the counts say how many samples there are); kept so that the
            function is a reducer ``g(S, n)``.
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

    Reference: ``torchmetrics.functional.classification.multiclass_calibration_error``.

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
    sums = binned_sums(confidences, hits, edges=equal_width_edges(n_bins))
    return float(calibration_error_from_sums(sums, confidences.shape[0], norm=norm))


def classwise_group_sums(
    labels: np.ndarray,
    probs: np.ndarray,
    plan: ResamplingPlan,
    *,
    n_bins: int,
    strategy: BinningStrategy,
) -> np.ndarray:
    """``(n_groups, n_classes * n_bins)``: per group, class ``k`` and bin of ``p_k``, the sum of
    the residuals ``[label == k] - p_k``. Classwise ECE needs only these and the sample count.

    Most ``p_k`` lie in the first bin, so every residual is first summed into it and only the
    entries above the first inner edge are binned and moved: O(n C) passes, binning work only
    for the few large probabilities.

    Args:
        labels: ``(n_samples,)`` class indices (checked).
        probs: ``(n_samples, n_classes)`` probabilities (checked).
    """
    groups, n_groups = plan.groups, plan.n_groups
    n_classes = probs.shape[1]
    if strategy == "uniform":
        class_edges = [equal_width_edges(n_bins)] * n_classes
    else:
        class_edges = [equal_mass_edges(probs[:, k], n_bins) for k in range(n_classes)]
    first_edges = np.array([edges[1] for edges in class_edges])
    sums = np.zeros((n_groups, n_classes, n_bins))
    for k in range(n_classes):
        sums[:, k, 0] = -np.bincount(groups, weights=probs[:, k], minlength=n_groups)
    label_counts = np.bincount(groups * n_classes + labels, minlength=n_groups * n_classes)
    sums[:, :, 0] += label_counts.reshape(n_groups, n_classes)

    rows, classes = np.nonzero(probs > first_edges)
    values = probs[rows, classes]
    if strategy == "uniform":
        bins = uniform_bins(values, n_bins)
    else:
        bins = np.empty(values.shape[0], dtype=np.int64)
        for k in range(n_classes):
            chosen = classes == k
            bins[chosen] = assign_bins(values[chosen], class_edges[k])
    residuals = (labels[rows] == classes) - values
    cells = groups[rows] * n_classes + classes
    moved = np.bincount(
        cells * n_bins + bins, weights=residuals, minlength=n_groups * n_classes * n_bins
    )
    sums += moved.reshape(n_groups, n_classes, n_bins)
    sums[:, :, 0] -= np.bincount(cells, weights=residuals, minlength=n_groups * n_classes).reshape(
        n_groups, n_classes
    )
    return sums.reshape(n_groups, n_classes * n_bins)


def classwise_error_from_sums(
    residual_sums: np.ndarray, n_classes: int, totals: np.ndarray | float
) -> np.ndarray:
    """Classwise ECE ``(...)`` from residual sums ``(..., n_classes * n_bins)`` and the sample
    counts ``(...)``."""
    per_bin = residual_sums.reshape(*residual_sums.shape[:-1], n_classes, -1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.abs(per_bin).sum(axis=-1).mean(axis=-1) / totals


def classwise_calibration_error(
    labels: np.ndarray,
    probs: np.ndarray,
    *,
    n_bins: int = DEFAULT_N_BINS,
    strategy: BinningStrategy = "uniform",
) -> float:
    """Classwise ECE: the mean over classes ``k`` of the ECE of ``p_k`` against ``label == k``.

    Each class has its own bins over ``p_k`` (equal width, or equal mass per class).

    Args:
        labels: ``(n_samples,)`` class indices.
        probs: ``(n_samples, n_classes)`` class probabilities.
    """
    labels, probs = check_outputs(labels, probs, outputs_are="probs")
    check_n_bins(n_bins)
    check_strategy(strategy)
    plan = ResamplingPlan("none", np.zeros(labels.shape[0], dtype=np.int64), 1)
    sums = classwise_group_sums(labels, probs, plan, n_bins=n_bins, strategy=strategy)[0]
    return float(classwise_error_from_sums(sums, probs.shape[1], float(labels.shape[0])))
