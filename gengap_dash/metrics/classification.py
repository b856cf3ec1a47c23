"""The scorecard's metrics, each written as sufficient statistics and a reducer.

Every metric is a pair (see ``gengap_dash.stats.bootstrap``): per-sample statistics ``F`` of shape
``(n_samples, k)`` and a reducer ``g(S, n)`` of their column sums ``S``. The point value is
``g(F.sum(0), n)`` and a bootstrap replicate is ``g(w @ F, n)``, so one implementation gives both.

- accuracy: per sample 1 if the top prediction is right; reducer sum / n.
- macro_f1: per class k, [label = pred = k] and [pred = k] + [label = k]; reducer: mean over
  the classes present of 2 TP_k / (2 TP_k + FP_k + FN_k).
- nll: the per-sample cross-entropy (natural log); reducer sum / n.
- ece: 15 equal-width confidence bins x (1, confidence, hit), from
  ``gengap_dash.stats.binning``; reducer ``gengap_dash.metrics.calibration``.
- brier: sum over classes of (p_k - y_k)^2; reducer sum / n.

Each metric sums its statistics per bootstrap group (``ResamplingPlan``: one group per sample,
or random blocks for large splits), so a large split is never materialised as an ``(n, k)``
matrix. Labels, units and directions come from ``gengap_dash.metrics.registry``.

The convenience functions (:func:`accuracy`, :func:`macro_f1`, ...) reduce the same statistics;
like scikit-learn's they take the labels first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from gengap_dash.metrics.calibration import calibration_error_from_sums
from gengap_dash.metrics.registry import metric_info
from gengap_dash.stats.binning import DEFAULT_N_BINS, binned_group_sums, equal_width_edges
from gengap_dash.stats.bootstrap import IntervalKind, Reducer, ResamplingPlan
from gengap_dash.stats.checks import PROBABILITY_TOLERANCE, check_labels, check_outputs

MetricName = Literal["accuracy", "macro_f1", "nll", "ece", "brier"]
MetricUnit = Literal["percent", "number"]
GroupSumsFunction = Callable[[np.ndarray, np.ndarray, np.ndarray, ResamplingPlan], np.ndarray]
"""Maps ``labels (n,)``, ``probs (n, C)``, ``losses (n,)`` and a plan to per-group sums
``(n_groups, k)`` of the metric's per-sample statistics."""

ECE_N_BINS = DEFAULT_N_BINS
"""Equal-width bins on [0, 1] for the scorecard's top-label ECE (the calibration page's too)."""

LOG_FLOOR = float(np.finfo(np.float64).eps)
"""Probabilities are clipped here before the log (as ``sklearn.metrics.log_loss`` does)."""


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
        group_sums: ``(labels, probs, losses, plan) -> (n_groups, k)`` per-group sums of the
            per-sample statistics.
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
    group_sums: GroupSumsFunction = field(repr=False, compare=False)
    reduce: Reducer = field(repr=False, compare=False)
    interval: IntervalKind = "percentile"

    def statistics(self, labels: np.ndarray, probs: np.ndarray, losses: np.ndarray) -> np.ndarray:
        """``(n_samples, k)`` per-sample statistics (the group sums with one sample per group)."""
        return self.group_sums(labels, probs, losses, _per_sample(labels.shape[0]))

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
    probs_array = np.asarray(probs)
    if probs_array.ndim != 2 or probs_array.shape[1] < 2:
        raise ValueError(
            "Expected `probs` of shape (n_samples, n_classes) with at least 2 classes, "
            f"but got shape {probs_array.shape}."
        )
    labels, probs = check_outputs(labels, probs_array, outputs_are="probs")
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


def _per_sample(n_samples: int) -> ResamplingPlan:
    return ResamplingPlan("exact", np.arange(n_samples, dtype=np.int64), int(n_samples))


def _mean_reducer(sums: np.ndarray, n_samples: int) -> np.ndarray:
    """The mean of a statistic: column 0 over the sample count (column 1 when there is one, so
    a resample of unequal blocks divides by its own size); NaN for an empty sample."""
    sums = np.asarray(sums, dtype=np.float64)
    if sums.shape[-1] >= 2:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(sums[..., 1] > 0, sums[..., 0] / sums[..., 1], np.nan)
    if n_samples <= 0:
        return np.full(sums.shape[:-1], np.nan)
    return sums[..., 0] / n_samples


def _with_count(plan: ResamplingPlan, values: np.ndarray) -> np.ndarray:
    """``(n_groups, 2)``: per group, the sum of ``values`` and the number of samples."""
    counts = np.bincount(plan.groups, minlength=plan.n_groups).astype(np.float64)
    return np.stack([plan.sum(values), counts], axis=1)


def _f1_group_sums(
    labels: np.ndarray, preds: np.ndarray, n_classes: int, plan: ResamplingPlan
) -> np.ndarray:
    """``(n_groups, 2 C)``: per class, ``[label = pred = k]`` then ``[pred = k] + [label = k]``.

    Column sums are the true positives ``TP_k`` and ``2 TP_k + FP_k + FN_k`` of each class.
    """
    hits = (labels == preds).astype(np.float64)
    true_positives = plan.sum_binned(labels, n_classes, hits)
    denominators = plan.sum_binned(labels, n_classes) + plan.sum_binned(preds, n_classes)
    return np.hstack([true_positives, denominators])


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


def cross_entropy_per_sample(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """``(n,)`` natural-log cross-entropy, probabilities clipped at :data:`LOG_FLOOR`."""
    true_class = probs[np.arange(labels.shape[0]), labels]
    return -np.log(np.clip(true_class, LOG_FLOOR, None))


def brier_per_sample(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """``(n,)`` sum over classes of ``(p_k - y_k)^2 = sum_k p_k^2 - 2 p_y + 1`` (checked inputs).

    Args:
        labels: ``(n_samples,)`` class indices.
        probs: ``(n_samples, n_classes)`` probabilities.
    """
    true_class = probs[np.arange(labels.shape[0]), labels]
    return np.einsum("ij,ij->i", probs, probs) - 2.0 * true_class + 1.0


def _top_label(labels: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(n,)`` top-label confidences and ``(n,)`` hits (1.0 where the top label is right)."""
    preds = probs.argmax(axis=1)
    confidences = probs[np.arange(labels.shape[0]), preds]
    return confidences, (preds == labels).astype(np.float64)


def _ece_reducer(sums: np.ndarray, n_samples: int) -> np.ndarray:
    return calibration_error_from_sums(sums, n_samples, norm="l1")


# The registry's group sums take (labels, probs, losses, plan), already checked.


def _accuracy_sums(labels, probs, losses, plan):  # type: ignore[no-untyped-def]
    return _with_count(plan, (probs.argmax(axis=1) == labels).astype(np.float64))


def _macro_f1_sums(labels, probs, losses, plan):  # type: ignore[no-untyped-def]
    return _f1_group_sums(labels, probs.argmax(axis=1), probs.shape[1], plan)


def _nll_sums(labels, probs, losses, plan):  # type: ignore[no-untyped-def]
    return _with_count(plan, np.asarray(losses, dtype=np.float64))


def _ece_sums(labels, probs, losses, plan):  # type: ignore[no-untyped-def]
    confidences, hits = _top_label(labels, probs)
    return binned_group_sums(confidences, hits, equal_width_edges(ECE_N_BINS), plan)


def _brier_sums(labels, probs, losses, plan):  # type: ignore[no-untyped-def]
    return _with_count(plan, brier_per_sample(labels, probs))


def _definition(
    name: str,
    axis_label: str,
    group_sums: GroupSumsFunction,
    reduce: Reducer,
    interval: IntervalKind = "percentile",
) -> MetricDefinition:
    info = metric_info(name)
    return MetricDefinition(
        name=name,
        label=info.label,
        higher_is_better=bool(info.higher_is_better),
        unit="percent" if info.unit == "percent" else "number",
        axis_label=axis_label,
        description=info.description,
        group_sums=group_sums,
        reduce=reduce,
        interval=interval,
    )


SCORECARD_METRICS: tuple[MetricDefinition, ...] = (
    _definition("accuracy", "Accuracy (%)", _accuracy_sums, _mean_reducer),
    _definition("macro_f1", "Macro-F1 (%)", _macro_f1_sums, _macro_f1_reducer),
    _definition("nll", "NLL (nats)", _nll_sums, _mean_reducer),
    _definition("ece", "ECE (%)", _ece_sums, _ece_reducer, interval="basic"),
    _definition("brier", "Brier score (0 = perfect, 2 = worst)", _brier_sums, _mean_reducer),
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


def stacked_group_sums(
    labels: np.ndarray,
    probs: np.ndarray,
    losses: np.ndarray | None,
    plan: ResamplingPlan,
    *,
    metrics: Sequence[MetricDefinition] = SCORECARD_METRICS,
) -> tuple[np.ndarray, dict[str, slice]]:
    """Every metric's statistics summed per bootstrap group, side by side, so one resample of the
    groups serves them all.

    Args:
        labels: ``(n_samples,)`` class indices.
        probs: ``(n_samples, n_classes)`` probabilities.
        losses: ``(n_samples,)`` per-sample cross-entropy; ``None`` computes it from ``probs``.
        plan: the split's resampling plan (``gengap_dash.stats.bootstrap.plan_resampling``).
        metrics: the metrics to stack.

    Returns:
        The ``(n_groups, k_total)`` float64 matrix and each metric's column slice in it.
    """
    labels, probs, losses = check_predictions(labels, probs, losses)
    if losses is None:
        losses = cross_entropy_per_sample(labels, probs)
    if plan.n_samples != labels.shape[0]:
        raise ValueError(
            f"Expected a resampling plan for {labels.shape[0]} samples, but got one for "
            f"{plan.n_samples}."
        )
    blocks = [np.asarray(metric.group_sums(labels, probs, losses, plan)) for metric in metrics]
    columns: dict[str, slice] = {}
    start = 0
    for metric, block in zip(metrics, blocks, strict=True):
        columns[metric.name] = slice(start, start + block.shape[1])
        start += block.shape[1]
    matrix = np.empty((plan.n_groups, start), dtype=np.float64)
    for metric, block in zip(metrics, blocks, strict=True):
        matrix[:, columns[metric.name]] = block
    return matrix, columns


def stacked_statistics(
    labels: np.ndarray,
    probs: np.ndarray,
    losses: np.ndarray | None = None,
    *,
    metrics: Sequence[MetricDefinition] = SCORECARD_METRICS,
) -> tuple[np.ndarray, dict[str, slice]]:
    """:func:`stacked_group_sums` with one group per sample: the ``(n_samples, k_total)``
    per-sample statistics and each metric's column slice."""
    n_samples = np.shape(labels)[0] if np.ndim(labels) else 0
    return stacked_group_sums(labels, probs, losses, _per_sample(n_samples), metrics=metrics)


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
    hits = (labels == preds).astype(np.float64)
    return float(_mean_reducer(hits[:, None].sum(axis=0), labels.shape[0]))


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
    plan = ResamplingPlan("none", np.zeros(labels.shape[0], dtype=np.int64), 1)
    sums = _f1_group_sums(labels, preds, int(n_classes), plan)[0]
    return float(_macro_f1_reducer(sums, labels.shape[0]))


def negative_log_likelihood(losses: np.ndarray) -> float:
    """Mean cross-entropy (natural log) from per-sample losses ``(n_samples,)``."""
    losses = np.asarray(losses)
    if losses.ndim != 1:
        raise ValueError(f"Expected `losses` of shape (n_samples,), but got shape {losses.shape}.")
    losses = _check_losses(losses, n_samples=losses.shape[0])
    return float(_mean_reducer(losses[:, None].sum(axis=0), losses.shape[0]))


def cross_entropy_losses(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Per-sample cross-entropy ``-log p_y`` (natural log), ``(n_samples,)``: the project's one
    per-sample cross-entropy from probabilities.

    Probabilities below machine epsilon (:data:`LOG_FLOOR`) are clipped, as scikit-learn's
    ``log_loss`` does, so a zero probability on the true class costs about 36 nats instead of
    infinity.

    Args:
        labels: ``(n_samples,)`` true class indices.
        probs: ``(n_samples, n_classes)`` probabilities.
    """
    labels, probs, _ = check_predictions(labels, probs)
    return cross_entropy_per_sample(labels, probs)


def brier_score(labels: np.ndarray, probs: np.ndarray) -> float:
    """Mean over samples of the sum over classes of ``(p_k - y_k)^2`` (range 0 to 2).

    Equals the sum over classes of ``sklearn.metrics.brier_score_loss(labels == k, probs[:, k])``.

    Args:
        labels: ``(n_samples,)`` true class indices.
        probs: ``(n_samples, n_classes)`` probabilities.
    """
    labels, probs, _ = check_predictions(labels, probs)
    if not labels.size:
        return float("nan")
    return float(_mean_reducer(brier_per_sample(labels, probs)[:, None].sum(axis=0), len(labels)))


def top_label(labels: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Top-label confidence ``(n_samples,)`` (the largest probability; ties go to the first
    class) and hits ``(n_samples,)`` (1.0 where that class is the label).

    Args:
        labels: ``(n_samples,)`` true class indices.
        probs: ``(n_samples, n_classes)`` probabilities.
    """
    labels, probs, _ = check_predictions(labels, probs)
    return _top_label(labels, probs)


def top_label_ece(labels: np.ndarray, probs: np.ndarray, *, n_bins: int = ECE_N_BINS) -> float:
    """Top-label expected calibration error with equal-width bins.

    The count-weighted mean over bins of |accuracy - mean confidence|, where the confidence is
    the top probability and bins are ``(lo, hi]`` (see ``gengap_dash.stats.binning``).

    Args:
        labels: ``(n_samples,)`` true class indices.
        probs: ``(n_samples, n_classes)`` probabilities.
        n_bins: number of equal-width bins on [0, 1].
    """
    labels, probs, _ = check_predictions(labels, probs)
    confidences, hits = _top_label(labels, probs)
    plan = ResamplingPlan("none", np.zeros(labels.shape[0], dtype=np.int64), 1)
    sums = binned_group_sums(confidences, hits, equal_width_edges(n_bins), plan)[0]
    return float(calibration_error_from_sums(sums, labels.shape[0]))


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
