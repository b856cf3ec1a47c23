"""Tabular attributions: which features the model leans on, per split, and how that moved."""

from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr

from gengap_dash.analysis.attribution.results import FeatureShift


def feature_importance(maps: np.ndarray) -> np.ndarray:
    """``(F,)`` mean absolute attribution per feature of ``maps`` ``(n, F)``."""
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim != 2:
        raise ValueError(f"Expected tabular maps of shape (n, F), but got shape {maps.shape}.")
    return np.abs(maps).mean(axis=0)


def feature_shift(
    maps: np.ndarray,
    values: np.ndarray,
    reference_importance: np.ndarray,
    *,
    split: str,
    method: str,
    max_points: int = 300,
) -> FeatureShift:
    """A split's feature importances and the Spearman correlation of their ranking with the
    reference's (1: the same order; NaN with fewer than two features)."""
    importance = feature_importance(maps)
    if importance.shape != np.asarray(reference_importance).shape:
        raise ValueError(
            f"Expected {len(reference_importance)} features, but got {importance.shape[0]}."
        )
    if importance.size < 2:
        correlation = float("nan")
    else:
        correlation = float(spearmanr(importance, reference_importance).statistic)
    keep = slice(0, max_points)
    return FeatureShift(
        split=split,
        method=method,
        n_samples=len(maps),
        importance=importance,
        ranking_correlation=correlation,
        values=np.asarray(values, dtype=np.float64)[keep],
        attributions=np.asarray(maps, dtype=np.float64)[keep],
    )
