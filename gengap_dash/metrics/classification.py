"""The scorecard's metrics, each written as sufficient statistics and a reducer.

Every metric is a pair (see ``gengap_dash.stats.bootstrap``): per-sample statistics ``F`` of shape
``(n_samples, k)`` and a reducer ``g(S, n)`` of their column sums ``S``. The point value is
``g(F.sum(0), n)`` and a bootstrap replicate is ``g(w @ F, n)``, so one implementation gives both.

- accuracy: per sample 1 if the top prediction is right; reducer sum / n.
- macro_f1: per class k, [label = pred = k] and [pred = k] + [label = k]; reducer: mean over
  the classes present of 2 TP_k / (2 TP_k + FP_k + FN_k).
- nll: the per-sample cross-entropy (natural log); reducer sum / n.
- ece: 15 equal-width confidence bins x (1, confidence, hit), from
``gengap_dash.analysis.calibration``;
  reducer: sum over bins of |hits - confidences| / n.
- brier: sum over classes of (p_k - y_k)^2; reducer sum / n.

The convenience functions (:func:`accuracy`, :func:`macro_f1`, ...) reduce the same statistics.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from gengap_dash.analysis.calibration import (
    bin_statistics,
    calibration_error_from_sums,
    equal_width_edges,
)
from gengap_dash.stats.bootstrap import IntervalKind, Reducer
from gengap_dash.stats.checks import check_labels

MetricName = Literal["accuracy", "macro_f1", "nll", "ece", "brier"]
MetricUnit = Literal["percent", "number"]
StatisticsFunction = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
"""Maps ``labels (n,)``, ``probs (n, C)`` and ``losses (n,)`` to statistics ``(n, k)``."""

ECE_N_BINS = 15
"""Equal-width bins on [0, 1] for the scorecard's top-label ECE."""

PROBABILITY_TOLERANCE = 1e-6
"""How far outside [0, 1] a probability may stray (float rounding) before it is rejected."""

_LOG_FLOOR = float(np.finfo(np.float64).eps)  # probabilities are clipped here before the log


@dataclass(frozen=True)
class MetricDefinition:
    """One scorecard metric: how to compute it and how to show it.

    Attributes:
        name: machine name, the key in results and JSON (``"accuracy"``, ...).
        label: short display name (``"Accuracy"``).
        higher_is_better: the direction in which the metric improves.
        unit: ``"percent"`` (a fraction shown as %, differences in points) or ``"number"``.
        axis_label: axis title with units, for figures.
        description: one plain-English sentence for tooltips.
        statistics: ``(labels, probs, losses) -> (n_samples, k)`` per-sample statistics.
        reduce: ``(sums (..., k), n_samples) -> (...)`` metric values.
        interval: the bootstrap interval: ``"percentile"``, or ``"basic"`` for a plug-in
            estimate with a known bias (the binned ECE; see docs/calibration.md).
    """

    name: str
    label: str
    higher_is_better: bool
    unit: MetricUnit
    axis_label: str
    description: str
    statistics: StatisticsFunction = field(repr=False, compare=False)
    reduce: Reducer = field(repr=False, compare=False)
    interval: IntervalKind = "percentile"

    @property
    def scale(self) -> float:
        """Factor from the stored value to the displayed one (100 for percentages)."""
        return 100.0 if self.unit == "percent" else 1.0

    @property
    def change_unit(self) -> str:
        """The unit of a difference: ``"points"`` (percentages), ``"nats"`` (NLL) or ``""``."""
        if self.unit == "percent":
            return "points"
        return "nats" if self.name == "nll" else ""

    def format_value(self, value: float) -> str:
        """``0.912 -> "91.2%"`` for percentages, ``0.3127 -> "0.313"`` for numbers."""
        if not np.isfinite(value):
            return "n/a"
        if self.unit == "percent":
            return f"{_fixed(100.0 * value, 1)}%"
        return _fixed(value, 3)

    def format_change(self, change: float, *, with_unit: bool = True) -> str:
        """A difference in display units: ``8.63 -> "8.6 points"``, or ``0.12 -> "0.120"``."""
        if not np.isfinite(change):
            return "n/a"
        if self.unit == "percent":
            text = _fixed(change, 1)
            return f"{text} points" if with_unit else text
        return _fixed(change, 3)


# --------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------


def check_predictions(
    labels: np.ndarray, probs: np.ndarray, losses: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Validate and convert one split's predictions.

    Args:
        labels: ``(n_samples,)`` integer class indices in ``[0, n_classes)``.
        probs: ``(n_samples, n_classes)`` class probabilities in [0, 1].
        losses: optional ``(n_samples,)`` per-sample cross-entropy (not NaN, not negative).

    Returns:
        ``labels`` as int64, ``probs`` as float64 and ``losses`` as float64 (or ``None``).

    Raises:
        ValueError: naming the argument, what was expected and what was given.
    """
    labels = check_labels(labels)
    probs = np.asarray(probs)
    if probs.ndim != 2 or probs.shape[1] < 2:
        raise ValueError(
            "Expected `probs` of shape (n_samples, n_classes) with at least 2 classes, "
            f"but got shape {probs.shape}."
        )
    if not np.issubdtype(probs.dtype, np.number) or np.issubdtype(probs.dtype, np.complexfloating):
        raise ValueError(f"Expected `probs` to hold real numbers, but got dtype {probs.dtype}.")
    probs = probs.astype(np.float64, copy=False)
    if probs.shape[0] != labels.shape[0]:
        raise ValueError(
            f"Expected `probs` to have one row per label ({labels.shape[0]}), "
            f"but got {probs.shape[0]} rows."
        )
    if not np.isfinite(probs).all():
        raise ValueError("Expected `probs` to be finite, but it contains NaN or infinite values.")
    if probs.size and (
        probs.min() < -PROBABILITY_TOLERANCE or probs.max() > 1.0 + PROBABILITY_TOLERANCE
    ):
        raise ValueError(
            "Expected `probs` to be probabilities in [0, 1] (apply a softmax to logits), "
            f"but got values from {probs.min():.4g} to {probs.max():.4g}."
        )
    if labels.size and labels.max() >= probs.shape[1]:
        raise ValueError(
            f"Expected `labels` in [0, {probs.shape[1]}) to match the {probs.shape[1]} columns of "
            f"`probs`, but got label {int(labels.max())}."
        )
    if losses is not None:
        losses = _check_losses(losses, n_samples=labels.shape[0])
    return labels, probs, losses


def _check_losses(losses: np.ndarray, *, n_samples: int) -> np.ndarray:
    losses = np.asarray(losses)
    if losses.ndim != 1 or losses.shape[0] != n_samples:
        raise ValueError(
            f"Expected `losses` of shape ({n_samples},), one per label, but got shape "
            f"{losses.shape}."
        )
    if not np.issubdtype(losses.dtype, np.number) or np.issubdtype(
        losses.dtype, np.complexfloating
    ):
        raise ValueError(f"Expected `losses` to hold real numbers, but got dtype {losses.dtype}.")
    losses = losses.astype(np.float64, copy=False)
    if np.isnan(losses).any():
        raise ValueError("Expected `losses` without NaN values, but got NaN.")
    if losses.size and losses.min() < -PROBABILITY_TOLERANCE:
        raise ValueError(
            f"Expected `losses` (cross-entropy) to be non-negative, but got {losses.min():.4g}."
        )
    return losses


def _check_n_classes(n_classes: int) -> None:
    if isinstance(n_classes, bool) or not isinstance(n_classes, int | np.integer) or n_classes < 1:
        raise ValueError(f"Expected `n_classes` to be a positive integer, but got {n_classes!r}.")


# --------------------------------------------------------------------------------------------
# Private steps: statistics and reducers
# --------------------------------------------------------------------------------------------


def _hit_statistics(labels: np.ndarray, preds: np.ndarray) -> np.ndarray:
    """``(n, 1)``: 1.0 where the prediction is right."""
    return (labels == preds).astype(np.float64)[:, None]


def _mean_reducer(sums: np.ndarray, n_samples: int) -> np.ndarray:
    """The mean of a single statistic column; NaN for an empty sample."""
    sums = np.asarray(sums, dtype=np.float64)
    if n_samples <= 0:
        return np.full(sums.shape[:-1], np.nan)
    return sums[..., 0] / n_samples


def _f1_statistics(labels: np.ndarray, preds: np.ndarray, n_classes: int) -> np.ndarray:
    """``(n, 2 C)``: per class, ``[label = pred = k]`` then ``[pred = k] + [label = k]``.

    Column sums are the true positives ``TP_k`` and ``2 TP_k + FP_k + FN_k`` of each class.
    """
    n_samples = labels.shape[0]
    statistics = np.zeros((n_samples, 2 * n_classes), dtype=np.float64)
    rows = np.arange(n_samples)
    hits = labels == preds
    statistics[rows[hits], labels[hits]] = 1.0
    np.add.at(statistics, (rows, n_classes + labels), 1.0)
    np.add.at(statistics, (rows, n_classes + preds), 1.0)
    return statistics


def _macro_f1_reducer(sums: np.ndarray, n_samples: int) -> np.ndarray:
    """Mean F1 over the classes present (as label or prediction) in each (re)sample.

    The class set is decided per row of ``sums``, as scikit-learn decides it per call; a class
    that is present but never hit has F1 = 0.
    """
    sums = np.asarray(sums, dtype=np.float64)
    n_classes = sums.shape[-1] // 2
    true_positives = sums[..., :n_classes]
    denominators = sums[..., n_classes:]
    present = denominators > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = np.where(present, 2.0 * true_positives / denominators, 0.0)
        n_present = present.sum(axis=-1)
        return np.where(n_present > 0, per_class.sum(axis=-1) / n_present, np.nan)


def _cross_entropy(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``(n,)`` natural-log cross-entropy, probabilities clipped at machine epsilon."""
    true_class = probs[np.arange(labels.shape[0]), labels]
    return -np.log(np.clip(true_class, _LOG_FLOOR, None))


def _brier_per_sample(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``(n,)`` sum over classes of ``(p_k - y_k)^2`` with ``y`` the one-hot label."""
    rows = np.arange(labels.shape[0])
    squares = np.square(probs)
    squares[rows, labels] = np.square(probs[rows, labels] - 1.0)
    return squares.sum(axis=1)


def _top_label(probs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(n,)`` top-label confidences and ``(n,)`` hits (1.0 where the top label is right)."""
    preds = probs.argmax(axis=1)
    confidences = probs[np.arange(labels.shape[0]), preds]
    return confidences, (preds == labels).astype(np.float64)


def _ece_reducer(sums: np.ndarray, n_samples: int) -> np.ndarray:
    return calibration_error_from_sums(sums, n_samples, norm="l1")


# The registry's statistics take (labels, probs, losses), already checked.


def _accuracy_statistics(labels: np.ndarray, probs: np.ndarray, losses: np.ndarray) -> np.ndarray:
    return _hit_statistics(labels, probs.argmax(axis=1))


def _macro_f1_statistics(labels: np.ndarray, probs: np.ndarray, losses: np.ndarray) -> np.ndarray:
    return _f1_statistics(labels, probs.argmax(axis=1), probs.shape[1])


def _nll_statistics(labels: np.ndarray, probs: np.ndarray, losses: np.ndarray) -> np.ndarray:
    return np.asarray(losses, dtype=np.float64)[:, None]


def _ece_statistics(labels: np.ndarray, probs: np.ndarray, losses: np.ndarray) -> np.ndarray:
    confidences, hits = _top_label(probs, labels)
    return bin_statistics(confidences, hits, edges=equal_width_edges(ECE_N_BINS))


def _brier_statistics(labels: np.ndarray, probs: np.ndarray, losses: np.ndarray) -> np.ndarray:
    return _brier_per_sample(probs, labels)[:, None]


SCORECARD_METRICS: tuple[MetricDefinition, ...] = (
    MetricDefinition(
        name="accuracy",
        label="Accuracy",
        higher_is_better=True,
        unit="percent",
        axis_label="Accuracy (%)",
        description="Share of samples whose most likely class is the true class.",
        statistics=_accuracy_statistics,
        reduce=_mean_reducer,
    ),
    MetricDefinition(
        name="macro_f1",
        label="Macro-F1",
        higher_is_better=True,
        unit="percent",
        axis_label="Macro-F1 (%)",
        description=(
            "F1 score averaged over classes with equal weight, so rare classes count as much "
            "as common ones."
        ),
        statistics=_macro_f1_statistics,
        reduce=_macro_f1_reducer,
    ),
    MetricDefinition(
        name="nll",
        label="NLL",
        higher_is_better=False,
        unit="number",
        axis_label="NLL (nats)",
        description=(
            "Negative log-likelihood: the average cross-entropy loss; it punishes confident "
            "mistakes heavily. Lower is better."
        ),
        statistics=_nll_statistics,
        reduce=_mean_reducer,
    ),
    MetricDefinition(
        name="ece",
        label="ECE",
        higher_is_better=False,
        unit="percent",
        axis_label="ECE (%)",
        description=(
            "Expected calibration error: how far the model's confidence is from how often it "
            "is right (15 confidence bins). Lower is better."
        ),
        statistics=_ece_statistics,
        reduce=_ece_reducer,
        interval="basic",
    ),
    MetricDefinition(
        name="brier",
        label="Brier score",
        higher_is_better=False,
        unit="number",
        axis_label="Brier score (0 = perfect, 2 = worst)",
        description=(
            "Squared distance between the predicted probabilities and the true class "
            "(0 is perfect, 2 the worst). Lower is better."
        ),
        statistics=_brier_statistics,
        reduce=_mean_reducer,
    ),
)
"""The scorecard's metrics, in display order."""

METRICS_BY_NAME: Mapping[str, MetricDefinition] = {m.name: m for m in SCORECARD_METRICS}


def get_metric(name: str) -> MetricDefinition:
    """The registry entry for ``name``.

    Raises:
        ValueError: for an unknown metric name.
    """
    try:
        return METRICS_BY_NAME[name]
    except (KeyError, TypeError):
        known = ", ".join(repr(m) for m in METRICS_BY_NAME)
        raise ValueError(f"Expected `metric` to be one of {known}, but got {name!r}.") from None


# --------------------------------------------------------------------------------------------
# All metrics of a split in one matrix
# --------------------------------------------------------------------------------------------


def stacked_statistics(
    labels: np.ndarray,
    probs: np.ndarray,
    losses: np.ndarray | None = None,
    *,
    metrics: Sequence[MetricDefinition] = SCORECARD_METRICS,
) -> tuple[np.ndarray, dict[str, slice]]:
    """Every metric's statistics side by side, so one bootstrap resample serves them all.

    Args:
        labels: ``(n_samples,)`` class indices.
        probs: ``(n_samples, n_classes)`` probabilities.
        losses: ``(n_samples,)`` per-sample cross-entropy; ``None`` computes it from ``probs``.
        metrics: the metrics to stack.

    Returns:
        The ``(n_samples, k_total)`` float64 matrix and each metric's column slice in it.
    """
    labels, probs, losses = check_predictions(labels, probs, losses)
    if losses is None:
        losses = _cross_entropy(probs, labels)
    blocks = [np.asarray(metric.statistics(labels, probs, losses)) for metric in metrics]
    columns: dict[str, slice] = {}
    start = 0
    for metric, block in zip(metrics, blocks, strict=True):
        columns[metric.name] = slice(start, start + block.shape[1])
        start += block.shape[1]
    matrix = np.empty((labels.shape[0], start), dtype=np.float64)
    for metric, block in zip(metrics, blocks, strict=True):
        matrix[:, columns[metric.name]] = block
    return matrix, columns


def reduce_stacked(
    sums: np.ndarray,
    n_samples: int,
    columns: Mapping[str, slice],
    *,
    metrics: Sequence[MetricDefinition] = SCORECARD_METRICS,
) -> dict[str, np.ndarray]:
    """Each metric's values from column sums of :func:`stacked_statistics`.

    Args:
        sums: ``(..., k_total)`` column sums (``(k_total,)`` for the point value, ``(B, k_total)``
            for bootstrap replicates).
        n_samples: the number of samples the sums cover.
        columns: the column slices returned by :func:`stacked_statistics`.

    Returns:
        metric name -> values of shape ``(...)``.
    """
    sums = np.asarray(sums, dtype=np.float64)
    return {
        metric.name: np.asarray(metric.reduce(sums[..., columns[metric.name]], n_samples))
        for metric in metrics
    }


# --------------------------------------------------------------------------------------------
# Convenience functions (same statistics and reducers)
# --------------------------------------------------------------------------------------------


def accuracy(labels: np.ndarray, preds: np.ndarray) -> float:
    """Share of correct predictions.

    Args:
        labels: ``(n_samples,)`` true class indices.
        preds: ``(n_samples,)`` predicted class indices.
    """
    labels, preds = _check_label_pair(labels, preds)
    statistics = _hit_statistics(labels, preds)
    return float(_mean_reducer(statistics.sum(axis=0), labels.shape[0]))


def macro_f1(labels: np.ndarray, preds: np.ndarray, *, n_classes: int | None = None) -> float:
    """Macro-averaged F1, as ``sklearn.metrics.f1_score(average="macro", zero_division=0)``.

    The classes averaged over are those that occur as a label or a prediction.

    Args:
        labels: ``(n_samples,)`` true class indices.
        preds: ``(n_samples,)`` predicted class indices.
        n_classes: the number of classes (default: the largest index + 1).
    """
    labels, preds = _check_label_pair(labels, preds)
    largest = int(max(labels.max(initial=-1), preds.max(initial=-1))) + 1
    if n_classes is None:
        n_classes = max(largest, 1)
    _check_n_classes(n_classes)
    if largest > n_classes:
        raise ValueError(
            f"Expected class indices below `n_classes` ({n_classes}), but got {largest - 1}."
        )
    statistics = _f1_statistics(labels, preds, int(n_classes))
    return float(_macro_f1_reducer(statistics.sum(axis=0), labels.shape[0]))


def negative_log_likelihood(losses: np.ndarray) -> float:
    """Mean cross-entropy (natural log) from per-sample losses ``(n_samples,)``."""
    losses = np.asarray(losses)
    if losses.ndim != 1:
        raise ValueError(f"Expected `losses` of shape (n_samples,), but got shape {losses.shape}.")
    losses = _check_losses(losses, n_samples=losses.shape[0])
    return float(_mean_reducer(losses[:, None].sum(axis=0), losses.shape[0]))


def cross_entropy_losses(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per-sample cross-entropy ``-log p_y`` (natural log), ``(n_samples,)``.

    Probabilities below machine epsilon are clipped (as scikit-learn's ``log_loss`` does), so a
    zero probability on the true class costs about 36 nats instead of infinity.

    Args:
        probs: ``(n_samples, n_classes)`` probabilities.
        labels: ``(n_samples,)`` true class indices.
    """
    labels, probs, _ = check_predictions(labels, probs)
    return _cross_entropy(probs, labels)


def brier_score(probs: np.ndarray, labels: np.ndarray) -> float:
    """Mean over samples of the sum over classes of ``(p_k - y_k)^2`` (range 0 to 2).

    Args:
        probs: ``(n_samples, n_classes)`` probabilities.
        labels: ``(n_samples,)`` true class indices.
    """
    labels, probs, _ = check_predictions(labels, probs)
    statistics = _brier_per_sample(probs, labels)[:, None]
    return float(_mean_reducer(statistics.sum(axis=0), labels.shape[0]))


def top_label_ece(probs: np.ndarray, labels: np.ndarray, *, n_bins: int = ECE_N_BINS) -> float:
    """Top-label expected calibration error with equal-width bins.

    The count-weighted mean over bins of |accuracy - mean confidence|, where the confidence is
    the top probability and bins are ``(lo, hi]`` (see ``gengap_dash.analysis.calibration``).

    Args:
        probs: ``(n_samples, n_classes)`` probabilities.
        labels: ``(n_samples,)`` true class indices.
        n_bins: number of equal-width bins on [0, 1].
    """
    labels, probs, _ = check_predictions(labels, probs)
    confidences, hits = _top_label(probs, labels)
    statistics = bin_statistics(confidences, hits, edges=equal_width_edges(n_bins))
    return float(calibration_error_from_sums(statistics.sum(axis=0), labels.shape[0]))


def _check_label_pair(labels: np.ndarray, preds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    labels = check_labels(labels)
    try:
        preds = check_labels(preds)
    except ValueError as error:
        raise ValueError(str(error).replace("`labels`", "`preds`")) from None
    if preds.shape != labels.shape:
        raise ValueError(
            f"Expected `preds` to have one entry per label ({labels.shape[0]}), "
            f"but got {preds.shape[0]}."
        )
    return labels, preds


def _fixed(value: float, decimals: int) -> str:
    """Fixed-point text without a negative zero (``-0.04 -> "0.0"``)."""
    text = f"{float(value):.{decimals}f}"
    return f"{0.0:.{decimals}f}" if float(text) == 0.0 else text
