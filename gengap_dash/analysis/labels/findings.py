"""The label audit's verdicts, as data (thresholds documented in docs/data-quality.md; words in
``gengap_dash.findings.labels``)."""

from __future__ import annotations

import math

from gengap_dash.analysis.labels import LabelAudit
from gengap_dash.findings.model import Finding
from gengap_dash.findings.render import register_template_module
from gengap_dash.findings.unlabelled import unlabelled_findings

register_template_module("gengap_dash.findings.labels")

SUSPECT_SHARE = 0.02
"""An out-of-sample split where at least this share (2%) of labels look wrong is a warning:
its measured accuracy is off by about that much."""

COHORT_RATIO = 2.0
"""A cohort whose share of suspects is at least this multiple of its split's, with the lower
end of its interval above the split's share, is flagged (a cohort to relabel first)."""

MIN_SUSPECTS = 3
"""A split needs at least this many suspects for a warning (one or two in a small split are
noise, whatever their share)."""

SHIFTED_ROLES = ("shifted", "deployment")
"""Roles where the model errs more because the data moved: there confident learning's suspects
mix wrong labels with the model's own errors under shift, so they are reported as information
(look before relabelling), not as a warning."""

MIN_COHORT = 20
"""Cohorts with fewer samples are not flagged."""


def label_findings(audit: LabelAudit) -> list[Finding]:
    """Per split: the share of labels that look wrong and the accuracy without them; the
    cohorts whose labels look worst; splits that could not be audited."""
    findings: list[Finding] = []
    for split in audit.splits:
        if not split.audited:
            findings.append(
                Finding(
                    "labels.not_audited",
                    "info",
                    split=split.split,
                    reason="not_audited",
                    facts={"note": split.note, "n": split.n},
                    view="labels",
                )
            )
            continue
        many = split.share >= SUSPECT_SHARE and split.n_suspects >= MIN_SUSPECTS
        if split.in_sample:
            severity, reason = "info", "in_sample"
        elif split.role in SHIFTED_ROLES and many:
            severity, reason = "info", "under_shift"
        else:
            severity, reason = ("warning", "many_suspects") if many else ("ok", "few_suspects")
        findings.append(
            Finding(
                "labels.split",
                severity,
                split=split.split,
                metric="suspect_share",
                value=split.share,
                low=split.share_low,
                high=split.share_high,
                threshold=SUSPECT_SHARE,
                reason=reason,
                facts={
                    "n": split.n,
                    "n_suspects": split.n_suspects,
                    "in_sample": split.in_sample,
                    "accuracy": split.accuracy,
                    "accuracy_without": split.accuracy_without,
                    "accuracy_without_low": split.accuracy_without_low,
                    "accuracy_without_high": split.accuracy_without_high,
                },
                view="labels",
            )
        )
        findings.extend(_cohort_findings(audit, split))
    findings.extend(
        unlabelled_findings(audit.unlabelled, view="labels", needs=("the label audit",))
    )
    return findings


def _cohort_findings(audit: LabelAudit, split) -> list[Finding]:
    rows = audit.cohorts[
        (audit.cohorts["split"] == split.split) & (audit.cohorts["n"] >= MIN_COHORT)
    ]
    flagged = rows[
        (rows["share"] >= COHORT_RATIO * split.share)
        & (rows["low"] > split.share)
        & (rows["n_suspects"] > 0)
    ]
    if flagged.empty:
        return []
    row = flagged.loc[flagged["share"].idxmax()]
    return [
        Finding(
            "labels.cohort",
            "info" if split.in_sample or split.role in SHIFTED_ROLES else "warning",
            split=split.split,
            metric="suspect_share",
            value=float(row["share"]),
            low=float(row["low"]),
            high=float(row["high"]),
            threshold=COHORT_RATIO,
            reason="cohort_above_split",
            facts={
                "column": str(row["column"]),
                "cohort": str(row["cohort"]),
                "n": int(row["n"]),
                "n_suspects": int(row["n_suspects"]),
                "split_share": split.share,
            },
            view="labels",
        )
    ]


def headline_finding(audit: LabelAudit) -> Finding | None:
    """The validation or test split with the largest share of suspects (else a shifted or
    deployment split, else the training split)."""
    findings = [f for f in label_findings(audit) if f.kind == "labels.split"]
    roles = {a.split: a.role for a in audit.splits}
    held_out = (
        [f for f in findings if not f.facts["in_sample"] and roles[f.split] not in SHIFTED_ROLES]
        or [f for f in findings if not f.facts["in_sample"]]
        or findings
    )
    if not held_out:
        return None
    return max(held_out, key=lambda f: -math.inf if f.value is None else f.value)


def cohort_takeaway(audit: LabelAudit, column: str) -> Finding | None:
    """The cohort of ``column`` with the highest share of suspects (cohorts of at least
    :data:`MIN_COHORT` samples, on audited held-out splits first)."""
    rows = audit.cohorts[(audit.cohorts["column"] == column) & (audit.cohorts["n"] >= MIN_COHORT)]
    for keep in (
        lambda a: not a.in_sample and a.role not in SHIFTED_ROLES,  # validation and test first
        lambda a: not a.in_sample,
    ):
        chosen = rows[rows["split"].isin({a.split for a in audit.splits if a.audited and keep(a)})]
        if len(chosen):
            rows = chosen
            break
    if rows.empty:
        return None
    row = rows.loc[rows["share"].idxmax()]
    split = audit.split(str(row["split"]))
    flagged = row["share"] >= COHORT_RATIO * split.share and row["low"] > split.share
    return Finding(
        "labels.cohort",
        "warning" if flagged and split.role not in SHIFTED_ROLES and not split.in_sample else "ok",
        split=split.split,
        metric="suspect_share",
        value=float(row["share"]),
        low=float(row["low"]),
        high=float(row["high"]),
        threshold=COHORT_RATIO,
        reason="cohort_above_split" if flagged else "highest_cohort",
        facts={
            "column": column,
            "cohort": str(row["cohort"]),
            "n": int(row["n"]),
            "n_suspects": int(row["n_suspects"]),
            "split_share": split.share,
        },
        view="labels",
    )


def accuracy_takeaway(audit: LabelAudit) -> Finding | None:
    """The held-out split (validation or test first) whose accuracy rises most without its
    suspects."""
    audited = [a for a in audit.splits if a.audited and not a.in_sample]
    preferred = [a for a in audited if a.role not in SHIFTED_ROLES] or audited
    if not preferred:
        return None
    split = max(preferred, key=lambda a: a.accuracy_without - a.accuracy)
    return Finding(
        "labels.accuracy_change",
        "info",
        split=split.split,
        metric="accuracy",
        value=split.accuracy_without - split.accuracy,
        reason="without_suspects",
        facts={
            "accuracy": split.accuracy,
            "accuracy_without": split.accuracy_without,
            "n_suspects": split.n_suspects,
            "role": split.role,
        },
        view="labels",
    )


def share_takeaway(audit: LabelAudit) -> Finding | None:
    """The range of the share of suspects over validation and test splits, over shifted and
    deployment splits, and on the training split (the share chart's takeaway)."""
    audited = [a for a in audit.splits if a.audited]
    if not audited:
        return None
    facts: dict = {}
    groups = {
        "held_out": [a for a in audited if not a.in_sample and a.role not in SHIFTED_ROLES],
        "shifted": [a for a in audited if a.role in SHIFTED_ROLES],
    }
    for group, splits in groups.items():
        if splits:
            low = min(splits, key=lambda a: a.share)
            high = max(splits, key=lambda a: a.share)
            facts[f"{group}_low"] = [low.split, low.share]
            facts[f"{group}_high"] = [high.split, high.share]
    train = [a for a in audited if a.in_sample]
    if train:
        facts["train"] = [train[0].split, train[0].share]
    top = max(audited, key=lambda a: a.share)
    return Finding(
        "labels.overview",
        "info",
        split=top.split,
        metric="suspect_share",
        value=top.share,
        reason="share_range",
        facts=facts,
        view="labels",
    )
