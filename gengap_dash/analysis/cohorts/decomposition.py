"""Why did the metric change between two splits: a different cohort mix, or worse performance
inside cohorts?

The split's metric is a share-weighted mean of its cohorts' metrics, ``A = sum_k w_k a_k``.
Between the reference split ``r`` and a split ``s`` the change splits exactly into two parts
(the symmetric Kitagawa decomposition, the two-group Oaxaca-Blinder with the average of both
splits as weights, so neither split is privileged and no interaction term is left over)::

    A_s - A_r = sum_k (w_sk - w_rk) (a_sk + a_rk) / 2      # mix: the shares changed
              + sum_k (a_sk - a_rk) (w_sk + w_rk) / 2      # performance: cohorts got worse

Each cohort contributes one term to each part. A cohort absent from one split has no metric
there; it takes the other split's metric, so its performance term is 0 and its whole effect is
mix. The identity holds for any values, so the parts add up to the total exactly, replicate by
replicate; their intervals are percentiles of the same bootstrap replicates as the table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gengap_dash.analysis.cohorts.table import CohortSums, intervals, ratio


@dataclass(frozen=True)
class Decomposition:
    """The change ``split - reference`` in a metric, split into mix and performance.

    Attributes:
        split, reference, metric: what is compared.
        cohorts: ``(K,)`` cohort names; ``columns`` the column(s) they come from.
        share, reference_share: ``(K,)`` cohort shares of each split.
        value, reference_value: ``(K,)`` cohort metrics (NaN for an absent cohort).
        total, mix, performance: the change and its two parts (``mix + performance == total``).
        total_low ... performance_high: their 95% intervals.
        cohort_mix, cohort_performance: ``(K,)`` each cohort's term of each part.
        cohort_mix_low ... cohort_performance_high: ``(K,)`` their intervals.
    """

    split: str
    reference: str
    metric: str
    cohorts: tuple[str, ...]
    columns: tuple[str, ...]
    share: np.ndarray
    reference_share: np.ndarray
    value: np.ndarray
    reference_value: np.ndarray
    total: float
    total_low: float
    total_high: float
    mix: float
    mix_low: float
    mix_high: float
    performance: float
    performance_low: float
    performance_high: float
    cohort_mix: np.ndarray
    cohort_mix_low: np.ndarray
    cohort_mix_high: np.ndarray
    cohort_performance: np.ndarray
    cohort_performance_low: np.ndarray
    cohort_performance_high: np.ndarray


def decompose_terms(
    counts: np.ndarray, totals: np.ndarray, reference_counts: np.ndarray,
    reference_totals: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Per-cohort mix and performance terms from counts and statistic sums.

    Args:
        counts, totals: ``(..., K)`` per-cohort sample counts and statistic sums of the split.
        reference_counts, reference_totals: the same for the reference split.

    Returns:
        ``(mix, performance)``, each ``(..., K)``; their sum over ``K`` is the change in the
        metric.
    """
    share = ratio(counts, counts.sum(axis=-1, keepdims=True))
    reference_share = ratio(reference_counts, reference_counts.sum(axis=-1, keepdims=True))
    value = ratio(totals, counts)
    reference_value = ratio(reference_totals, reference_counts)
    value_filled = np.where(np.isnan(value), reference_value, value)
    reference_filled = np.where(np.isnan(reference_value), value_filled, reference_value)
    value_filled = np.nan_to_num(value_filled)
    reference_filled = np.nan_to_num(reference_filled)
    share, reference_share = np.nan_to_num(share), np.nan_to_num(reference_share)
    mix = (share - reference_share) * (value_filled + reference_filled) / 2.0
    performance = (value_filled - reference_filled) * (share + reference_share) / 2.0
    return mix, performance


def decompose(sums: CohortSums, *, split: str, reference: str, metric: str) -> Decomposition:
    """The mix/performance decomposition of ``split`` against ``reference``."""
    here, there = sums.sums[split], sums.sums[reference]
    mix, performance = decompose_terms(
        here.sums[:, 0], here.sums[:, 1], there.sums[:, 0], there.sums[:, 1]
    )
    rep_mix, rep_performance = decompose_terms(
        here.replicates[:, :, 0], here.replicates[:, :, 1],
        there.replicates[:, :, 0], there.replicates[:, :, 1],
    )  # fmt: skip
    mix_low, mix_high = intervals(rep_mix)
    perf_low, perf_high = intervals(rep_performance)
    total_bounds = intervals(rep_mix.sum(1) + rep_performance.sum(1))
    mix_bounds = intervals(rep_mix.sum(1))
    perf_bounds = intervals(rep_performance.sum(1))
    return Decomposition(
        split=split,
        reference=reference,
        metric=metric,
        cohorts=sums.coding.labels,
        columns=sums.coding.columns,
        share=ratio(here.sums[:, 0], here.sums[:, 0].sum()),
        reference_share=ratio(there.sums[:, 0], there.sums[:, 0].sum()),
        value=ratio(here.sums[:, 1], here.sums[:, 0]),
        reference_value=ratio(there.sums[:, 1], there.sums[:, 0]),
        total=float(mix.sum() + performance.sum()),
        total_low=float(total_bounds[0]),
        total_high=float(total_bounds[1]),
        mix=float(mix.sum()),
        mix_low=float(mix_bounds[0]),
        mix_high=float(mix_bounds[1]),
        performance=float(performance.sum()),
        performance_low=float(perf_bounds[0]),
        performance_high=float(perf_bounds[1]),
        cohort_mix=mix,
        cohort_mix_low=mix_low,
        cohort_mix_high=mix_high,
        cohort_performance=performance,
        cohort_performance_low=perf_low,
        cohort_performance_high=perf_high,
    )
