"""The leakage view's verdicts, as data (thresholds documented in docs/data-quality.md; words in
``gengap_dash.findings.leakage``)."""

from __future__ import annotations

import math

import numpy as np

from gengap_dash.analysis.leakage import LeakageResult, LeakageSummary
from gengap_dash.findings.model import Finding
from gengap_dash.findings.render import register_template_module

register_template_module("gengap_dash.findings.leakage")

TWIN_SHARE = 0.01
"""A held-out split where at least this share (1%) of samples has a twin in train is a
warning; with an accuracy on the twins above the rest, the split overstates generalization."""

OVERSTATES_ROLES = ("validation", "test")
"""Roles whose accuracy is read as the model's generalization (the words say "overstates")."""


def leakage_findings(result: LeakageResult) -> list[Finding]:
    """Per held-out split: the share with a twin in train and the accuracy with and without one;
    exact copies; what could not be searched."""
    findings = [split_finding(result, summary) for summary in result.summaries]
    for summary in result.summaries:
        if summary.n_exact:
            findings.append(
                Finding(
                    "leakage.exact",
                    "warning",
                    split=summary.split,
                    metric="exact_duplicates",
                    value=float(summary.n_exact),
                    reason="exact_copies",
                    facts={"n": summary.n},
                    view="leakage",
                )
            )
    for note in result.notes:
        findings.append(
            Finding(
                "leakage.note", "info", reason="not_searched", facts={"note": note}, view="leakage"
            )
        )
    return findings


def split_finding(result: LeakageResult, summary: LeakageSummary) -> Finding:
    """The verdict of one split at the result's threshold."""
    many = summary.share >= TWIN_SHARE
    higher = summary.accuracy_twins > summary.accuracy_rest
    if not many:
        severity, reason = "ok", "few_twins"
    elif math.isnan(summary.accuracy):
        severity, reason = "warning", "many_twins_unlabelled"
    elif higher:
        severity, reason = "warning", "overstates"
    else:
        severity, reason = "warning", "many_twins"
    return Finding(
        "leakage.split",
        severity,
        split=summary.split,
        metric="twin_share",
        value=summary.share,
        low=summary.share_low,
        high=summary.share_high,
        threshold=TWIN_SHARE,
        reason=reason,
        facts={
            "n": summary.n,
            "n_twins": summary.n_twins,
            "n_exact": summary.n_exact,
            "role": summary.role,
            "similarity": result.threshold,
            "accuracy": summary.accuracy,
            "accuracy_twins": summary.accuracy_twins,
            "accuracy_twins_low": summary.accuracy_twins_low,
            "accuracy_twins_high": summary.accuracy_twins_high,
            "accuracy_rest": summary.accuracy_rest,
            "accuracy_rest_low": summary.accuracy_rest_low,
            "accuracy_rest_high": summary.accuracy_rest_high,
            "inflation": summary.inflation,
            "generalization": summary.role in OVERSTATES_ROLES,
        },
        view="leakage",
    )


def headline_finding(result: LeakageResult) -> Finding | None:
    """The test or validation split with the largest share of twins (else any split)."""
    findings = [split_finding(result, s) for s in result.summaries]
    preferred = [f for f in findings if f.facts["generalization"]] or findings
    return max(preferred, key=lambda f: (f.rank, f.value or 0.0)) if preferred else None


def accuracy_takeaway(result: LeakageResult) -> Finding | None:
    """The split whose accuracy its twins flatter most (the headline split when none has
    twins)."""
    with_twins = [s for s in result.summaries if s.n_twins and s.n_twins < s.n]
    if not with_twins:
        return headline_finding(result)
    return split_finding(result, max(with_twins, key=lambda s: s.inflation))


def share_takeaway(result: LeakageResult) -> Finding | None:
    """Every held-out split's share of twins, largest first (the share chart's takeaway)."""
    if not result.summaries:
        return None
    ranked = sorted(result.summaries, key=lambda s: -s.share)
    return Finding(
        "leakage.overview",
        "info",
        split=ranked[0].split,
        metric="twin_share",
        value=ranked[0].share,
        threshold=result.threshold,
        reason="share_by_split",
        facts={
            "with_twins": [[s.split, s.share, s.n_twins] for s in ranked if s.n_twins],
            "without": [s.split for s in ranked if not s.n_twins],
        },
        view="leakage",
    )


def similarity_takeaway(result: LeakageResult, split: str) -> Finding:
    """Where the split's similarities to train cross the threshold: how many samples lie at or
    above it, the least similar of those and the most similar sample below it (how clear the
    cut is)."""
    data = result.split(split)
    similarity = np.where(data.exact >= 0, 1.0, data.similarity.astype(np.float64))
    above = similarity >= result.threshold
    below = similarity[~above & np.isfinite(similarity)]
    return Finding(
        "leakage.similarity",
        "info",
        split=split,
        metric="cosine_similarity",
        value=float(similarity[above].min()) if above.any() else None,
        threshold=result.threshold,
        reason="cut",
        facts={
            "n_above": int(above.sum()),
            "n": data.n,
            "best_below": float(below.max()) if below.size else None,
        },
        view="leakage",
    )
