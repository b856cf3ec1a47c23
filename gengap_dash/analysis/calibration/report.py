"""Calibration of one split: every calibration metric with a bootstrap interval, and the
reliability bins behind the diagrams.

:func:`calibration_report` gives ECE, adaptive ECE, MCE, RMS calibration error, classwise ECE,
Brier, NLL, accuracy, mean confidence and overconfidence, each with an interval from the one
bootstrap engine (``gengap_dash.stats.bootstrap``: exact up to 5,000 samples, random blocks
above; see ``docs/statistics.md``). Per resampling group every metric's statistics are summed
once (O(n)); a replicate then costs one row of a ``(B, groups) @ (groups, k)`` product. The
binning lives in ``gengap_dash.stats.binning``, the reducers in ``gengap_dash.metrics``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import pandas as pd

from gengap_dash.metrics.calibration import (
    calibration_error_from_sums,
    classwise_error_from_sums,
    classwise_group_sums,
)
from gengap_dash.metrics.classification import (
    LOG_FLOOR,
    brier_per_sample,
    cross_entropy_per_sample,
)
from gengap_dash.metrics.registry import METRICS
from gengap_dash.project.errors import ProjectError
from gengap_dash.stats import bootstrap
from gengap_dash.stats.binning import (
    DEFAULT_N_BINS,
    BinningStrategy,
    bin_edges,
    binned_group_sums,
    binned_sums,
    check_n_bins,
    check_strategy,
    equal_mass_edges,
)
from gengap_dash.stats.bootstrap import (
    Estimate,
    IntervalChoice,
    Resampling,
    ResamplingMethod,
    Seed,
)
from gengap_dash.stats.checks import check_confidences, check_outputs, check_whole_number
from gengap_dash.stats.proportions import wilson_interval

OutputKind = Literal["probs", "logits"]
IntervalKind = IntervalChoice
"""The interval option: ``"auto"`` (basic for :data:`BINNED_ERRORS`, percentile for the others),
``"percentile"`` or ``"basic"`` (see ``gengap_dash.stats.bootstrap``)."""

METRIC_NAMES: tuple[str, ...] = (
    "ece",
    "adaptive_ece",
    "mce",
    "rms_ce",
    "classwise_ece",
    "brier",
    "nll",
    "accuracy",
    "mean_confidence",
    "overconfidence",
)
"""Every metric of a :class:`CalibrationSummary`, in display order."""

METRIC_LABELS: dict[str, str] = {name: METRICS[name].label for name in METRIC_NAMES}
"""Display names, from the metric registry (``gengap_dash.metrics.registry``)."""

METRIC_UNITS: dict[str, str] = {name: METRICS[name].unit for name in METRIC_NAMES}
"""Units, from the metric registry: percent, points, number or nats."""

BINNED_ERRORS: tuple[str, ...] = ("ece", "adaptive_ece", "mce", "rms_ce", "classwise_ece")
"""The binned calibration errors: sums of absolute (or squared, or largest) per-bin gaps. Their
plug-in values are biased upwards at finite n, so by default their intervals are the
bias-corrected ("basic") bootstrap interval rather than the percentile interval."""


@dataclass(frozen=True, eq=False)
class ReliabilityBins:
    """Per-bin accuracy against confidence: the numbers behind a reliability diagram.

    Every array has shape ``(n_bins,)``. Bins are ``(lower, upper]``; the first includes 0.

    Attributes:
        lower: lower edge of each bin.
        upper: upper edge of each bin.
        count: samples in each bin.
        accuracy: share of hits in each bin; NaN for an empty bin.
        mean_confidence: mean confidence in each bin; NaN for an empty bin.
        gap: ``mean_confidence - accuracy`` (positive: overconfident); NaN for an empty bin.
        strategy: how the edges were chosen.
        accuracy_low, accuracy_high: the 95% Wilson interval of each bin's accuracy (NaN for an
            empty bin), so a bin of 3 samples reads as the guess it is.
    """

    lower: np.ndarray
    upper: np.ndarray
    count: np.ndarray
    accuracy: np.ndarray
    mean_confidence: np.ndarray
    gap: np.ndarray
    strategy: BinningStrategy
    accuracy_low: np.ndarray | None = None
    accuracy_high: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.accuracy_low is None or self.accuracy_high is None:
            low, high = wilson_interval(self.accuracy * self.count, self.count)
            object.__setattr__(self, "accuracy_low", low)
            object.__setattr__(self, "accuracy_high", high)

    @property
    def n_bins(self) -> int:
        return int(self.count.shape[0])

    @property
    def n_samples(self) -> int:
        return int(self.count.sum())

    @property
    def share(self) -> np.ndarray:
        """``(n_bins,)`` fraction of the samples in each bin (zeros when there are none)."""
        total = self.count.sum()
        return self.count / total if total > 0 else np.zeros_like(self.count, dtype=np.float64)

    def to_frame(self) -> pd.DataFrame:
        """One row per bin: lower, upper, count, share, accuracy, mean_confidence, gap,
        accuracy_low, accuracy_high."""
        return pd.DataFrame(
            {
                "lower": self.lower,
                "upper": self.upper,
                "count": self.count.astype(np.int64),
                "share": self.share,
                "accuracy": self.accuracy,
                "mean_confidence": self.mean_confidence,
                "gap": self.gap,
                "accuracy_low": self.accuracy_low,
                "accuracy_high": self.accuracy_high,
            }
        )

    def to_dict(self) -> dict[str, object]:
        """JSON-ready: lists per column (NaN as ``None``) and the strategy."""
        frame = self.to_frame().astype(object)
        records = frame.where(frame.notna(), None).to_dict(orient="list")
        return {"strategy": self.strategy, **records}


def reliability_bins(
    confidences: np.ndarray,
    hits: np.ndarray,
    *,
    n_bins: int = DEFAULT_N_BINS,
    strategy: BinningStrategy = "uniform",
) -> ReliabilityBins:
    """Reliability bins of a binary event (usually: "the top label is right").

    Args:
        confidences: ``(n_samples,)`` predicted probability of the event, in [0, 1].
        hits: ``(n_samples,)`` 1 where the event happened, else 0.
        n_bins: the number of bins (``"quantile"`` may give fewer, see :func:`equal_mass_edges`).
        strategy: ``"uniform"`` (equal width) or ``"quantile"`` (equal mass).
    """
    confidences, hits = check_top_label(confidences, hits)
    edges = bin_edges(confidences, n_bins=n_bins, strategy=strategy)
    return _reliability_from_sums(edges, binned_sums(confidences, hits, edges=edges), strategy)


def overconfidence(confidences: np.ndarray, hits: np.ndarray) -> float:
    """Mean confidence minus accuracy: positive when overconfident, negative when under.

    Args:
        confidences: ``(n_samples,)`` top-label confidences.
        hits: ``(n_samples,)`` 1 where the top label is right.
    """
    confidences, hits = check_top_label(confidences, hits)
    if confidences.size == 0:
        return float("nan")
    return float(confidences.mean() - hits.mean())


def negative_log_likelihood(
    labels: np.ndarray, outputs: np.ndarray, *, outputs_are: OutputKind = "logits"
) -> float:
    """Mean negative log-likelihood of the true class, in nats.

    From logits it is exact (a max-shifted log-sum-exp); probabilities are clipped at machine
    epsilon before the log (as scikit-learn's ``log_loss`` does).

    Args:
        labels: ``(n_samples,)`` class indices.
        outputs: ``(n_samples, n_classes)`` logits or probabilities.
        outputs_are: ``"logits"`` or ``"probs"``.
    """
    prepared = _prepare(labels, outputs, outputs_are=outputs_are)
    return float(prepared.losses.mean()) if prepared.labels.size else float("nan")


def top_label(
    labels: np.ndarray, outputs: np.ndarray, *, outputs_are: OutputKind = "probs"
) -> tuple[np.ndarray, np.ndarray]:
    """Top-label confidence and correctness, the inputs of the top-label functions.

    Args:
        labels: ``(n_samples,)`` class indices.
        outputs: ``(n_samples, n_classes)`` probabilities or logits.
        outputs_are: ``"probs"`` or ``"logits"``.

    Returns:
        ``(n_samples,)`` confidences (the largest probability; ties go to the first class) and
        ``(n_samples,)`` hits, 1.0 where that class is the label.
    """
    prepared = _prepare(labels, outputs, outputs_are=outputs_are)
    return prepared.confidences, prepared.hits


@dataclass(frozen=True, eq=False)
class CalibrationSummary:
    """Every calibration metric of one split or cohort, each with a bootstrap interval.

    Attributes:
        ece: top-label expected calibration error (``strategy`` bins).
        adaptive_ece: top-label ECE with equal-mass bins.
        mce: maximum calibration error: the largest |accuracy - confidence| over non-empty bins.
        rms_ce: root of the count-weighted mean squared gap (torchmetrics' ``norm="l2"``).
        classwise_ece: mean over classes of the ECE of ``p_k`` against ``label == k``.
        brier: mean over samples of ``sum_k (p_k - y_k)^2``.
        nll: mean negative log-likelihood of the true class (nats).
        accuracy: share of samples whose top label is right.
        mean_confidence: mean top-label confidence.
        overconfidence: ``mean_confidence - accuracy`` (negative: underconfident).
        reliability: the bins behind ``ece``, ``mce`` and ``rms_ce``.
        n_samples: samples summarised.
        n_classes: number of classes (``None`` for a top-label-only report).
        n_bins: bins asked for.
        strategy: ``"uniform"`` or ``"quantile"``.
        resampling: ``"exact"`` (samples), ``"blocks"`` (random blocks) or ``"none"``.
        n_resamples: bootstrap replicates (0: no intervals).
        confidence: interval level.
        interval: how the intervals were formed (see :func:`calibration_report`).
        replicates: metric name -> ``(n_resamples,)`` replicate values. Two reports with the same
            seed over the same samples (in the same order) draw the same resamples, so the
            difference of their replicates is a paired bootstrap of the change.
    """

    ece: Estimate
    adaptive_ece: Estimate
    mce: Estimate
    rms_ce: Estimate
    classwise_ece: Estimate
    brier: Estimate
    nll: Estimate
    accuracy: Estimate
    mean_confidence: Estimate
    overconfidence: Estimate
    reliability: ReliabilityBins
    n_samples: int
    n_classes: int | None
    n_bins: int
    strategy: BinningStrategy
    resampling: ResamplingMethod
    n_resamples: int
    confidence: float
    interval: IntervalKind
    replicates: Mapping[str, np.ndarray] = field(default_factory=dict, repr=False)

    def without_replicates(self) -> CalibrationSummary:
        """The same summary without its bootstrap replicates (about 80 KB per summary at 1,000
        resamples): what a stored result keeps once paired changes have been computed."""
        return replace(self, replicates={}) if self.replicates else self

    def metrics(self) -> dict[str, Estimate]:
        """Metric name -> estimate, in :data:`METRIC_NAMES` order."""
        return {name: getattr(self, name) for name in METRIC_NAMES}

    def to_frame(self) -> pd.DataFrame:
        """One row per metric (index: name) with label, unit, value, low and high."""
        rows = [
            {
                "metric": name,
                "label": METRIC_LABELS[name],
                "unit": METRIC_UNITS[name],
                **estimate.to_dict(),
            }
            for name, estimate in self.metrics().items()
        ]
        return pd.DataFrame(rows).set_index("metric")

    def to_dict(self) -> dict[str, object]:
        """JSON-ready: the settings, each metric's value/low/high (NaN as ``None``), the bins."""
        return {
            "n_samples": self.n_samples,
            "n_classes": self.n_classes,
            "n_bins": self.n_bins,
            "strategy": self.strategy,
            "resampling": self.resampling,
            "n_resamples": self.n_resamples,
            "confidence": self.confidence,
            "interval": self.interval,
            "metrics": {
                name: {key: _json_float(value) for key, value in estimate.to_dict().items()}
                for name, estimate in self.metrics().items()
            },
            "reliability": self.reliability.to_dict(),
        }


def calibration_report(
    labels: np.ndarray,
    outputs: np.ndarray,
    *,
    outputs_are: OutputKind = "probs",
    n_bins: int = DEFAULT_N_BINS,
    strategy: BinningStrategy = "uniform",
    n_resamples: int = bootstrap.DEFAULT_RESAMPLES,
    seed: Seed = 0,
    confidence: float = bootstrap.DEFAULT_CONFIDENCE,
    resampling: Resampling = "auto",
    interval: IntervalKind = "auto",
) -> CalibrationSummary:
    """Every calibration metric of one split, each with a bootstrap interval (bias-corrected for
    the binned errors, percentile for the others; see `interval`).

    Args:
        labels: ``(n_samples,)`` true class indices.
        outputs: ``(n_samples, n_classes)`` probabilities or logits.
        outputs_are: ``"probs"`` or ``"logits"`` (NLL is exact from logits).
        n_bins: bins for ECE, MCE, RMS, classwise ECE and adaptive ECE.
        strategy: ``"uniform"`` (equal width) or ``"quantile"`` (equal mass) bins for ECE, MCE,
            RMS, classwise ECE and the reliability bins; adaptive ECE always uses equal mass.
        n_resamples: bootstrap replicates; 0 gives point values with NaN intervals.
        seed: seed of the resampling (same seed, same intervals).
        confidence: interval level in (0, 1).
        resampling: ``"auto"`` (exact up to :data:`EXACT_BOOTSTRAP_MAX_SAMPLES` samples, random
            blocks above), or force ``"exact"`` or ``"blocks"``.
        interval: ``"auto"``: the bias-corrected ("basic") bootstrap interval for the binned
            errors (:data:`BINNED_ERRORS`, whose plug-in values are biased upwards, so the
            interval can lie below the value) and the percentile interval for the others;
            or ``"percentile"`` / ``"basic"`` for every metric.

    Raises:
        ProjectError: for bad data (labels out of range, probabilities that do not sum to 1, no
            samples); ValueError for bad options.
    """
    prepared = _prepare(labels, outputs, outputs_are=outputs_are)
    return _summarise(
        prepared.confidences,
        prepared.hits,
        prepared,
        n_bins=n_bins,
        strategy=strategy,
        n_resamples=n_resamples,
        seed=seed,
        confidence=confidence,
        resampling=resampling,
        interval=interval,
    )


def top_label_calibration_report(
    confidences: np.ndarray,
    hits: np.ndarray,
    *,
    n_bins: int = DEFAULT_N_BINS,
    strategy: BinningStrategy = "uniform",
    n_resamples: int = bootstrap.DEFAULT_RESAMPLES,
    seed: Seed = 0,
    confidence: float = bootstrap.DEFAULT_CONFIDENCE,
    resampling: Resampling = "auto",
    interval: IntervalKind = "auto",
) -> CalibrationSummary:
    """:func:`calibration_report` from top-label confidences alone (e.g. after recalibration).

    The metrics that need the full probability vector (classwise ECE, Brier, NLL) are NaN.

    Args:
        confidences: ``(n_samples,)`` top-label confidences in [0, 1].
        hits: ``(n_samples,)`` 1 where the top label is right.
    """
    confidences, hits = check_top_label(confidences, hits)
    return _summarise(
        confidences,
        hits,
        None,
        n_bins=n_bins,
        strategy=strategy,
        n_resamples=n_resamples,
        seed=seed,
        confidence=confidence,
        resampling=resampling,
        interval=interval,
    )


# --------------------------------------------------------------------------------------------
# Private steps
# --------------------------------------------------------------------------------------------


def _check_options(
    *,
    n_bins: int,
    strategy: str,
    n_resamples: int,
    seed: Seed,
    confidence: float,
    resampling: str,
    interval: str,
) -> None:
    check_n_bins(n_bins)
    check_strategy(strategy)
    check_whole_number(n_resamples, name="n_resamples", minimum=0)
    bootstrap.check_seed(seed)
    bootstrap.check_confidence(confidence)
    if resampling not in ("auto", "exact", "blocks"):
        raise ValueError(
            f"Expected `resampling` to be one of 'auto', 'exact', 'blocks', but got {resampling!r}."
        )
    if interval not in ("auto", "percentile", "basic"):
        raise ValueError(
            f"Expected `interval` to be one of 'auto', 'percentile', 'basic', but got {interval!r}."
        )


def _logit_row_max(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(n,)`` argmax and ``(n,)`` largest logit of each row, checked.

    ``-inf`` is a valid logit (probability 0); NaN, ``+inf`` and rows without a finite logit are
    not. The row maximum sees all three (NaN and ``+inf`` win the argmax), so no extra pass.
    """
    preds = logits.argmax(axis=1)
    row_max = logits[np.arange(logits.shape[0]), preds]
    bad = ~np.isfinite(row_max)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ProjectError(
            "Expected `logits` without NaN or +inf and with a finite value in every row (-inf "
            f"is read as probability 0), but row {row} is {logits[row].tolist()[:5]}."
        )
    return preds, row_max


@dataclass(frozen=True)
class _Prepared:
    """One split's checked predictions and the per-sample quantities every metric starts from."""

    labels: np.ndarray  # (n,) int64
    probs: np.ndarray  # (n, C) float64
    losses: np.ndarray  # (n,) NLL of the true class, nats
    confidences: np.ndarray  # (n,) top-label probability
    hits: np.ndarray  # (n,) 1.0 where the top label is right

    def subset(self, mask: np.ndarray) -> _Prepared:
        return _Prepared(*(getattr(self, name)[mask] for name in self.__dataclass_fields__))


def _prepare(labels: np.ndarray, outputs: np.ndarray, *, outputs_are: str) -> _Prepared:
    """Check one split and compute probabilities, NLL, top-label confidence and hits.

    From logits: one max-shifted softmax; the top label's shifted logit is 0, so its probability
    is ``1 / sum(exp(shifted))`` and the NLL is ``log(sum) - shifted_y`` (exact; a true class
    with logit ``-inf`` is clipped like a probability at machine epsilon).
    """
    labels, outputs = check_outputs(labels, outputs, outputs_are=outputs_are)
    rows = np.arange(labels.shape[0])
    if outputs_are == "logits":
        preds, row_max = _logit_row_max(outputs)
        shifted = outputs.astype(np.float64)
        shifted -= row_max[:, None]
        true_class = shifted[rows, labels]
        probs = np.exp(shifted, out=shifted)
        totals = probs.sum(axis=1)
        probs /= totals[:, None]
        losses = np.log(totals) - true_class
        losses[np.isinf(losses)] = -np.log(LOG_FLOOR)
        hits = (preds == labels).astype(np.float64)
        return _Prepared(labels, probs, losses, 1.0 / totals, hits)
    preds = outputs.argmax(axis=1)
    hits = (preds == labels).astype(np.float64)
    losses = cross_entropy_per_sample(labels, outputs)
    return _Prepared(labels, outputs, losses, outputs[rows, preds], hits)


def check_top_label(confidences: np.ndarray, hits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    confidences = check_confidences(confidences)
    hits = np.asarray(hits)
    if hits.shape != confidences.shape:
        raise ValueError(
            "Expected `confidences` and `hits` to be 1-D arrays of the same length, but got "
            f"shapes {confidences.shape} and {hits.shape}."
        )
    if not (np.issubdtype(hits.dtype, np.number) or hits.dtype == np.bool_):
        raise ValueError(f"Expected `hits` to be 0/1 or boolean, but got dtype {hits.dtype}.")
    hits = hits.astype(np.float64)
    if hits.size and not np.isin(hits, (0.0, 1.0)).all():
        raise ValueError("Expected `hits` to be 0/1 or boolean, but got other values.")
    return confidences, hits


def _reliability_from_sums(
    edges: np.ndarray, sums: np.ndarray, strategy: BinningStrategy
) -> ReliabilityBins:
    n_bins = edges.shape[0] - 1
    counts = sums[:n_bins]
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = np.where(counts > 0, sums[2 * n_bins :] / counts, np.nan)
        mean_confidence = np.where(counts > 0, sums[n_bins : 2 * n_bins] / counts, np.nan)
    return ReliabilityBins(
        lower=edges[:-1].copy(),
        upper=edges[1:].copy(),
        count=counts.copy(),
        accuracy=accuracy,
        mean_confidence=mean_confidence,
        gap=mean_confidence - accuracy,
        strategy=strategy,
    )


@dataclass(frozen=True)
class _Layout:
    """Which columns of the statistics hold which family."""

    top: slice
    adaptive: slice
    classwise: slice | None
    proper: slice | None
    n_classes: int


def _metric_values(sums: np.ndarray, layout: _Layout) -> dict[str, np.ndarray]:
    """Every metric ``(...)`` from column sums ``(..., k)`` (point values and replicates alike)."""
    top = sums[..., layout.top]
    n_bins = top.shape[-1] // 3
    totals = top[..., :n_bins].sum(axis=-1)
    values: dict[str, np.ndarray] = {
        "ece": calibration_error_from_sums(top, 0, norm="l1"),
        "adaptive_ece": calibration_error_from_sums(sums[..., layout.adaptive], 0, norm="l1"),
        "mce": calibration_error_from_sums(top, 0, norm="max"),
        "rms_ce": calibration_error_from_sums(top, 0, norm="l2"),
    }
    nan = np.full(totals.shape, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = top[..., 2 * n_bins :].sum(axis=-1) / totals
        mean_confidence = top[..., n_bins : 2 * n_bins].sum(axis=-1) / totals
        values["classwise_ece"] = (
            nan
            if layout.classwise is None
            else classwise_error_from_sums(sums[..., layout.classwise], layout.n_classes, totals)
        )
        if layout.proper is None:
            values.update(brier=nan, nll=nan)
        else:
            proper = sums[..., layout.proper]
            values["brier"] = proper[..., 0] / totals
            values["nll"] = proper[..., 1] / totals
    values.update(
        accuracy=accuracy,
        mean_confidence=mean_confidence,
        overconfidence=mean_confidence - accuracy,
    )
    return values


def _summarise(
    confidences: np.ndarray,
    hits: np.ndarray,
    full: _Prepared | None,
    *,
    n_bins: int,
    strategy: BinningStrategy,
    n_resamples: int,
    seed: Seed,
    confidence: float,
    resampling: Resampling,
    interval: IntervalKind,
    classwise: bool = True,
) -> CalibrationSummary:
    """The shared core of the reports: statistics per group, point values, bootstrap."""
    _check_options(
        n_bins=n_bins,
        strategy=strategy,
        n_resamples=n_resamples,
        seed=seed,
        confidence=confidence,
        resampling=resampling,
        interval=interval,
    )
    n_samples = confidences.shape[0]
    if n_samples == 0:
        raise ProjectError("Expected at least one sample to summarise, but got none.")
    rng = bootstrap.make_rng(seed)
    plan = bootstrap.plan_resampling(
        n_samples, rng=rng, resampling=resampling, n_resamples=n_resamples
    )
    sums = _unit_sums(
        confidences, hits, full, plan, n_bins=n_bins, strategy=strategy, classwise=classwise
    )
    replicate_sums = None
    if n_resamples > 0:
        replicate_sums = bootstrap.resample_column_sums(
            sums.statistics, n_resamples=int(n_resamples), rng=rng
        )
    return _summary_from_sums(
        sums,
        replicate_sums,
        n_samples=n_samples,
        resampling=plan.method,
        n_resamples=n_resamples,
        confidence=confidence,
        interval=interval,
    )


@dataclass(frozen=True, eq=False)
class _UnitSums:
    """Every metric's sufficient statistics summed per resampling unit of a plan."""

    statistics: np.ndarray  # (n_units, width)
    layout: _Layout
    edges: np.ndarray  # the reliability diagram's bin edges
    strategy: BinningStrategy
    n_bins: int
    n_classes: int | None


def _unit_sums(
    confidences: np.ndarray,
    hits: np.ndarray,
    full: _Prepared | None,
    plan: bootstrap.ResamplingPlan,
    *,
    n_bins: int,
    strategy: BinningStrategy,
    classwise: bool = True,
) -> _UnitSums:
    """The statistics of every metric (binned top-label sums for both binnings, classwise
    residual sums, Brier and NLL), summed per unit of ``plan``: ``(plan.n_groups, width)``.
    ``classwise=False`` leaves the classwise sums out (its ECE is then NaN)."""
    edges = bin_edges(confidences, n_bins=n_bins, strategy=strategy)
    adaptive_edges = edges if strategy == "quantile" else equal_mass_edges(confidences, n_bins)
    stop = 3 * (edges.shape[0] - 1)
    top = slice(0, stop)
    adaptive = top
    if strategy != "quantile":
        adaptive = slice(stop, stop + 3 * (adaptive_edges.shape[0] - 1))
        stop = adaptive.stop
    n_classes = full.probs.shape[1] if full is not None else 0
    classwise_columns = proper = None
    if full is not None:
        if classwise:
            classwise_columns = slice(stop, stop + n_classes * n_bins)
            stop = classwise_columns.stop
        proper = slice(stop, stop + 2)
        stop = proper.stop
    layout = _Layout(top, adaptive, classwise_columns, proper, n_classes)
    blocks = [binned_group_sums(confidences, hits, edges, plan)]
    if strategy != "quantile":
        blocks.append(binned_group_sums(confidences, hits, adaptive_edges, plan))
    if full is not None:
        if classwise:
            blocks.append(
                classwise_group_sums(
                    full.labels, full.probs, plan, n_bins=n_bins, strategy=strategy
                )
            )
        blocks.append(
            np.stack(
                [plan.sum(brier_per_sample(full.labels, full.probs)), plan.sum(full.losses)],
                axis=1,
            )
        )
    return _UnitSums(
        np.hstack(blocks),
        layout,
        edges,
        strategy,
        int(n_bins),
        n_classes if full is not None else None,
    )


def _summary_from_sums(
    sums: _UnitSums,
    replicate_sums: np.ndarray | None,
    *,
    n_samples: int,
    resampling: str,
    n_resamples: int,
    confidence: float,
    interval: IntervalKind,
) -> CalibrationSummary:
    """Point values from the unit sums' totals; intervals from ``(B, width)`` replicate sums."""
    totals = sums.statistics.sum(axis=0)
    values = _metric_values(totals, sums.layout)
    replicates: dict[str, np.ndarray] = {}
    if replicate_sums is not None:
        replicates = _metric_values(replicate_sums, sums.layout)
    estimates = {
        name: _estimate(name, float(values[name]), replicates.get(name), confidence, interval)
        for name in METRIC_NAMES
    }
    return CalibrationSummary(
        **estimates,
        reliability=_reliability_from_sums(sums.edges, totals[sums.layout.top], sums.strategy),
        n_samples=int(n_samples),
        n_classes=sums.n_classes,
        n_bins=sums.n_bins,
        strategy=sums.strategy,
        resampling=resampling,
        n_resamples=int(n_resamples),
        confidence=float(confidence),
        interval=interval,
        replicates=replicates,
    )


def _estimate(
    name: str,
    value: float,
    replicates: np.ndarray | None,
    confidence: float,
    interval: IntervalKind,
) -> Estimate:
    """The value with its interval: percentile, or basic ``[2 v - q_high, 2 v - q_low]``.

    The basic interval is centred on the bias-corrected value ``2 v - mean(replicates)``; it is
    clipped at 0 for the metrics that cannot be negative (all but overconfidence).
    """
    if replicates is None or not np.isfinite(value):
        return Estimate(value, float("nan"), float("nan"))
    kind = interval if interval != "auto" else ("basic" if name in BINNED_ERRORS else "percentile")
    low, high = bootstrap.interval_from_replicates(
        value,
        replicates,
        kind=kind,
        confidence=confidence,
        floor=None if name == "overconfidence" else 0.0,
        ceiling=1.0 if name in BINNED_ERRORS else None,
    )
    return Estimate(value, float(low), float(high))


def _json_float(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None
