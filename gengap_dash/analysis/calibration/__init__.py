"""Calibration: does the model's confidence match how often it is right?

The binning core (:func:`equal_width_edges`, :func:`assign_bins`, :func:`bin_statistics`,
:func:`binned_sums`, :func:`calibration_error_from_sums`) is shared by the scorecard's ECE and every
calibration view. Binned metrics are written as sufficient statistics (see
``gengap_dash.stats.bootstrap``): per sample, its bin's indicator times (1, confidence, hit);
the column
sums per bin are the bin's count, total confidence and number of hits, and every calibration error
is a reducer of those sums.

On top of the core:

- :func:`calibration_report` gives every calibration metric of one split (or cohort) with a
  bootstrap interval: ECE, adaptive ECE, MCE, RMS calibration error, classwise ECE, Brier, NLL,
  accuracy, mean confidence and overconfidence, plus the reliability bins.
- :func:`calibration_by_cohort` does the same per value of a metadata column.
- :func:`fit_temperature` / :func:`apply_temperature` and :func:`fit_recalibration` /
  :func:`apply_recalibration` recalibrate; :func:`temperature_scaling_comparison` fits them on the
  validation split, applies them to every split and says in words whether the gain holds.

The bootstrap resamples *groups* of samples: single samples (the exact bootstrap) when a split has
at most :data:`EXACT_BOOTSTRAP_MAX_SAMPLES` samples, otherwise :data:`BOOTSTRAP_BLOCKS` random
blocks of equal size. Per group, every metric's statistics are summed once (O(n)); a replicate
then costs one row of a ``(B, groups) @ (groups, k)`` product whatever ``n`` is. See
``docs/calibration.md`` for the method and its coverage check.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from gengap_dash.project.errors import ProjectError
from gengap_dash.stats import bootstrap
from gengap_dash.stats.bootstrap import Estimate
from gengap_dash.stats.checks import check_labels, check_whole_number

CalibrationNorm = Literal["l1", "l2", "max"]
DEFAULT_N_BINS = 15
BinningStrategy = Literal["uniform", "quantile"]
OutputKind = Literal["probs", "logits"]
Resampling = Literal["auto", "exact", "blocks"]
IntervalKind = Literal["auto", "percentile", "basic"]
Seed = int | tuple[int, ...]
"""A bootstrap seed: an integer, or a tuple such as ``(seed, split position)`` that gives each
split its own stream (the scorecard draws split ``i`` from ``default_rng([seed, i])``; the same
tuple here draws the same resamples)."""
RecalibrationMethod = Literal["histogram", "isotonic"]
GainVerdict = Literal["fit split", "holds", "does not hold", "worse"]

EXACT_BOOTSTRAP_MAX_SAMPLES = 5_000
"""Splits up to this size get the exact sample-level bootstrap; larger ones resample blocks."""

BOOTSTRAP_BLOCKS = 1_000
"""Number of random, equal-size blocks that larger splits are resampled in."""

MIN_COHORT_SAMPLES = 100
"""Cohorts smaller than this get point values but no interval (flagged ``too_few``)."""

GAIN_TOLERANCE = 0.02
"""A split keeps the temperature-scaling gain when its ECE after scaling is at most the fit
split's ECE after scaling plus this (2 percentage points)."""

PROBABILITY_TOLERANCE = 1e-6
"""How far outside [0, 1] a probability may stray (float rounding) before it is rejected."""

ROW_SUM_TOLERANCE = 1e-3
"""How far a row of probabilities may sum from 1 before it is rejected."""

METRIC_LABELS: dict[str, str] = {
    "ece": "ECE",
    "adaptive_ece": "Adaptive ECE",
    "mce": "MCE",
    "rms_ce": "RMS calibration error",
    "classwise_ece": "Classwise ECE",
    "brier": "Brier score",
    "nll": "NLL",
    "accuracy": "Accuracy",
    "mean_confidence": "Mean confidence",
    "overconfidence": "Overconfidence",
}
"""Every metric of a :class:`CalibrationSummary`, in display order, with its display name."""

METRIC_NAMES: tuple[str, ...] = tuple(METRIC_LABELS)

BINNED_ERRORS: tuple[str, ...] = ("ece", "adaptive_ece", "mce", "rms_ce", "classwise_ece")
"""The binned calibration errors: sums of absolute (or squared, or largest) per-bin gaps. Their
plug-in values are biased upwards at finite n, so by default their intervals are the
bias-corrected ("basic") bootstrap interval rather than the percentile interval."""

METRIC_UNITS: dict[str, str] = {
    **dict.fromkeys(
        ("ece", "adaptive_ece", "mce", "rms_ce", "classwise_ece", "accuracy", "mean_confidence"),
        "percent",
    ),
    "overconfidence": "points",
    "brier": "number",
    "nll": "nats",
}
"""How each metric is shown: a fraction as %, a signed difference of fractions in percentage
points, a plain number, or nats (natural-log units)."""

_LOG_FLOOR = float(np.finfo(np.float64).eps)  # probabilities are clipped here before the log
_MAX_GROUP_SUM_ELEMENTS = 16_000_000  # cap on the (groups, k) statistics matrix (128 MB)
_TEMPERATURE_BOUNDS = (1e-4, 1e4)  # the search range of T; a fit at a bound did not converge
_LOGIT_FLOOR = -1e6  # -inf logits (relative to the row maximum) in the temperature fit


def equal_width_edges(n_bins: int = DEFAULT_N_BINS) -> np.ndarray:
    """``n_bins + 1`` equal-width bin edges on [0, 1]."""
    _check_n_bins(n_bins)
    return np.linspace(0.0, 1.0, n_bins + 1)


def assign_bins(confidences: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """The bin index of each confidence; bins are ``(lo, hi]`` and 0 falls in the first bin.

    Args:
        confidences: ``(n_samples,)`` values in [0, 1].
        edges: ``(n_bins + 1,)`` increasing edges from 0 to 1.

    Returns:
        ``(n_samples,)`` int64 bin indices in ``[0, n_bins)``.
    """
    edges = np.asarray(edges, dtype=np.float64)
    inner = edges[1:-1]
    return np.searchsorted(inner, np.asarray(confidences, dtype=np.float64), side="left").astype(
        np.int64
    )


def bin_statistics(confidences: np.ndarray, hits: np.ndarray, *, edges: np.ndarray) -> np.ndarray:
    """Per-sample sufficient statistics of a binned calibration error.

    Args:
        confidences: ``(n_samples,)`` predicted probability of the event (top-label confidence).
        hits: ``(n_samples,)`` 1 where the event happened (the prediction was correct), else 0.
        edges: ``(n_bins + 1,)`` bin edges.

    Returns:
        ``(n_samples, 3 * n_bins)``: columns ``[0, n_bins)`` are bin indicators,
        ``[n_bins, 2 n_bins)`` indicator x confidence, ``[2 n_bins, 3 n_bins)`` indicator x hit.
    """
    confidences = np.asarray(confidences, dtype=np.float64)
    hits = np.asarray(hits, dtype=np.float64)
    n_bins = len(edges) - 1
    bins = assign_bins(confidences, edges)
    statistics = np.zeros((confidences.shape[0], 3 * n_bins), dtype=np.float64)
    rows = np.arange(confidences.shape[0])
    statistics[rows, bins] = 1.0
    statistics[rows, n_bins + bins] = confidences
    statistics[rows, 2 * n_bins + bins] = hits
    return statistics


def binned_sums(confidences: np.ndarray, hits: np.ndarray, *, edges: np.ndarray) -> np.ndarray:
    """The column sums of :func:`bin_statistics`, computed without materialising it.

    Returns:
        ``(3 * n_bins,)``: counts, confidence sums and hit sums per bin.
    """
    n_bins = len(edges) - 1
    bins = assign_bins(confidences, edges)
    counts = np.bincount(bins, minlength=n_bins).astype(np.float64)
    confidence_sums = np.bincount(bins, weights=confidences, minlength=n_bins)
    hit_sums = np.bincount(bins, weights=np.asarray(hits, dtype=np.float64), minlength=n_bins)
    return np.concatenate([counts, confidence_sums, hit_sums])


def calibration_error_from_sums(
    sums: np.ndarray, n_samples: int, *, norm: CalibrationNorm = "l1"
) -> np.ndarray:
    """Calibration error from per-bin sums (a bootstrap reducer).

    Args:
        sums: ``(..., 3 * n_bins)`` as returned by :func:`binned_sums` or a resample of
            :func:`bin_statistics`.
        n_samples: the number of samples the sums cover.
        norm: ``"l1"`` (ECE: count-weighted mean of |accuracy - confidence|), ``"l2"`` (RMS: square
            root of the count-weighted mean of squared gaps) or ``"max"`` (MCE: largest gap over
            non-empty bins).

    Returns:
        ``(...)`` calibration errors; NaN where there are no samples.
    """
    sums = np.asarray(sums, dtype=np.float64)
    n_bins = sums.shape[-1] // 3
    counts = sums[..., :n_bins]
    confidence_sums = sums[..., n_bins : 2 * n_bins]
    hit_sums = sums[..., 2 * n_bins :]
    total = counts.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        gaps = np.where(counts > 0, np.abs(hit_sums - confidence_sums) / counts, 0.0)
        if norm == "l1":
            result = np.abs(hit_sums - confidence_sums).sum(axis=-1) / total
        elif norm == "l2":
            result = np.sqrt((counts * gaps**2).sum(axis=-1) / total)
        elif norm == "max":
            result = np.where(counts > 0, gaps, -np.inf).max(axis=-1)
            result = np.where(total > 0, result, np.nan)
        else:
            raise ValueError(f"Expected `norm` to be one of 'l1', 'l2', 'max', but got {norm!r}.")
    return np.where(total > 0, result, np.nan)


def expected_calibration_error(
    confidences: np.ndarray,
    hits: np.ndarray,
    *,
    n_bins: int = DEFAULT_N_BINS,
    norm: CalibrationNorm = "l1",
) -> float:
    """Top-label calibration error with equal-width bins.

    Args:
        confidences: ``(n_samples,)`` top-label confidence.
        hits: ``(n_samples,)`` whether the top label was correct.
        n_bins: number of equal-width bins on [0, 1].
        norm: ``"l1"`` = ECE, ``"l2"`` = RMS calibration error, ``"max"`` = MCE.
    """
    confidences = np.asarray(confidences, dtype=np.float64)
    hits = np.asarray(hits, dtype=np.float64)
    if confidences.shape != hits.shape or confidences.ndim != 1:
        raise ValueError(
            "Expected `confidences` and `hits` to be 1-D arrays of the same length, but got "
            f"shapes {confidences.shape} and {hits.shape}."
        )
    edges = equal_width_edges(n_bins)
    sums = binned_sums(confidences, hits, edges=edges)
    return float(calibration_error_from_sums(sums, confidences.shape[0], norm=norm))


def equal_mass_edges(confidences: np.ndarray, n_bins: int = DEFAULT_N_BINS) -> np.ndarray:
    """Equal-mass ("adaptive") bin edges: the quantiles of ``confidences``, deduplicated.

    The inner edges are the ``i / n_bins`` quantiles (``inverted_cdf``, so every edge is an
    observed value); repeated edges, an edge at 0 and edges at or above the largest confidence are
    dropped. With ``(lo, hi]`` bins no bin is therefore empty, and there may be fewer than
    ``n_bins`` bins (ties, or fewer samples than bins). The outer edges are 0 and 1.

    Args:
        confidences: ``(n_samples,)`` values in [0, 1].
        n_bins: the number of bins asked for.

    Returns:
        ``(n_edges,)`` increasing edges from 0 to 1, with ``2 <= n_edges <= n_bins + 1``.
    """
    _check_n_bins(n_bins)
    confidences = np.asarray(confidences, dtype=np.float64).ravel()
    if confidences.size == 0:
        return np.array([0.0, 1.0])
    # the inverted-CDF quantile at i / n_bins is the ceil(n i / n_bins)-th smallest value
    n_samples = confidences.shape[0]
    steps = np.arange(1, n_bins, dtype=np.int64)
    ranks = np.maximum((n_samples * steps + n_bins - 1) // n_bins - 1, 0)
    inner = np.unique(np.partition(confidences, ranks)[ranks])
    inner = inner[(inner > 0.0) & (inner < confidences.max())]
    return np.concatenate([[0.0], inner, [1.0]])


def bin_edges(
    confidences: np.ndarray,
    *,
    n_bins: int = DEFAULT_N_BINS,
    strategy: BinningStrategy = "uniform",
) -> np.ndarray:
    """Bin edges for ``strategy``: ``"uniform"`` (equal width) or ``"quantile"`` (equal mass).

    Args:
        confidences: ``(n_samples,)`` values in [0, 1] (only used by ``"quantile"``).
    """
    _check_strategy(strategy)
    if strategy == "uniform":
        return equal_width_edges(n_bins)
    return equal_mass_edges(confidences, n_bins)


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
    """

    lower: np.ndarray
    upper: np.ndarray
    count: np.ndarray
    accuracy: np.ndarray
    mean_confidence: np.ndarray
    gap: np.ndarray
    strategy: BinningStrategy

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
        """One row per bin: lower, upper, count, share, accuracy, mean_confidence, gap."""
        return pd.DataFrame(
            {
                "lower": self.lower,
                "upper": self.upper,
                "count": self.count.astype(np.int64),
                "share": self.share,
                "accuracy": self.accuracy,
                "mean_confidence": self.mean_confidence,
                "gap": self.gap,
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
    confidences, hits = _check_top_label(confidences, hits)
    edges = bin_edges(confidences, n_bins=n_bins, strategy=strategy)
    return _reliability_from_sums(edges, binned_sums(confidences, hits, edges=edges), strategy)


# --------------------------------------------------------------------------------------------
# Point metrics without intervals
# --------------------------------------------------------------------------------------------


def classwise_calibration_error(
    labels: np.ndarray,
    probs: np.ndarray,
    *,
    n_bins: int = DEFAULT_N_BINS,
    strategy: BinningStrategy = "uniform",
) -> float:
    """Classwise ECE: the mean over classes ``k`` of the ECE of ``p_k`` against ``label == k``.

    Each class has its own bins over ``p_k`` (equal width, or equal mass per class).

    Args:
        labels: ``(n_samples,)`` class indices.
        probs: ``(n_samples, n_classes)`` class probabilities.
    """
    labels, probs = _check_outputs(labels, probs, outputs_are="probs")
    _check_n_bins(n_bins)
    _check_strategy(strategy)
    groups = np.zeros(labels.shape[0], dtype=np.int64)
    sums = _classwise_group_sums(labels, probs, groups, 1, n_bins=n_bins, strategy=strategy)[0]
    return float(_classwise_error(sums, probs.shape[1], float(labels.shape[0])))


def overconfidence(confidences: np.ndarray, hits: np.ndarray) -> float:
    """Mean confidence minus accuracy: positive when overconfident, negative when under.

    Args:
        confidences: ``(n_samples,)`` top-label confidences.
        hits: ``(n_samples,)`` 1 where the top label is right.
    """
    confidences, hits = _check_top_label(confidences, hits)
    if confidences.size == 0:
        return float("nan")
    return float(confidences.mean() - hits.mean())


def brier_score(labels: np.ndarray, probs: np.ndarray) -> float:
    """Multiclass Brier score: the mean over samples of ``sum_k (p_k - y_k)^2`` (range [0, 2]).

    Args:
        labels: ``(n_samples,)`` class indices.
        probs: ``(n_samples, n_classes)`` class probabilities.
    """
    labels, probs = _check_outputs(labels, probs, outputs_are="probs")
    return float(_brier_per_sample(labels, probs).mean()) if labels.size else float("nan")


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


# --------------------------------------------------------------------------------------------
# Reports with bootstrap intervals
# --------------------------------------------------------------------------------------------


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
    resampling: Literal["exact", "blocks", "none"]
    n_resamples: int
    confidence: float
    interval: IntervalKind
    replicates: Mapping[str, np.ndarray] = field(default_factory=dict, repr=False)

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
    confidences, hits = _check_top_label(confidences, hits)
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


@dataclass(frozen=True, eq=False)
class CohortCalibration:
    """:class:`CalibrationSummary` per cohort (value of a metadata column).

    Attributes:
        summaries: cohort -> summary, in cohort order. Cohorts smaller than ``min_samples`` have
            point values but NaN intervals.
        too_few: cohort -> whether it has fewer than ``min_samples`` samples.
        min_samples: the size below which a cohort gets no interval.
    """

    summaries: Mapping[str, CalibrationSummary]
    too_few: Mapping[str, bool]
    min_samples: int

    @property
    def cohorts(self) -> tuple[str, ...]:
        return tuple(self.summaries)

    def to_frame(self) -> pd.DataFrame:
        """Long format: cohort, n_samples, too_few, metric, label, unit, value, low, high."""
        frames = []
        for cohort, summary in self.summaries.items():
            frame = summary.to_frame().reset_index()
            frame.insert(0, "too_few", self.too_few[cohort])
            frame.insert(0, "n_samples", summary.n_samples)
            frame.insert(0, "cohort", cohort)
            frames.append(frame)
        return pd.concat(frames, ignore_index=True)


MISSING_COHORT = "(missing)"
"""The cohort name given to samples whose metadata value is missing."""


def calibration_by_cohort(
    labels: np.ndarray,
    outputs: np.ndarray,
    cohorts: np.ndarray | pd.Series,
    *,
    outputs_are: OutputKind = "probs",
    min_samples: int = MIN_COHORT_SAMPLES,
    n_bins: int = DEFAULT_N_BINS,
    strategy: BinningStrategy = "uniform",
    n_resamples: int = bootstrap.DEFAULT_RESAMPLES,
    seed: Seed = 0,
    confidence: float = bootstrap.DEFAULT_CONFIDENCE,
    resampling: Resampling = "auto",
    interval: IntervalKind = "auto",
) -> CohortCalibration:
    """:func:`calibration_report` for each cohort of one split.

    Args:
        labels: ``(n_samples,)`` true class indices.
        outputs: ``(n_samples, n_classes)`` probabilities or logits.
        cohorts: ``(n_samples,)`` cohort value of each sample (a metadata column); missing
            values form the cohort :data:`MISSING_COHORT`. Cohorts are ordered as a categorical's
            categories, else sorted.
        min_samples: cohorts with fewer samples are flagged ``too_few`` and get no interval.

    Other arguments are those of :func:`calibration_report`; each cohort uses the same ``seed``.
    """
    prepared = _prepare(labels, outputs, outputs_are=outputs_are)
    check_whole_number(min_samples, name="min_samples", minimum=0)
    keys, order = _cohort_keys(cohorts, prepared.labels.shape[0])
    summaries: dict[str, CalibrationSummary] = {}
    too_few: dict[str, bool] = {}
    for cohort in order:
        mask = keys == cohort
        too_few[cohort] = bool(mask.sum() < min_samples)
        cohort_data = prepared.subset(mask)
        summaries[cohort] = _summarise(
            cohort_data.confidences,
            cohort_data.hits,
            cohort_data,
            n_bins=n_bins,
            strategy=strategy,
            n_resamples=0 if too_few[cohort] else n_resamples,
            seed=seed,
            confidence=confidence,
            resampling=resampling,
            interval=interval,
        )
    return CohortCalibration(summaries, too_few, int(min_samples))


# --------------------------------------------------------------------------------------------
# Temperature scaling and non-parametric recalibration
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TemperatureFit:
    """A temperature fitted by minimising the mean NLL of ``softmax(logits / T)``.

    Attributes:
        temperature: ``T``; above 1 the model was overconfident, below 1 underconfident.
        nll_before: mean NLL at ``T = 1`` (nats).
        nll_after: mean NLL at the fitted ``T`` (nats).
        converged: False when the optimum lies outside ``T`` in [1e-4, 1e4] (e.g. logits that
            separate the classes perfectly, whose NLL keeps falling as ``T`` goes to 0).
        n_iterations: Newton/bisection steps taken.
        n_samples: samples the fit used.
    """

    temperature: float
    nll_before: float
    nll_after: float
    converged: bool
    n_iterations: int
    n_samples: int

    @property
    def inverse_temperature(self) -> float:
        """``beta = 1 / T``, the variable the fit optimises."""
        return 1.0 / self.temperature

    def to_dict(self) -> dict[str, float | int | bool]:
        return {
            "temperature": self.temperature,
            "nll_before": self.nll_before,
            "nll_after": self.nll_after,
            "converged": self.converged,
            "n_iterations": self.n_iterations,
            "n_samples": self.n_samples,
        }


def fit_temperature(
    logits: np.ndarray, labels: np.ndarray, *, max_iterations: int = 100
) -> TemperatureFit:
    """Fit one temperature: minimise the mean NLL over ``beta = 1 / T > 0``.

    ``f(beta) = mean(logsumexp(beta z) - beta z_y)`` is convex, with derivative
    ``mean(E_p[z] - z_y)`` and second derivative ``mean(Var_p[z]) >= 0`` under
    ``p = softmax(beta z)``. Newton steps are kept inside a bracket of the minimiser (bisection
    in log space when a step leaves it), so the fit converges from ``beta = 1`` in a few passes.

    Args:
        logits: ``(n_samples, n_classes)`` finite logits.
        labels: ``(n_samples,)`` true class indices.
        max_iterations: cap on the number of steps.
    """
    labels, logits = _check_outputs(labels, logits, outputs_are="logits")
    if labels.size == 0:
        raise ProjectError("Expected at least one sample to fit a temperature, but got none.")
    if isinstance(max_iterations, bool) or not isinstance(max_iterations, int | np.integer):
        raise ValueError(
            f"Expected `max_iterations` to be a positive integer, but got {max_iterations!r}."
        )
    if max_iterations < 1:
        raise ValueError(
            f"Expected `max_iterations` to be a positive integer, but got {max_iterations!r}."
        )
    _, row_max = _logit_row_max(logits)
    shifted = logits.astype(np.float64)
    shifted -= row_max[:, None]
    true_class = shifted[np.arange(labels.shape[0]), labels]
    if np.isinf(true_class).any():
        row = int(np.flatnonzero(np.isinf(true_class))[0])
        raise ProjectError(
            "Expected every sample's true class to have a finite logit to fit a temperature, "
            f"but sample {row} gives it -inf (probability 0)."
        )
    np.maximum(shifted, _LOGIT_FLOOR, out=shifted)  # -inf: probability 0 at every T in range
    squares = np.square(shifted)
    buffer = np.empty_like(shifted)

    def evaluate(beta: float) -> tuple[float, float, float]:
        scaled = np.multiply(shifted, beta, out=buffer)
        np.exp(scaled, out=scaled)
        total = scaled.sum(axis=1)
        first = np.einsum("ij,ij->i", scaled, shifted) / total
        second = np.einsum("ij,ij->i", scaled, squares) / total
        value = float(np.mean(np.log(total) - beta * true_class))
        gradient = float(np.mean(first - true_class))
        curvature = float(np.mean(np.maximum(second - np.square(first), 0.0)))
        return value, gradient, curvature

    beta_min, beta_max = 1.0 / _TEMPERATURE_BOUNDS[1], 1.0 / _TEMPERATURE_BOUNDS[0]
    low, high = 0.0, np.inf  # bracket of the minimiser
    beta = 1.0
    nll_before = value = float("nan")
    converged = False
    iteration = 0
    while iteration < max_iterations:
        iteration += 1
        value, gradient, curvature = evaluate(beta)
        if iteration == 1:
            nll_before = value
        # A zero gradient is an optimum when the problem is flat (one class, equal logits) or
        # the minimiser is bracketed; above an open bracket it is an underflow in the tail of
        # separable logits, whose NLL keeps falling as T goes to 0.
        if gradient == 0.0 and (iteration == 1 or np.isfinite(high)):
            converged = True
            break
        if gradient > 0.0:
            high = beta
        else:
            low = beta
        at_bound = (beta >= beta_max and gradient <= 0.0) or (beta <= beta_min and gradient > 0.0)
        if at_bound:
            break
        newton = beta - gradient / curvature if curvature > 0.0 else float("nan")
        if np.isfinite(high) and abs(newton - beta) <= 1e-10 * beta:
            converged = True
            break
        if np.isinf(high):  # not bracketed above yet: grow at least geometrically
            candidate = max(newton, 2.0 * beta) if low < newton else 4.0 * beta
        elif low < newton < high:
            candidate = newton
        elif low == 0.0:
            candidate = beta / 4.0
        else:
            candidate = float(np.sqrt(low * high))
        if np.isfinite(high) and low > 0.0 and high - low <= 1e-12 * high:
            converged = True
            break
        beta = float(np.clip(candidate, beta_min, beta_max))
    if iteration == max_iterations and not converged:
        value = evaluate(beta)[0]
    return TemperatureFit(
        temperature=1.0 / beta,
        nll_before=nll_before,
        nll_after=value,
        converged=converged,
        n_iterations=iteration,
        n_samples=int(labels.shape[0]),
    )


def apply_temperature(logits: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(logits / T)`` in float64.

    Args:
        logits: ``(n_samples, n_classes)`` logits.
        temperature: ``T > 0``.

    Returns:
        ``(n_samples, n_classes)`` probabilities.
    """
    _check_temperature(temperature)
    logits = _check_real_matrix(logits, "logits")
    _, row_max = _logit_row_max(logits)
    scaled = logits.astype(np.float64)
    scaled -= row_max[:, None]
    scaled /= float(temperature)
    probs = np.exp(scaled, out=scaled)
    probs /= probs.sum(axis=1, keepdims=True)
    return probs


@dataclass(frozen=True, eq=False)
class Recalibration:
    """A monotone map from top-label confidence to recalibrated confidence, fit on one split.

    Attributes:
        method: ``"histogram"``: ``inputs`` are ``(m + 1,)`` equal-mass bin edges and ``outputs``
            the ``(m,)`` accuracy of each bin (a step function, bins ``(lo, hi]``);
            ``"isotonic"``: ``inputs``/``outputs`` are the knots of a non-decreasing
            piecewise-linear map (constant beyond the outer knots).
        inputs: see ``method``.
        outputs: see ``method``.
        n_samples: samples the map was fit on.
    """

    method: RecalibrationMethod
    inputs: np.ndarray
    outputs: np.ndarray
    n_samples: int


def fit_recalibration(
    confidences: np.ndarray,
    hits: np.ndarray,
    *,
    method: RecalibrationMethod = "histogram",
    n_bins: int = DEFAULT_N_BINS,
) -> Recalibration:
    """Fit a non-parametric recalibration of top-label confidence.

    ``"histogram"`` (histogram binning, Zadrozny and Elkan 2001) maps each equal-mass bin of the
    confidences to the accuracy observed in it. ``"isotonic"`` fits the non-decreasing map that
    minimises the squared error to the hits (pool-adjacent-violators, scikit-learn's
    ``IsotonicRegression``).

    Args:
        confidences: ``(n_samples,)`` top-label confidences of the fit split.
        hits: ``(n_samples,)`` 1 where the top label is right.
        method: ``"histogram"`` or ``"isotonic"``.
        n_bins: bins for ``"histogram"``.
    """
    confidences, hits = _check_top_label(confidences, hits)
    if method not in ("histogram", "isotonic"):
        raise ValueError(
            f"Expected `method` to be one of 'histogram', 'isotonic', but got {method!r}."
        )
    if confidences.size == 0:
        raise ProjectError("Expected at least one sample to fit a recalibration, but got none.")
    if method == "histogram":
        edges = equal_mass_edges(confidences, n_bins)
        sums = binned_sums(confidences, hits, edges=edges)
        n_edges = edges.shape[0] - 1
        counts, hit_sums = sums[:n_edges], sums[2 * n_edges :]
        midpoints = (edges[:-1] + edges[1:]) / 2.0
        with np.errstate(invalid="ignore", divide="ignore"):
            values = np.where(counts > 0, hit_sums / counts, midpoints)
        return Recalibration("histogram", edges, values, int(confidences.shape[0]))
    from sklearn.isotonic import IsotonicRegression

    model = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
    model.fit(confidences, hits)
    knots_x = np.asarray(model.X_thresholds_, dtype=np.float64)
    knots_y = np.asarray(model.y_thresholds_, dtype=np.float64)
    return Recalibration("isotonic", knots_x, knots_y, int(confidences.shape[0]))


def apply_recalibration(recalibration: Recalibration, confidences: np.ndarray) -> np.ndarray:
    """Recalibrated confidences ``(n_samples,)`` for top-label ``confidences`` ``(n_samples,)``."""
    confidences = _check_confidences(confidences)
    if recalibration.method == "histogram":
        return recalibration.outputs[assign_bins(confidences, recalibration.inputs)]
    return np.interp(confidences, recalibration.inputs, recalibration.outputs)


@dataclass(frozen=True, eq=False)
class TemperatureComparison:
    """Temperature scaling (and a non-parametric recalibration) fit on one split, on every split.

    Attributes:
        fit_split: the split both maps were fit on (the validation split).
        temperature: the fitted temperature.
        recalibration: the fitted non-parametric map.
        before: split -> summary of the raw model.
        after: split -> summary after dividing the logits by ``T``.
        recalibrated: split -> top-label summary after ``recalibration`` (classwise ECE, Brier
            and NLL are NaN: the map only changes the top-label confidence).
        ece_change: split -> ECE after minus ECE before, with a paired bootstrap interval.
        verdicts: split -> ``"fit split"``, ``"holds"`` (ECE after scaling within
            :data:`GAIN_TOLERANCE` of the fit split's), ``"does not hold"`` or ``"worse"`` (ECE
            went up).
        explanation: what ``T`` means, in one sentence.
        transfer: whether the gain holds on the other splits, in one sentence.
        recalibration_note: the recalibration's ECE per split, in one sentence.
    """

    fit_split: str
    temperature: TemperatureFit
    recalibration: Recalibration
    before: Mapping[str, CalibrationSummary]
    after: Mapping[str, CalibrationSummary]
    recalibrated: Mapping[str, CalibrationSummary]
    ece_change: Mapping[str, Estimate]
    verdicts: Mapping[str, GainVerdict]
    explanation: str
    transfer: str
    recalibration_note: str

    @property
    def sentences(self) -> tuple[str, ...]:
        """The non-empty sentences, in reading order."""
        return tuple(
            text for text in (self.explanation, self.transfer, self.recalibration_note) if text
        )

    def to_frame(self) -> pd.DataFrame:
        """One row per (split, metric): value/low/high before, after and recalibrated."""
        rows = []
        for split in self.before:
            for name in METRIC_NAMES:
                row: dict[str, object] = {
                    "split": split,
                    "metric": name,
                    "label": METRIC_LABELS[name],
                }
                for stage, summaries in (
                    ("before", self.before),
                    ("after", self.after),
                    ("recalibrated", self.recalibrated),
                ):
                    estimate = getattr(summaries[split], name)
                    row[stage] = estimate.value
                    row[f"{stage}_low"] = estimate.low
                    row[f"{stage}_high"] = estimate.high
                rows.append(row)
        return pd.DataFrame(rows)


def temperature_scaling_comparison(
    logits: Mapping[str, np.ndarray],
    labels: Mapping[str, np.ndarray],
    *,
    roles: Mapping[str, str] | None = None,
    fit_split: str | None = None,
    recalibration: RecalibrationMethod = "histogram",
    n_bins: int = DEFAULT_N_BINS,
    strategy: BinningStrategy = "uniform",
    n_resamples: int = bootstrap.DEFAULT_RESAMPLES,
    seed: Seed | Mapping[str, Seed] = 0,
    confidence: float = bootstrap.DEFAULT_CONFIDENCE,
    resampling: Resampling = "auto",
    interval: IntervalKind = "auto",
) -> TemperatureComparison:
    """Fit temperature scaling on the validation split, apply it everywhere, and judge it.

    Args:
        logits: split -> ``(n_samples, n_classes)`` logits, in project order.
        labels: split -> ``(n_samples,)`` true class indices.
        roles: split -> role (``"train"``, ``"validation"``, ``"test"``, ``"shifted"``,
            ``"deployment"``); shifted and deployment splits are "under shift" in the sentences,
            train splits are left out of them.
        fit_split: the split to fit on; by default the first split whose role is
            ``"validation"``.
        recalibration: the non-parametric method for comparison.
        seed: one seed for every split, or split -> seed (e.g. ``(0, position)``); a split's
            before, after and recalibrated summaries always share its seed, so their changes
            are paired.

    Other arguments are those of :func:`calibration_report`.
    """
    if set(logits) != set(labels):
        raise ValueError(
            "Expected `logits` and `labels` for the same splits, but got "
            f"{sorted(logits)} and {sorted(labels)}."
        )
    if not logits:
        raise ValueError("Expected at least one split, but got none.")
    roles = {split: (roles or {}).get(split, "other") for split in logits}
    if fit_split is None:
        candidates = [split for split, role in roles.items() if role == "validation"]
        if not candidates:
            raise ValueError(
                "Expected a split with role 'validation' to fit the temperature on, or "
                f"`fit_split`, but got roles {roles}."
            )
        fit_split = candidates[0]
    if fit_split not in logits:
        raise ValueError(
            f"Expected `fit_split` to be one of {list(logits)}, but got {fit_split!r}."
        )
    seeds = {split: seed[split] if isinstance(seed, Mapping) else seed for split in logits}
    options = {
        "n_bins": n_bins,
        "strategy": strategy,
        "n_resamples": n_resamples,
        "confidence": confidence,
        "resampling": resampling,
        "interval": interval,
    }
    temperature = fit_temperature(logits[fit_split], labels[fit_split])
    before: dict[str, CalibrationSummary] = {}
    after: dict[str, CalibrationSummary] = {}
    recalibrated: dict[str, CalibrationSummary] = {}
    prepared = {
        split: _prepare(labels[split], logits[split], outputs_are="logits") for split in logits
    }
    recalibration_map = fit_recalibration(
        prepared[fit_split].confidences,
        prepared[fit_split].hits,
        method=recalibration,
        n_bins=n_bins,
    )
    for split, data in prepared.items():
        scaled_logits = np.asarray(logits[split]) / temperature.temperature
        scaled = _prepare(data.labels, scaled_logits, outputs_are="logits")
        own = {**options, "seed": seeds[split]}
        before[split] = _summarise(data.confidences, data.hits, data, **own)
        after[split] = _summarise(scaled.confidences, scaled.hits, scaled, **own)
        recalibrated[split] = _summarise(
            apply_recalibration(recalibration_map, data.confidences), data.hits, None, **own
        )
    ece_change = {
        split: _paired_change(before[split], after[split], "ece", confidence) for split in logits
    }
    verdicts = _gain_verdicts(before, after, fit_split)
    return TemperatureComparison(
        fit_split=fit_split,
        temperature=temperature,
        recalibration=recalibration_map,
        before=before,
        after=after,
        recalibrated=recalibrated,
        ece_change=ece_change,
        verdicts=verdicts,
        explanation=_temperature_sentence(temperature, before, after, fit_split, roles),
        transfer=_transfer_sentence(before, after, verdicts, fit_split, roles),
        recalibration_note=_recalibration_sentence(recalibrated, recalibration, fit_split, roles),
    )


# --------------------------------------------------------------------------------------------
# Private steps: checks
# --------------------------------------------------------------------------------------------


def _check_n_bins(n_bins: int) -> None:
    if isinstance(n_bins, bool) or not isinstance(n_bins, int | np.integer) or n_bins < 1:
        raise ValueError(f"Expected `n_bins` to be a positive integer, but got {n_bins!r}.")


def _check_strategy(strategy: str) -> None:
    if strategy not in ("uniform", "quantile"):
        raise ValueError(
            f"Expected `strategy` to be one of 'uniform', 'quantile', but got {strategy!r}."
        )


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
    _check_n_bins(n_bins)
    _check_strategy(strategy)
    check_whole_number(n_resamples, name="n_resamples", minimum=0)
    parts = seed if isinstance(seed, tuple) else (seed,)
    if not parts or any(
        isinstance(part, bool) or not isinstance(part, int | np.integer) or part < 0
        for part in parts
    ):
        raise ValueError(
            f"Expected `seed` to be a non-negative integer or a tuple of them, but got {seed!r}."
        )
    if isinstance(confidence, bool) or not isinstance(confidence, float | int | np.floating):
        raise ValueError(f"Expected `confidence` in (0, 1), but got {confidence!r}.")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"Expected `confidence` in (0, 1), but got {confidence!r}.")
    if resampling not in ("auto", "exact", "blocks"):
        raise ValueError(
            f"Expected `resampling` to be one of 'auto', 'exact', 'blocks', but got {resampling!r}."
        )
    if interval not in ("auto", "percentile", "basic"):
        raise ValueError(
            f"Expected `interval` to be one of 'auto', 'percentile', 'basic', but got {interval!r}."
        )


def _check_real_matrix(values: np.ndarray, name: str) -> np.ndarray:
    """Shape ``(n_samples, n_classes)`` and a real dtype; values are checked by the callers."""
    values = np.asarray(values)
    if values.ndim != 2 or values.shape[1] < 1:
        raise ValueError(
            f"Expected `{name}` of shape (n_samples, n_classes), but got shape {values.shape}."
        )
    if not np.issubdtype(values.dtype, np.number) or np.issubdtype(
        values.dtype, np.complexfloating
    ):
        raise ValueError(f"Expected `{name}` to hold real numbers, but got dtype {values.dtype}.")
    return values


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


def _check_outputs(
    labels: np.ndarray, outputs: np.ndarray, *, outputs_are: str
) -> tuple[np.ndarray, np.ndarray]:
    """Validate one split's labels ``(n,)`` and outputs ``(n, C)``.

    Returns ``labels`` as int64 and, for probabilities, ``outputs`` as float64 (checked to lie in
    [0, 1] with rows summing to 1); logits keep their dtype and are checked where they are used
    (:func:`_logit_row_max`), to spare a pass over them.
    """
    if outputs_are not in ("probs", "logits"):
        raise ValueError(
            f"Expected `outputs_are` to be one of 'probs', 'logits', but got {outputs_are!r}."
        )
    labels = check_labels(labels)
    outputs = _check_real_matrix(outputs, outputs_are)
    n_samples, n_classes = outputs.shape
    if n_samples != labels.shape[0]:
        raise ValueError(
            f"Expected `{outputs_are}` to have one row per label ({labels.shape[0]}), "
            f"but got {n_samples} rows."
        )
    if labels.size and labels.max() >= n_classes:
        raise ProjectError(
            f"Expected `labels` in [0, {n_classes}) to match the {n_classes} columns of "
            f"`{outputs_are}`, but got label {int(labels.max())}."
        )
    if outputs_are == "logits" or not outputs.size:
        return labels, outputs
    outputs = outputs.astype(np.float64, copy=False)
    row_sums = outputs.sum(axis=1)
    bad = ~np.isfinite(row_sums)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ProjectError(
            f"Expected `probs` to be finite, but row {row} is {outputs[row].tolist()[:5]}."
        )
    low, high = outputs.min(), outputs.max()
    if low < -PROBABILITY_TOLERANCE or high > 1.0 + PROBABILITY_TOLERANCE:
        raise ProjectError(
            "Expected `probs` to be probabilities in [0, 1] (apply a softmax to logits), "
            f"but got values from {low:.4g} to {high:.4g}."
        )
    off = np.abs(row_sums - 1.0) > ROW_SUM_TOLERANCE
    if off.any():
        row = int(np.flatnonzero(off)[0])
        raise ProjectError(
            f"Expected each row of `probs` to sum to 1, but row {row} sums to {row_sums[row]:.6g}."
        )
    if low < 0.0 or high > 1.0:
        outputs = np.clip(outputs, 0.0, 1.0)
    return labels, outputs


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
    labels, outputs = _check_outputs(labels, outputs, outputs_are=outputs_are)
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
        losses[np.isinf(losses)] = -np.log(_LOG_FLOOR)
        hits = (preds == labels).astype(np.float64)
        return _Prepared(labels, probs, losses, 1.0 / totals, hits)
    preds = outputs.argmax(axis=1)
    hits = (preds == labels).astype(np.float64)
    losses = -np.log(np.maximum(outputs[rows, labels], _LOG_FLOOR))
    return _Prepared(labels, outputs, losses, outputs[rows, preds], hits)


def _check_confidences(confidences: np.ndarray) -> np.ndarray:
    confidences = np.asarray(confidences)
    if confidences.ndim != 1:
        raise ValueError(
            f"Expected `confidences` of shape (n_samples,), but got shape {confidences.shape}."
        )
    if not np.issubdtype(confidences.dtype, np.number) or np.issubdtype(
        confidences.dtype, np.complexfloating
    ):
        raise ValueError(
            f"Expected `confidences` to hold real numbers, but got dtype {confidences.dtype}."
        )
    confidences = confidences.astype(np.float64, copy=False)
    if confidences.size and (
        not np.isfinite(confidences).all()
        or confidences.min() < -PROBABILITY_TOLERANCE
        or confidences.max() > 1.0 + PROBABILITY_TOLERANCE
    ):
        raise ProjectError(
            "Expected `confidences` to be probabilities in [0, 1], but got values from "
            f"{np.nanmin(confidences):.4g} to {np.nanmax(confidences):.4g}."
        )
    return np.clip(confidences, 0.0, 1.0)


def _check_top_label(confidences: np.ndarray, hits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    confidences = _check_confidences(confidences)
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


def _check_temperature(temperature: float) -> None:
    if (
        isinstance(temperature, bool)
        or not isinstance(temperature, float | int | np.floating | np.integer)
        or not np.isfinite(temperature)
        or temperature <= 0
    ):
        raise ValueError(
            f"Expected `temperature` to be a positive finite number, but got {temperature!r}."
        )


def _cohort_keys(cohorts: np.ndarray | pd.Series, n_samples: int) -> tuple[np.ndarray, list[str]]:
    """``(n,)`` cohort names as strings and the cohorts in display order."""
    values = (
        cohorts.reset_index(drop=True)
        if isinstance(cohorts, pd.Series)
        else pd.Series(
            np.asarray(cohorts, dtype=object)
            if not isinstance(cohorts, pd.Categorical)
            else cohorts
        )
    )
    if values.ndim != 1 or values.shape[0] != n_samples:
        raise ValueError(
            f"Expected `cohorts` with one value per sample ({n_samples}), but got "
            f"{values.shape[0]}."
        )
    missing = values.isna().to_numpy()
    if isinstance(values.dtype, pd.CategoricalDtype):
        present = set(values[~missing])
        ordered = [category for category in values.cat.categories if category in present]
    else:
        distinct = pd.unique(values[~missing])
        try:
            ordered = sorted(distinct)
        except TypeError:
            ordered = sorted(distinct, key=str)
    keys = np.where(missing, MISSING_COHORT, values.astype(object).map(str).to_numpy())
    order = [str(value) for value in ordered] + ([MISSING_COHORT] if missing.any() else [])
    return keys.astype(object), list(dict.fromkeys(order))


# --------------------------------------------------------------------------------------------
# Private steps: statistics, reducers, bootstrap
# --------------------------------------------------------------------------------------------


def _brier_per_sample(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """``(n,)`` ``sum_k (p_k - y_k)^2 = sum_k p_k^2 - 2 p_y + 1``."""
    true_class = probs[np.arange(labels.shape[0]), labels]
    return np.einsum("ij,ij->i", probs, probs) - 2.0 * true_class + 1.0


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


def _group_sums(
    groups: np.ndarray,
    n_groups: int,
    bins: np.ndarray,
    n_bins: int,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """``(n_groups, n_bins)``: per group and bin, the number (or sum of ``weights``) of samples."""
    flat = groups * n_bins + bins
    sums = np.bincount(flat, weights=weights, minlength=n_groups * n_bins)
    return sums.astype(np.float64, copy=False).reshape(n_groups, n_bins)


def _binned_group_sums(
    confidences: np.ndarray, hits: np.ndarray, edges: np.ndarray, groups: np.ndarray, n_groups: int
) -> np.ndarray:
    """``(n_groups, 3 n_bins)``: :func:`binned_sums` of each group, side by side."""
    n_bins = edges.shape[0] - 1
    uniform = n_bins > 1 and np.array_equal(edges, equal_width_edges(n_bins))
    bins = _uniform_bins(confidences, n_bins) if uniform else assign_bins(confidences, edges)
    return np.hstack(
        [
            _group_sums(groups, n_groups, bins, n_bins),
            _group_sums(groups, n_groups, bins, n_bins, confidences),
            _group_sums(groups, n_groups, bins, n_bins, hits),
        ]
    )


def _classwise_group_sums(
    labels: np.ndarray,
    probs: np.ndarray,
    groups: np.ndarray,
    n_groups: int,
    *,
    n_bins: int,
    strategy: BinningStrategy,
) -> np.ndarray:
    """``(n_groups, n_classes * n_bins)``: per group, class ``k`` and bin of ``p_k``, the sum of
    the residuals ``[label == k] - p_k``. Classwise ECE needs only these and the sample count.

    Most ``p_k`` lie in the first bin, so every residual is first summed into it and only the
    entries above the first inner edge are binned and moved: O(n C) passes, binning work only
    for the few large probabilities.
    """
    n_classes = probs.shape[1]
    if strategy == "uniform":
        class_edges = [equal_width_edges(n_bins)] * n_classes
    else:
        class_edges = [equal_mass_edges(probs[:, k], n_bins) for k in range(n_classes)]
    first_edges = np.array([edges[1] for edges in class_edges])
    sums = np.zeros((n_groups, n_classes, n_bins))
    for k in range(n_classes):
        sums[:, k, 0] = -np.bincount(groups, weights=probs[:, k], minlength=n_groups)
    label_counts = np.bincount(groups * n_classes + labels, minlength=n_groups * n_classes)
    sums[:, :, 0] += label_counts.reshape(n_groups, n_classes)

    rows, classes = np.nonzero(probs > first_edges)
    values = probs[rows, classes]
    if strategy == "uniform":
        bins = _uniform_bins(values, n_bins)
    else:
        bins = np.empty(values.shape[0], dtype=np.int64)
        for k in range(n_classes):
            chosen = classes == k
            bins[chosen] = assign_bins(values[chosen], class_edges[k])
    residuals = (labels[rows] == classes) - values
    cells = groups[rows] * n_classes + classes
    moved = np.bincount(
        cells * n_bins + bins, weights=residuals, minlength=n_groups * n_classes * n_bins
    )
    sums += moved.reshape(n_groups, n_classes, n_bins)
    sums[:, :, 0] -= np.bincount(cells, weights=residuals, minlength=n_groups * n_classes).reshape(
        n_groups, n_classes
    )
    return sums.reshape(n_groups, n_classes * n_bins)


def _uniform_bins(values: np.ndarray, n_bins: int) -> np.ndarray:
    """:func:`assign_bins` with :func:`equal_width_edges`, by arithmetic instead of a search.

    ``ceil(v * n_bins) - 1`` is the ``(lo, hi]`` bin except, through rounding, for values within a
    few ulps of an edge; those few are re-assigned by :func:`assign_bins`.
    """
    scaled = values * n_bins
    bins = np.ceil(scaled)
    near_edge = np.abs(scaled - np.rint(scaled)) < 1e-9
    bins -= 1.0
    np.clip(bins, 0, n_bins - 1, out=bins)
    bins = bins.astype(np.int64)
    if near_edge.any():
        bins[near_edge] = assign_bins(values[near_edge], equal_width_edges(n_bins))
    return bins


def _classwise_error(residual_sums: np.ndarray, n_classes: int, totals: np.ndarray) -> np.ndarray:
    """Classwise ECE ``(...)`` from residual sums ``(..., n_classes * n_bins)``."""
    per_bin = residual_sums.reshape(*residual_sums.shape[:-1], n_classes, -1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.abs(per_bin).sum(axis=-1).mean(axis=-1) / totals


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
        if layout.classwise is None or layout.proper is None:
            values.update(classwise_ece=nan, brier=nan, nll=nan)
        else:
            proper = sums[..., layout.proper]
            values["classwise_ece"] = _classwise_error(
                sums[..., layout.classwise], layout.n_classes, totals
            )
            values["brier"] = proper[..., 0] / totals
            values["nll"] = proper[..., 1] / totals
    values.update(
        accuracy=accuracy,
        mean_confidence=mean_confidence,
        overconfidence=mean_confidence - accuracy,
    )
    return values


def _resampling_groups(
    n_samples: int, n_columns: int, *, resampling: str, rng: np.random.Generator
) -> tuple[np.ndarray, int, Literal["exact", "blocks"]]:
    """The group of each sample and the number of groups the bootstrap resamples.

    Single samples (the exact bootstrap) for small splits, else ``BOOTSTRAP_BLOCKS`` random
    blocks of equal size (sizes differ by at most one). Either way the ``(groups, k)``
    statistics matrix stays within ``_MAX_GROUP_SUM_ELEMENTS``.
    """
    max_groups = max(1, _MAX_GROUP_SUM_ELEMENTS // max(n_columns, 1))
    exact = resampling == "exact" or (
        resampling == "auto" and n_samples <= EXACT_BOOTSTRAP_MAX_SAMPLES
    )
    if exact and n_samples <= max_groups:
        return np.arange(n_samples, dtype=np.int64), n_samples, "exact"
    n_groups = max(1, min(n_samples, BOOTSTRAP_BLOCKS, max_groups))
    return rng.permutation(n_samples) % n_groups, n_groups, "blocks"


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
    edges = bin_edges(confidences, n_bins=n_bins, strategy=strategy)
    adaptive_edges = edges if strategy == "quantile" else equal_mass_edges(confidences, n_bins)
    stop = 3 * (edges.shape[0] - 1)
    top = slice(0, stop)
    adaptive = top
    if strategy != "quantile":
        adaptive = slice(stop, stop + 3 * (adaptive_edges.shape[0] - 1))
        stop = adaptive.stop
    n_classes = full.probs.shape[1] if full is not None else 0
    classwise = proper = None
    if full is not None:
        classwise = slice(stop, stop + n_classes * n_bins)
        proper = slice(classwise.stop, classwise.stop + 2)
        stop = proper.stop
    layout = _Layout(top, adaptive, classwise, proper, n_classes)

    rng = np.random.default_rng(list(seed) if isinstance(seed, tuple) else seed)
    method: Literal["exact", "blocks", "none"] = "none"
    groups, n_groups = np.zeros(n_samples, dtype=np.int64), 1
    if n_resamples > 0:
        groups, n_groups, method = _resampling_groups(
            n_samples, stop, resampling=resampling, rng=rng
        )
    blocks = [_binned_group_sums(confidences, hits, edges, groups, n_groups)]
    if strategy != "quantile":
        blocks.append(_binned_group_sums(confidences, hits, adaptive_edges, groups, n_groups))
    if full is not None:
        blocks.append(
            _classwise_group_sums(
                full.labels, full.probs, groups, n_groups, n_bins=n_bins, strategy=strategy
            )
        )
        brier = _brier_per_sample(full.labels, full.probs)
        blocks.append(
            np.stack(
                [
                    np.bincount(groups, brier, minlength=n_groups),
                    np.bincount(groups, full.losses, minlength=n_groups),
                ],
                axis=1,
            )
        )
    statistics = np.hstack(blocks)
    totals = statistics.sum(axis=0)
    values = _metric_values(totals, layout)
    replicates: dict[str, np.ndarray] = {}
    if n_resamples > 0:
        replicate_sums = bootstrap.resample_column_sums(
            statistics, n_resamples=int(n_resamples), rng=rng
        )
        replicates = _metric_values(replicate_sums, layout)
    estimates = {
        name: _estimate(name, float(values[name]), replicates.get(name), confidence, interval)
        for name in METRIC_NAMES
    }
    return CalibrationSummary(
        **estimates,
        reliability=_reliability_from_sums(edges, totals[top], strategy),
        n_samples=int(n_samples),
        n_classes=n_classes if full is not None else None,
        n_bins=int(n_bins),
        strategy=strategy,
        resampling=method,
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


# --------------------------------------------------------------------------------------------
# Private steps: the comparison's verdicts and sentences
# --------------------------------------------------------------------------------------------


def _paired_change(
    before: CalibrationSummary, after: CalibrationSummary, name: str, confidence: float
) -> Estimate:
    value = getattr(after, name).value - getattr(before, name).value
    if name not in before.replicates or name not in after.replicates:
        return Estimate(float(value), float("nan"), float("nan"))
    low, high = bootstrap.percentile_interval(
        after.replicates[name] - before.replicates[name], confidence=confidence
    )
    return Estimate(float(value), low, high)


def _gain_verdicts(
    before: Mapping[str, CalibrationSummary],
    after: Mapping[str, CalibrationSummary],
    fit_split: str,
) -> dict[str, GainVerdict]:
    reference = after[fit_split].ece.value
    verdicts: dict[str, GainVerdict] = {}
    for split in before:
        ece_before, ece_after = before[split].ece.value, after[split].ece.value
        if split == fit_split:
            verdicts[split] = "fit split"
        elif ece_after > ece_before:
            verdicts[split] = "worse"
        elif ece_after <= reference + GAIN_TOLERANCE:
            verdicts[split] = "holds"
        else:
            verdicts[split] = "does not hold"
    return verdicts


def _percent(value: float) -> str:
    return f"{100.0 * value:.1f}%" if np.isfinite(value) else "n/a"


def _temperature_text(temperature: float) -> str:
    return f"{temperature:.3g}"


def _ece_phrase(before: float, after: float) -> str:
    if round(100 * after, 1) == round(100 * before, 1):
        return f"leaves {{where}} ECE at {_percent(after)}"
    verb = "lowers" if after < before else "raises"
    return f"{verb} {{where}} ECE from {_percent(before)} to {_percent(after)}"


def _temperature_sentence(
    fit: TemperatureFit,
    before: Mapping[str, CalibrationSummary],
    after: Mapping[str, CalibrationSummary],
    fit_split: str,
    roles: Mapping[str, str],
) -> str:
    t_text = _temperature_text(fit.temperature)
    where = "validation" if roles.get(fit_split) == "validation" else f"{fit_split}"
    change = _ece_phrase(before[fit_split].ece.value, after[fit_split].ece.value).format(
        where=where
    )
    if fit.temperature > 1.05:
        sentence = (
            f"T = {t_text}: the model is overconfident; dividing its logits by {t_text} {change}."
        )
    elif fit.temperature < 0.95:
        sentence = (
            f"T = {t_text}: the model is underconfident; dividing its logits by {t_text} "
            f"sharpens its probabilities and {change}."
        )
    else:
        sentence = (
            f"T = {t_text}: the model's confidence is already about right on {where}; "
            f"dividing its logits by {t_text} {change}."
        )
    if not fit.converged:
        sentence += (
            f" The fit did not converge (the NLL on {fit_split} keeps falling towards the edge "
            "of the search range, for example because the logits separate the classes "
            "perfectly), so T is a bound rather than an optimum."
        )
    return sentence


def _transfer_sentence(
    before: Mapping[str, CalibrationSummary],
    after: Mapping[str, CalibrationSummary],
    verdicts: Mapping[str, GainVerdict],
    fit_split: str,
    roles: Mapping[str, str],
) -> str:
    evaluated = [split for split in before if split != fit_split and roles[split] != "train"]
    if not evaluated:
        return ""

    def held(split: str) -> str:
        return f"{split} ({_percent(before[split].ece.value)} → {_percent(after[split].ece.value)})"

    def change(split: str) -> str:
        return f"{split} ({_percent(before[split].ece.value)} → {_percent(after[split].ece.value)})"

    holding = [split for split in evaluated if verdicts[split] == "holds"]
    failing = [split for split in evaluated if verdicts[split] != "holds"]
    shifted = {split for split in evaluated if roles[split] in ("shifted", "deployment")}
    if not failing:
        scope = " (under shift too)" if shifted else ""
        return f"The gain holds on {_join(held(split) for split in holding)}{scope}."
    reference = after[fit_split].ece.value
    partly = [split for split in failing if verdicts[split] == "does not hold"]
    worse = [split for split in failing if verdicts[split] == "worse"]
    parts = []
    if partly:
        verb = "improves" if len(partly) == 1 else "improve"
        parts.append(
            f"{_join(change(split) for split in partly)} {verb} only partly, staying more than "
            f"{100 * GAIN_TOLERANCE:.0f} points above {fit_split}'s {_percent(reference)}"
        )
    if worse:
        verb = "gets" if len(worse) == 1 else "get"
        parts.append(f"{_join(change(split) for split in worse)} {verb} worse")
    details = "; ".join(parts)
    if not holding:
        return f"The gain does not hold on any other split: {details}."
    if set(failing) <= shifted and not set(holding) & shifted:
        where = "under shift"
    else:
        where = f"on {_join(failing)}"
    return (
        f"The gain holds on {_join(held(split) for split in holding)} but not {where}: {details}."
    )


def _recalibration_sentence(
    recalibrated: Mapping[str, CalibrationSummary],
    method: str,
    fit_split: str,
    roles: Mapping[str, str],
) -> str:
    name = "histogram binning" if method == "histogram" else "isotonic regression"
    parts = [f"{_percent(recalibrated[fit_split].ece.value)} on {fit_split} (where it was fit)"]
    parts += [
        f"{_percent(summary.ece.value)} on {split}"
        for split, summary in recalibrated.items()
        if split != fit_split and roles[split] != "train"
    ]
    return f"For comparison, {name} fit on {fit_split} gives ECE {_join(parts)}."


def _join(parts: Iterable[str]) -> str:
    items = list(parts)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _json_float(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None
