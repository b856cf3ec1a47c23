"""Weak slices, found automatically: conjunctions of up to three predicates over the metadata
columns where the model errs more than on its split as a whole.

The design follows SliceLine (Sagadeeva and Boehm, SIGMOD 2021). A slice ``S`` is a
conjunction such as ``source = scanner B AND ink = heavy`` (numeric columns enter as quantile
bins). Its score trades the error excess against size::

    score(S) = alpha * (e_S / e - 1) - (1 - alpha) * (n / |S| - 1)

with ``e_S`` the slice's error rate, ``e`` the split's, ``n`` the split's size and ``|S|`` the
slice's. SliceLine leaves ``alpha`` to the user; the default here, 0.9, weighs size a little
more than 0.95 does, so that a slice outranks a slightly smaller, slightly worse sub-slice of
itself (the broader description of the same failure). Slices below the minimum support (default
``max(20, 1% of n)`` samples) are pruned; a slice that holds exactly the same samples as one of
its parents adds nothing and is dropped, and so is a value that selects exactly the samples of
a value of another column (``severity = 0`` is ``shift = none``). Every slice of
every column combination is counted at once with ``np.bincount`` on combined codes, so a level
costs one pass over the split per combination of columns.

Each tested slice gets a one-sided p-value for "errs more than the rest of the split": the
hypergeometric (Fisher exact) tail of its error count given the split's errors. The p-values
are adjusted with Benjamini-Hochberg over every slice tested (not only those shown).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from gengap_dash.analysis.cohorts.coding import Coding
from gengap_dash.analysis.cohorts.table import intervals
from gengap_dash.project.errors import ProjectError
from gengap_dash.stats.bootstrap import (
    DEFAULT_RESAMPLES,
    make_rng,
    plan_resampling,
    resample_column_sums,
    split_stream,
)
from gengap_dash.stats.multiple_testing import benjamini_hochberg

DEFAULT_ALPHA = 0.95
DEFAULT_MAX_PREDICATES = 3
DEFAULT_TOP = 20
MIN_SUPPORT_FLOOR = 20
MIN_SUPPORT_SHARE = 0.01
Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class SliceOnSplit:
    """A slice's samples on one split: count and error rate with its 95% interval."""

    n: int
    error: float
    low: float
    high: float


@dataclass(frozen=True)
class Slice:
    """One weak slice of the searched split.

    Attributes:
        predicates: ``((column, value), ...)``, all of which hold.
        n, errors: samples and wrong predictions in the slice.
        error, low, high: its error rate with a 95% bootstrap interval.
        lift: ``error / split error``.
        score: the SliceLine score (see the module).
        p_value, p_adjusted: the one-sided test and its BH adjustment.
        by_split: the same slice on every split (the searched one included).
    """

    predicates: tuple[tuple[str, str], ...]
    n: int
    errors: int
    error: float
    low: float
    high: float
    lift: float
    score: float
    p_value: float
    p_adjusted: float
    by_split: dict[str, SliceOnSplit]

    @property
    def name(self) -> str:
        return " and ".join(f"{column} = {value}" for column, value in self.predicates)


@dataclass(frozen=True)
class SliceSearch:
    """The slice search of one split.

    Attributes:
        split: the split searched; ``n`` its size; ``error`` its error rate.
        columns: the columns searched; ``skipped``: notes on columns left out.
        alpha, min_support, max_predicates: the search's settings.
        n_tested: slices scored and tested (the BH family).
        slices: the best slices with a positive score, best first.
        roles: every split's role.
    """

    split: str
    n: int
    error: float
    columns: tuple[str, ...]
    skipped: tuple[str, ...]
    alpha: float
    min_support: int
    max_predicates: int
    n_tested: int
    slices: tuple[Slice, ...]
    roles: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class _Candidates:
    columns: list[tuple[int, ...]]
    values: list[tuple[int, ...]]
    counts: np.ndarray
    errors: np.ndarray


def default_min_support(n: int) -> int:
    """``max(20, ceil(1% of n))`` samples."""
    return max(MIN_SUPPORT_FLOOR, int(np.ceil(MIN_SUPPORT_SHARE * n)))


def find_slices(
    codings: Sequence[Coding],
    errors: Mapping[str, np.ndarray],
    *,
    split: str,
    positions: Mapping[str, int],
    alpha: float = DEFAULT_ALPHA,
    min_support: int | None = None,
    max_predicates: int = DEFAULT_MAX_PREDICATES,
    top: int = DEFAULT_TOP,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    skipped: Sequence[str] = (),
    roles: Mapping[str, str] | None = None,
    progress: Progress | None = None,
) -> SliceSearch:
    """Search the weak slices of ``split``.

    Args:
        codings: one coding per metadata column (cohort codes on every split).
        errors: per split, ``(n,)`` 1 where the prediction is wrong.
        split: the split searched.
        positions: each split's position (its bootstrap stream).
        progress: called with the fraction done and a short note.

    Raises:
        ProjectError: for a bad ``alpha``, ``max_predicates``, ``min_support`` or split.
    """
    if split not in errors:
        raise ProjectError(f"Split {split!r} does not exist; the splits are {', '.join(errors)}.")
    if not 0.0 < alpha <= 1.0:
        raise ProjectError(f"Expected `alpha` in (0, 1], but got {alpha!r}.")
    if max_predicates not in (1, 2, 3):
        raise ProjectError(
            f"Expected `max_predicates` to be 1, 2 or 3, but got {max_predicates!r}."
        )
    wrong = np.asarray(errors[split], dtype=np.float64)
    n = len(wrong)
    support = default_min_support(n) if min_support is None else int(min_support)
    if support < 1:
        raise ProjectError(f"Expected `min_support` to be a positive integer, but got {support}.")
    split_error = float(wrong.mean()) if n else float("nan")
    candidates = _enumerate(codings, wrong, split, support, max_predicates, progress)
    columns = tuple(c.columns[0] for c in codings)
    if len(candidates.counts) == 0 or not split_error > 0:
        return SliceSearch(
            split,
            n,
            split_error,
            columns,
            tuple(skipped),
            alpha,
            support,
            max_predicates,
            len(candidates.counts),
            (),
            dict(roles or {}),
        )
    counts, errs = candidates.counts, candidates.errors
    slice_error = errs / counts
    score = alpha * (slice_error / split_error - 1.0) - (1.0 - alpha) * (n / counts - 1.0)
    total_errors = round(wrong.sum())
    p_values = stats.hypergeom.sf(errs - 1, n, total_errors, counts)
    p_values = np.clip(p_values, 0.0, 1.0)
    adjusted = benjamini_hochberg(p_values)
    order = [int(i) for i in np.argsort(-score, kind="stable") if score[i] > 0][:top]
    if progress is not None:
        progress(0.95, "intervals of the best slices")
    chosen = [(candidates.columns[i], candidates.values[i]) for i in order]
    on_splits = {
        s: _on_split(codings, chosen, errors[s], s, make_rng(split_stream(seed, positions[s])),
                     n_resamples)
        for s in errors
    }  # fmt: skip
    slices = []
    for rank, i in enumerate(order):
        predicates = tuple(
            (codings[c].columns[0], codings[c].labels[v])
            for c, v in zip(candidates.columns[i], candidates.values[i], strict=True)
        )
        by_split = {s: on_splits[s][rank] for s in errors}
        here = by_split[split]
        slices.append(
            Slice(
                predicates=predicates,
                n=int(counts[i]),
                errors=round(errs[i]),
                error=float(slice_error[i]),
                low=here.low,
                high=here.high,
                lift=float(slice_error[i] / split_error),
                score=float(score[i]),
                p_value=float(p_values[i]),
                p_adjusted=float(adjusted[i]),
                by_split=by_split,
            )
        )
    if progress is not None:
        progress(1.0, "done")
    return SliceSearch(
        split,
        n,
        split_error,
        columns,
        tuple(skipped),
        alpha,
        support,
        max_predicates,
        len(counts),
        tuple(slices),
        dict(roles or {}),
    )


def slice_mask(codings: Sequence[Coding], predicates: Sequence[tuple[str, str]], split: str):
    """``(n,)`` True for the samples of ``split`` in the slice given by ``predicates``.

    Raises:
        ProjectError: for a column or value the codings do not have.
    """
    by_column = {c.columns[0]: c for c in codings}
    mask = None
    for column, value in predicates:
        coding = by_column.get(column)
        if coding is None or value not in coding.labels:
            raise ProjectError(f"The slice predicate {column} = {value!r} names no cohort.")
        here = coding.codes[split] == coding.labels.index(value)
        mask = here if mask is None else mask & here
    if mask is None:
        raise ProjectError("Expected at least one predicate.")
    return mask


def _on_split(codings, chosen, wrong, split, rng, n_resamples) -> list[SliceOnSplit]:
    """Each chosen slice on one split: count, error and a 95% interval. The split is
    resampled once (the engine's plan and stream); every slice's sums are read off the same
    replicates, so twenty slices cost one resample of the split, not twenty."""
    wrong = np.asarray(wrong, dtype=np.float64)
    n = len(wrong)
    masks = []
    for columns, values in chosen:
        mask = np.ones(n, dtype=bool)
        for c, v in zip(columns, values, strict=True):
            mask &= codings[c].codes[split] == v
        masks.append(mask)
    counts = np.array([m.sum() for m in masks], dtype=np.float64)
    errs = np.array([wrong[m].sum() for m in masks], dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        error = np.where(counts > 0, errs / np.maximum(counts, 1), np.nan)
    low = high = np.full(len(masks), np.nan)
    if n_resamples and n and masks:
        plan = plan_resampling(n, rng=rng, n_resamples=n_resamples)
        units = np.empty((plan.n_groups, 2 * len(masks)), dtype=np.float64)
        for j, mask in enumerate(masks):
            if plan.method == "exact":
                units[:, 2 * j], units[:, 2 * j + 1] = mask, mask * wrong
            else:
                units[:, 2 * j] = np.bincount(plan.groups[mask], minlength=plan.n_groups)
                units[:, 2 * j + 1] = np.bincount(
                    plan.groups[mask], weights=wrong[mask], minlength=plan.n_groups
                )
        sums = resample_column_sums(units, n_resamples=n_resamples, rng=rng)
        with np.errstate(invalid="ignore", divide="ignore"):
            replicates = sums[:, 1::2] / sums[:, 0::2]
        low, high = intervals(np.where(np.isfinite(replicates), replicates, np.nan))
    return [
        SliceOnSplit(int(counts[j]), float(error[j]), float(low[j]), float(high[j]))
        for j in range(len(masks))
    ]


def _aliased_codes(codings, split: str, support: int) -> list[np.ndarray]:
    """The split's codes with aliases removed: a value that selects exactly the same samples as
    a value of an earlier column (``severity = 0`` and ``shift = none``) is set to the extra
    code ``n_cohorts``, which no slice uses (the earlier column's value stands for both)."""
    seen: dict[bytes, tuple[int, int]] = {}
    out = []
    for c, coding in enumerate(codings):
        codes = coding.codes[split].copy()
        counts = np.bincount(codes, minlength=coding.n_cohorts)
        for value in np.flatnonzero(counts >= support):
            mask = codes == value
            key = np.packbits(mask).tobytes()
            if key in seen:
                codes[mask] = coding.n_cohorts
            else:
                seen[key] = (c, int(value))
        out.append(codes)
    return out


def _enumerate(codings, wrong, split, support, max_predicates, progress) -> _Candidates:
    sizes = [c.n_cohorts + 1 for c in codings]  # the last code: an alias (never a predicate)
    codes = _aliased_codes(codings, split, support)
    combos = [
        combo
        for level in range(1, max_predicates + 1)
        for combo in itertools.combinations(range(len(codings)), level)
    ]
    out_columns: list[tuple[int, ...]] = []
    out_values: list[tuple[int, ...]] = []
    out_counts: list[np.ndarray] = []
    out_errors: list[np.ndarray] = []
    seen: dict[tuple[tuple[int, int], ...], int] = {}
    for done, combo in enumerate(combos):
        if progress is not None and done % 5 == 0:
            progress(0.9 * done / max(1, len(combos)), f"{len(combo)}-predicate slices")
        combined = np.zeros(len(wrong), dtype=np.int64)
        stride = 1
        for c in reversed(combo):
            combined += codes[c] * stride
            stride *= sizes[c]
        counts = np.bincount(combined, minlength=stride)
        kept = np.flatnonzero(counts >= support)
        if len(kept) == 0:
            continue
        errs = np.bincount(combined, weights=wrong, minlength=stride)[kept]
        values = np.array(np.unravel_index(kept, [sizes[c] for c in combo])).T
        usable = np.all(values < np.array([sizes[c] - 1 for c in combo]), axis=1)
        values, kept, errs = values[usable], kept[usable], errs[usable]
        for row, count, err in zip(values, counts[kept], errs, strict=True):
            key = tuple(zip(combo, (int(v) for v in row), strict=True))
            if len(combo) > 1 and any(
                seen.get(key[:j] + key[j + 1 :]) == count for j in range(len(key))
            ):
                continue  # the same samples as a parent
            seen[key] = int(count)
            out_columns.append(combo)
            out_values.append(tuple(v for _, v in key))
            out_counts.append(count)
            out_errors.append(err)
    return _Candidates(
        out_columns,
        out_values,
        np.asarray(out_counts, dtype=np.float64),
        np.asarray(out_errors, dtype=np.float64),
    )


def errors_of(frames: Mapping[str, pd.DataFrame]) -> dict[str, np.ndarray]:
    """Per split, ``(n,)`` 1.0 where the prediction is wrong."""
    return {s: 1.0 - frame["correct"].to_numpy(np.float64) for s, frame in frames.items()}
