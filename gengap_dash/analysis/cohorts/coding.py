"""Turning metadata columns into cohorts: one integer code per sample, shared by every split.

A categorical column gives one cohort per value; a numeric column with many values is cut into
quantile bins (edges from all splits pooled, so that "bin 3" is the same range on every split);
a date column is cut into calendar periods (day, week, month, quarter or year, chosen from the
span unless asked). Missing values form their own cohort, ``"(missing)"``.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from gengap_dash.project.errors import ProjectError

Period = Literal["auto", "D", "W", "M", "Q", "Y"]
PERIODS: tuple[str, ...] = ("auto", "D", "W", "M", "Q", "Y")
PERIOD_NAMES = {"D": "day", "W": "week", "M": "month", "Q": "quarter", "Y": "year"}
MISSING = "(missing)"
MAX_DISCRETE_NUMBERS = 12
"""A numeric column of whole numbers with at most this many values is read as categories."""
MAX_CATEGORIES = 50
"""Categories beyond the most frequent ``MAX_CATEGORIES - 1`` are pooled into ``"(other)"``."""
OTHER = "(other)"


@dataclass(frozen=True, eq=False)
class Coding:
    """The cohorts of one column (or of crossed columns) on every split.

    Attributes:
        columns: the column(s) the cohorts come from.
        kind: ``"categorical"``, ``"numeric"`` (quantile bins), ``"time"`` (periods) or
            ``"crossed"``.
        labels: ``(K,)`` the cohort names, in display order.
        parts: ``(K,)`` for each cohort, its value in each column (one entry per column).
        codes: per split, ``(n,)`` int64 cohort of each sample.
        period: the period of a time column (``"W"``...), else ``""``.
    """

    columns: tuple[str, ...]
    kind: str
    labels: tuple[str, ...]
    parts: tuple[tuple[str, ...], ...]
    codes: Mapping[str, np.ndarray]
    period: str = ""

    @property
    def n_cohorts(self) -> int:
        return len(self.labels)


def check_column(frames: Mapping[str, pd.DataFrame], column: str, *, known: Sequence[str]) -> None:
    """Raise a clear error when ``column`` is not a metadata column of the project.

    Raises:
        ProjectError: "Metadata column 'x' does not exist; the metadata columns are a, b."
    """
    if column not in known or any(column not in frame.columns for frame in frames.values()):
        names = ", ".join(repr(name) for name in known) or "none"
        raise ProjectError(
            f"Metadata column {column!r} does not exist; the metadata columns are {names}."
        )


def code_column(
    frames: Mapping[str, pd.DataFrame],
    column: str,
    *,
    n_bins: int = 5,
    period: Period = "auto",
    allow_constant: bool = False,
) -> Coding:
    """The cohorts of one column on every split.

    Args:
        frames: per split, a frame holding ``column``.
        n_bins: quantile bins for a numeric column with many values.
        period: calendar period of a date column (``"auto"``: from the span).
        allow_constant: keep a column with one value (else it is refused).

    Raises:
        ProjectError: for a column with one value in every split, or a bad ``n_bins``/``period``.
    """
    if isinstance(n_bins, bool) or not isinstance(n_bins, int | np.integer) or n_bins < 2:
        raise ProjectError(f"Expected `n_bins` to be an integer of at least 2, but got {n_bins!r}.")
    if period not in PERIODS:
        raise ProjectError(
            f"Expected `period` to be one of {', '.join(PERIODS)}, but got {period!r}."
        )
    pooled = pd.concat([frame[column] for frame in frames.values()], ignore_index=True)
    sizes = [len(frame) for frame in frames.values()]
    if pd.api.types.is_datetime64_any_dtype(pooled):
        codes, labels, chosen = _time_codes(pooled, period)
        kind = "time"
    elif pd.api.types.is_numeric_dtype(pooled) and not pd.api.types.is_bool_dtype(pooled):
        codes, labels, kind = _numeric_codes(pooled.to_numpy(np.float64), n_bins)
        chosen = ""
    else:
        codes, labels = _categorical_codes(pooled)
        kind, chosen = "categorical", ""
    present = [label for label in labels if label != MISSING]
    if len(present) < 2 and not allow_constant:
        value = present[0] if present else MISSING
        raise ProjectError(
            f"Metadata column {column!r} has one value ({value!r}) on every split; cohorts "
            "need at least two."
        )
    by_split = dict(zip(frames, np.split(codes, np.cumsum(sizes)[:-1]), strict=True))
    return Coding(
        columns=(column,),
        kind=kind,
        labels=tuple(labels),
        parts=tuple((label,) for label in labels),
        codes=by_split,
        period=chosen,
    )


def cross(first: Coding, second: Coding) -> Coding:
    """Cohorts of two columns crossed: one cohort per pair of values (``"a × b"``)."""
    k2 = second.n_cohorts
    labels = tuple(f"{a} × {b}" for a in first.labels for b in second.labels)
    parts = tuple((*pa, *pb) for pa in first.parts for pb in second.parts)
    codes = {split: first.codes[split] * k2 + second.codes[split] for split in first.codes}
    return Coding(
        columns=(*first.columns, *second.columns),
        kind="crossed",
        labels=labels,
        parts=parts,
        codes=codes,
        period=first.period or second.period,
    )


def auto_period(times: pd.Series) -> str:
    """The calendar period for a span: days up to two weeks, weeks up to half a year, months up
    to five years, years beyond."""
    valid = times.dropna()
    if valid.empty:
        return "W"
    span = valid.max() - valid.min()
    if span <= pd.Timedelta(days=14):
        return "D"
    if span <= pd.Timedelta(days=183):
        return "W"
    if span <= pd.Timedelta(days=5 * 366):
        return "M"
    return "Y"


def _time_codes(values: pd.Series, period: str) -> tuple[np.ndarray, list[str], str]:
    chosen = auto_period(values) if period == "auto" else period
    if getattr(values.dt, "tz", None) is not None:
        values = values.dt.tz_convert(None)
    periods = values.dt.to_period(chosen).array
    valid = ~np.asarray(pd.isna(periods))
    ordinals = np.asarray(periods.asi8)[valid]
    uniques = np.unique(ordinals)
    labels = [_period_label(pd.Period(ordinal=o, freq=periods.freq), chosen) for o in uniques]
    codes = np.full(len(values), len(uniques), dtype=np.int64)
    codes[valid] = np.searchsorted(uniques, ordinals)
    if not valid.all():
        labels.append(MISSING)
    return codes, labels, chosen


def _period_label(period: pd.Period, freq: str) -> str:
    if freq == "W":
        return f"week of {period.start_time:%Y-%m-%d}"
    if freq == "D":
        return f"{period.start_time:%Y-%m-%d}"
    return str(period)


def _numeric_codes(values: np.ndarray, n_bins: int) -> tuple[np.ndarray, list[str], str]:
    valid = np.isfinite(values)
    finite = values[valid]
    uniques = np.unique(finite)
    if len(uniques) <= MAX_DISCRETE_NUMBERS and np.all(np.mod(uniques, 1) == 0):
        labels = [f"{int(u)}" for u in uniques]
        codes = np.full(len(values), len(uniques), dtype=np.int64)
        codes[valid] = np.searchsorted(uniques, finite)
        kind = "categorical"
    else:
        edges = np.unique(np.quantile(finite, np.linspace(0.0, 1.0, n_bins + 1)))
        if len(edges) < 2:
            edges = np.array([uniques[0], uniques[0]])
        inner = edges[1:-1]
        codes = np.full(len(values), len(edges) - 1, dtype=np.int64)
        codes[valid] = np.searchsorted(inner, finite, side="right")
        labels = [
            f"[{_short(lo)}, {_short(hi)}{']' if i == len(edges) - 2 else ')'}"
            for i, (lo, hi) in enumerate(itertools.pairwise(edges))
        ]
        kind = "numeric"
    if not valid.all():
        labels.append(MISSING)
    return codes, labels, kind


def _short(value: float) -> str:
    return f"{value:.3g}"


def _categorical_codes(values: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Codes in the sorted order of the values' text (hash-based: one pass over the rows)."""
    raw, uniques = pd.factorize(values, sort=False)  # missing -> -1
    text = np.array([str(u) for u in uniques], dtype=object)
    merged, inverse = np.unique(text, return_inverse=True)  # 1 and "1" are one cohort
    inverse = inverse.ravel()
    counts = np.bincount(inverse[raw[raw >= 0]], minlength=len(merged))
    order = list(range(len(merged)))
    if len(order) > MAX_CATEGORIES:
        frequent = set(sorted(order, key=lambda i: -counts[i])[: MAX_CATEGORIES - 1])
        kept = [i for i in order if i in frequent]
        labels = [str(merged[i]) for i in kept] + [OTHER]
        remap = np.full(len(merged), len(kept), dtype=np.int64)
        remap[kept] = np.arange(len(kept))
    else:
        labels = [str(label) for label in merged]
        remap = np.arange(len(merged), dtype=np.int64)
    codes = np.empty(len(raw), dtype=np.int64)
    present = raw >= 0
    codes[present] = remap[inverse[raw[present]]]
    if not present.all():
        codes[~present] = len(labels)
        labels.append(MISSING)
    return codes, labels
