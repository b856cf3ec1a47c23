"""Sentences of the shift view's and the map's findings (``analysis/shift/findings.py``)."""

from __future__ import annotations

import pandas as pd

from gengap_dash.findings.model import Finding
from gengap_dash.findings.render import sentence
from gengap_dash.findings.words import interval, join_names, number, percent, plural, with_interval


def p_value(value: float | None) -> str:
    """``"p = 0.012"``, ``"p < 0.001"``."""
    if value is None:
        return "p n/a"
    return "p < 0.001" if value < 0.001 else f"p = {value:.3f}"


@sentence("shift.nothing_to_compare")
def _nothing(finding: Finding) -> str:
    return (
        f"There is no shifted or deployment split to compare with {finding.reference}, so "
        "nothing was tested for shift."
    )


@sentence("shift.split")
def _split(finding: Finding) -> str:
    facts = finding.facts
    bounds = interval(finding.low, finding.high, digits=2)
    auc = f"{number(finding.value, digits=2)} {bounds}".strip()
    mmd = f"MMD² {number(facts['mmd2'], digits=4)} ({p_value(facts['mmd_p_adjusted'])})"
    ks = (
        f"{facts['n_ks_classes']} of {facts['n_classes']} class probabilities changed "
        f"(KS, Bonferroni)"
    )
    if finding.reason == "strong_shift":
        head = f"{finding.split} has clearly moved away from {finding.reference}"
    elif finding.reason == "shift_detected":
        head = f"{finding.split} has shifted from {finding.reference}, but mildly"
    else:
        head = f"No shift detected between {finding.split} and {finding.reference}"
    return (
        f"{head}: a classifier tells them apart with AUC {auc}, where 0.5 means not at all; "
        f"{mmd} on the {facts['features']}; {ks}."
    )


@sentence("shift.cluster")
def _cluster(finding: Finding) -> str:
    facts = finding.facts
    what = "labelled" if facts.get("labelled", True) else "predicted"
    error = (
        f"; the model's error rate there is {percent(facts['error_rate'])}"
        if facts.get("error_rate") is not None and facts["error_rate"] == facts["error_rate"]
        else ""
    )
    return (
        f"Cluster {facts['cluster']} (mostly {what} {facts['top_class']}, "
        f"{percent(facts['top_class_share'], digits=0)}) holds {percent(finding.value)} of "
        f"{finding.split} and {percent(facts['reference_share'])} of {finding.reference}{error}."
    )


@sentence("shift.label_shift")
def _label_shift(finding: Finding) -> str:
    facts = finding.facts
    share = with_interval(percent(finding.value), finding.low, finding.high, unit="percent")
    text = (
        f"Without labels, class {facts['class_name']} is estimated at {share} of "
        f"{finding.split}, against {percent(facts['reference_share'])} of validation "
        f"(black-box shift estimation)."
    )
    observed = facts.get("observed_share")
    if observed is not None and observed == observed:
        text += f" Its labels give {percent(observed)}, inside the interval."
    else:
        text += " The estimate assumes only the class mix changed."
    return text


@sentence("shift.label_shift_check")
def _label_shift_check(finding: Finding) -> str:
    splits = list(finding.facts["splits"])
    return (
        f"Estimating class proportions without labels (black-box shift estimation) misses the "
        f"true class mix of {join_names(splits)} ({len(splits)} of "
        f"{finding.facts['n_labelled']} labelled splits tested): there the inputs changed, not "
        "only the class mix, so such estimates on unlabelled splits deserve caution."
    )


@sentence("shift.over_time")
def _over_time(finding: Finding) -> str:
    facts = finding.facts
    windows = plural(facts["n_windows"], "time window")
    if finding.reason == "window_shifted":
        return (
            f"{finding.split} moved away from {finding.reference} in {facts['n_shifted']} of "
            f"{windows}, first in the window from {facts['first_start']} "
            f"({p_value(facts['first_p'])}, MMD, Benjamini-Hochberg across windows)."
        )
    return (
        f"No time window of {finding.split} differs from {finding.reference} ({windows} "
        "tested, MMD, Benjamini-Hochberg across windows)."
    )


@sentence("embedding_map.separation")
def _separation(finding: Finding) -> str:
    facts = finding.facts
    method = "UMAP" if facts["method"] == "umap" else "PCA"
    separated = list(facts.get("separated", []))
    if separated:
        head = (
            f"On the {method} map, {join_names(separated)} "
            f"{'sits' if len(separated) == 1 else 'sit'} apart from {finding.reference}"
        )
    else:
        head = f"On the {method} map, every split overlaps {finding.reference}"
    return (
        f"{head}; {finding.split} is the most apart (separation {number(finding.value, digits=2)} "
        f"on a scale from 0, mixed, to 1, apart; {facts['n_points']:,} points)."
    )


def shift_table(report) -> pd.DataFrame:
    """The shift tests of a :class:`~gengap_dash.analysis.shift.ShiftReport` for people: one
    row per compared split."""
    rows = []
    for item in report.splits:
        rows.append(
            {
                "Split": item.split,
                "Role": item.role,
                "Samples": item.n,
                "Domain AUC (95% CI)": with_interval(
                    number(item.domain.auc, digits=2),
                    item.domain.low,
                    item.domain.high,
                    unit="number",
                ),
                "MMD²": number(item.mmd.mmd2, digits=4),
                "MMD p": p_value(item.mmd.p_value),
                "KS p (Bonferroni)": p_value(item.ks.p_value),
                "Label shift (TV)": number(item.label_shift.total_variation, digits=3)
                if item.label_shift is not None
                else "n/a",
            }
        )
    return pd.DataFrame(rows)
