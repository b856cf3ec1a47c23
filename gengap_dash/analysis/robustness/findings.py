"""The robustness view's verdicts, as data (thresholds documented here and in
docs/robustness.md; words in ``gengap_dash.findings.robustness``)."""

from __future__ import annotations

import math

import numpy as np

from gengap_dash.analysis.robustness import RobustnessResult
from gengap_dash.analysis.robustness.bridge import CLEAN, Bridge
from gengap_dash.analysis.robustness.curves import FeatureSensitivity, SweepCurves
from gengap_dash.findings.model import Finding
from gengap_dash.findings.render import register_template_module

register_template_module("gengap_dash.findings.robustness")

DROP_WARNING = 0.10
"""A mean accuracy drop over every corruption and severity of at least 10 points is a warning;
so is a corruption that costs at least this much on average (its "breaking point" is the first
severity whose drop reaches it)."""

ECE_RISE_WARNING = 0.05
"""ECE that rises by at least 5 points under some corruption (over the clean ECE) is a warning:
the model stays confident while it errs."""

MATCH_SHARE = 0.5
"""A real split is called a match for a corruption when its MMD² to that corruption is at most
half its MMD² to the clean swept split (the corruption explains at least half the distance). A
split whose MMD² to the clean swept split is at or below 0 (the unbiased estimate cannot tell
them apart, e.g. on a few dozen rows) is "indistinct": there is no shift for the bridge to
explain."""

SENSITIVE_DROP = 0.05
"""A feature whose perturbation alone costs at least 5 points of accuracy (interval above 0) is
one the model is sensitive to (warning)."""


def robustness_findings(result: RobustnessResult) -> list[Finding]:
    """Summary, weakest corruption, calibration under corruption, one bridge finding per real
    split, and the most sensitive feature (tabular)."""
    findings = [summary_finding(result), *curve_findings(result.curves, kind=result.kind)]
    if result.bridge is not None:
        findings.extend(bridge_findings(result.bridge, kind=result.kind))
    if result.sensitivity is not None and len(result.sensitivity.table):
        findings.append(sensitivity_finding(result.sensitivity, split=result.split))
    return findings


def summary_finding(result: RobustnessResult) -> Finding:
    curves = result.curves
    drop = curves.mean_accuracy_drop
    severe = drop.value >= DROP_WARNING
    mce = curves.mean_corruption_error
    return Finding(
        "robustness.summary",
        "warning" if severe else "ok",
        split=curves.split,
        metric="accuracy",
        value=drop.value,
        low=drop.low,
        high=drop.high,
        threshold=DROP_WARNING,
        reason="large_mean_drop" if severe else "small_mean_drop",
        facts={
            "kind": result.kind,
            "n_corruptions": int(curves.errors.shape[0]),
            "clean_accuracy": curves.clean_accuracy.value,
            "mce": None if math.isnan(mce.value) else mce.value,
            "mce_low": None if math.isnan(mce.low) else mce.low,
            "mce_high": None if math.isnan(mce.high) else mce.high,
            "n": curves.n,
        },
        view="robustness",
    )


def curve_findings(curves: SweepCurves, *, kind: str = "image") -> list[Finding]:
    """The weakest corruption (with its breaking severity and the most harmless one) and the
    worst calibration under corruption."""
    findings: list[Finding] = []
    errors = curves.errors.sort_values("accuracy_drop", ascending=False, kind="stable")
    if len(errors):
        worst = errors.iloc[0]
        best = errors.iloc[-1]
        rows = curves.curves[curves.curves["corruption"] == worst["corruption"]]
        breaking = rows[rows["drop"] >= DROP_WARNING]
        severe = float(worst["accuracy_drop"]) >= DROP_WARNING
        findings.append(
            Finding(
                "robustness.weakest",
                "warning" if severe else "ok",
                split=curves.split,
                metric="accuracy",
                value=float(worst["accuracy_drop"]),
                low=float(worst["drop_low"]),
                high=float(worst["drop_high"]),
                threshold=DROP_WARNING,
                reason="breaks" if severe else "holds",
                facts={
                    "kind": kind,
                    "corruption": str(worst["corruption"]),
                    "corruption_error": _number(worst["corruption_error"]),
                    "breaking_severity": int(breaking["severity"].min()) if len(breaking) else None,
                    "worst_accuracy": float(rows["accuracy"].min()),
                    "best_corruption": str(best["corruption"]),
                    "best_drop": float(best["accuracy_drop"]),
                    "clean_accuracy": curves.clean_accuracy.value,
                },
                view="robustness",
            )
        )
    if len(curves.curves):
        row = curves.curves.loc[curves.curves["ece"].idxmax()]
        rise = float(row["ece"]) - curves.clean_ece.value
        overconfident = rise >= ECE_RISE_WARNING
        findings.append(
            Finding(
                "robustness.calibration",
                "warning" if overconfident else "ok",
                split=curves.split,
                metric="ece",
                value=float(row["ece"]),
                low=float(row["ece_low"]),
                high=float(row["ece_high"]),
                threshold=ECE_RISE_WARNING,
                reason="ece_rises" if overconfident else "ece_holds",
                facts={
                    "kind": kind,
                    "corruption": str(row["corruption"]),
                    "severity": int(row["severity"]),
                    "clean_ece": curves.clean_ece.value,
                    "accuracy": float(row["accuracy"]),
                },
                view="robustness",
            )
        )
    return findings


def bridge_findings(bridge: Bridge, *, kind: str = "image") -> list[Finding]:
    """Per real split: the closest corruption and severity, the runner-up, and whether it is a
    match (at most :data:`MATCH_SHARE` of the MMD² to clean data)."""
    findings = []
    for match in bridge.matches:
        if match.corruption == CLEAN:
            severity, reason = "ok", "like_clean"
        elif not match.clean_mmd2 > 0:  # MMD² cannot tell the split from clean data
            severity, reason = "ok", "indistinct"
        elif match.mmd2 <= MATCH_SHARE * match.clean_mmd2:
            severity, reason = "warning", "match"
        else:
            severity, reason = "info", "weak_match"
        findings.append(
            Finding(
                "robustness.bridge",
                severity,
                split=match.split,
                metric="mmd2",
                value=match.mmd2,
                threshold=MATCH_SHARE,
                reason=reason,
                reference=bridge.reference,
                facts={
                    "kind": kind,
                    "role": match.role,
                    "corruption": match.corruption,
                    "severity": match.severity,
                    "runner_up": match.runner_up,
                    "runner_up_severity": match.runner_up_severity,
                    "runner_up_mmd2": _number(match.runner_up_mmd2),
                    "clean_mmd2": match.clean_mmd2,
                    "n_split": match.n_split,
                    "n_reference": match.n_reference,
                },
                view="robustness",
            )
        )
    return findings


def sensitivity_finding(sensitivity: FeatureSensitivity, *, split: str) -> Finding:
    """The feature whose perturbation alone costs the most accuracy (and the next two)."""
    table = sensitivity.table
    top = table.iloc[0]
    sensitive = float(top["drop"]) >= SENSITIVE_DROP and float(top["low"]) > 0
    others = table[table["feature"] != top["feature"]].drop_duplicates("feature").head(2)
    return Finding(
        "robustness.feature_sensitivity",
        "warning" if sensitive else "ok",
        split=split,
        metric="accuracy",
        value=float(top["drop"]),
        low=float(top["low"]),
        high=float(top["high"]),
        threshold=SENSITIVE_DROP,
        reason="sensitive" if sensitive else "insensitive",
        facts={
            "feature": str(top["feature"]),
            "perturbation": str(top["perturbation"]),
            "severity": sensitivity.severity,
            "next": [
                {"feature": str(r.feature), "perturbation": str(r.perturbation), "drop": r.drop}
                for r in others.itertuples()
            ],
        },
        view="robustness",
    )


def _number(value: object) -> float | None:
    number = float(value)  # type: ignore[arg-type]
    return None if not np.isfinite(number) else number
