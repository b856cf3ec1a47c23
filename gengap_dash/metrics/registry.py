"""Every metric of gengap-dash, once: its label, unit, direction, how it is computed and what it
is checked against.

Pages, tables, plots, findings and the CLI take labels and units from here, so a metric reads the
same everywhere. ``compute`` is the plain (no-interval) function; intervals come from the views,
which bootstrap the same statistics (``gengap_dash.stats.bootstrap``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

MetricUnit = Literal["percent", "points", "number", "nats"]
"""How a value is shown: a fraction as %, a signed difference of fractions in percentage points,
a plain number, or nats (natural-log units)."""


@dataclass(frozen=True)
class MetricInfo:
    """One metric's identity.

    Attributes:
        name: the key in results and JSON (``"ece"``).
        label: the display name (``"ECE"``).
        unit: see :data:`MetricUnit`.
        higher_is_better: the direction in which the metric improves; ``None`` where neither
            direction is better (mean confidence; overconfidence, whose ideal is 0).
        compute: ``compute(labels (n,), probs (n, C)) -> float``, the plug-in value.
        reference: the reference implementation the tests compare ``compute`` with.
        description: one plain-English sentence for tooltips.
    """

    name: str
    label: str
    unit: MetricUnit
    higher_is_better: bool | None
    compute: Callable[[np.ndarray, np.ndarray], float] = field(repr=False, compare=False)
    reference: str
    description: str


def _accuracy(labels: np.ndarray, probs: np.ndarray) -> float:
    from gengap_dash.metrics.classification import accuracy

    return accuracy(labels, np.asarray(probs).argmax(axis=1))


def _macro_f1(labels: np.ndarray, probs: np.ndarray) -> float:
    from gengap_dash.metrics.classification import macro_f1

    probs = np.asarray(probs)
    return macro_f1(labels, probs.argmax(axis=1), n_classes=probs.shape[1])


def _nll(labels: np.ndarray, probs: np.ndarray) -> float:
    from gengap_dash.metrics.classification import cross_entropy_losses

    return float(cross_entropy_losses(labels, probs).mean())


def _brier(labels: np.ndarray, probs: np.ndarray) -> float:
    from gengap_dash.metrics.classification import brier_score

    return brier_score(labels, probs)


def _top_label(norm: str, strategy: str = "uniform") -> Callable[[np.ndarray, np.ndarray], float]:
    def compute(labels: np.ndarray, probs: np.ndarray) -> float:
        from gengap_dash.metrics.calibration import calibration_error_from_sums
        from gengap_dash.metrics.classification import top_label
        from gengap_dash.stats.binning import bin_edges, binned_sums

        confidences, hits = top_label(labels, probs)
        edges = bin_edges(confidences, strategy=strategy)  # type: ignore[arg-type]
        sums = binned_sums(confidences, hits, edges=edges)
        return float(calibration_error_from_sums(sums, len(hits), norm=norm))  # type: ignore[arg-type]

    return compute


def _classwise(labels: np.ndarray, probs: np.ndarray) -> float:
    from gengap_dash.metrics.calibration import classwise_calibration_error

    return classwise_calibration_error(labels, probs)


def _mean_confidence(labels: np.ndarray, probs: np.ndarray) -> float:
    from gengap_dash.metrics.classification import top_label

    return float(top_label(labels, probs)[0].mean())


def _overconfidence(labels: np.ndarray, probs: np.ndarray) -> float:
    from gengap_dash.metrics.classification import top_label

    confidences, hits = top_label(labels, probs)
    return float(confidences.mean() - hits.mean())


_TORCHMETRICS_CE = "torchmetrics.functional.classification.multiclass_calibration_error"

METRICS: Mapping[str, MetricInfo] = {
    info.name: info
    for info in (
        MetricInfo(
            "accuracy",
            "Accuracy",
            "percent",
            True,
            _accuracy,
            "sklearn.metrics.accuracy_score",
            "Share of samples whose most likely class is the true class.",
        ),
        MetricInfo(
            "macro_f1",
            "Macro-F1",
            "percent",
            True,
            _macro_f1,
            "sklearn.metrics.f1_score(average='macro', zero_division=0)",
            "F1 score averaged over classes with equal weight, so rare classes count as much "
            "as common ones.",
        ),
        MetricInfo(
            "nll",
            "NLL",
            "nats",
            False,
            _nll,
            "sklearn.metrics.log_loss",
            "Negative log-likelihood: the average cross-entropy loss; it punishes confident "
            "mistakes heavily. Lower is better.",
        ),
        MetricInfo(
            "ece",
            "ECE",
            "percent",
            False,
            _top_label("l1"),
            f"{_TORCHMETRICS_CE}(norm='l1')",
            "Expected calibration error: how far the model's confidence is from how often it "
            "is right (15 confidence bins). Lower is better.",
        ),
        MetricInfo(
            "adaptive_ece",
            "Adaptive ECE",
            "percent",
            False,
            _top_label("l1", "quantile"),
            "ECE with equal-mass bins (Nixon et al. 2019), checked by hand",
            "ECE with bins that hold equally many samples. Lower is better.",
        ),
        MetricInfo(
            "mce",
            "MCE",
            "percent",
            False,
            _top_label("max"),
            f"{_TORCHMETRICS_CE}(norm='max')",
            "Maximum calibration error: the largest gap between confidence and accuracy over "
            "the bins. Lower is better.",
        ),
        MetricInfo(
            "rms_ce",
            "RMS calibration error",
            "percent",
            False,
            _top_label("l2"),
            f"{_TORCHMETRICS_CE}(norm='l2')",
            "Root-mean-square gap between confidence and accuracy over the bins. Lower is better.",
        ),
        MetricInfo(
            "classwise_ece",
            "Classwise ECE",
            "percent",
            False,
            _classwise,
            "sklearn.calibration.calibration_curve per class (one-vs-rest)",
            "Mean over classes of the ECE of each class's probability. Lower is better.",
        ),
        MetricInfo(
            "brier",
            "Brier score",
            "number",
            False,
            _brier,
            "sklearn.metrics.brier_score_loss (one-vs-rest, summed over classes)",
            "Squared distance between the predicted probabilities and the true class "
            "(0 is perfect, 2 the worst). Lower is better.",
        ),
        MetricInfo(
            "mean_confidence",
            "Mean confidence",
            "percent",
            None,
            _mean_confidence,
            "numpy mean of the largest probability",
            "The average probability the model gives its top class.",
        ),
        MetricInfo(
            "overconfidence",
            "Overconfidence",
            "points",
            None,
            _overconfidence,
            "mean confidence minus accuracy, by hand",
            "Mean confidence minus accuracy: positive when the model is overconfident, negative "
            "when underconfident; 0 is ideal.",
        ),
    )
}
"""Metric name -> :class:`MetricInfo`."""


def metric_info(name: str) -> MetricInfo:
    """The registry entry of ``name``.

    Raises:
        ValueError: "Expected `metric` to be one of 'accuracy', ..., but got 'auroc'."
    """
    try:
        return METRICS[name]
    except (KeyError, TypeError):
        known = ", ".join(repr(m) for m in METRICS)
        raise ValueError(f"Expected `metric` to be one of {known}, but got {name!r}.") from None


def label(name: str) -> str:
    """The display name of metric ``name`` (``"ece" -> "ECE"``)."""
    return metric_info(name).label


def unit(name: str) -> MetricUnit:
    """The unit of metric ``name`` (``"ece" -> "percent"``)."""
    return metric_info(name).unit
