"""The metrics a cohort table can show: every registered metric (``gengap_dash.metrics.registry``)
that is a function of per-cohort sums of per-sample statistics, plus the error rate.

Each metric here is written as sums over *cells* of a cohort (one cell, the cohort's classes,
its confidence bins) of per-sample statistics whose first column is 1 (the count), and a
reducer of those sums. A cohort's value is the reducer of its sums; a bootstrap replicate is
the reducer of the sums over the cohort's part of a resample of the whole split
(``gengap_dash.stats.grouped_bootstrap``, one resample per split for every cohort). So the
same engine gives intervals to means of per-sample values (accuracy, error, NLL, Brier, mean
confidence, overconfidence) and to metrics that are not means (macro-F1 from each cohort's
confusion counts, ECE / MCE / RMS calibration error from each cohort's confidence-bin sums).

Left out: adaptive ECE (its equal-mass bins depend on each cohort's own confidences, so it is
no function of fixed cell sums) and classwise ECE (every sample adds to every class's bins:
``C x 15`` sums per sample).

Cost of a metric: ``B`` replicates times the non-zero entries of the ``(units, cells * m)``
matrix of a split: at most ``min(n, 1000 * K * cells) * m`` (``K`` cohorts); accuracy has 1
cell and m = 2, the calibration errors 15 cells and m = 3, macro-F1 ``C^2`` cells and m = 1.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from gengap_dash.data.predictions import probability_columns
from gengap_dash.metrics.calibration import calibration_error_from_sums
from gengap_dash.metrics.registry import metric_info
from gengap_dash.project.errors import ProjectError
from gengap_dash.stats.binning import DEFAULT_N_BINS, uniform_bins
from gengap_dash.stats.bootstrap import IntervalKind

Direction = Literal["higher", "lower", "zero", "none"]
"""Which way a metric improves: up, down, towards 0 (overconfidence), or neither (mean
confidence, where only the size of a change is reported)."""

Statistics = tuple[np.ndarray | None, int, np.ndarray]
"""``(cell (n,) or None, n_cells, statistics (n, m))``; column 0 of ``statistics`` is 1."""


@dataclass(frozen=True)
class CohortMetric:
    """One metric of the cohort table.

    Attributes:
        name: the key (``"accuracy"``, ``"ece"``, ...; the registry's name where registered).
        label: display name; ``unit``: ``"percent"``, ``"points"``, ``"number"`` or ``"nats"``.
        direction: see :data:`Direction`.
        additive: the metric is the mean of a per-sample value.
        reference: what the tests compare it with.
        statistics: ``(frame, n_classes) -> Statistics``.
        reduce: ``(sums (..., n_cells, m)) -> (...)`` values, NaN where a cohort is empty.
        interval: ``"percentile"``, or ``"basic"`` for the binned calibration errors, whose
            plug-in value is biased upwards (as the scorecard's ECE; docs/calibration.md).
    """

    name: str
    label: str
    unit: str
    direction: Direction
    additive: bool
    reference: str
    description: str
    statistics: Callable[[pd.DataFrame, int], Statistics] = field(repr=False, compare=False)
    reduce: Callable[[np.ndarray], np.ndarray] = field(repr=False, compare=False)
    interval: IntervalKind = "percentile"

    @property
    def scale(self) -> float:
        """Factor from a value to its display number (100 for percent and points)."""
        return 100.0 if self.unit in ("percent", "points") else 1.0

    def worsening(self, value: np.ndarray, reference: np.ndarray) -> np.ndarray:
        """How much worse ``value`` is than ``reference`` (positive: worse), elementwise; for a
        metric without a direction, the size of the change."""
        value, reference = np.asarray(value, float), np.asarray(reference, float)
        if self.direction == "higher":
            return reference - value
        if self.direction == "lower":
            return value - reference
        if self.direction == "zero":
            return np.abs(value) - np.abs(reference)
        return np.abs(value - reference)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1),
                        np.nan)  # fmt: skip


def _mean_of(values: Callable[[pd.DataFrame, int], np.ndarray]):
    def statistics(frame: pd.DataFrame, n_classes: int) -> Statistics:
        column = np.asarray(values(frame, n_classes), dtype=np.float64)
        return None, 1, np.column_stack([np.ones_like(column), column])

    return statistics


def _mean_reduce(sums: np.ndarray) -> np.ndarray:
    return _ratio(sums[..., 0, 1], sums[..., 0, 0])


def _correct(frame: pd.DataFrame) -> np.ndarray:
    return frame["correct"].to_numpy(np.float64)


def _probs(frame: pd.DataFrame, n_classes: int) -> np.ndarray:
    return frame[probability_columns(n_classes)].to_numpy(np.float64)


def _brier(frame: pd.DataFrame, n_classes: int) -> np.ndarray:
    probs = _probs(frame, n_classes)
    labels = frame["label"].to_numpy(np.int64)
    true_class = probs[np.arange(len(labels)), labels]
    return np.einsum("ij,ij->i", probs, probs) - 2.0 * true_class + 1.0


def _confusion_cells(frame: pd.DataFrame, n_classes: int) -> Statistics:
    cell = frame["label"].to_numpy(np.int64) * n_classes + frame["pred"].to_numpy(np.int64)
    return cell, n_classes * n_classes, np.ones((len(cell), 1))


def _macro_f1_reduce(sums: np.ndarray) -> np.ndarray:
    """Mean over the classes present (as label or prediction) of ``2 TP / (2 TP + FP + FN)``,
    as ``sklearn.metrics.f1_score(average="macro", zero_division=0)`` on the cohort."""
    cells = sums[..., 0]
    n_classes = round(float(np.sqrt(cells.shape[-1])))
    matrix = cells.reshape(*cells.shape[:-1], n_classes, n_classes)
    true_positives = np.diagonal(matrix, axis1=-2, axis2=-1)
    denominators = matrix.sum(axis=-1) + matrix.sum(axis=-2)
    present = denominators > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = np.where(present, 2.0 * true_positives / np.where(present, denominators, 1),
                             0.0)  # fmt: skip
        n_present = present.sum(axis=-1)
        return np.where(n_present > 0, per_class.sum(axis=-1) / np.maximum(n_present, 1), np.nan)


def _bin_cells(frame: pd.DataFrame, n_classes: int) -> Statistics:
    confidence = frame["confidence"].to_numpy(np.float64)
    bins = uniform_bins(confidence, DEFAULT_N_BINS)
    statistics = np.column_stack([np.ones_like(confidence), confidence, _correct(frame)])
    return bins, DEFAULT_N_BINS, statistics


def _calibration_reduce(norm: str) -> Callable[[np.ndarray], np.ndarray]:
    def reduce(sums: np.ndarray) -> np.ndarray:
        flat = np.concatenate([sums[..., 0], sums[..., 1], sums[..., 2]], axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return calibration_error_from_sums(flat, norm=norm)  # type: ignore[arg-type]

    return reduce


_IDEAL_ZERO = frozenset({"overconfidence"})


def _registered(
    name: str,
    statistics: Callable[[pd.DataFrame, int], Statistics],
    reduce: Callable[[np.ndarray], np.ndarray],
    *,
    additive: bool,
    interval: IntervalKind = "percentile",
) -> CohortMetric:
    info = metric_info(name)
    if info.higher_is_better is None:
        direction: Direction = "zero" if name in _IDEAL_ZERO else "none"
    else:
        direction = "higher" if info.higher_is_better else "lower"
    return CohortMetric(name, info.label, info.unit, direction, additive, info.reference,
                        info.description, statistics, reduce, interval)  # fmt: skip


COHORT_METRICS: Mapping[str, CohortMetric] = {
    metric.name: metric
    for metric in (
        _registered("accuracy", _mean_of(lambda f, c: _correct(f)), _mean_reduce, additive=True),
        CohortMetric(
            "error",
            "Error rate",
            "percent",
            "lower",
            True,
            "1 - sklearn.metrics.accuracy_score",
            "Share of samples whose most likely class is not the true class. Lower is better.",
            _mean_of(lambda f, c: 1.0 - _correct(f)),
            _mean_reduce,
        ),
        _registered("macro_f1", _confusion_cells, _macro_f1_reduce, additive=False),
        _registered(
            "nll",
            _mean_of(lambda f, c: f["loss"].to_numpy(np.float64)),
            _mean_reduce,
            additive=True,
        ),
        _registered("brier", _mean_of(_brier), _mean_reduce, additive=True),
        _registered("ece", _bin_cells, _calibration_reduce("l1"), additive=False, interval="basic"),
        _registered(
            "mce", _bin_cells, _calibration_reduce("max"), additive=False, interval="basic"
        ),
        _registered(
            "rms_ce", _bin_cells, _calibration_reduce("l2"), additive=False, interval="basic"
        ),
        _registered(
            "mean_confidence",
            _mean_of(lambda f, c: f["confidence"].to_numpy(np.float64)),
            _mean_reduce,
            additive=True,
        ),
        _registered(
            "overconfidence",
            _mean_of(lambda f, c: f["confidence"].to_numpy(np.float64) - _correct(f)),
            _mean_reduce,
            additive=True,
        ),
    )
}
"""Metric name -> :class:`CohortMetric`, in the order the page and the CLI offer them."""


def cohort_metric(name: str) -> CohortMetric:
    """The cohort metric ``name``.

    Raises:
        ProjectError: "Expected `metric` to be one of accuracy, error, ..., but got 'auroc'."
    """
    try:
        return COHORT_METRICS[name]
    except (KeyError, TypeError):
        raise ProjectError(
            f"Expected `metric` to be one of {', '.join(COHORT_METRICS)}, but got {name!r}."
        ) from None
