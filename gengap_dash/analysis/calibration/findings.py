"""The calibration view's decisions, as findings (``gengap_dash.findings.model.Finding``).

Thresholds live here and are documented in ``docs/calibration.md``; the sentences live in
``gengap_dash.findings.calibration``. Kinds:

- ``calibration.headline``: the worst-calibrated split of those shown, graded by its ECE
  against :data:`WELL_CALIBRATED_ECE` and :data:`POORLY_CALIBRATED_ECE`, with the direction
  of its miscalibration (judged by the interval of mean confidence minus accuracy).
- ``calibration.temperature_fit``: the fitted temperature, what it says about the model
  (:data:`OVERCONFIDENT_TEMPERATURE` / :data:`UNDERCONFIDENT_TEMPERATURE`) and the paired change
  of ECE on the fit split.
- ``calibration.temperature_transfer``: one per other held-out split: the paired ECE change and
  the verdict of ``temperature.gain_verdict`` (holds / partial / none / worse).
- ``calibration.recalibration``: the non-parametric map's ECE on the fit split and the others.
- ``calibration.metrics_range``: the held-out splits of lowest and highest ECE, whether their
  intervals overlap, and their NLL (the metrics chart's takeaway).
- ``calibration.worst_bin``: the confidence bin that adds most to the worst split's ECE
  (count x |gap|), and how many drawn points rest on fewer than :data:`SPARSE_BIN` samples.
- ``calibration.diagrams``: ECE before scaling, after it and after the recalibration, for the
  splits drawn as diagrams.
- ``calibration.cohort_extremes``: the worst and best cohort (with an interval) of a column for
  one metric, and how many cohorts are too small for an interval.
- ``calibration.selective``: the error at :data:`~gengap_dash.analysis.calibration.selective.
  DEFAULT_COVERAGE` coverage on the reference split (test, else validation) against the worst
  other split, "clearly worse" when it is above both 1.5x and 1 point more than the reference;
  and where the AURC is lowest and highest.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from gengap_dash.analysis.calibration.cohorts import CohortCalibration
from gengap_dash.analysis.calibration.report import CalibrationSummary
from gengap_dash.analysis.calibration.selective import (
    DEFAULT_COVERAGE,
    RiskCoverage,
    risk_at_coverage,
)
from gengap_dash.analysis.calibration.temperature import (
    GAIN_TOLERANCE,
    NO_CHANGE_TOLERANCE,
    TemperatureComparison,
)
from gengap_dash.findings.model import Finding, Severity
from gengap_dash.findings.render import register_template_module
from gengap_dash.stats.bootstrap import Estimate

register_template_module("gengap_dash.findings.calibration")

VIEW = "calibration"

WELL_CALIBRATED_ECE = 0.03
"""Below this ECE (3%) a split counts as well calibrated (severity ``ok``)."""

POORLY_CALIBRATED_ECE = 0.10
"""At or above this ECE (10%) a split is poorly calibrated (``critical``); between the two
thresholds it is ``warning``."""

OVERCONFIDENT_TEMPERATURE = 1.05
"""A fitted temperature above this says the model was overconfident."""

UNDERCONFIDENT_TEMPERATURE = 0.95
"""A fitted temperature below this says the model was underconfident."""

SHIFT_ROLES = ("shifted", "deployment")

SPARSE_BIN = 10
"""A reliability bin with fewer samples than this swings by chance: drawn faded, and counted in
the ``calibration.worst_bin`` finding (the figure's ``MIN_RELIABLE_BIN``)."""

CLEARLY_WORSE_RATIO = 1.5
CLEARLY_WORSE_POINTS = 0.01
"""A split's selective error is "clearly worse" than the reference's when it exceeds both
``CLEARLY_WORSE_RATIO`` times the reference's and the reference's plus ``CLEARLY_WORSE_POINTS``."""


def confidence_direction(overconfidence: Estimate) -> str:
    """``"overconfident"``, ``"underconfident"`` or ``"about right"``, judged by the interval of
    mean confidence minus accuracy (the point value when there is no interval)."""
    if np.isfinite(overconfidence.low) and overconfidence.low > 0:
        return "overconfident"
    if np.isfinite(overconfidence.high) and overconfidence.high < 0:
        return "underconfident"
    if not np.isfinite(overconfidence.low):
        return "overconfident" if overconfidence.value > 0 else "underconfident"
    return "about right"


def ece_severity(ece: float) -> Severity:
    """``ok`` below :data:`WELL_CALIBRATED_ECE`, ``critical`` from :data:`POORLY_CALIBRATED_ECE`,
    ``warning`` between."""
    if ece < WELL_CALIBRATED_ECE:
        return "ok"
    return "warning" if ece < POORLY_CALIBRATED_ECE else "critical"


def headline_finding(
    reports: Mapping[str, CalibrationSummary], roles: Mapping[str, str]
) -> Finding:
    """The page's verdict: the worst-calibrated split of ``reports`` and how it is off.

    Args:
        reports: split -> summary, the splits shown (at least one).
        roles: split -> role; the first validation (else test) split is the reference quoted
            beside a worse split.

    Raises:
        ValueError: for no reports.
    """
    if not reports:
        raise ValueError("Expected at least one split's calibration report, but got none.")
    worst = max(reports, key=lambda split: _finite(reports[split].ece.value))
    summary = reports[worst]
    ece = summary.ece
    severity = ece_severity(ece.value)
    directions = [confidence_direction(report.overconfidence) for report in reports.values()]
    reference = next(
        (s for role in ("validation", "test") for s in reports if roles.get(s) == role), None
    )
    facts: dict[str, object] = {
        "direction": confidence_direction(summary.overconfidence),
        "mean_confidence": summary.mean_confidence.value,
        "accuracy": summary.accuracy.value,
        "overconfidence": summary.overconfidence.value,
        "n_splits": len(reports),
        "n_overconfident": directions.count("overconfident"),
        "n_underconfident": directions.count("underconfident"),
        "confidence": summary.confidence,
    }
    if reference is not None and reference != worst and severity != "ok":
        ref = reports[reference].ece
        facts.update(reference_ece=ref.value, reference_low=ref.low, reference_high=ref.high)
    else:
        reference = None
    threshold = (
        WELL_CALIBRATED_ECE
        if severity == "ok"
        else (WELL_CALIBRATED_ECE if severity == "warning" else POORLY_CALIBRATED_ECE)
    )
    reason = {
        "ok": "ece_below_well_calibrated",
        "warning": "ece_above_well_calibrated",
        "critical": "ece_above_poorly_calibrated",
    }[severity]
    return Finding(
        kind="calibration.headline",
        severity=severity,
        split=worst,
        metric="ece",
        value=ece.value,
        low=ece.low,
        high=ece.high,
        threshold=threshold,
        reason=reason,
        reference=reference,
        facts=facts,
        view=VIEW,
    )


def temperature_findings(comparison: TemperatureComparison) -> list[Finding]:
    """The temperature fit, its transfer to every other held-out split (train is left out: it
    is trivially calibrated) and the recalibration comparison."""
    fit = comparison.temperature
    fit_split = comparison.fit_split
    roles = comparison.roles
    change = comparison.ece_change[fit_split]
    t = fit.temperature
    meaning = (
        "overconfident"
        if t > OVERCONFIDENT_TEMPERATURE
        else "underconfident"
        if t < UNDERCONFIDENT_TEMPERATURE
        else "about right"
    )
    findings = [
        Finding(
            kind="calibration.temperature_fit",
            severity="info" if fit.converged else "warning",
            split=fit_split,
            metric="ece",
            value=change.value,
            low=change.low,
            high=change.high,
            reason=f"model_{meaning.replace(' ', '_')}" if fit.converged else "not_converged",
            facts={
                "temperature": t,
                "meaning": meaning,
                "converged": fit.converged,
                "role": roles.get(fit_split, "other"),
                "ece_before": comparison.before[fit_split].ece.value,
                "ece_after": comparison.after[fit_split].ece.value,
                "change": _change_word(change),
                "confidence": comparison.confidence,
            },
            view=VIEW,
        )
    ]
    fit_after = comparison.after[fit_split].ece.value
    for split in comparison.before:
        if split == fit_split or roles.get(split) == "train":
            continue
        verdict = comparison.verdicts[split]
        change = comparison.ece_change[split]
        severity: Severity = {"holds": "ok", "partial": "info", "none": "info"}.get(
            verdict, "warning"
        )
        findings.append(
            Finding(
                kind="calibration.temperature_transfer",
                severity=severity,
                split=split,
                metric="ece",
                value=change.value,
                low=change.low,
                high=change.high,
                threshold=GAIN_TOLERANCE,
                reason=verdict,
                reference=fit_split,
                facts={
                    "ece_before": comparison.before[split].ece.value,
                    "ece_after": comparison.after[split].ece.value,
                    "fit_ece_after": fit_after,
                    "shifted": roles.get(split) in SHIFT_ROLES,
                    "confidence": comparison.confidence,
                },
                view=VIEW,
            )
        )
    others = {
        split: summary.ece.value
        for split, summary in comparison.recalibrated.items()
        if split != fit_split and roles.get(split) != "train"
    }
    findings.append(
        Finding(
            kind="calibration.recalibration",
            severity="info",
            split=fit_split,
            metric="ece",
            value=comparison.recalibrated[fit_split].ece.value,
            reason=comparison.recalibration.method,
            facts={"method": comparison.recalibration.method, "others": others},
            view=VIEW,
        )
    )
    return findings


def calibration_findings(
    reports: Mapping[str, CalibrationSummary],
    roles: Mapping[str, str],
    comparison: TemperatureComparison | None = None,
) -> list[Finding]:
    """Every finding of the calibration view: the headline, then temperature scaling's."""
    findings = [headline_finding(reports, roles)]
    if comparison is not None:
        findings += temperature_findings(comparison)
    return findings


def _change_word(change: Estimate) -> str:
    """``"lower"``, ``"higher"`` or ``"unchanged"``: the paired interval of an ECE change."""
    if np.isfinite(change.low) and np.isfinite(change.high):
        if change.high < 0:
            return "lower"
        return "higher" if change.low > 0 else "unchanged"
    if abs(change.value) < NO_CHANGE_TOLERANCE:
        return "unchanged"
    return "lower" if change.value < 0 else "higher"


def _finite(value: float) -> float:
    return value if np.isfinite(value) else -np.inf


def held_out_splits(reports: Mapping[str, object], roles: Mapping[str, str]) -> list[str]:
    """The splits to compare: every split but train when there are others (train is trivially
    calibrated)."""
    others = [split for split in reports if roles.get(split) != "train"]
    return others or list(reports)


def metrics_range_finding(
    reports: Mapping[str, CalibrationSummary], roles: Mapping[str, str]
) -> Finding:
    """``calibration.metrics_range``: the held-out split of highest ECE (``split``) against the
    one of lowest (``reference``; ``None`` when only one split is shown); ``reason`` is
    ``"single_split"``, ``"intervals_apart"`` or ``"intervals_overlap"``."""
    splits = held_out_splits(reports, roles)
    best = min(splits, key=lambda split: reports[split].ece.value)
    worst_split = max(splits, key=lambda split: reports[split].ece.value)
    low, high = reports[best].ece, reports[worst_split].ece
    if best == worst_split:
        reason = "single_split"
    else:
        reason = "intervals_apart" if high.low > low.high else "intervals_overlap"
    nll_best, nll_worst = reports[best].nll, reports[worst_split].nll
    return Finding(
        kind="calibration.metrics_range",
        severity="info",
        split=worst_split,
        metric="ece",
        value=high.value,
        low=high.low,
        high=high.high,
        reason=reason,
        reference=None if best == worst_split else best,
        facts={
            "best_ece": low.value,
            "best_low": low.low,
            "best_high": low.high,
            "nll": nll_worst.value,
            "nll_low": nll_worst.low,
            "nll_high": nll_worst.high,
            "best_nll": nll_best.value,
        },
        view=VIEW,
    )


def worst_bin_finding(
    reports: Mapping[str, CalibrationSummary], roles: Mapping[str, str]
) -> Finding:
    """``calibration.worst_bin``: on the held-out split of highest ECE, the bin whose samples add
    most to it (count x |accuracy - confidence|); ``reason`` ``"overconfident"`` when the bin's
    confidence is at or above its accuracy, else ``"underconfident"``."""
    splits = held_out_splits(reports, roles)
    worst_split = max(splits, key=lambda split: reports[split].ece.value)
    best = min(splits, key=lambda split: reports[split].ece.value)
    bins = reports[worst_split].reliability
    contribution = np.where(bins.count > 0, bins.count * np.abs(np.nan_to_num(bins.gap)), -1.0)
    index = int(np.argmax(contribution))
    accuracy, confidence = float(bins.accuracy[index]), float(bins.mean_confidence[index])
    counts = [report.reliability.count for report in reports.values()]
    return Finding(
        kind="calibration.worst_bin",
        severity="info",
        split=worst_split,
        metric="ece",
        value=reports[worst_split].ece.value,
        threshold=SPARSE_BIN,
        reason="overconfident" if confidence >= accuracy else "underconfident",
        reference=None if best == worst_split else best,
        facts={
            "lower": float(bins.lower[index]),
            "upper": float(bins.upper[index]),
            "share": float(bins.share[index]),
            "accuracy": accuracy,
            "confidence": confidence,
            "best_ece": reports[best].ece.value,
            "sparse_points": sum(int(((c > 0) & (c < SPARSE_BIN)).sum()) for c in counts),
            "drawn_points": sum(int((c > 0).sum()) for c in counts),
        },
        view=VIEW,
    )


def diagrams_finding(comparison: TemperatureComparison, splits: list[str]) -> Finding:
    """``calibration.diagrams``: the ECE of each drawn split as the model is, after temperature
    scaling and after the non-parametric recalibration."""
    return Finding(
        kind="calibration.diagrams",
        severity="info",
        split=comparison.fit_split,
        metric="ece",
        reason=comparison.recalibration.method,
        facts={
            "method": comparison.recalibration.method,
            "splits": {
                split: {
                    "before": comparison.before[split].ece.value,
                    "after": comparison.after[split].ece.value,
                    "recalibrated": comparison.recalibrated[split].ece.value,
                }
                for split in splits
            },
        },
        view=VIEW,
    )


def cohort_extremes_finding(
    cohorts: Mapping[str, CohortCalibration], metric: str, column: str
) -> Finding:
    """``calibration.cohort_extremes``: the worst and best cohort of ``column`` by ``metric``
    over the splits given (cohorts with an interval only: lower is better, except accuracy;
    overconfidence by its size), and how many cohorts are too small for an interval.
    ``reason`` is ``"all_too_small"`` when no cohort has an interval."""

    def badness(value: float) -> float:
        if metric == "accuracy":
            return -value
        return abs(value) if metric == "overconfidence" else value

    pairs = [
        (split, cohort, getattr(summary, metric))
        for split, result in cohorts.items()
        for cohort, summary in result.summaries.items()
        if not result.too_few[cohort] and np.isfinite(getattr(summary, metric).value)
    ]
    facts: dict[str, object] = {
        "column": column,
        "too_small": sum(sum(result.too_few.values()) for result in cohorts.values()),
        "min_samples": next(iter(cohorts.values())).min_samples if cohorts else 0,
    }
    if not pairs:
        return Finding(
            kind="calibration.cohort_extremes",
            severity="info",
            metric=metric,
            reason="all_too_small",
            facts=facts,
            view=VIEW,
        )
    worst_pair = max(pairs, key=lambda pair: badness(pair[2].value))
    best_pair = min(pairs, key=lambda pair: badness(pair[2].value))
    facts.update(worst_cohort=worst_pair[1])
    if best_pair[:2] != worst_pair[:2]:
        best_estimate = best_pair[2]
        facts.update(
            best_split=best_pair[0],
            best_cohort=best_pair[1],
            best_value=best_estimate.value,
            best_low=best_estimate.low,
            best_high=best_estimate.high,
        )
    estimate = worst_pair[2]
    return Finding(
        kind="calibration.cohort_extremes",
        severity="info",
        split=worst_pair[0],
        metric=metric,
        value=estimate.value,
        low=estimate.low,
        high=estimate.high,
        reason="worst_and_best",
        facts=facts,
        view=VIEW,
    )


def selective_finding(
    curves: Mapping[str, RiskCoverage],
    roles: Mapping[str, str] | None = None,
    *,
    coverage: float = DEFAULT_COVERAGE,
) -> Finding:
    """``calibration.selective``: the error among the ``coverage`` most confident predictions on
    the reference split (the first test split, else validation, else the first) against the
    other split (train left out) where it is highest (``split``; ``None`` when there is none);
    ``reason`` ``"clearly_worse"``, ``"similar"`` or ``"reference_only"``.

    Raises:
        ValueError: for no curves.
    """
    if not curves:
        raise ValueError("Expected at least one split, but got none.")
    roles = {split: (roles or {}).get(split, "other") for split in curves}
    risks = {split: risk_at_coverage(curve, coverage) for split, curve in curves.items()}
    reference = next(
        (split for role in ("test", "validation") for split in curves if roles[split] == role),
        next(iter(curves)),
    )
    others = [split for split in curves if split != reference and roles[split] != "train"]
    facts: dict[str, object] = {
        "coverage": coverage,
        "reference_risk": risks[reference],
        "reference_error_rate": curves[reference].error_rate,
    }
    if len(curves) > 1:
        lowest = min(curves, key=lambda split: curves[split].aurc)
        highest = max(curves, key=lambda split: curves[split].aurc)
        facts.update(
            lowest_aurc_split=lowest,
            lowest_aurc=curves[lowest].aurc,
            highest_aurc_split=highest,
            highest_aurc=curves[highest].aurc,
        )
    if not others:
        return Finding(
            kind="calibration.selective",
            severity="info",
            metric="selective_risk",
            value=risks[reference],
            reason="reference_only",
            reference=reference,
            facts=facts,
            view=VIEW,
        )
    worst_split = max(others, key=lambda split: risks[split])
    threshold = max(CLEARLY_WORSE_RATIO * risks[reference], risks[reference] + CLEARLY_WORSE_POINTS)
    return Finding(
        kind="calibration.selective",
        severity="warning" if risks[worst_split] > threshold else "info",
        split=worst_split,
        metric="selective_risk",
        value=risks[worst_split],
        threshold=threshold,
        reason="clearly_worse" if risks[worst_split] > threshold else "similar",
        reference=reference,
        facts=facts,
        view=VIEW,
    )
