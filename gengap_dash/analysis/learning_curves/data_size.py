"""Learning curves against the training-set size: a power law fitted to the held-out error, and
what more data would buy.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import optimize

from gengap_dash.analysis.learning_curves.curves import (
    Mode,
    _error_upper,
    _from_error,
    _json_value,
    _last_finite,
    _to_error,
    align_curves,
    best_point,
    metric_mode,
)
from gengap_dash.data.training_logs import TrainingRun, TrainingRuns

DataSizeKind = Literal["closing", "limited", "far", "flattened", "closed", "unknown"]


MIN_SIZES = 3
"""Distinct training-set sizes needed for a data-size learning curve."""


MIN_EXPONENT = 0.05
"""A fitted exponent below this means the held-out error no longer falls with more data."""


FLAT_DOUBLING_GAIN = 0.05
"""Flattened: doubling the data would close less than 5% of the current gap."""


MAX_EXTRAPOLATION = 100.0
"""Sizes needed beyond this multiple of the largest size are reported as out of reach."""


MIN_FIT_R_SQUARED = 0.8
"""Below this R² the data-size verdict warns that the fit is loose."""


@dataclass(frozen=True)
class PowerLawFit:
    """``error(n) = a * n**(-b) + c``.

    Attributes:
        a, b, c: the parameters (``b`` is the exponent, ``c`` the error that more data cannot
            remove).
        method: ``"curve_fit"`` (all three fitted) or ``"log_linear"`` (``c = 0``, a straight
            line in log-log space).
        r_squared: the fit's coefficient of determination on the values.
    """

    a: float
    b: float
    c: float
    method: Literal["curve_fit", "log_linear"]
    r_squared: float

    def predict(self, n: float | np.ndarray) -> float | np.ndarray:
        """The fitted error at size(s) ``n``."""
        result = self.a * np.power(np.asarray(n, dtype=float), -self.b) + self.c
        return float(result) if np.ndim(result) == 0 else result

    def size_for(self, target: float) -> float:
        """The size at which the fitted error reaches ``target``; ``inf`` when it never does."""
        if self.a <= 0 or self.b <= 0 or target <= self.c:
            return math.inf
        return float((self.a / (target - self.c)) ** (1.0 / self.b))

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable fields."""
        return {
            "a": self.a,
            "b": self.b,
            "c": self.c,
            "method": self.method,
            "r_squared": self.r_squared,
        }


@dataclass(frozen=True, eq=False)
class DataSizeAnalysis:
    """Held-out and train metrics against the training-set size, with a fitted power law.

    Attributes:
        metric, mode: the metric and its direction.
        at: ``"final"`` (last logged values) or ``"best"`` (at the best held-out epoch).
        reference_split: the held-out split.
        points: one row per run: ``run``, ``train_size``, ``train``, ``held_out``.
        sizes: (k,) distinct sizes, increasing.
        train_values, held_out_values: (k,) means over the runs of each size (metric units;
            train NaN when not logged).
        error_label: what the fit is on, e.g. ``"loss"`` or ``"1 - accuracy"``.
        fit: the power law fitted to the held-out error against size.
        train_level: the train metric at the largest size (the target), or None.
        size_needed: the size at which the fitted held-out error reaches the train level, or
            None when it never does.
        curve_sizes, curve_values: (m,) the fitted curve for plotting (metric units).
        kind: ``"closing"``, ``"limited"``, ``"far"``, ``"flattened"``, ``"closed"`` or
            ``"unknown"`` (no train values).
        facts: the errors the verdict states (fitted error at the largest size and at twice
            it, the train error, the fit's floor and exponent, the size ratio needed); the
            verdict itself is ``findings.data_size_findings``.
    """

    metric: str
    mode: Mode
    at: Literal["final", "best"]
    reference_split: str
    points: pd.DataFrame = field(repr=False)
    sizes: np.ndarray
    train_values: np.ndarray
    held_out_values: np.ndarray
    error_label: str
    fit: PowerLawFit
    train_level: float | None
    size_needed: float | None
    curve_sizes: np.ndarray = field(repr=False)
    curve_values: np.ndarray = field(repr=False)
    kind: DataSizeKind
    facts: Mapping[str, float | None] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable fields (the plotting grid left out)."""
        return {
            "metric": self.metric,
            "mode": self.mode,
            "at": self.at,
            "reference_split": self.reference_split,
            "points": [
                {k: _json_value(v) for k, v in row.items()}
                for row in self.points.to_dict(orient="records")
            ],
            "error_label": self.error_label,
            "fit": self.fit.to_dict(),
            "train_level": self.train_level,
            "size_needed": self.size_needed,
            "kind": self.kind,
        }


def fit_power_law(
    sizes: Sequence[float] | np.ndarray, values: Sequence[float] | np.ndarray
) -> PowerLawFit:
    """Fit ``error(n) = a * n**(-b) + c`` to errors measured at training-set sizes.

    Uses ``scipy.optimize.curve_fit`` with ``a >= 0``, ``0 <= b <= 5`` and ``0 <= c <= min(values)``
    (sizes rescaled by their geometric mean for conditioning), started from a log-log line. With
    fewer than 3 distinct sizes, or when that fit fails, falls back to a straight line in log-log
    space without ``c``.

    Args:
        sizes: (k,) positive training-set sizes.
        values: (k,) non-negative errors (a loss, or 1 - accuracy).
    """
    n = np.asarray(sizes, dtype=float)
    y = np.asarray(values, dtype=float)
    if n.ndim != 1 or y.ndim != 1 or n.shape != y.shape:
        raise ValueError(
            f"Expected `sizes` and `values` to be 1-D of the same length, but got shapes "
            f"{n.shape} and {y.shape}."
        )
    if not (np.isfinite(n).all() and (n > 0).all()):
        raise ValueError(f"Expected `sizes` to be positive numbers, but got {n.tolist()}.")
    if not (np.isfinite(y).all() and (y >= 0).all()):
        raise ValueError(f"Expected `values` to be non-negative errors, but got {y.tolist()}.")
    if np.unique(n).size < 2:
        raise ValueError(
            f"Expected at least 2 distinct sizes to fit a power law, but got {np.unique(n).size}."
        )
    if np.unique(n).size >= 3:
        fitted = _curve_fit_power_law(n, y)
        if fitted is not None:
            return fitted
    return _log_linear_power_law(n, y)


def _curve_fit_power_law(n: np.ndarray, y: np.ndarray) -> PowerLawFit | None:
    scale = float(np.exp(np.mean(np.log(n))))
    u = n / scale
    c_max = float(y.min())
    c0 = 0.5 * c_max
    shifted = np.maximum(y - c0, 1e-12)
    slope, intercept = np.polyfit(np.log(u), np.log(shifted), 1)
    b0 = float(np.clip(-slope, 1e-3, 4.9))
    a0 = float(np.exp(intercept))

    def model(u: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
        return a * np.power(u, -b) + c

    upper_c = max(c_max, 1e-12)
    try:
        with warnings.catch_warnings():
            # the covariance is not used; with 3 sizes it cannot be estimated
            warnings.simplefilter("ignore", optimize.OptimizeWarning)
            params, _ = optimize.curve_fit(
                model,
                u,
                y,
                p0=[a0, b0, min(c0, upper_c * 0.999)],
                bounds=([0.0, 0.0, 0.0], [np.inf, 5.0, upper_c]),
                maxfev=20000,
            )
    except (RuntimeError, ValueError):
        return None
    a_scaled, b, c = (float(p) for p in params)
    if not all(math.isfinite(p) for p in (a_scaled, b, c)):
        return None
    a = a_scaled * scale**b
    fit = PowerLawFit(a=a, b=b, c=c, method="curve_fit", r_squared=0.0)
    return _with_r_squared(fit, n, y)


def _log_linear_power_law(n: np.ndarray, y: np.ndarray) -> PowerLawFit:
    if not (y > 0).all():
        raise ValueError(
            f"Expected `values` to be positive for a log-log fit, but got {y.tolist()}."
        )
    slope, intercept = np.polyfit(np.log(n), np.log(y), 1)
    fit = PowerLawFit(
        a=float(np.exp(intercept)), b=float(-slope), c=0.0, method="log_linear", r_squared=0.0
    )
    return _with_r_squared(fit, n, y)


def _with_r_squared(fit: PowerLawFit, n: np.ndarray, y: np.ndarray) -> PowerLawFit:
    predicted = np.asarray(fit.predict(n))
    total = float(np.sum((y - y.mean()) ** 2))
    residual = float(np.sum((y - predicted) ** 2))
    r_squared = 1.0 - residual / total if total > 0 else (1.0 if residual == 0 else 0.0)
    return PowerLawFit(fit.a, fit.b, fit.c, fit.method, r_squared)


def data_size_analysis(
    runs: TrainingRuns | Iterable[TrainingRun],
    *,
    metric: str | None = None,
    at: Literal["final", "best"] = "best",
) -> DataSizeAnalysis | None:
    """Held-out and train metrics against training-set size, and whether more data would help.

    Runs with a ``train_size`` are summarised by their values at the best held-out epoch
    (``at="best"``, the default: what early stopping keeps, so a run that overfits late is not
    penalised for it) or by their last logged values (``at="final"``); runs of the same size are
    averaged.
    A power law is fitted to the held-out error (:func:`fit_power_law`); the target is the train
    error at the largest size (an optimistic target: train error usually rises with more data).

    Args:
        runs: the runs (those without ``train_size`` are ignored).
        metric: the metric; by default ``loss`` if every sized run logs it for a held-out split,
            else ``accuracy``, else the first metric they share.
        at: ``"final"`` or ``"best"``.

    Returns:
        The analysis, or None when fewer than ``MIN_SIZES`` distinct sizes are present.
    """
    if at not in ("final", "best"):
        raise ValueError(f"Expected `at` to be 'final' or 'best', but got {at!r}.")
    sized = [run for run in runs if run.train_size is not None]
    if len({run.train_size for run in sized}) < MIN_SIZES:
        return None
    shared = _shared_held_out_metrics(sized)
    if metric is None:
        if not shared:
            raise ValueError(
                "Expected the runs with a train_size to share a validation or test metric, but "
                "they share none."
            )
        metric = next((m for m in ("loss", "accuracy", "f1") if m in shared), shared[0])
    elif metric not in shared:
        raise ValueError(
            f"Expected `metric` to be one that every run with a train_size logs for a held-out "
            f"split ({', '.join(shared) or 'none'}), but got {metric!r}."
        )
    mode = metric_mode(metric)
    rows = []
    reference = "validation"
    for run in sized:
        curves = align_curves(run, metric, mode=mode)
        reference = curves.reference_split or reference
        held = curves.held_out
        if held is None:
            continue
        if at == "best":
            best_x, held_value = best_point(curves.x, held, mode=mode)
            index = int(np.flatnonzero(curves.x == best_x)[0])
            train_value = float(curves.train[index]) if curves.train is not None else math.nan
        else:
            held_value = _last_finite(held)
            train_value = _last_finite(curves.train)
        rows.append(
            {
                "run": run.name,
                "train_size": int(run.train_size),  # type: ignore[arg-type]
                "train": math.nan if train_value is None else train_value,
                "held_out": held_value,
            }
        )
    points = pd.DataFrame(rows)
    grouped = points.groupby("train_size", sort=True)
    sizes = grouped.size().index.to_numpy(dtype=float)
    held_values = grouped["held_out"].mean().to_numpy(dtype=float)
    train_values = grouped["train"].mean().to_numpy(dtype=float)
    upper = _error_upper([held_values, train_values], mode)
    if mode == "max" and upper is None:
        raise ValueError(
            f"Expected {metric} to be a loss-like metric or a bounded score (0..1 or 0..100) for "
            "a power-law fit, but its values exceed 100."
        )
    held_error = _to_error(held_values, mode, upper)
    train_error = _to_error(train_values, mode, upper)
    fit = fit_power_law(sizes, np.maximum(held_error, 0.0))
    return _data_size_result(
        metric, mode, at, reference, points, sizes, train_values, held_values, upper, fit,
        train_error,
    )  # fmt: skip


def _data_size_result(
    metric: str,
    mode: Mode,
    at: Literal["final", "best"],
    reference: str,
    points: pd.DataFrame,
    sizes: np.ndarray,
    train_values: np.ndarray,
    held_values: np.ndarray,
    upper: float | None,
    fit: PowerLawFit,
    train_error: np.ndarray,
) -> DataSizeAnalysis:
    largest = float(sizes[-1])
    target = float(train_error[-1]) if math.isfinite(train_error[-1]) else None
    error_label = metric if mode == "min" else f"{upper:g} - {metric}"
    current = float(fit.predict(largest))
    doubled = float(fit.predict(2 * largest))
    gap_now = (current - target) if target is not None else current
    size_needed: float | None = None
    if fit.b < MIN_EXPONENT or (current - doubled) < FLAT_DOUBLING_GAIN * max(gap_now, 1e-12):
        kind: DataSizeKind = "flattened"
    elif target is None:
        kind = "unknown"
    elif current <= target:
        kind = "closed"
        size_needed = largest
    elif target <= fit.c:
        kind = "limited"
    else:
        size_needed = fit.size_for(target)
        kind = "far" if size_needed / largest > MAX_EXTRAPOLATION else "closing"
    facts = {
        "largest": largest,
        "current_error": current,
        "doubled_error": doubled,
        "target_error": target,
        "floor_error": float(fit.c),
        "exponent": float(fit.b),
        "ratio": None if size_needed is None else size_needed / largest,
    }
    top = largest * 4
    if size_needed is not None and math.isfinite(size_needed):
        top = max(top, min(size_needed * 1.2, largest * MAX_EXTRAPOLATION))
    curve_sizes = np.geomspace(float(sizes[0]), top, 120)
    curve_values = _from_error(np.asarray(fit.predict(curve_sizes)), mode, upper)
    train_level = None if target is None else float(_from_error(np.array([target]), mode, upper)[0])
    return DataSizeAnalysis(
        metric=metric,
        mode=mode,
        at=at,
        reference_split=reference,
        points=points,
        sizes=sizes,
        train_values=train_values,
        held_out_values=held_values,
        error_label=error_label,
        fit=fit,
        train_level=train_level,
        size_needed=size_needed,
        curve_sizes=curve_sizes,
        curve_values=curve_values,
        kind=kind,
        facts=facts,
    )


def _shared_held_out_metrics(runs: Sequence[TrainingRun]) -> list[str]:
    shared: list[str] | None = None
    for run in runs:
        metrics = [m for m in run.metrics if {"validation", "test"} & set(run.splits(m))]
        shared = metrics if shared is None else [m for m in shared if m in metrics]
    return shared or []
