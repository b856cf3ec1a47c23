"""Sentences of the label audit's findings (``analysis/labels/findings.py``) and its tables."""

from __future__ import annotations

import pandas as pd

from gengap_dash.findings.model import Finding
from gengap_dash.findings.render import sentence
from gengap_dash.findings.words import (
    compact,
    percent,
    plural,
    points,
    with_interval,
)


@sentence("labels.split")
def _split(finding: Finding) -> str:
    facts = finding.facts
    share = with_interval(percent(finding.value), finding.low, finding.high, unit="percent")
    without = with_interval(
        percent(facts["accuracy_without"]),
        facts["accuracy_without_low"],
        facts["accuracy_without_high"],
        unit="percent",
    )
    verb = "looks" if facts["n_suspects"] == 1 else "look"
    text = (
        f"{finding.split} accuracy {percent(facts['accuracy'])}; "
        f"{plural(facts['n_suspects'], 'label')} {verb} wrong: {share} of the split; without "
        f"{'it' if facts['n_suspects'] == 1 else 'them'} accuracy is {without}."
    )
    if finding.reason == "in_sample":
        return (
            f"{text} The model was trained on {finding.split}, so its probabilities there "
            "understate label noise: read this share as a lower bound."
        )
    if finding.reason == "under_shift":
        return (
            f"{text} {finding.split} is shifted data: many suspects there are the model's own "
            "errors under shift rather than wrong labels, so look at them before relabelling."
        )
    if finding.reason == "many_suspects":
        return f"{text} Relabel the suspects before trusting {finding.split}'s accuracy."
    return text


@sentence("labels.cohort")
def _cohort(finding: Finding) -> str:
    facts = finding.facts
    share = with_interval(percent(finding.value), finding.low, finding.high, unit="percent")
    text = (
        f"{finding.split}: labels look wrong most often where {facts['column']} = "
        f"{facts['cohort']}: {share} of {plural(facts['n'], 'sample')} against "
        f"{percent(facts['split_share'])} in the whole split"
    )
    if finding.reason == "cohort_above_split":
        return f"{text}; audit that cohort first."
    return f"{text}; no cohort stands out."


@sentence("labels.accuracy_change")
def _accuracy_change(finding: Finding) -> str:
    facts = finding.facts
    return (
        f"Without its {plural(facts['n_suspects'], 'suspect')}, {finding.split}'s accuracy goes "
        f"from {percent(facts['accuracy'])} to {percent(facts['accuracy_without'])} "
        f"({points(finding.value)}): if they are indeed mislabelled, the measured accuracy "
        "understates the model by about that much."
    )


@sentence("labels.overview")
def _overview(finding: Finding) -> str:
    facts = finding.facts
    parts = []
    for group, words in (
        ("held_out", "of validation and test data"),
        (
            "shifted",
            "of shifted and deployment data, where many are the model's own errors under shift",
        ),
    ):
        low, high = facts.get(f"{group}_low"), facts.get(f"{group}_high")
        if low is None:
            continue
        if low[0] == high[0]:
            parts.append(f"{percent(low[1])} ({low[0]}) {words}")
        else:
            parts.append(f"{percent(low[1])} ({low[0]}) to {percent(high[1])} ({high[0]}) {words}")
    text = "Labels look wrong on " + ", and on ".join(parts) if parts else "Labels look wrong"
    if facts.get("train") is not None:
        text += f"; {facts['train'][0]}: {percent(facts['train'][1])} (in-sample, a lower bound)"
    return text + "."


@sentence("labels.not_audited")
def _not_audited(finding: Finding) -> str:
    return f"{finding.split} was not audited: {finding.facts['note']}"


def audit_table(audit) -> pd.DataFrame:
    """One row per split, for people (shares and accuracies in percent with intervals)."""
    return pd.DataFrame(
        {
            "Split": [a.split for a in audit.splits],
            "Samples": [a.n for a in audit.splits],
            "Suspects": [a.n_suspects if a.audited else None for a in audit.splits],
            "Look wrong, % (95% CI)": [
                compact(a.share, a.share_low, a.share_high, unit="percent") for a in audit.splits
            ],
            "Accuracy, %": [
                compact(a.accuracy, a.accuracy_low, a.accuracy_high, unit="percent")
                for a in audit.splits
            ],
            "Without suspects, %": [
                compact(
                    a.accuracy_without,
                    a.accuracy_without_low,
                    a.accuracy_without_high,
                    unit="percent",
                )
                for a in audit.splits
            ],
            "Note": ["in-sample" if a.in_sample else a.note for a in audit.splits],
        }
    )


def suspects_table(audit, *, limit: int | None = None) -> pd.DataFrame:
    """The suspects, lowest label quality first, with class names, for people."""
    frame = audit.suspects if limit is None else audit.suspects.head(limit)
    names = audit.class_names
    return pd.DataFrame(
        {
            "Split": frame["split"].astype(str),
            "Sample": frame["sample_id"].astype(str),
            "Given label": [names[int(v)] for v in frame["label"]],
            "Predicted": [names[int(v)] for v in frame["pred"]],
            "Confidence": [percent(v) for v in frame["confidence"]],
            "Label quality": [f"{v:.3f}" for v in frame["label_quality"]],
        }
    )


def suspects_csv(audit) -> str:
    """The CSV of suspect ids for relabelling: split, sample_id, given and predicted label (class
    names), confidence, label quality; lowest quality first."""
    frame = audit.suspects
    names = audit.class_names
    return pd.DataFrame(
        {
            "split": frame["split"].astype(str),
            "sample_id": frame["sample_id"].astype(str),
            "given_label": [names[int(v)] for v in frame["label"]],
            "predicted_label": [names[int(v)] for v in frame["pred"]],
            "confidence": frame["confidence"].round(6),
            "label_quality": frame["label_quality"].round(6),
        }
    ).to_csv(index=False)
