"""How well a score separates a split from the reference: AUROC and the false-positive rate at
95% true-positive rate, the split's samples being the positives ("out of distribution")."""

from __future__ import annotations

import numpy as np


def _check(negative: np.ndarray, positive: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    negative = np.asarray(negative, dtype=np.float64).ravel()
    positive = np.asarray(positive, dtype=np.float64).ravel()
    if negative.size == 0 or positive.size == 0:
        raise ValueError(
            "Expected scores of both the reference (negatives) and the split (positives), but "
            f"got {negative.size} and {positive.size}."
        )
    if not (np.isfinite(negative).all() and np.isfinite(positive).all()):
        raise ValueError("Expected finite scores, but some are NaN or infinite.")
    return negative, positive


def auroc(negative: np.ndarray, positive: np.ndarray) -> float:
    """AUROC of ``positive`` scores above ``negative`` ones (ties count one half), equal to
    ``sklearn.metrics.roc_auc_score`` with positives labelled 1."""
    from scipy.stats import rankdata

    negative, positive = _check(negative, positive)
    ranks = rankdata(np.concatenate([negative, positive]))
    m, n = positive.size, negative.size
    return float((ranks[n:].sum() - m * (m + 1) / 2) / (m * n))


def fpr_at_tpr(negative: np.ndarray, positive: np.ndarray, *, tpr: float = 0.95) -> float:
    """The false-positive rate at the first ROC threshold whose true-positive rate reaches
    ``tpr`` (as ``sklearn.metrics.roc_curve``: thresholds are the distinct scores, a sample is
    flagged when its score is >= the threshold)."""
    negative, positive = _check(negative, positive)
    thresholds = np.unique(np.concatenate([negative, positive]))[::-1]
    positive_sorted = np.sort(positive)
    negative_sorted = np.sort(negative)
    tp = positive.size - np.searchsorted(positive_sorted, thresholds, side="left")
    fp = negative.size - np.searchsorted(negative_sorted, thresholds, side="left")
    reached = np.flatnonzero(tp / positive.size >= tpr)
    return float(fp[reached[0]] / negative.size)
