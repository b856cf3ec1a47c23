"""Sentences of the OOD and review views' findings (``analysis/ood/findings.py``), and the
names of the scores."""

from __future__ import annotations

import pandas as pd

from gengap_dash.findings.model import Finding
from gengap_dash.findings.render import sentence
from gengap_dash.findings.words import number, percent, plural, points

SCORE_LABELS = {
    "msp": "1 − max softmax probability",
    "max_logit": "− max logit",
    "energy": "energy",
    "mahalanobis": "Mahalanobis distance",
    "knn": "kNN distance",
    "combined": "combined (OOD rank + error probability)",
}
"""How each score is named for people."""


def score_name(score: str) -> str:
    return SCORE_LABELS.get(score, score)


@sentence("ood.best_score")
def _best(finding: Finding) -> str:
    facts = finding.facts
    return (
        f"For this model, the {score_name(facts['score'])} separates shifted data from "
        f"{finding.reference} best (mean AUROC {number(finding.value, digits=2)} over "
        f"{plural(facts['n_splits'], 'split')}); the {score_name(facts['worst_score'])} does "
        f"worst ({number(facts['worst_auroc'], digits=2)}). Rankings differ between models, so "
        "use the one measured here."
    )


@sentence("ood.split")
def _split(finding: Finding) -> str:
    facts = finding.facts
    text = (
        f"{finding.split}: the {score_name(facts['score'])} tells it from {finding.reference} "
        f"with AUROC {number(finding.value, digits=2)}; at 95% of {finding.split} flagged, "
        f"{percent(facts['fpr95'])} of {finding.reference} is flagged too."
    )
    if facts.get("error_auroc") is not None:
        error_auroc = number(facts["error_auroc"], digits=2)
        text += f" It flags the model's errors there with AUROC {error_auroc}."
    return text


@sentence("ood.accuracy_estimate")
def _estimate(finding: Finding) -> str:
    facts = finding.facts
    estimate = f"{percent(finding.value)} (ATC; DoC {percent(facts['doc'])})"
    if facts["labelled"]:
        error = finding.value - facts["accuracy"]
        verdict = (
            "close enough to trust on data like this"
            if finding.reason == "estimate_close"
            else "too far off to trust on data like this"
        )
        return (
            f"{finding.split}: accuracy estimated without labels is {estimate}; measured "
            f"{percent(facts['accuracy'])} ({points(error)}), {verdict}."
        )
    drop = facts["validation_accuracy"] - finding.value
    if finding.reason == "estimated_drop":
        return (
            f"{finding.split} is unlabelled: its accuracy is estimated at {estimate}, "
            f"{points(drop, signed=False)} below validation."
        )
    return (
        f"{finding.split} is unlabelled: its accuracy is estimated at {estimate}, close to "
        f"validation's {percent(facts['validation_accuracy'])}."
    )


@sentence("review.queue")
def _queue(finding: Finding) -> str:
    facts = finding.facts
    flagged = plural(facts["n_flagged"], "sample")
    base = (
        f"{flagged} of {finding.split} ({percent(finding.value)}) score above the threshold that "
        f"flags {percent(finding.threshold, digits=0)} of {finding.reference} "
        f"({score_name(facts['score'])})"
    )
    if finding.reason == "many_flagged":
        return (
            f"{base}: far more than chance would flag; the top {facts['top']} are listed for "
            "review."
        )
    if finding.reason == "more_flagged":
        return (
            f"{base}: more than chance would flag ({facts['ratio']:.1f} times the false-alarm "
            f"rate, beyond sampling noise); the top {facts['top']} are listed for review."
        )
    return f"{base}: about what chance would flag."


def ood_table(report) -> pd.DataFrame:
    """AUROC / FPR@95 / error AUROC of an :class:`~gengap_dash.analysis.ood.OODReport` for
    people: one row per split and score."""
    frame = report.detection
    return pd.DataFrame(
        {
            "Split": frame["split"],
            "Score": [score_name(s) for s in frame["score"]],
            "AUROC": [number(v, digits=3) for v in frame["auroc"]],
            "FPR at 95% TPR": [percent(v) for v in frame["fpr95"]],
            "Error AUROC": [number(v, digits=3) for v in frame["error_auroc"]],
        }
    )


def accuracy_table(report) -> pd.DataFrame:
    """Measured and estimated accuracy per split, for people."""
    frame = report.accuracy
    return pd.DataFrame(
        {
            "Split": frame["split"],
            "Role": frame["role"],
            "Measured accuracy": [
                percent(v) if v == v else "unlabelled" for v in frame["accuracy"]
            ],
            "ATC estimate": [percent(v) for v in frame["atc"]],
            "DoC estimate": [percent(v) for v in frame["doc"]],
            "Mean confidence": [percent(v) for v in frame["mean_confidence"]],
        }
    )
