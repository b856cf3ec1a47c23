"""Fairness across cohorts: the largest difference in accuracy between two cohorts, and per
class the largest difference in recall (the equal-opportunity gap), per split, with intervals.

Only cohorts with at least ``min_count`` samples (for recall: of that class) take part; the
pair is the best and the worst cohort by point estimate, and the interval is that of their
difference over the split's bootstrap replicates (the same resamples as the cohort table).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from gengap_dash.analysis.cohorts.coding import Coding
from gengap_dash.analysis.cohorts.table import CohortSums, intervals, ratio
from gengap_dash.stats.bootstrap import make_rng, split_stream
from gengap_dash.stats.grouped_bootstrap import grouped_sums


@dataclass(frozen=True)
class Fairness:
    """Between-cohort differences on one split.

    Attributes:
        split: the split.
        best, worst: the cohorts with the highest and lowest accuracy (``""`` when fewer than
            two cohorts have enough samples).
        difference, low, high: best minus worst accuracy with its 95% interval.
        recall_gap, recall_low, recall_high: ``(C,)`` per class, the largest recall difference
            between two cohorts with its interval (NaN where fewer than two cohorts qualify).
        recall_best, recall_worst: ``(C,)`` those cohorts' names.
    """

    split: str
    best: str
    worst: str
    difference: float
    low: float
    high: float
    recall_gap: np.ndarray
    recall_low: np.ndarray
    recall_high: np.ndarray
    recall_best: tuple[str, ...]
    recall_worst: tuple[str, ...]


def fairness(
    sums: CohortSums,
    frame: pd.DataFrame,
    *,
    split: str,
    n_classes: int,
    position: int,
    min_count: int,
    n_resamples: int,
    seed: int,
) -> Fairness:
    """Accuracy and equal-opportunity gaps across the cohorts of ``sums`` on ``split``.

    Args:
        sums: grouped sums of accuracy (``metric="accuracy"``).
        frame: the split's hub rows (``label``, ``correct``).
        position: the split's position (its bootstrap stream).
    """
    coding: Coding = sums.coding
    grouped = sums.sums[split]
    counts, correct = grouped.sums[:, 0], grouped.sums[:, 1]
    accuracy = ratio(correct, counts)
    reps = ratio(grouped.replicates[:, :, 1], grouped.replicates[:, :, 0])
    best, worst, difference, low, high = _widest(accuracy, counts >= min_count, reps, coding)

    labels = frame["label"].to_numpy(np.int64)
    codes = coding.codes[split] * n_classes + labels
    per_class = grouped_sums(
        codes,
        coding.n_cohorts * n_classes,
        np.column_stack([np.ones(len(labels)), frame["correct"].to_numpy(np.float64)]),
        rng=make_rng(split_stream(seed, position)),
        n_resamples=n_resamples,
    )
    k = coding.n_cohorts
    class_counts = per_class.sums[:, 0].reshape(k, n_classes)
    recall = ratio(per_class.sums[:, 1].reshape(k, n_classes), class_counts)
    rep_recall = ratio(
        per_class.replicates[:, :, 1].reshape(-1, k, n_classes),
        per_class.replicates[:, :, 0].reshape(-1, k, n_classes),
    )
    gaps, gap_low, gap_high, bests, worsts = [], [], [], [], []
    for c in range(n_classes):
        b, w, d, lo, hi = _widest(
            recall[:, c], class_counts[:, c] >= min_count, rep_recall[:, :, c], coding
        )
        gaps.append(d), gap_low.append(lo), gap_high.append(hi), bests.append(b), worsts.append(w)
    return Fairness(
        split=split,
        best=best,
        worst=worst,
        difference=difference,
        low=low,
        high=high,
        recall_gap=np.array(gaps),
        recall_low=np.array(gap_low),
        recall_high=np.array(gap_high),
        recall_best=tuple(bests),
        recall_worst=tuple(worsts),
    )


def _widest(values, eligible, replicates, coding):
    nan = float("nan")
    candidates = np.flatnonzero(eligible & np.isfinite(values))
    if len(candidates) < 2:
        return "", "", nan, nan, nan
    best = int(candidates[np.argmax(values[candidates])])
    worst = int(candidates[np.argmin(values[candidates])])
    low, high = intervals(replicates[:, best] - replicates[:, worst])
    return (
        coding.labels[best],
        coding.labels[worst],
        float(values[best] - values[worst]),
        float(low),
        float(high),
    )
