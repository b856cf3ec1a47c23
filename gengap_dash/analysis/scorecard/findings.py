"""The scorecard's findings: the fit and shift verdicts, the headline and the chart takeaways as
:class:`~gengap_dash.findings.model.Finding` records. The words are in
:mod:`gengap_dash.findings.scorecard`; ``docs/scorecard.md`` explains every rule with an example.

The decisions (thresholds below and in :data:`~gengap_dash.analysis.scorecard.gaps.GAP_THRESHOLDS`):

1. Train vs validation (one finding, ``split`` = validation, ``reference`` = train):
   ``scorecard.overfitting`` when validation accuracy is clearly worse (:func:`assess_gap`
   status ``"worse"``); ``scorecard.underfitting`` (``split`` = train) when train accuracy is
   below ``UNDERFITTING_MAX_TRAIN_ACCURACY`` without a clear gap; ``scorecard.overfitting`` with
   ``reason="confirmed_by_loss_or_calibration"`` when the accuracy gap is real but under the
   threshold and a metric of ``OVERFITTING_EVIDENCE_METRICS`` is clearly worse; otherwise
   ``scorecard.fit_uncertain`` or ``scorecard.fit_healthy``.
2. Every shifted or deployment split vs the shift reference (the first test split, else the first
   validation split): ``scorecard.shift`` when clearly worse, else ``scorecard.shift_uncertain``
   or ``scorecard.shift_healthy``.

Numbers: ``value``, ``low``, ``high`` and ``threshold`` are "worse by" amounts in the metric's own
units (a fraction for accuracy: ``0.086`` is 8.6 points), positive when ``split`` is worse than
``reference``; the one sign convention of the page, the table, the chart and the text.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from gengap_dash.analysis.scorecard.gaps import GAP_THRESHOLDS, GapAssessment, _negate
from gengap_dash.analysis.scorecard.scores import GapReference, Scorecard, SplitScores
from gengap_dash.findings.model import SEVERITY_RANK, Finding, Severity
from gengap_dash.findings.render import register_template_module
from gengap_dash.findings.unlabelled import unlabelled_findings
from gengap_dash.metrics.classification import get_metric
from gengap_dash.stats.bootstrap import Estimate

register_template_module("gengap_dash.findings.scorecard")

VIEW = "scorecard"

SHIFT_ROLES: tuple[str, ...] = ("shifted", "deployment")
"""Roles whose splits are compared against the shift reference for the shift verdicts."""

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

PROBLEM_KINDS: tuple[str, ...] = (
    "scorecard.overfitting",
    "scorecard.underfitting",
    "scorecard.shift",
)
"""Finding kinds that are problems (the headline leads with the most severe)."""

UNCERTAIN_KINDS: tuple[str, ...] = ("scorecard.fit_uncertain", "scorecard.shift_uncertain")
"""Finding kinds of a comparison too noisy to call."""


# --------------------------------------------------------------------------- verdicts


def scorecard_findings(scorecard: Scorecard) -> list[Finding]:
    """The verdicts: the train/validation one first, then one per shifted or deployment split
    in project order. Empty when nothing can be compared (no train and no reference)."""
    findings: list[Finding] = []
    fit = fit_finding(scorecard)
    if fit is not None:
        findings.append(fit)
    if scorecard.shift_reference is not None:
        for split in scorecard.splits:
            if split.role in SHIFT_ROLES and split.name in scorecard.vs_shift_reference:
                findings.append(shift_finding(scorecard, split))
    findings.extend(
        unlabelled_findings(
            scorecard.unlabelled,
            view="scorecard",
            needs=("accuracy and its gap", "NLL", "ECE", "Brier score"),
        )
    )
    return findings


def fit_finding(scorecard: Scorecard) -> Finding | None:
    """Overfitting, underfitting, uncertain or healthy, from train and validation accuracy
    (``OVERFITTING_EVIDENCE_METRICS`` confirm a real but small gap); ``None`` without train."""
    if scorecard.train is None:
        return None
    train = scorecard.split(scorecard.train)
    train_accuracy = train.metrics[VERDICT_METRIC]
    low_train = train_accuracy.value < UNDERFITTING_MAX_TRAIN_ACCURACY
    common = {"confidence": scorecard.confidence, "train_value": train_accuracy.value}
    underfitting = {
        "kind": "scorecard.underfitting",
        "severity": "warning",
        "split": train.name,
        "value": train_accuracy.value,
        "low": train_accuracy.low,
        "high": train_accuracy.high,
        "threshold": UNDERFITTING_MAX_TRAIN_ACCURACY,
        "reason": "train_below_bar",
    }
    if scorecard.validation is None:
        if low_train:
            return _finding(**underfitting, facts={**common, "validation_value": None})
        return None
    validation = scorecard.split(scorecard.validation)
    assessment = scorecard.vs_train[validation.name].assess(VERDICT_METRIC)
    facts = {**common, "validation_value": validation.metrics[VERDICT_METRIC].value}
    pair = {"split": validation.name, "reference": train.name}
    if assessment.status == "worse":
        return _gap_finding(
            "scorecard.overfitting", assessment, reason="gap_above_threshold", facts=facts, **pair
        )
    if low_train:
        return _finding(**underfitting, reference=validation.name, facts=facts)
    evidence = _overfitting_evidence(scorecard, assessment.worse_by)
    if evidence:
        facts["evidence"] = {
            name: {
                "train": train.metrics[name].value,
                "validation": validation.metrics[name].value,
            }
            for name in evidence
        }
        return _gap_finding(
            "scorecard.overfitting", assessment, severity="warning",
            reason="confirmed_by_loss_or_calibration", facts=facts, **pair,
        )  # fmt: skip
    if assessment.status == "uncertain":
        reason = (
            "interval_includes_zero"
            if assessment.worse_by.value >= GAP_THRESHOLDS[VERDICT_METRIC].warning
            else "interval_reaches_threshold"
        )
        return _gap_finding(
            "scorecard.fit_uncertain", assessment, severity=_uncertain_severity(assessment),
            reason=reason, facts=facts, **pair,
        )  # fmt: skip
    return _gap_finding(
        "scorecard.fit_healthy", assessment, severity="ok", reason=_healthy_reason(assessment),
        facts=facts, **pair,
    )  # fmt: skip


def shift_finding(scorecard: Scorecard, split: SplitScores) -> Finding:
    """Shift, uncertain or healthy for one shifted or deployment split against the shift
    reference."""
    reference = scorecard.split(scorecard.shift_reference)
    assessment = scorecard.vs_shift_reference[split.name].assess(VERDICT_METRIC)
    facts = {
        "confidence": scorecard.confidence,
        "role": split.role,
        "split_value": split.metrics[VERDICT_METRIC].value,
        "reference_value": reference.metrics[VERDICT_METRIC].value,
    }
    pair = {"split": split.name, "reference": reference.name, "facts": facts}
    if assessment.status == "worse":
        return _gap_finding("scorecard.shift", assessment, reason="drop_above_threshold", **pair)
    if assessment.status == "uncertain":
        reason = (
            "interval_includes_zero"
            if assessment.worse_by.value >= GAP_THRESHOLDS[VERDICT_METRIC].warning
            else "interval_reaches_threshold"
        )
        return _gap_finding(
            "scorecard.shift_uncertain", assessment,
            severity=_uncertain_severity(assessment), reason=reason, **pair,
        )  # fmt: skip
    return _gap_finding(
        "scorecard.shift_healthy", assessment, severity="ok",
        reason=_healthy_reason(assessment), **pair,
    )  # fmt: skip


def _healthy_reason(assessment: GapAssessment) -> str:
    """``"better"`` (clearly better), ``"small_real_gap"`` (real, under the threshold),
    ``"within_noise"``; for a split above its reference, ``"within_noise"`` unless clearly
    better."""
    worse_by = assessment.worse_by
    if worse_by.value < 0:
        return "better" if worse_by.high < 0 else "within_noise"
    return "small_real_gap" if worse_by.low > 0 else "within_noise"


def _uncertain_severity(assessment: GapAssessment) -> Severity:
    """An uncertain gap whose point value reaches the warning threshold is a warning; else
    information (not good news)."""
    return "warning" if assessment.severity == "warning" else "info"


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


# --------------------------------------------------------------------------- headline


def headline(scorecard: Scorecard) -> Finding:
    """The finding the page, the summary and the report lead with.

    The most severe problem (overfitting, underfitting, shift; the largest if tied), with
    ``facts["more_problems"]`` the number of other problems; else ``scorecard.too_noisy`` when
    comparisons are uncertain (``facts["splits"]``); else ``scorecard.no_gap``; else
    ``scorecard.one_split`` or ``scorecard.no_comparison``.
    """
    findings = scorecard_findings(scorecard)
    problems = [f for f in findings if f.kind in PROBLEM_KINDS and f.severity != "ok"]
    if problems:
        top = max(problems, key=lambda f: (SEVERITY_RANK[f.severity], _magnitude(f)))
        return dataclasses.replace(top, facts={**top.facts, "more_problems": len(problems) - 1})
    uncertain = [f for f in findings if f.kind in UNCERTAIN_KINDS]
    if uncertain:
        worst = max(uncertain, key=lambda f: SEVERITY_RANK[f.severity])
        return _finding(
            kind="scorecard.too_noisy",
            severity=worst.severity,
            reason="intervals_too_wide",
            facts={"splits": [f.split for f in uncertain if f.split]},
        )
    if findings:
        return _finding(
            kind="scorecard.no_gap", severity="ok", metric=VERDICT_METRIC, reason="none_worse"
        )
    if len(scorecard.splits) == 1:
        only = scorecard.splits[0]
        return _finding(
            kind="scorecard.one_split",
            severity="info",
            split=only.name,
            value=only.metrics[VERDICT_METRIC].value,
            reason="single_split",
        )
    return _finding(kind="scorecard.no_comparison", severity="info", reason="no_pairs")


def _magnitude(finding: Finding) -> float:
    """How far past the line a problem is, in the metric's units: the shortfall below the bar
    for underfitting, the "worse by" amount for a gap."""
    if finding.kind == "scorecard.underfitting":
        return UNDERFITTING_MAX_TRAIN_ACCURACY - (finding.value or 0.0)
    return finding.value if finding.value is not None else 0.0


# --------------------------------------------------------------------------- chart takeaways


def gap_chart_takeaway(
    scorecard: Scorecard,
    *,
    metric: str = "accuracy",
    reference: GapReference = "validation",
) -> Finding:
    """The gap chart's takeaway, naming its reference.

    ``reason``: ``"no_reference"``, ``"only_split"``, ``"none_worse"`` (``facts["spread"]``, the
    largest difference either way, and ``facts["unclear"]``, the splits too noisy to call) or
    ``"worse"`` (``split`` the worst split; ``facts["deployment"]`` the other deployment splits
    that are clearly worse, ``[name, worse_by]``; else ``facts["next"]``, the next worse split).
    Amounts in ``facts`` are in display units (points for percentages).
    """
    gaps = scorecard.gaps(reference)
    reference_name = scorecard.reference_split(reference)
    base = {"kind": "scorecard.gap_takeaway", "severity": "info", "metric": metric}
    if reference_name is None:
        return _finding(**base, reason="no_reference", facts={"reference_word": reference})
    if not gaps:
        return _finding(**base, reference=reference_name, reason="only_split")
    facts: dict[str, Any] = {"reference_role": scorecard.split(reference_name).role}
    assessments = {name: gap.assess(metric) for name, gap in gaps.items()}
    largest_name = max(
        assessments,
        key=lambda name: _finite_or(assessments[name].worse_by.value, -math.inf),
    )
    largest = assessments[largest_name]
    if largest.status != "worse":
        finite = [abs(a.worse_by.value) for a in assessments.values() if _finite(a.worse_by.value)]
        facts["spread"] = max(finite, default=math.nan)
        facts["unclear"] = [name for name, a in assessments.items() if a.status == "uncertain"]
        return _finding(**base, reference=reference_name, reason="none_worse", facts=facts)
    facts["worse_by"] = largest.worse_by.value
    roles = {name: gap.role for name, gap in gaps.items()}
    facts["deployment"] = [
        [name, a.worse_by.value]
        for name, a in assessments.items()
        if name != largest_name and roles[name] == "deployment" and a.status == "worse"
    ]
    facts["next"] = None
    if not facts["deployment"]:
        others = [
            (name, a)
            for name, a in assessments.items()
            if name != largest_name and a.status == "worse"
        ]
        if others:
            name, a = max(others, key=lambda item: item[1].worse_by.value)
            facts["next"] = [name, a.worse_by.value]
    return _finding(
        **base, split=largest_name, reference=reference_name,
        value=largest.worse_by.value / get_metric(metric).scale, reason="worse", facts=facts,
    )  # fmt: skip


def metric_takeaway(scorecard: Scorecard, *, metric: str = "accuracy") -> Finding:
    """The metric-by-split chart's takeaway: the best and worst split (``facts["best"]``,
    ``facts["worst"]`` as ``[name, value]``) and the validation or shift reference's value
    (``facts["reference"]``); ``reason`` ``"none"``, ``"one"`` or ``"several"``."""
    definition = get_metric(metric)
    values = {s.name: s.metrics[metric].value for s in scorecard.splits}
    finite = {name: value for name, value in values.items() if _finite(value)}
    base = {"kind": "scorecard.metric_takeaway", "severity": "info", "metric": metric}
    if not finite:
        return _finding(**base, reason="none")
    if len(finite) == 1:
        ((name, value),) = finite.items()
        return _finding(**base, split=name, value=value, reason="one")
    pick_best, pick_worst = (max, min) if definition.higher_is_better else (min, max)
    best = pick_best(finite, key=finite.get)
    worst = pick_worst(finite, key=finite.get)
    references = [
        name
        for name in (scorecard.validation, scorecard.shift_reference)
        if name and name not in (best, worst)
    ]
    facts = {
        "best": [best, finite[best]],
        "worst": [worst, finite[worst]],
        "reference": [references[0], finite.get(references[0], math.nan)] if references else None,
    }
    return _finding(**base, split=worst, value=finite[worst], reason="several", facts=facts)


# --------------------------------------------------------------------------- helpers


def _gap_finding(
    kind: str,
    assessment: GapAssessment,
    *,
    split: str,
    reference: str,
    reason: str,
    facts: dict[str, Any],
    severity: Severity | None = None,
) -> Finding:
    """A finding about ``split`` against ``reference`` from the accuracy gap's assessment (the
    "worse by" amount and its interval, back in the metric's units)."""
    scale = get_metric(assessment.metric).scale
    worse_by = assessment.worse_by
    threshold = GAP_THRESHOLDS[assessment.metric].warning / scale
    return _finding(
        kind=kind,
        severity=severity or assessment.severity,
        split=split,
        reference=reference,
        metric=assessment.metric,
        value=worse_by.value / scale,
        low=worse_by.low / scale,
        high=worse_by.high / scale,
        threshold=threshold,
        reason=reason,
        facts={**facts, "status": assessment.status},
    )


def _finding(**fields: Any) -> Finding:
    fields.setdefault("metric", VERDICT_METRIC)
    fields.setdefault("facts", {})
    return Finding(view=VIEW, **fields)


def _finite(value: float) -> bool:
    return value is not None and math.isfinite(value)


def _finite_or(value: float, default: float) -> float:
    return value if math.isfinite(value) else default


def worse_by(finding: Finding) -> Estimate:
    """The finding's "worse by" amount with its interval (metric units)."""
    return Estimate(
        finding.value if finding.value is not None else math.nan,
        finding.low if finding.low is not None else math.nan,
        finding.high if finding.high is not None else math.nan,
    )


def better_by(finding: Finding) -> Estimate:
    """The negated "worse by" (how much better the split is), interval flipped."""
    return _negate(worse_by(finding))


# --------------------------------------------------------------------------- references


def comparison_reference(scorecard: Scorecard, split: str) -> str | None:
    """The split that ``split`` is compared against wherever one number is shown for it (the
    cards and the table), the reference of its verdict: validation against train; shifted and
    deployment splits against the shift reference; test against validation (else train);
    ``None`` for the train reference itself."""
    role = scorecard.split(split).role
    if role in SHIFT_ROLES and scorecard.shift_reference not in (None, split):
        candidate = scorecard.shift_reference
    elif role == "test":
        candidate = scorecard.validation or scorecard.train
    else:
        candidate = scorecard.train
    return None if candidate in (None, split) else candidate


def pair_finding(scorecard: Scorecard, split: str, reference: str) -> Finding | None:
    """The verdict about ``split`` against ``reference`` (either way round), if there is one."""
    for finding in scorecard_findings(scorecard):
        if {finding.split, finding.reference} == {split, reference}:
            return finding
    return None
