"""Bootstrap of per-group sums: many cohorts, cells or classes of one split from one stream.

A cohort table needs, for every cohort of a split, the count and the sum of a per-sample
statistic (correct predictions, losses), and their bootstrap replicates. Rather than resample
each cohort on its own, the split is resampled once, with the policy and the stream of
``gengap_dash.stats.bootstrap`` (exact up to ``EXACT_MAX_SAMPLES`` samples, random blocks
above; ``split_stream(seed, position)``), and every group's sums are read off the same
replicate. Ratios of these sums (a cohort's accuracy, a class's recall, a confusion rate) then
have intervals that agree with one another: the shares of the cohorts in one replicate add to 1.
A replicate costs one ``(B, n_groups) @ (n_groups, n_codes * m)`` product whatever ``n`` is.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from gengap_dash.stats.bootstrap import (
    DEFAULT_RESAMPLES,
    ResamplingPlan,
    plan_resampling,
    resample_column_sums,
)

_MAX_ENTRIES = 4_000_000  # per-sample statistics materialised at once for the exact bootstrap


@dataclass(frozen=True, eq=False)
class GroupedSums:
    """Per-code sums of per-sample statistics, and their bootstrap replicates.

    Attributes:
        sums: ``(n_codes, m)`` float64 sums over the samples of each code.
        replicates: ``(B, n_codes, m)`` the same sums over each bootstrap resample of the split
            (``(0, n_codes, m)`` when ``n_resamples`` is 0).
    """

    sums: np.ndarray
    replicates: np.ndarray


def grouped_sums(
    codes: np.ndarray,
    n_codes: int,
    statistics: np.ndarray,
    *,
    rng: np.random.Generator | None,
    n_resamples: int = DEFAULT_RESAMPLES,
) -> GroupedSums:
    """Sums of ``statistics`` per code, with bootstrap replicates that resample the whole split.

    Args:
        codes: ``(n,)`` integer code of each sample in ``[0, n_codes)``; a negative code leaves
            the sample out of every group (it still counts in the resample's size).
        n_codes: the number of codes.
        statistics: ``(n, m)`` per-sample statistics (a column of ones gives counts).
        rng: the split's stream (``make_rng(split_stream(seed, position))``); ``None`` or
            ``n_resamples == 0`` draws nothing and gives no replicates.
        n_resamples: bootstrap replicates ``B``.

    Raises:
        ValueError: for codes outside ``[-1, n_codes)`` or mismatched lengths.
    """
    codes = np.asarray(codes, dtype=np.int64)
    statistics = np.asarray(statistics, dtype=np.float64)
    if statistics.ndim == 1:
        statistics = statistics[:, None]
    if statistics.shape[0] != codes.shape[0]:
        raise ValueError(
            f"Expected `statistics` with one row per code ({codes.shape[0]}), but got "
            f"{statistics.shape[0]} rows."
        )
    if codes.size and (codes.max() >= n_codes or codes.min() < -1):
        raise ValueError(
            f"Expected `codes` in [-1, {n_codes}), but got values from {codes.min()} to "
            f"{codes.max()}."
        )
    n, m = statistics.shape
    keep = codes >= 0
    flat_codes = codes[keep]
    sums = np.stack(
        [np.bincount(flat_codes, weights=statistics[keep, j], minlength=n_codes) for j in range(m)],
        axis=1,
    ).reshape(n_codes, m)
    if rng is None or n_resamples == 0 or n == 0:
        return GroupedSums(sums, np.zeros((0, n_codes, m)))
    plan = plan_resampling(n, rng=rng, n_resamples=n_resamples)
    units = n if plan.method == "exact" else plan.n_groups
    codes_per_chunk = max(1, _MAX_ENTRIES // max(1, units * m))
    start_state = copy.deepcopy(rng.bit_generator.state)
    replicates = np.empty((n_resamples, n_codes, m), dtype=np.float64)
    for first in range(0, n_codes, codes_per_chunk):
        last = min(n_codes, first + codes_per_chunk)
        block = _unit_statistics(plan, codes, statistics, first, last)
        rng.bit_generator.state = copy.deepcopy(start_state)  # the same resamples for each chunk
        sums_b = resample_column_sums(block, n_resamples=n_resamples, rng=rng)
        replicates[:, first:last, :] = sums_b.reshape(n_resamples, last - first, m)
    return GroupedSums(sums, replicates)


def _unit_statistics(
    plan: ResamplingPlan, codes: np.ndarray, statistics: np.ndarray, first: int, last: int
) -> np.ndarray:
    """``(units, (last - first) * m)``: the statistics of codes ``first..last-1`` summed per
    resampling unit (a sample for the exact bootstrap, a block otherwise)."""
    n, m = statistics.shape
    width = last - first
    chosen = np.flatnonzero((codes >= first) & (codes < last))
    local = codes[chosen] - first
    if plan.method == "exact":
        block = np.zeros((n, width, m), dtype=np.float64)
        block[chosen, local, :] = statistics[chosen]
        return block.reshape(n, width * m)
    flat = plan.groups[chosen] * width + local
    block = np.stack(
        [
            np.bincount(flat, weights=statistics[chosen, j], minlength=plan.n_groups * width)
            for j in range(m)
        ],
        axis=1,
    )
    return block.reshape(plan.n_groups, width * m)
