"""The gap scorecard: every split's metrics with intervals, its gaps, and a verdict in words.

``compute_scorecard`` scores each split on the metrics of
``gengap_dash.metrics.classification`` with a seeded
percentile bootstrap (one resample per replicate serves all metrics of a split), then takes the
gap of every split against the first train split, the first validation split and the shift
reference (the first test split, else the first validation split). ``diagnose`` turns the
accuracy gaps into plain-English verdicts using the thresholds below; ``docs/scorecard.md``
explains every rule with a worked example.

Sign convention: a gap is ``split - reference`` in the metric's own direction (a drop in accuracy
is negative, a rise in NLL positive). ``GapScores.assess`` turns it into "worse by", which is
positive when the split is worse whatever the metric's direction.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from gengap_dash.metrics.classification import (
    SCORECARD_METRICS,
    MetricDefinition,
    get_metric,
    reduce_stacked,
    stacked_statistics,
)
from gengap_dash.project.errors import ProjectError
from gengap_dash.project.spec import SPLIT_ROLES
from gengap_dash.stats.bootstrap import (
    DEFAULT_CONFIDENCE,
    DEFAULT_RESAMPLES,
    Estimate,
    difference,
    interval_from_replicates,
    resample_column_sums,
    split_stream,
)
from gengap_dash.stats.checks import check_whole_number
from gengap_dash.views.json_values import finite_or_none

VerdictKind = Literal["overfitting", "underfitting", "shift", "healthy", "uncertain"]
Severity = Literal["ok", "warning", "critical"]
GapStatus = Literal["worse", "uncertain", "fine"]
GapReference = Literal["train", "validation", "shift_reference"]
SHIFT_ROLES: tuple[str, ...] = ("shifted", "deployment")
"""Roles whose splits are compared against the shift reference for the shift verdicts."""


@dataclass(frozen=True)
class GapThreshold:
    """How much worse a split must be, in display units, to be flagged.

    Attributes:
        warning: a gap at least this large, with an interval that excludes zero, is a problem.
        critical: a problem at least this large is critical.
    """

    warning: float
    critical: float


GAP_THRESHOLDS: Mapping[str, GapThreshold] = {
    "accuracy": GapThreshold(warning=3.0, critical=10.0),  # percentage points
    "macro_f1": GapThreshold(warning=3.0, critical=10.0),  # percentage points
    "ece": GapThreshold(warning=3.0, critical=10.0),  # percentage points of calibration error
    "nll": GapThreshold(warning=0.1, critical=0.5),  # nats
    "brier": GapThreshold(warning=0.03, critical=0.1),  # Brier units (0 to 2)
}
"""Per metric, the "worse by" amounts (display units) that make a gap a warning or critical."""

UNDERFITTING_MAX_TRAIN_ACCURACY = 0.90
"""Train accuracy below this, without a clear train-validation gap, is called underfitting."""

VERDICT_METRIC = "accuracy"
"""The metric the verdicts are stated in (the one a non-expert reads most easily)."""

OVERFITTING_EVIDENCE_METRICS: tuple[str, ...] = ("nll", "ece")
"""Metrics that confirm overfitting when the accuracy gap is real but under the threshold.

When validation accuracy is really below train (the interval of the gap excludes zero) but the
gap is not clearly ``GAP_THRESHOLDS["accuracy"].warning`` points or more (status "uncertain" or
"fine"), a validation-vs-train gap on any of these metrics that is clearly worse (``assess_gap``
status ``"worse"``) makes the fit verdict ``overfitting`` with severity ``"warning"``: the model
is far more confident, or better calibrated, on data it has seen. An accuracy gap whose interval
includes zero stays "uncertain" or "healthy" whatever these metrics say."""


# --------------------------------------------------------------------------------------------
# Inputs and results
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class SplitData:
    """One split's predictions, the scorecard's input.

    Attributes:
        name: the split name from the project file.
        role: ``"train"``, ``"validation"``, ``"test"``, ``"shifted"`` or ``"deployment"``.
        labels: ``(n_samples,)`` int64 true classes.
        probs: ``(n_samples, n_classes)`` float class probabilities.
        losses: ``(n_samples,)`` float per-sample cross-entropy (natural log).
    """

    name: str
    role: str
    labels: np.ndarray
    probs: np.ndarray
    losses: np.ndarray


@dataclass(frozen=True)
class SplitScores:
    """Every metric of one split, with its bootstrap interval.

    Attributes:
        name: split name.
        role: split role.
        n: number of samples.
        metrics: metric name -> estimate (fractions for percentages, e.g. 0.912).
        replicates: metric name -> ``(n_resamples,)`` bootstrap replicates, kept so that gaps
            against any other split can be bootstrapped.
    """

    name: str
    role: str
    n: int
    metrics: Mapping[str, Estimate]
    replicates: Mapping[str, np.ndarray] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class GapAssessment:
    """How one gap reads: how much worse the split is, and whether that is a problem.

    Attributes:
        metric: metric name.
        worse_by: the gap in display units (points for percentages), positive when the split is
            worse than the reference, with its interval.
        status: ``"worse"`` (at least the warning threshold, interval excludes zero),
            ``"fine"`` (below the warning threshold, interval too) or ``"uncertain"``.
        severity: ``"critical"``/``"warning"`` for a clear problem; ``"warning"`` for an
            uncertain gap whose point value reaches the warning threshold; else ``"ok"``.
    """

    metric: str
    worse_by: Estimate
    status: GapStatus
    severity: Severity


@dataclass(frozen=True)
class GapScores:
    """The gap of one split against a reference split: ``split - reference`` per metric.

    Attributes:
        split: the split compared.
        role: its role.
        reference: the reference split's name.
        reference_role: the reference split's role.
        metrics: metric name -> difference in the metric's own units (fractions for percentages),
            with a bootstrap interval from independent resamples of both splits.
    """

    split: str
    role: str
    reference: str
    reference_role: str
    metrics: Mapping[str, Estimate]

    def points(self, metric: str) -> Estimate:
        """The gap of a percentage metric in percentage points (``-0.086 -> -8.6``)."""
        definition = get_metric(metric)
        if definition.unit != "percent":
            raise ValueError(
                f"Expected a percentage metric for `points`, but got {metric!r} "
                f"(unit {definition.unit!r})."
            )
        return _scale(self._estimate(metric), definition.scale)

    def display(self, metric: str) -> Estimate:
        """The gap in display units: points for percentages, the metric's units otherwise."""
        return _scale(self._estimate(metric), get_metric(metric).scale)

    def assess(self, metric: str) -> GapAssessment:
        """Whether the split is clearly worse than the reference on ``metric``."""
        return assess_gap(self._estimate(metric), metric=metric)

    def _estimate(self, metric: str) -> Estimate:
        get_metric(metric)  # a clear error for an unknown name
        if metric not in self.metrics:
            raise ValueError(f"Expected a metric among {list(self.metrics)}, but got {metric!r}.")
        return self.metrics[metric]


@dataclass(frozen=True)
class Verdict:
    """A finding in plain words.

    Attributes:
        kind: ``"overfitting"``, ``"underfitting"``, ``"shift"``, ``"healthy"`` or
            ``"uncertain"``.
        severity: ``"ok"``, ``"warning"`` or ``"critical"``.
        text: one or two sentences for a non-expert, with the numbers.
        split: the split the finding is about (``None`` for the whole model).
    """

    kind: VerdictKind
    severity: Severity
    text: str
    split: str | None = None


@dataclass(frozen=True)
class Scorecard:
    """Per-split metrics with intervals and the gaps between splits.

    Attributes:
        splits: per-split scores in project order.
        vs_train: split name -> gap against the first train split (all other splits).
        vs_validation: split name -> gap against the first validation split.
        vs_shift_reference: split name -> gap against the shift reference.
        train: name of the train reference, or ``None`` when there is no train split.
        validation: name of the validation reference, or ``None``.
        shift_reference: the first test split, else the first validation split, else ``None``.
        n_resamples: bootstrap replicates per split.
        confidence: interval level, e.g. 0.95.
        seed: the seed the replicates were drawn with.
    """

    splits: tuple[SplitScores, ...]
    vs_train: Mapping[str, GapScores]
    vs_validation: Mapping[str, GapScores]
    vs_shift_reference: Mapping[str, GapScores]
    train: str | None
    validation: str | None
    shift_reference: str | None
    n_resamples: int
    confidence: float
    seed: int

    @property
    def split_names(self) -> tuple[str, ...]:
        """Split names in project order."""
        return tuple(split.name for split in self.splits)

    @property
    def split_roles(self) -> dict[str, str]:
        """Split name -> role, in project order (for ``plots.style.split_colors``)."""
        return {split.name: split.role for split in self.splits}

    def split(self, name: str) -> SplitScores:
        """The scores of the split called ``name``."""
        for split in self.splits:
            if split.name == name:
                return split
        known = ", ".join(repr(s) for s in self.split_names)
        raise ValueError(f"Expected a split name among {known}, but got {name!r}.")

    def gaps(self, reference: GapReference) -> Mapping[str, GapScores]:
        """The gaps against ``"train"``, ``"validation"`` or ``"shift_reference"``."""
        if reference == "train":
            return self.vs_train
        if reference == "validation":
            return self.vs_validation
        if reference == "shift_reference":
            return self.vs_shift_reference
        raise ValueError(
            "Expected `reference` to be one of 'train', 'validation', 'shift_reference', "
            f"but got {reference!r}."
        )

    def reference_split(self, reference: GapReference) -> str | None:
        """The name of the split behind ``reference`` (``None`` when the project has none)."""
        self.gaps(reference)  # validates the name
        return {
            "train": self.train,
            "validation": self.validation,
            "shift_reference": self.shift_reference,
        }[reference]

    def gap_between(self, split: str, reference: str) -> GapScores:
        """The gap ``split - reference`` between any two splits, bootstrapped."""
        return _gap(self.split(split), self.split(reference), confidence=self.confidence)

    def verdicts(self) -> tuple[Verdict, ...]:
        """The verdicts of :func:`diagnose`."""
        return diagnose(self)

    def headline(self) -> str:
        """One sentence with the biggest finding, for the top of the page."""
        return headline(self)

    def to_frame(self) -> pd.DataFrame:
        """Tidy per-split metrics: columns split, role, metric, value, low, high.

        Values are in the metric's own units (fractions for percentages).
        """
        rows = [
            {
                "split": split.name,
                "role": split.role,
                "metric": name,
                "value": estimate.value,
                "low": estimate.low,
                "high": estimate.high,
            }
            for split in self.splits
            for name, estimate in split.metrics.items()
        ]
        columns = ["split", "role", "metric", "value", "low", "high"]
        return pd.DataFrame(rows, columns=columns)

    def gaps_frame(self) -> pd.DataFrame:
        """Tidy gaps: reference (train/validation/shift_reference), reference_split, split, role,
        metric, value, low, high (``split - reference``, metric units)."""
        rows = []
        for reference in ("train", "validation", "shift_reference"):
            for gap in self.gaps(reference).values():
                for name, estimate in gap.metrics.items():
                    rows.append(
                        {
                            "reference": reference,
                            "reference_split": gap.reference,
                            "split": gap.split,
                            "role": gap.role,
                            "metric": name,
                            "value": estimate.value,
                            "low": estimate.low,
                            "high": estimate.high,
                        }
                    )
        columns = [
            "reference",
            "reference_split",
            "split",
            "role",
            "metric",
            "value",
            "low",
            "high",
        ]
        return pd.DataFrame(rows, columns=columns)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable summary (plain floats, NaN as ``None``), as ``gengap summary --json``.

        Shape: ``{"splits": {SPLIT: {"role", "n", METRIC: value, ..., "ci": {METRIC: [lo, hi]}}},
        "gaps": {"vs_train": {SPLIT: {METRIC: {"value", "low", "high"}}}, "vs_validation": ...},
        "verdicts": [{"kind", "text"}]}``. A missing reference gives an empty mapping.
        """
        splits: dict[str, Any] = {}
        for split in self.splits:
            entry: dict[str, Any] = {"role": split.role, "n": int(split.n)}
            for name, estimate in split.metrics.items():
                entry[name] = finite_or_none(estimate.value)
            entry["ci"] = {
                name: [finite_or_none(estimate.low), finite_or_none(estimate.high)]
                for name, estimate in split.metrics.items()
            }
            splits[split.name] = entry
        gaps = {
            key: {
                name: {
                    metric: {
                        "value": finite_or_none(estimate.value),
                        "low": finite_or_none(estimate.low),
                        "high": finite_or_none(estimate.high),
                    }
                    for metric, estimate in gap.metrics.items()
                }
                for name, gap in mapping.items()
            }
            for key, mapping in (("vs_train", self.vs_train), ("vs_validation", self.vs_validation))
        }
        verdicts = [{"kind": verdict.kind, "text": verdict.text} for verdict in diagnose(self)]
        return {"splits": splits, "gaps": gaps, "verdicts": verdicts}


# --------------------------------------------------------------------------------------------
# Computing the scorecard
# --------------------------------------------------------------------------------------------


def compute_scorecard(
    splits: Sequence[SplitData],
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> Scorecard:
    """Score every split with bootstrap intervals and take the gaps between splits.

    Split ``i`` is resampled with its own stream ``np.random.default_rng([seed, i])``; one
    resample per replicate serves all metrics of the split, so the same input and seed always
    give the same numbers.

    Args:
        splits: the splits in project order.
        n_resamples: bootstrap replicates per split.
        confidence: interval level in (0, 1).
        seed: non-negative integer seed.

    Returns:
        The scorecard.

    Raises:
        ProjectError: for an empty list of splits, a duplicate name, an unknown role, a split
            with no rows or malformed predictions (the message names the split).
        ValueError: for bad ``n_resamples``, ``confidence`` or ``seed``.
    """
    _check_options(n_resamples=n_resamples, confidence=confidence, seed=seed)
    splits = list(splits)
    _check_splits(splits)
    scores = tuple(
        _score_split(
            split,
            n_resamples=n_resamples,
            confidence=confidence,
            rng=np.random.default_rng(list(split_stream(seed, index))),
        )
        for index, split in enumerate(splits)
    )
    train = _first_with_role(scores, "train")
    validation = _first_with_role(scores, "validation")
    shift_reference = _first_with_role(scores, "test") or validation
    return Scorecard(
        splits=scores,
        vs_train=_gaps_against(scores, train, confidence=confidence),
        vs_validation=_gaps_against(scores, validation, confidence=confidence),
        vs_shift_reference=_gaps_against(scores, shift_reference, confidence=confidence),
        train=train.name if train else None,
        validation=validation.name if validation else None,
        shift_reference=shift_reference.name if shift_reference else None,
        n_resamples=int(n_resamples),
        confidence=float(confidence),
        seed=int(seed),
    )


def splits_from_predictions(
    predictions: pd.DataFrame, split_roles: Mapping[str, str]
) -> list[SplitData]:
    """Build the scorecard's inputs from the hub predictions table.

    Args:
        predictions: one row per sample with ``split``, ``label``, ``loss`` and
            ``prob_0`` ... ``prob_{C-1}`` columns (see ``docs/architecture.md``).
        split_roles: split name -> role, in project order; splits are returned in this order.

    Raises:
        ProjectError: when a required column is missing.
    """
    prob_columns = sorted(
        (c for c in predictions.columns if str(c).startswith("prob_") and str(c)[5:].isdigit()),
        key=lambda c: int(str(c)[5:]),
    )
    missing = [c for c in ("split", "label", "loss") if c not in predictions.columns]
    if missing or not prob_columns:
        needed = ", ".join(missing + ([] if prob_columns else ["prob_0 ... prob_{C-1}"]))
        raise ProjectError(
            f"Expected the predictions table to have the columns {needed}, but they are missing."
        )
    split_column = predictions["split"].astype(str).to_numpy()
    result = []
    for name, role in split_roles.items():
        rows = split_column == str(name)
        part = predictions.loc[rows]
        result.append(
            SplitData(
                name=str(name),
                role=str(role),
                labels=part["label"].to_numpy(dtype=np.int64),
                probs=part[prob_columns].to_numpy(dtype=np.float64),
                losses=part["loss"].to_numpy(dtype=np.float64),
            )
        )
    return result


def assess_gap(
    gap: Estimate,
    *,
    metric: str,
    thresholds: Mapping[str, GapThreshold] = GAP_THRESHOLDS,
) -> GapAssessment:
    """Read a gap (``split - reference``, metric units) against the metric's thresholds.

    Rules, with ``w`` the "worse by" amount in display units and ``[lo, hi]`` its interval:
    ``w >= warning`` and ``lo > 0``: worse (critical when ``w >= critical``);
    ``w < warning`` and ``hi < warning``: fine; otherwise uncertain.
    """
    definition = get_metric(metric)
    threshold = thresholds[metric]
    displayed = _scale(gap, definition.scale)
    worse_by = displayed if not definition.higher_is_better else _negate(displayed)
    value, low, high = worse_by.value, worse_by.low, worse_by.high
    if not (math.isfinite(value) and math.isfinite(low) and math.isfinite(high)):
        return GapAssessment(metric, worse_by, "uncertain", "ok")
    if value >= threshold.warning and low > 0:
        severity: Severity = "critical" if value >= threshold.critical else "warning"
        return GapAssessment(metric, worse_by, "worse", severity)
    if value < threshold.warning and high < threshold.warning:
        return GapAssessment(metric, worse_by, "fine", "ok")
    severity = "warning" if value >= threshold.warning else "ok"
    return GapAssessment(metric, worse_by, "uncertain", severity)


def _check_options(*, n_resamples: int, confidence: float, seed: int) -> None:
    check_whole_number(n_resamples, name="n_resamples", minimum=1)
    if (
        isinstance(confidence, bool)
        or not isinstance(confidence, int | float | np.floating)
        or not 0.0 < confidence < 1.0
    ):
        raise ValueError(f"Expected `confidence` in (0, 1), but got {confidence!r}.")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"Expected `seed` to be a non-negative integer, but got {seed!r}.")


def _check_splits(splits: list[SplitData]) -> None:
    if not splits:
        raise ProjectError("Expected at least one split to score, but got none.")
    seen: set[str] = set()
    for split in splits:
        if not isinstance(split, SplitData):
            raise ProjectError(
                f"Expected each split to be a SplitData, but got {type(split).__name__}."
            )
        if split.name in seen:
            raise ProjectError(f"Expected unique split names, but {split.name!r} appears twice.")
        seen.add(split.name)
        if split.role not in SPLIT_ROLES:
            raise ProjectError(
                f"Expected the role of split {split.name!r} to be one of "
                f"{', '.join(SPLIT_ROLES)}, but got {split.role!r}."
            )
        if np.ndim(split.labels) >= 1 and np.shape(split.labels)[0] == 0:
            raise ProjectError(
                f"Expected split {split.name!r} to have at least one sample, but it has 0 rows."
            )


def _score_split(
    split: SplitData, *, n_resamples: int, confidence: float, rng: np.random.Generator
) -> SplitScores:
    """Point values, intervals and replicates of every metric of one split."""
    try:
        statistics, columns = stacked_statistics(split.labels, split.probs, split.losses)
    except ValueError as error:
        raise ProjectError(f"Split {split.name!r}: {error}") from error
    n_samples = statistics.shape[0]
    values = reduce_stacked(statistics.sum(axis=0), n_samples, columns)
    replicate_sums = resample_column_sums(statistics, n_resamples=n_resamples, rng=rng)
    del statistics
    replicates = reduce_stacked(replicate_sums, n_samples, columns)
    metrics: dict[str, Estimate] = {}
    for metric in SCORECARD_METRICS:
        value = float(values[metric.name])
        low, high = interval_from_replicates(
            value,
            replicates[metric.name],
            kind=metric.interval,
            confidence=confidence,
            floor=0.0,
            ceiling=1.0 if metric.unit == "percent" else None,
        )
        metrics[metric.name] = Estimate(value, low, high)
    return SplitScores(
        name=split.name,
        role=split.role,
        n=int(n_samples),
        metrics=metrics,
        replicates={name: np.asarray(r, dtype=np.float64) for name, r in replicates.items()},
    )


def _first_with_role(scores: Sequence[SplitScores], role: str) -> SplitScores | None:
    return next((split for split in scores if split.role == role), None)


def _gap(split: SplitScores, reference: SplitScores, *, confidence: float) -> GapScores:
    metrics = {
        name: difference(
            split.metrics[name].value,
            split.replicates[name],
            reference.metrics[name].value,
            reference.replicates[name],
            confidence=confidence,
            kind=get_metric(name).interval,
        )
        for name in split.metrics
    }
    return GapScores(split.name, split.role, reference.name, reference.role, metrics)


def _gaps_against(
    scores: Sequence[SplitScores], reference: SplitScores | None, *, confidence: float
) -> dict[str, GapScores]:
    if reference is None:
        return {}
    return {
        split.name: _gap(split, reference, confidence=confidence)
        for split in scores
        if split.name != reference.name
    }


# --------------------------------------------------------------------------------------------
# Verdicts, headline and chart takeaways
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Finding:
    verdict: Verdict
    magnitude: float  # "worse by" in points, for ranking


def diagnose(scorecard: Scorecard) -> tuple[Verdict, ...]:
    """Plain-English verdicts computed from the accuracy gaps.

    1. Train vs validation: overfitting when validation accuracy is clearly worse (see
       :func:`assess_gap`); underfitting when train accuracy is below
       ``UNDERFITTING_MAX_TRAIN_ACCURACY`` without a clear gap; overfitting (warning) when the
       accuracy gap is real (interval above zero) but under the threshold and a metric of
       ``OVERFITTING_EVIDENCE_METRICS`` (NLL, ECE) is clearly worse on validation; otherwise
       uncertain or healthy.
    2. Every shifted or deployment split vs the shift reference (first test split, else first
       validation split): shift when clearly worse; otherwise healthy or uncertain.

    Returns:
        The verdicts: the train/validation one first, then one per shifted or deployment split
        in project order. Empty when nothing can be compared (no train and no reference).
    """
    return tuple(finding.verdict for finding in _findings(scorecard))


def headline(scorecard: Scorecard) -> str:
    """One sentence with the biggest finding: the most severe problem, the largest if tied."""
    findings = _findings(scorecard)
    problems = [
        f
        for f in findings
        if f.verdict.kind in ("overfitting", "underfitting", "shift") and f.verdict.severity != "ok"
    ]
    if problems:
        rank = {"critical": 2, "warning": 1, "ok": 0}
        top = max(problems, key=lambda f: (rank[f.verdict.severity], f.magnitude))
        others = len(problems) - 1
        text = top.verdict.text.rstrip(".")
        if others:
            text += f"; {others} more problem{'s' if others > 1 else ''} below"
        return text + "."
    uncertain = [f for f in findings if f.verdict.kind == "uncertain"]
    if uncertain:
        count = len(uncertain)
        which = ", ".join(f.verdict.split for f in uncertain if f.verdict.split)
        return (
            f"No clear problem found, but {count} comparison{'s are' if count > 1 else ' is'} "
            f"too noisy to call ({which}): more samples would settle it."
        )
    if findings:
        return (
            "No clear generalization gap: no split is clearly worse than its reference in accuracy."
        )
    if len(scorecard.splits) == 1:
        only = scorecard.splits[0]
        metric = get_metric(VERDICT_METRIC)
        return (
            f"Only one split ({only.name}, accuracy "
            f"{metric.format_value(only.metrics[VERDICT_METRIC].value)}): "
            "add a train or validation split to measure a gap."
        )
    return (
        "No verdict: the verdicts compare train with validation and shifted or deployment splits "
        "with test, and this project has neither pair; the gap charts still show the differences."
    )


def gap_chart_takeaway(
    scorecard: Scorecard,
    *,
    metric: str = "accuracy",
    reference: GapReference = "validation",
) -> str:
    """One computed sentence for the gap chart that names its reference, e.g. "Against val
    (validation), the model loses 31 points of accuracy on rotated, the largest drop; field
    (deployment) loses 6."; a reader who toggles the reference sees which one is shown."""
    definition = get_metric(metric)
    gaps = scorecard.gaps(reference)
    reference_name = scorecard.reference_split(reference)
    reference_word = reference.replace("_", " ")
    if reference_name is None:
        return f"There is no {reference_word} split, so there is no gap against it to show."
    if not gaps:
        return f"{reference_name} is the only split, so there is no gap to show."
    reference_label = _split_label(reference_name, scorecard.split(reference_name).role)
    assessments = {name: gap.assess(metric) for name, gap in gaps.items()}
    largest_name = max(
        assessments,
        key=lambda name: _finite_or(assessments[name].worse_by.value, -math.inf),
    )
    largest = assessments[largest_name]
    roles = {name: gap.role for name, gap in gaps.items()}
    if largest.status != "worse":
        spread = max(
            (
                abs(a.worse_by.value)
                for a in assessments.values()
                if math.isfinite(a.worse_by.value)
            ),
            default=float("nan"),
        )
        text = (
            f"No split is clearly worse than {reference_label} in "
            f"{_in_sentence(definition.label)}; the "
            f"differences are at most {_short_change(definition, spread)}"
            f"{' points' if definition.unit == 'percent' else ''}"
        )
        unclear = [name for name, a in assessments.items() if a.status == "uncertain"]
        if unclear:
            text += (
                f", but the interval{'s' if len(unclear) > 1 else ''} for {', '.join(unclear)} "
                f"{'are' if len(unclear) > 1 else 'is'} too wide to tell"
            )
        return text + "."
    text = (
        f"Against {reference_label}, "
        f"{_worse_phrase(definition, largest.worse_by.value, first=True)} on {largest_name}, "
    )
    text += f"the largest {'drop' if definition.higher_is_better else 'rise'}"
    extras = [
        f"{name} ({roles[name]}) {_worse_phrase(definition, a.worse_by.value, first=False)}"
        for name, a in assessments.items()
        if name != largest_name and roles[name] == "deployment" and a.status == "worse"
    ]
    if not extras:
        others = [
            (name, a)
            for name, a in assessments.items()
            if name != largest_name and a.status == "worse"
        ]
        if others:
            name, a = max(others, key=lambda item: item[1].worse_by.value)
            extras = [f"next is {name} ({_short_change(definition, a.worse_by.value)})"]
    if extras:
        text += "; " + ", ".join(extras)
    return text + "."


def metric_chart_takeaway(scorecard: Scorecard, *, metric: str = "accuracy") -> str:
    """One computed sentence for the metric-by-split chart, e.g. "Accuracy is best on train
    (99.8%) and worst on rotated (68.4%); validation is 91.2%."."""
    definition = get_metric(metric)
    values = {s.name: s.metrics[metric].value for s in scorecard.splits}
    finite = {name: value for name, value in values.items() if math.isfinite(value)}
    if not finite:
        return f"{definition.label} is not available on any split."
    if len(finite) == 1:
        ((name, value),) = finite.items()
        return f"{definition.label} is {definition.format_value(value)} on {name}."
    best = (
        max(finite, key=finite.get) if definition.higher_is_better else min(finite, key=finite.get)
    )
    worst = (
        min(finite, key=finite.get) if definition.higher_is_better else max(finite, key=finite.get)
    )
    text = (
        f"{definition.label} is best on {best} ({definition.format_value(finite[best])}) "
        f"and worst on {worst} ({definition.format_value(finite[worst])})"
    )
    references = [
        name
        for name in (scorecard.validation, scorecard.shift_reference)
        if name and name not in (best, worst)
    ]
    if references:
        name = references[0]
        text += f"; {name} is {definition.format_value(finite.get(name, math.nan))}"
    return text + "."


def _findings(scorecard: Scorecard) -> list[_Finding]:
    findings: list[_Finding] = []
    fit = _fit_finding(scorecard)
    if fit is not None:
        findings.append(fit)
    if scorecard.shift_reference is not None:
        for split in scorecard.splits:
            if split.role in SHIFT_ROLES and split.name in scorecard.vs_shift_reference:
                findings.append(_shift_finding(scorecard, split))
    return findings


def _fit_finding(scorecard: Scorecard) -> _Finding | None:
    """Overfitting, underfitting, uncertain or healthy, from train and validation accuracy
    (with ``OVERFITTING_EVIDENCE_METRICS`` as evidence when the accuracy gap is real but small)."""
    if scorecard.train is None:
        return None
    metric = get_metric(VERDICT_METRIC)
    ci = _ci_label(scorecard.confidence)
    train = scorecard.split(scorecard.train)
    train_accuracy = train.metrics[VERDICT_METRIC]
    low_train = train_accuracy.value < UNDERFITTING_MAX_TRAIN_ACCURACY
    if scorecard.validation is None:
        if low_train:
            text = (
                f"Underfitting: train accuracy is only {metric.format_value(train_accuracy.value)} "
                f"({ci} {_interval_percent(train_accuracy)}), below the "
                f"{_percent(UNDERFITTING_MAX_TRAIN_ACCURACY)} bar; the model does not fit its own "
                "training data well."
            )
            shortfall = 100.0 * (UNDERFITTING_MAX_TRAIN_ACCURACY - train_accuracy.value)
            return _Finding(Verdict("underfitting", "warning", text, train.name), shortfall)
        return None
    validation = scorecard.split(scorecard.validation)
    assessment = scorecard.vs_train[validation.name].assess(VERDICT_METRIC)
    gap = assessment.worse_by  # train - validation, in points
    train_text = metric.format_value(train_accuracy.value)
    validation_text = metric.format_value(validation.metrics[VERDICT_METRIC].value)
    interval = f"({ci} {_interval_points(gap)})"
    threshold = GAP_THRESHOLDS[VERDICT_METRIC].warning
    if assessment.status == "worse":
        text = (
            f"Overfitting: train accuracy {train_text}, validation {validation_text}, "
            f"gap {_points(gap.value)} points {interval}."
        )
        return _Finding(
            Verdict("overfitting", assessment.severity, text, validation.name), gap.value
        )
    if low_train:
        text = (
            f"Underfitting: train accuracy is only {train_text} "
            f"({ci} {_interval_percent(train_accuracy)}) and validation is close at "
            f"{validation_text}; the model does not fit even its training data (a bigger model, "
            "longer training or less regularisation may help)."
        )
        shortfall = 100.0 * (UNDERFITTING_MAX_TRAIN_ACCURACY - train_accuracy.value)
        return _Finding(Verdict("underfitting", "warning", text, train.name), shortfall)
    evidence = _overfitting_evidence(scorecard, gap)
    if evidence:
        text = (
            f"Overfitting (mild in accuracy): train accuracy {train_text} vs validation "
            f"{validation_text} (gap {_points(gap.value)} points, {ci} {_interval_points(gap)}), "
            f"but {_evidence_text(scorecard, evidence)}"
        )
        return _Finding(Verdict("overfitting", "warning", text, validation.name), gap.value)
    if assessment.status == "uncertain":
        if gap.value >= threshold:
            text = (
                f"Possible overfitting: train accuracy {train_text}, validation {validation_text}, "
                f"gap {_points(gap.value)} points, but the {ci} ({_interval_points(gap)}) "
                "includes no gap; more validation samples would tell."
            )
        else:
            text = (
                f"Unclear whether the model overfits: train and validation accuracy differ by "
                f"{_points(gap.value)} points, but the {ci} ({_interval_points(gap)}) cannot rule "
                f"out a gap of {_points(threshold)} points or more; more validation samples would "
                "tell."
            )
        return _Finding(Verdict("uncertain", assessment.severity, text, validation.name), gap.value)
    if gap.value < 0:
        better = _negate(gap)  # validation minus train
        detail = "clearly" if better.low > 0 else "within the noise,"
        text = (
            f"No overfitting: validation accuracy is {_points(better.value)} points above train, "
            f"{detail} ({ci} {_interval_points(better)}); strong augmentation or regularisation "
            "on the training data can do this."
        )
    elif gap.low > 0:
        text = (
            f"No clear overfitting: train and validation accuracy differ by {_points(gap.value)} "
            f"points {interval}, a real but small gap under the {_points(threshold)}-point "
            "threshold."
        )
    else:
        text = (
            f"No clear overfitting: train and validation accuracy differ by {_points(gap.value)} "
            f"points, within the noise {interval}."
        )
    return _Finding(Verdict("healthy", "ok", text, validation.name), gap.value)


def _overfitting_evidence(scorecard: Scorecard, accuracy_gap: Estimate) -> list[str]:
    """The metrics of ``OVERFITTING_EVIDENCE_METRICS`` that are clearly worse on validation than
    on train, when the accuracy gap (train - validation, points) calls for them: real (its
    interval excludes zero) but under the warning threshold. Empty otherwise."""
    value, low = accuracy_gap.value, accuracy_gap.low
    if not (math.isfinite(value) and math.isfinite(low)):
        return []
    if low <= 0 or value >= GAP_THRESHOLDS[VERDICT_METRIC].warning:
        return []  # no real drop, or already clearly worse (an overfitting verdict by itself)
    gaps = scorecard.vs_train[scorecard.validation]
    return [
        name
        for name in OVERFITTING_EVIDENCE_METRICS
        if name in gaps.metrics and gaps.assess(name).status == "worse"
    ]


def _evidence_text(scorecard: Scorecard, evidence: Sequence[str]) -> str:
    """``"validation loss is 0.149 against 0.000 on train: ..."`` for the fit verdict."""
    train = scorecard.split(scorecard.train)
    validation = scorecard.split(scorecard.validation)
    nouns = {"nll": "loss", "ece": "calibration error"}
    parts = []
    for index, name in enumerate(evidence):
        definition = get_metric(name)
        noun = nouns.get(name, _in_sentence(definition.label))
        values = (
            f"{definition.format_value(validation.metrics[name].value)} against "
            f"{definition.format_value(train.metrics[name].value)}"
        )
        parts.append(
            f"validation {noun} is {values} on train" if index == 0 else f"{noun} {values}"
        )
    text = " and ".join(parts)
    if "nll" in evidence:
        return text + ": the model is far more confident on data it has seen."
    return text + ": the model's confidence is far better founded on data it has seen."


def _shift_finding(scorecard: Scorecard, split: SplitScores) -> _Finding:
    """Shift, healthy or uncertain for one shifted or deployment split."""
    metric = get_metric(VERDICT_METRIC)
    ci = _ci_label(scorecard.confidence)
    reference_name = scorecard.shift_reference
    reference = scorecard.split(reference_name)
    assessment = scorecard.vs_shift_reference[split.name].assess(VERDICT_METRIC)
    drop = assessment.worse_by
    threshold = GAP_THRESHOLDS[VERDICT_METRIC].warning
    prefix = "Deployment" if split.role == "deployment" else "Shift"
    accuracies = (
        f"accuracy {metric.format_value(split.metrics[VERDICT_METRIC].value)} vs "
        f"{metric.format_value(reference.metrics[VERDICT_METRIC].value)}"
    )
    noun = "deployment shift" if split.role == "deployment" else "shift"
    amount = _points(abs(drop.value))
    if assessment.status == "worse":
        text = (
            f"{prefix}: {split.name} is {amount} points below {reference_name} "
            f"({ci} {_interval_points(drop)}); {accuracies}."
        )
        return _Finding(Verdict("shift", assessment.severity, text, split.name), drop.value)
    # Below the reference: the interval of the drop; above it: the interval of the rise.
    direction, shown = ("below", drop) if drop.value >= 0 else ("above", _negate(drop))
    if assessment.status == "uncertain":
        if drop.value >= threshold:
            text = (
                f"Possible {noun}: {split.name} is {amount} points below "
                f"{reference_name}, but the {ci} ({_interval_points(drop)}) includes no drop; "
                "more samples would tell."
            )
        else:
            text = (
                f"Unclear {noun}: {split.name} is {amount} points {direction} "
                f"{reference_name} ({ci} {_interval_points(shown)}), too wide to rule out a "
                f"drop of {_points(threshold)} points or more; more samples would tell."
            )
        return _Finding(Verdict("uncertain", assessment.severity, text, split.name), drop.value)
    if shown.low > 0:
        detail = (
            f"a real but small drop under the {_points(threshold)}-point threshold"
            if direction == "below"
            else "clearly better"
        )
    else:
        detail = "within the noise"
    text = (
        f"No clear {noun}: {split.name} is {amount} points {direction} {reference_name}, {detail} "
        f"({ci} {_interval_points(shown)})."
    )
    return _Finding(Verdict("healthy", "ok", text, split.name), drop.value)


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def _scale(estimate: Estimate, factor: float) -> Estimate:
    return Estimate(estimate.value * factor, estimate.low * factor, estimate.high * factor)


def _negate(estimate: Estimate) -> Estimate:
    return Estimate(-estimate.value, -estimate.high, -estimate.low)


def _finite_or(value: float, default: float) -> float:
    return value if math.isfinite(value) else default


def _fixed(value: float, decimals: int = 1) -> str:
    text = f"{float(value):.{decimals}f}"
    return f"{0.0:.{decimals}f}" if float(text) == 0.0 else text


def _points(value: float) -> str:
    """Percentage points with one decimal: ``8.63 -> "8.6"``."""
    return _fixed(value, 1)


def _percent(fraction: float) -> str:
    return f"{_fixed(100.0 * fraction, 1)}%".replace(".0%", "%")


def _interval_points(estimate: Estimate) -> str:
    return f"{_points(estimate.low)} to {_points(estimate.high)}"


def _interval_percent(estimate: Estimate) -> str:
    return f"{_fixed(100 * estimate.low)}% to {_fixed(100 * estimate.high)}%"


def _ci_label(confidence: float) -> str:
    return f"{100 * confidence:g}% CI"


def _short_change(definition: MetricDefinition, value: float) -> str:
    """Rounded for a takeaway: whole points from 10 up, one decimal below; 3 decimals else."""
    if not math.isfinite(value):
        return "n/a"
    if definition.unit == "percent":
        return _fixed(value, 0) if abs(value) >= 10 else _fixed(value, 1)
    return _fixed(value, 3)


def _in_sentence(label: str) -> str:
    """A label inside a sentence: ``"Accuracy" -> "accuracy"``, ``"NLL"`` unchanged."""
    if len(label) > 1 and label[1].islower():
        return label[0].lower() + label[1:]
    return label


def _split_label(name: str, role: str) -> str:
    """``"val (validation)"``, or just the name when it is the role (``"train"``)."""
    return name if name == role else f"{name} ({role})"


def _worse_phrase(definition: MetricDefinition, amount: float, *, first: bool) -> str:
    """``"the model loses 31 points of accuracy"`` / ``"loses 6"`` / ``"NLL rises by 0.850"``
    (``first`` is the mid-sentence phrase after "Against REFERENCE, ")."""
    size = _short_change(definition, amount)
    if definition.higher_is_better:
        if first:
            unit = " points" if definition.unit == "percent" else ""
            return f"the model loses {size}{unit} of {_in_sentence(definition.label)}"
        return f"loses {size}"
    if first:
        unit = " points" if definition.unit == "percent" else ""
        return f"{definition.label} rises by {size}{unit}"
    return f"rises by {size}"
