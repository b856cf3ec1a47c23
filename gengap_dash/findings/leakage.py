"""Sentences of the leakage view's findings (``analysis/leakage/findings.py``) and its tables."""

from __future__ import annotations

import pandas as pd

from gengap_dash.findings.model import Finding
from gengap_dash.findings.render import sentence
from gengap_dash.findings.words import (
    compact,
    join_names,
    number,
    percent,
    plural,
    points,
    with_interval,
)


@sentence("leakage.split")
def _split(finding: Finding) -> str:
    facts = finding.facts
    share = with_interval(percent(finding.value), finding.low, finding.high, unit="percent")
    similar = f"cosine similarity ≥ {number(facts['similarity'], digits=3)} or an exact copy"
    if finding.reason == "few_twins":
        return (
            f"{share} of {finding.split} has a near-twin in train ({similar}): no leakage to "
            "speak of."
        )
    if finding.reason == "many_twins_unlabelled":
        return (
            f"{share} of {finding.split} has a near-twin in train ({similar}); {finding.split} "
            "has no labels, so the accuracy on them cannot be compared with the rest."
        )
    twins = with_interval(
        percent(facts["accuracy_twins"]),
        facts["accuracy_twins_low"],
        facts["accuracy_twins_high"],
        unit="percent",
    )
    rest = with_interval(
        percent(facts["accuracy_rest"]),
        facts["accuracy_rest_low"],
        facts["accuracy_rest_high"],
        unit="percent",
    )
    text = (
        f"{share} of {finding.split} has a near-twin in train ({similar}); accuracy {twins} on "
        f"them, {rest} on the rest"
    )
    if finding.reason == "overstates":
        what = "generalization" if facts["generalization"] else "the model's accuracy there"
        return (
            f"{text}: the {finding.split} set overstates {what} by "
            f"{points(facts['inflation'], signed=False)}."
        )
    return f"{text}."


@sentence("leakage.exact")
def _exact(finding: Finding) -> str:
    return (
        f"{plural(int(finding.value), 'sample')} of {finding.split} "
        f"{'is an exact copy' if finding.value == 1 else 'are exact copies'} of a training "
        "input: remove them from the held-out data."
    )


@sentence("leakage.overview")
def _overview(finding: Finding) -> str:
    facts = finding.facts
    shares = [f"{percent(share)} of {split}" for split, share, _ in facts["with_twins"]]
    text = (
        f"Samples with a twin in train: {join_names(shares)}"
        if shares
        else "No held-out sample has a twin in train"
    )
    if facts["without"] and shares:
        text += f"; none in {join_names(facts['without'])}"
    return f"{text} (cosine ≥ {number(finding.threshold, digits=3)} or an exact copy)."


@sentence("leakage.similarity")
def _similarity(finding: Finding) -> str:
    facts = finding.facts
    if not facts["n_above"]:
        text = f"No sample of {finding.split} reaches {number(finding.threshold, digits=3)}"
    else:
        text = (
            f"{plural(facts['n_above'], 'sample')} of {finding.split} lie at or above "
            f"{number(finding.threshold, digits=3)} (the least similar of them at "
            f"{number(finding.value, digits=5)})"
        )
    if facts["best_below"] is not None:
        best = number(facts["best_below"], digits=5)
        text += f"; the most similar sample below the threshold is at {best}"
    return text + "."


@sentence("leakage.note")
def _note(finding: Finding) -> str:
    return str(finding.facts["note"])


def leakage_table(result) -> pd.DataFrame:
    """One row per held-out split, for people."""
    rows = result.summaries
    return pd.DataFrame(
        {
            "Split": [s.split for s in rows],
            "Samples": [s.n for s in rows],
            "With a twin": [s.n_twins for s in rows],
            "Exact copies": [s.n_exact for s in rows],
            "Share with a twin, % (95% CI)": [
                compact(s.share, s.share_low, s.share_high, unit="percent") for s in rows
            ],
            "Accuracy with twin, %": [
                compact(
                    s.accuracy_twins, s.accuracy_twins_low, s.accuracy_twins_high, unit="percent"
                )
                for s in rows
            ],
            "Accuracy without, %": [
                compact(s.accuracy_rest, s.accuracy_rest_low, s.accuracy_rest_high, unit="percent")
                for s in rows
            ],
            "Overstated by": [points(s.inflation) for s in rows],
        }
    )


def pairs_table(frame: pd.DataFrame, class_names) -> pd.DataFrame:
    """Pairs (from :func:`gengap_dash.analysis.leakage.pairs`) for people."""
    return pd.DataFrame(
        {
            "Sample": frame["sample_id"].astype(str),
            "Label": [class_names[int(v)] if v >= 0 else "(none)" for v in frame["label"]],
            "Correct": [
                ("yes" if v else "no") if y >= 0 else "n/a"
                for v, y in zip(frame["correct"], frame["label"], strict=True)
            ],
            "Twin in train": frame["train_id"].astype(str),
            "Twin's label": [class_names[int(v)] for v in frame["train_label"]],
            "Similarity": [
                "exact copy" if e else number(s, digits=4)
                for s, e in zip(frame["similarity"], frame["exact"], strict=True)
            ],
        }
    )
