"""The cohort table: per cohort and split, the count and a metric with its 95% interval, and the
gap to the same cohort on the reference split with its interval.

Every split is bootstrapped once, from its own stream ``split_stream(seed, position)``, and all
its cohorts are read off the same resamples (``gengap_dash.stats.grouped_bootstrap``), so the
split's overall interval here is the scorecard's. Cohort metrics are means of a per-sample
statistic (``correct`` for accuracy, ``loss`` for NLL), so they equal a pandas groupby.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gengap_dash.analysis.cohorts.coding import Coding
from gengap_dash.project.errors import ProjectError
from gengap_dash.stats.bootstrap import DEFAULT_CONFIDENCE, make_rng, split_stream
from gengap_dash.stats.grouped_bootstrap import GroupedSums, grouped_sums

COHORT_METRICS: dict[str, str] = {"accuracy": "correct", "nll": "loss"}
"""Metrics a cohort table can show, and the per-sample statistic each is the mean of."""
DEFAULT_MIN_COUNT = 20
"""Cells with fewer samples are shown as "too few", not as numbers."""


@dataclass(frozen=True)
class CohortTable:
    """Per split (rows) and cohort (columns): counts, the metric and its gap to the reference.

    Attributes:
        columns: the metadata column(s) the cohorts come from.
        kind: how they were formed (``"categorical"``, ``"numeric"``, ``"time"``, ``"crossed"``).
        metric: ``"accuracy"`` or ``"nll"``.
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
    """Working data (not a result): per split, grouped sums ``[count, statistic]`` of every
    cohort and their bootstrap replicates, shared by the table, the decomposition and the
    fairness analysis."""

    coding: Coding
    sums: Mapping[str, GroupedSums]


def statistic_of(frame: pd.DataFrame, metric: str) -> np.ndarray:
    """The per-sample statistic whose mean is ``metric`` (``(n,)`` float64)."""
    if metric not in COHORT_METRICS:
        raise ProjectError(
            f"Expected `metric` to be one of {', '.join(COHORT_METRICS)}, but got {metric!r}."
        )
    return frame[COHORT_METRICS[metric]].to_numpy(np.float64)


def cohort_sums(
    frames: Mapping[str, pd.DataFrame],
    coding: Coding,
    *,
    metric: str = "accuracy",
    positions: Mapping[str, int],
    n_resamples: int,
    seed: int,
) -> CohortSums:
    """Grouped sums of every split (one bootstrap per split, stream ``(seed, position)``)."""
    sums = {}
    for split, frame in frames.items():
        statistic = statistic_of(frame, metric)
        sums[split] = grouped_sums(
            coding.codes[split],
            coding.n_cohorts,
            np.column_stack([np.ones_like(statistic), statistic]),
            rng=make_rng(split_stream(seed, positions[split])),
            n_resamples=n_resamples,
        )
    return CohortSums(coding, sums)


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
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        low, high = np.nanpercentile(replicates, [tail, 100.0 - tail], axis=0)
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
    n = np.stack([sums.sums[s].sums[:, 0] for s in splits]).astype(np.int64)
    value = np.stack([ratio(sums.sums[s].sums[:, 1], sums.sums[s].sums[:, 0]) for s in splits])
    replicate_values = {
        s: ratio(sums.sums[s].replicates[:, :, 1], sums.sums[s].replicates[:, :, 0]) for s in splits
    }
    bounds = [intervals(replicate_values[s]) for s in splits]
    low = np.stack([b[0] for b in bounds])
    high = np.stack([b[1] for b in bounds])
    r = splits.index(reference)
    gap = value - value[r]
    gap_low, gap_high = np.full_like(gap, np.nan), np.full_like(gap, np.nan)
    for i, s in enumerate(splits):
        if replicate_values[s].shape[0] and i != r:
            gap_low[i], gap_high[i] = intervals(replicate_values[s] - replicate_values[reference])
    shown = (n >= min_count) & (n[r] >= min_count)[None, :]
    gap = np.where(shown, gap, np.nan)
    gap_low, gap_high = np.where(shown, gap_low, np.nan), np.where(shown, gap_high, np.nan)
    gap_low[r], gap_high[r] = np.nan, np.nan
    totals = {s: sums.sums[s].sums.sum(axis=0) for s in splits}
    split_value = np.array([ratio(totals[s][1], totals[s][0]) for s in splits], dtype=np.float64)
    split_bounds = [
        intervals(
            ratio(sums.sums[s].replicates[:, :, 1].sum(1), sums.sums[s].replicates[:, :, 0].sum(1))
        )
        for s in splits
    ]
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
