"""Confusions: the confusion matrix of every split, and how the rate of each confusion (true
class ``i`` predicted as ``j``, as a share of class ``i``) changed against the reference split,
with intervals from each split's own bootstrap stream (the two splits resample independently).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gengap_dash.analysis.cohorts.table import intervals, ratio
from gengap_dash.stats.bootstrap import make_rng, split_stream
from gengap_dash.stats.grouped_bootstrap import grouped_sums


@dataclass(frozen=True)
class Confusions:
    """Confusion matrices and their change against the reference.

    Attributes:
        splits: ``(S,)`` split names; ``reference`` the split compared against.
        classes: ``(C,)`` class names.
        counts: ``(S, C, C)`` counts, ``[s, true, predicted]``.
        change, change_low, change_high: ``(S, C, C)`` row-normalised rate minus the reference's
            rate, with its 95% interval (NaN on the reference and where a class is absent).
    """

    splits: tuple[str, ...]
    reference: str
    classes: tuple[str, ...]
    counts: np.ndarray
    change: np.ndarray
    change_low: np.ndarray
    change_high: np.ndarray

    def rates(self) -> np.ndarray:
        """``(S, C, C)`` row-normalised confusion matrices (NaN rows for absent classes)."""
        return ratio(self.counts, self.counts.sum(axis=2, keepdims=True))

    def grown(self, split: str, *, top: int = 5) -> list[tuple[int, int]]:
        """The off-diagonal cells ``(true, predicted)`` whose rate grew most on ``split``."""
        change = self.change[self.splits.index(split)].copy()
        np.fill_diagonal(change, np.nan)
        order = np.argsort(np.where(np.isnan(change), -np.inf, change), axis=None)[::-1]
        cells = [tuple(int(i) for i in np.unravel_index(o, change.shape)) for o in order]
        return [cell for cell in cells if np.isfinite(change[cell]) and change[cell] > 0][:top]


def confusions(
    frames: Mapping[str, pd.DataFrame],
    *,
    classes: tuple[str, ...],
    reference: str,
    positions: Mapping[str, int],
    n_resamples: int,
    seed: int,
) -> Confusions:
    """Confusion matrices of every split and their change against ``reference``."""
    c = len(classes)
    counts, reps = {}, {}
    for split, frame in frames.items():
        codes = frame["label"].to_numpy(np.int64) * c + frame["pred"].to_numpy(np.int64)
        grouped = grouped_sums(
            codes,
            c * c,
            np.ones((len(codes), 1)),
            rng=make_rng(split_stream(seed, positions[split])),
            n_resamples=n_resamples,
        )
        counts[split] = grouped.sums[:, 0].reshape(c, c)
        rep = grouped.replicates[:, :, 0].reshape(-1, c, c)
        reps[split] = ratio(rep, rep.sum(axis=2, keepdims=True))
    splits = tuple(frames)
    rate = {s: ratio(counts[s], counts[s].sum(axis=1, keepdims=True)) for s in splits}
    change = np.full((len(splits), c, c), np.nan)
    low, high = change.copy(), change.copy()
    for i, split in enumerate(splits):
        if split == reference:
            continue
        change[i] = rate[split] - rate[reference]
        if reps[split].shape[0]:
            low[i], high[i] = intervals(reps[split] - reps[reference])
    return Confusions(
        splits=splits,
        reference=reference,
        classes=tuple(classes),
        counts=np.stack([counts[s] for s in splits]).astype(np.int64),
        change=change,
        change_low=low,
        change_high=high,
    )
