"""Bootstrap of per-group sums: many cohorts, cells or classes of one split from one stream.

A cohort table needs, for every cohort of a split, the count and the sum of a per-sample
statistic (correct predictions, losses), and their bootstrap replicates. Rather than resample
each cohort on its own, the split is resampled once, with the policy and the stream of
``gengap_dash.stats.bootstrap`` (exact up to ``EXACT_MAX_SAMPLES`` samples, random blocks
above; ``split_stream(seed, position)``), and every group's sums are read off the same
replicate. Ratios of these sums (a cohort's accuracy, a class's recall, a confusion rate) then
have intervals that agree with one another: the shares of the cohorts in one replicate add to 1.

Cost: the statistics are summed once per resampling unit (a sample, or a block) and code into a
sparse ``(units, n_codes * m)`` matrix with at most ``min(n, units * n_codes) * m`` entries; a
replicate is one sparse product with the resample's multiplicities, so ``B`` replicates cost
``B`` times the number of non-zero entries, whatever ``n`` is. Several codings of the same split
(:func:`grouped_sums_many`: a cohort by true class, the same cohort by predicted class) share
one resample.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from gengap_dash.stats.bootstrap import DEFAULT_RESAMPLES, plan_resampling, resample_counts

_DENSE_ENTRIES = 4_000_000  # unit-by-code sums kept dense up to this size (32 MB)


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


Layer = tuple[np.ndarray, int, np.ndarray]
"""``(codes (n,), n_codes, statistics (n, m) or (n,))``: one coding of a split's samples."""


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
    return grouped_sums_many([(codes, n_codes, statistics)], rng=rng, n_resamples=n_resamples)[0]


def grouped_sums_many(
    layers: Sequence[Layer],
    *,
    rng: np.random.Generator | None,
    n_resamples: int = DEFAULT_RESAMPLES,
) -> list[GroupedSums]:
    """:func:`grouped_sums` of several codings of the same ``n`` samples, read off the same
    resamples (one plan and one set of draws from ``rng``).

    Raises:
        ValueError: for codes outside ``[-1, n_codes)``, mismatched lengths, or layers of
            different sizes.
    """
    checked = [_check_layer(*layer) for layer in layers]
    sizes = {codes.shape[0] for codes, _, _ in checked}
    if len(sizes) > 1:
        raise ValueError(
            f"Expected every layer to hold the same samples, but got sizes {sorted(sizes)}."
        )
    n = sizes.pop() if sizes else 0
    point = [_point_sums(codes, n_codes, statistics) for codes, n_codes, statistics in checked]
    if rng is None or n_resamples == 0 or n == 0:
        return [GroupedSums(sums, np.zeros((0, *sums.shape))) for sums in point]
    plan = plan_resampling(n, rng=rng, n_resamples=n_resamples)
    units = plan.groups if plan.method == "blocks" else None
    n_units = plan.n_groups if plan.method == "blocks" else n
    matrices = [_unit_matrix(codes, n_codes, statistics, units, n_units)
                for codes, n_codes, statistics in checked]  # fmt: skip
    replicates = [np.empty((n_resamples, sums.size), dtype=np.float64) for sums in point]
    for start, counts in resample_counts(n_units, n_resamples=n_resamples, rng=rng):
        weights = counts.astype(np.float64)
        for matrix, out in zip(matrices, replicates, strict=True):
            if sparse.issparse(matrix):  # (columns, units): product in the sparse order
                out[start : start + counts.shape[0]] = np.asarray(matrix @ weights.T).T
            else:
                out[start : start + counts.shape[0]] = weights @ matrix
    return [
        GroupedSums(sums, values.reshape(n_resamples, *sums.shape))
        for sums, values in zip(point, replicates, strict=True)
    ]


def _check_layer(codes, n_codes: int, statistics) -> tuple[np.ndarray, int, np.ndarray]:
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
    return codes, int(n_codes), statistics


def _point_sums(codes: np.ndarray, n_codes: int, statistics: np.ndarray) -> np.ndarray:
    """``(n_codes, m)`` sums of each column of ``statistics`` per code (negative codes left out)."""
    m = statistics.shape[1]
    if codes.size and codes.min() < 0:
        keep = codes >= 0
        codes, statistics = codes[keep], statistics[keep]
    columns = [np.bincount(codes, weights=statistics[:, j], minlength=n_codes) for j in range(m)]
    return np.stack(columns, axis=1).reshape(n_codes, m) if columns else np.zeros((n_codes, 0))


def _unit_matrix(
    codes: np.ndarray,
    n_codes: int,
    statistics: np.ndarray,
    units: np.ndarray | None,
    n_units: int,
) -> np.ndarray | sparse.csr_matrix:
    """The statistics of each code summed per resampling unit (a sample when ``units`` is None,
    else the block of each sample): column ``code * m + j`` holds statistic ``j`` of ``code``.

    Returns:
        A dense ``(n_units, n_codes * m)`` array when it is small (blocks and few codes), else
        the sparse transpose ``(n_codes * m, n_units)``.
    """
    m = statistics.shape[1]
    width = n_codes * m
    keep = codes >= 0
    if units is not None and n_units * width <= _DENSE_ENTRIES:
        flat = units * n_codes + codes
        if not keep.all():
            flat, statistics = flat[keep], statistics[keep]
        dense = np.stack(
            [np.bincount(flat, weights=statistics[:, j], minlength=n_units * n_codes)
             for j in range(m)],
            axis=1,
        )  # fmt: skip
        return dense.reshape(n_units, width)
    rows = np.flatnonzero(keep) if units is None else units[keep]
    if units is not None:  # many codes: sum each (block, code) cell first, then go sparse
        cells, inverse = np.unique(rows * n_codes + codes[keep], return_inverse=True)
        values = np.stack(
            [np.bincount(inverse, weights=statistics[keep, j], minlength=len(cells))
             for j in range(m)],
            axis=1,
        )  # fmt: skip
        rows, cell_codes = cells // n_codes, cells % n_codes
    else:
        values, cell_codes = statistics[keep], codes[keep]
    columns = (cell_codes[:, None] * m + np.arange(m)[None, :]).ravel()
    matrix = sparse.csr_matrix(
        (values.ravel(), (columns, np.repeat(rows, m))), shape=(width, n_units)
    )
    return matrix
