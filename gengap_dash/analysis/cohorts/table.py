"""The cohort table: per cohort and split, the count and a metric with its 95% interval, and the
gap to the same cohort on the reference split with its interval.

Every split is bootstrapped once, from its own stream ``split_stream(seed, position)``, and all
its cohorts are read off the same resamples (``gengap_dash.stats.grouped_bootstrap``), so the
split's overall accuracy interval here is the scorecard's. The metric is any of
``gengap_dash.analysis.cohorts.metrics.COHORT_METRICS``: a reducer of per-cohort (and per-cell)
sums, so a cohort's value equals the metric computed on the cohort's rows alone (a pandas
groupby with the scikit-learn metric) and its replicates come from the same resamples.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gengap_dash.analysis.cohorts.coding import Coding
from gengap_dash.analysis.cohorts.metrics import COHORT_METRICS, cohort_metric
from gengap_dash.project.errors import ProjectError
from gengap_dash.stats.bootstrap import DEFAULT_CONFIDENCE, make_rng, split_stream
from gengap_dash.stats.grouped_bootstrap import GroupedSums, grouped_sums

__all__ = ["COHORT_METRICS", "CohortSums", "CohortTable", "cohort_sums", "cohort_table"]
DEFAULT_MIN_COUNT = 20
"""Cells with fewer samples are shown as "too few", not as numbers."""


@dataclass(frozen=True)
class CohortTable:
    """Per split (rows) and cohort (columns): counts, the metric and its gap to the reference.

    Attributes:
        columns: the metadata column(s) the cohorts come from.
        kind: how they were formed (``"categorical"``, ``"numeric"``, ``"time"``, ``"crossed"``).
        metric: a name of ``COHORT_METRICS``; ``label``, ``unit`` and ``direction`` its
            display name, unit and the way it improves (``"higher"``, ``"lower"``, ``"zero"``,
            ``"none"``).
        reference: the split gaps are measured against.
        splits: ``(S,)`` split names, project order; ``roles`` their roles.
        cohorts: ``(K,)`` cohort names; ``parts`` each cohort's value per column.
        n: ``(S, K)`` counts.
        value, low, high: ``(S, K)`` the metric with its 95% interval (NaN where ``n`` is 0).
        gap, gap_low, gap_high: ``(S, K)`` value minus the same cohort's value on the
            reference split, with the interval of the difference (NaN where either cell has
            fewer than ``min_count`` samples).
        split_value, split_low, split_high: ``(S,)`` the metric on the whole split.
        min_count: the smallest cell shown as a number.
        period: the calendar period of a time column, else ``""``.
    """

    columns: tuple[str, ...]
    kind: str
    metric: str
    reference: str
    splits: tuple[str, ...]
    roles: dict[str, str]
    cohorts: tuple[str, ...]
    parts: tuple[tuple[str, ...], ...]
    n: np.ndarray
    value: np.ndarray
    low: np.ndarray
    high: np.ndarray
    gap: np.ndarray
    gap_low: np.ndarray
    gap_high: np.ndarray
    split_value: np.ndarray
    split_low: np.ndarray
    split_high: np.ndarray
    min_count: int
    period: str = ""
    label: str = "Accuracy"
    unit: str = "percent"
    direction: str = "higher"

    @property
    def enough(self) -> np.ndarray:
        """``(S, K)`` True where a cell has at least ``min_count`` samples."""
        return self.n >= self.min_count

    def split_index(self, split: str) -> int:
        return self.splits.index(split)

    def to_frame(self) -> pd.DataFrame:
        """One row per split and cohort: ``split, cohort, n, value, low, high, gap, gap_low,
        gap_high, enough``."""
        s, k = self.n.shape
        return pd.DataFrame(
            {
                "split": np.repeat(self.splits, k),
                "cohort": np.tile(self.cohorts, s),
                "n": self.n.ravel(),
                "value": self.value.ravel(),
                "low": self.low.ravel(),
                "high": self.high.ravel(),
                "gap": self.gap.ravel(),
                "gap_low": self.gap_low.ravel(),
                "gap_high": self.gap_high.ravel(),
                "enough": self.enough.ravel(),
            }
        )


@dataclass(frozen=True, eq=False)
class CohortSums:
    """Working data (not a result): per split, grouped sums of every cohort's (and cell's)
    per-sample statistics and their bootstrap replicates, shared by the table, the
    decomposition and the fairness analysis.

    For the additive metrics (one cell) ``sums[split].sums`` is ``(K, m)`` with column 0 the
    count and column 1 the statistic; otherwise it is ``(K * n_cells, m)``, cohort-major.
    """

    coding: Coding
    sums: Mapping[str, GroupedSums]
    metric: str = "accuracy"
    n_cells: int = 1

    def cells(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """``(K, n_cells, m)`` sums and ``(B, K, n_cells, m)`` replicates of ``split``."""
        grouped = self.sums[split]
        k = self.coding.n_cohorts
        point = grouped.sums.reshape(k, self.n_cells, grouped.sums.shape[-1])
        replicates = grouped.replicates.reshape(
            grouped.replicates.shape[0], k, self.n_cells, grouped.sums.shape[-1]
        )
        return point, replicates


def cohort_sums(
    frames: Mapping[str, pd.DataFrame],
    coding: Coding,
    *,
    metric: str = "accuracy",
    positions: Mapping[str, int],
    n_resamples: int,
    seed: int,
    n_classes: int | None = None,
) -> CohortSums:
    """Grouped sums of every split (one bootstrap per split, stream ``(seed, position)``).

    Args:
        n_classes: the number of classes (macro-F1 and Brier need it; default: the largest
            label or prediction + 1).

    Raises:
        ProjectError: for an unknown metric.
    """
    definition = cohort_metric(metric)
    if n_classes is None and metric in ("macro_f1", "brier"):
        n_classes = 1 + max(
            (int(max(f["label"].max(), f["pred"].max())) for f in frames.values() if len(f)),
            default=1,
        )
    sums, n_cells = {}, 1
    for split, frame in frames.items():
        cell, n_cells, statistics = definition.statistics(frame, n_classes or 0)
        codes = coding.codes[split]
        if cell is not None:
            codes = np.where(codes >= 0, codes * n_cells + cell, -1)
        sums[split] = grouped_sums(
            codes,
            coding.n_cohorts * n_cells,
            statistics,
            rng=make_rng(split_stream(seed, positions[split])),
            n_resamples=n_resamples,
        )
    return CohortSums(coding, sums, metric, n_cells)


def ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator``, NaN where the denominator is 0."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(
            denominator > 0, numerator / np.where(denominator > 0, denominator, 1), np.nan
        )


def intervals(replicates: np.ndarray, *, confidence: float = DEFAULT_CONFIDENCE):
    """Percentile intervals along axis 0, NaN replicates ignored (NaN where all are NaN)."""
    tail = (1.0 - confidence) / 2.0 * 100.0
    if replicates.shape[0] == 0:
        nan = np.full(replicates.shape[1:], np.nan)
        return nan, nan.copy()
    finite = ~np.isnan(replicates).any(axis=0)
    if finite.all():  # the common case: one vectorised percentile, no per-column loop
        low, high = np.percentile(replicates, [tail, 100.0 - tail], axis=0)
        return low, high
    low = np.full(replicates.shape[1:], np.nan)
    high = low.copy()
    low[finite], high[finite] = np.percentile(replicates[:, finite], [tail, 100.0 - tail], axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        rest = np.nanpercentile(replicates[:, ~finite], [tail, 100.0 - tail], axis=0)
    low[~finite], high[~finite] = rest[0], rest[1]
    return low, high


def _bounds(replicates: np.ndarray, value, kind: str, *, floor: float | None = None):
    """Percentile intervals, or basic ones (``2 v - q_high, 2 v - q_low``, not below ``floor``)
    for a plug-in estimate biased upwards (the binned calibration errors)."""
    low, high = intervals(replicates)
    if kind != "basic":
        return low, high
    low, high = 2.0 * value - high, 2.0 * value - low
    if floor is not None:
        low, high = np.maximum(low, floor), np.maximum(high, floor)
    return low, high


def cohort_table(
    sums: CohortSums,
    *,
    metric: str,
    reference: str,
    roles: Mapping[str, str],
    min_count: int = DEFAULT_MIN_COUNT,
) -> CohortTable:
    """The cohort table from grouped sums (see :class:`CohortTable`).

    Raises:
        ProjectError: for a reference that is not a split.
    """
    splits = tuple(sums.sums)
    if reference not in splits:
        raise ProjectError(
            f"Reference split {reference!r} does not exist; the splits are {', '.join(splits)}."
        )
    definition = cohort_metric(metric)
    cells = {s: sums.cells(s) for s in splits}
    n = np.stack([cells[s][0][..., 0].sum(axis=1) for s in splits]).round().astype(np.int64)
    value = np.stack([definition.reduce(cells[s][0]) for s in splits])
    replicate_values = {s: definition.reduce(cells[s][1]) for s in splits}
    kind = definition.interval
    bounds = [_bounds(replicate_values[s], value[i], kind, floor=0.0) for i, s in enumerate(splits)]
    low = np.stack([b[0] for b in bounds])
    high = np.stack([b[1] for b in bounds])
    r = splits.index(reference)
    gap = value - value[r]
    gap_low, gap_high = np.full_like(gap, np.nan), np.full_like(gap, np.nan)
    for i, s in enumerate(splits):
        if replicate_values[s].shape[0] and i != r:
            gap_low[i], gap_high[i] = _bounds(
                replicate_values[s] - replicate_values[reference], gap[i], kind
            )
    shown = (n >= min_count) & (n[r] >= min_count)[None, :]
    gap = np.where(shown, gap, np.nan)
    gap_low, gap_high = np.where(shown, gap_low, np.nan), np.where(shown, gap_high, np.nan)
    gap_low[r], gap_high[r] = np.nan, np.nan
    split_value = np.array(
        [float(definition.reduce(cells[s][0].sum(axis=0, keepdims=True))[0]) for s in splits]
    )
    split_bounds = [
        _bounds(
            definition.reduce(cells[s][1].sum(axis=1, keepdims=True))[:, 0], split_value[i], kind,
            floor=0.0,
        )
        for i, s in enumerate(splits)
    ]  # fmt: skip
    coding = sums.coding
    return CohortTable(
        columns=coding.columns,
        kind=coding.kind,
        metric=metric,
        reference=reference,
        splits=splits,
        roles={s: roles[s] for s in splits},
        cohorts=coding.labels,
        parts=coding.parts,
        n=n,
        value=value,
        low=low,
        high=high,
        gap=gap,
        gap_low=gap_low,
        gap_high=gap_high,
        split_value=split_value,
        split_low=np.array([float(b[0]) for b in split_bounds]),
        split_high=np.array([float(b[1]) for b in split_bounds]),
        min_count=int(min_count),
        period=coding.period,
        label=definition.label,
        unit=definition.unit,
        direction=definition.direction,
    )


def default_reference(roles: Mapping[str, str]) -> str:
    """The validation split, else the test split, else the first split."""
    for wanted in ("validation", "test"):
        for split, role in roles.items():
            if role == wanted:
                return split
    return next(iter(roles))


def compared_splits(roles: Mapping[str, str], reference: str) -> list[str]:
    """The splits compared with the reference: every split but train and the reference itself,
    shifted and deployment splits first as they come."""
    return [s for s, role in roles.items() if s != reference and role != "train"]


def widest_column(
    frames: Mapping[str, pd.DataFrame],
    codings: Sequence[Coding],
    *,
    min_count: int,
    reference: str,
) -> int:
    """Index of the coding whose cohorts' accuracies differ most on any split, among cohorts
    with at least ``min_count`` samples there and on ``reference`` (so that their gaps can be
    shown): the column a page or report shows first when none is chosen."""
    best, best_spread = 0, -1.0
    for index, coding in enumerate(codings):
        ref_counts = np.bincount(coding.codes[reference], minlength=coding.n_cohorts)
        spread = -0.5 if (ref_counts >= min_count).sum() < 2 else 0.0
        for split, frame in frames.items():
            codes = coding.codes[split]
            counts = np.bincount(codes, minlength=coding.n_cohorts)
            correct = np.bincount(
                codes, weights=frame["correct"].to_numpy(np.float64), minlength=coding.n_cohorts
            )
            ok = (counts >= min_count) & (ref_counts >= min_count)
            if ok.sum() >= 2 and spread >= 0:
                accuracy = correct[ok] / counts[ok]
                spread = max(spread, float(accuracy.max() - accuracy.min()))
        if spread > best_spread:
            best, best_spread = index, spread
    return best
