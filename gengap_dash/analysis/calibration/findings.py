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
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from gengap_dash.analysis.calibration.report import CalibrationSummary
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
