"""The OOD and review views' verdicts, as data (thresholds documented in
docs/feature-space.md; words in ``gengap_dash.findings.ood``)."""

from __future__ import annotations

import math

from gengap_dash.analysis.ood.report import OODReport
from gengap_dash.analysis.ood.review import ReviewQueue
from gengap_dash.findings.model import Finding
from gengap_dash.findings.render import register_template_module

register_template_module("gengap_dash.findings.ood")

DETECTABLE_AUROC = 0.75
"""A split whose best score separates it from the reference with this AUROC is flagged as out
of distribution (warning)."""

ESTIMATE_TOLERANCE = 0.05
"""An accuracy estimate this far (5 points) from the measured accuracy is called unreliable; an
unlabelled split estimated this far below validation accuracy is a warning."""

FLAGGED_RATIO = 2.0
"""A review queue that flags at least this multiple of the false-alarm rate is a warning."""

FLAGGED_Z = 3.0
"""Below :data:`FLAGGED_RATIO`, a flagged share this many standard errors above the false-alarm
rate is still more than chance (a warning); the standard error counts the split's binomial noise
and the threshold's (a quantile of the reference's scores)."""


def ood_findings(report: OODReport) -> list[Finding]:
    """Which score works best for this model; per split, how separable it is; per split, the
    accuracy estimated without labels."""
    findings: list[Finding] = []
    detection = report.detection
    if len(detection):
        means = detection.groupby("score", sort=False)["auroc"].mean()
        best, worst = str(means.idxmax()), str(means.idxmin())
        findings.append(
            Finding(
                "ood.best_score",
                "info",
                metric="auroc",
                value=float(means[best]),
                reason="highest_mean_auroc",
                reference=report.reference,
                facts={
                    "score": best,
                    "worst_score": worst,
                    "worst_auroc": float(means[worst]),
                    "n_splits": int(detection["split"].nunique()),
                },
                view="ood",
            )
        )
        for split, rows in detection.groupby("split", sort=False):
            row = rows.loc[rows["auroc"].idxmax()]
            separable = row["auroc"] >= DETECTABLE_AUROC
            findings.append(
                Finding(
                    "ood.split",
                    "warning" if separable else "ok",
                    split=str(split),
                    metric="auroc",
                    value=float(row["auroc"]),
                    threshold=DETECTABLE_AUROC,
                    reason="separable" if separable else "not_separable",
                    reference=report.reference,
                    facts={
                        "score": str(row["score"]),
                        "fpr95": float(row["fpr95"]),
                        "error_auroc": None
                        if math.isnan(row["error_auroc"])
                        else float(row["error_auroc"]),
                    },
                    view="ood",
                )
            )
    validation_accuracy = float("nan")
    if report.validation:
        validation_row = report.accuracy[report.accuracy["split"] == report.validation]
        validation_accuracy = float(validation_row["accuracy"].iloc[0])
    for row in report.accuracy.itertuples():
        if row.split == report.validation or row.role == "train" or math.isnan(row.atc):
            continue
        if row.labelled:
            error = row.atc - row.accuracy
            off = abs(error) > ESTIMATE_TOLERANCE
            severity, reason = ("warning", "estimate_off") if off else ("ok", "estimate_close")
        else:
            drop = validation_accuracy - row.atc
            off = drop > ESTIMATE_TOLERANCE
            severity, reason = ("warning", "estimated_drop") if off else ("ok", "no_estimated_drop")
        findings.append(
            Finding(
                "ood.accuracy_estimate",
                severity,
                split=row.split,
                metric="accuracy",
                value=row.atc,
                threshold=ESTIMATE_TOLERANCE,
                reason=reason,
                reference=report.validation,
                facts={
                    "labelled": bool(row.labelled),
                    "accuracy": None if math.isnan(row.accuracy) else row.accuracy,
                    "doc": row.doc,
                    "mean_confidence": row.mean_confidence,
                    "validation_accuracy": validation_accuracy,
                },
                view="ood",
            )
        )
    return findings


def review_findings(queue: ReviewQueue) -> list[Finding]:
    """How many samples of the split the threshold flags, against the false-alarm rate."""
    share = queue.n_flagged / max(1, queue.n)
    rate = queue.false_alarm
    inverse_sizes = 1 / max(1, queue.n) + (1 / queue.n_reference if queue.n_reference else 0.0)
    z = (share - rate) / math.sqrt(rate * (1 - rate) * inverse_sizes)
    if share >= FLAGGED_RATIO * rate:
        reason = "many_flagged"
    elif z >= FLAGGED_Z:
        reason = "more_flagged"
    else:
        reason = "few_flagged"
    return [
        Finding(
            "review.queue",
            "ok" if reason == "few_flagged" else "warning",
            split=queue.split,
            metric="flagged_share",
            value=share,
            threshold=queue.false_alarm,
            reason=reason,
            reference=queue.reference,
            facts={
                "score": queue.score,
                "n": queue.n,
                "n_flagged": queue.n_flagged,
                "top": len(queue.queue),
                "ratio": share / rate,
                "z": float(z),
            },
            view="review",
        )
    ]
