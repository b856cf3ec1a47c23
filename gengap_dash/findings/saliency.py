"""Sentences of the saliency view's findings (``gengap_dash.analysis.attribution.findings``).

One template per kind; numbers go through ``gengap_dash.findings.words``.
"""

from __future__ import annotations

from gengap_dash.findings.model import Finding
from gengap_dash.findings.render import sentence
from gengap_dash.findings.words import interval, number, percent


def _share(value: float | None, low: float | None, high: float | None) -> str:
    bounds = interval(low, high, unit="percent", digits=0)
    return f"{percent(value, digits=0)} {bounds}" if bounds else percent(value, digits=0)


def _value(value: float | None, low: float | None, high: float | None) -> str:
    bounds = interval(low, high, digits=2)
    return f"{number(value, digits=2)} {bounds}" if bounds else number(value, digits=2)


def _top(finding: Finding) -> str:
    return f"top-{round(100 * float(finding.facts.get('top_k', 0.2)))}%"


@sentence("saliency.attention_shift")
def _attention_shift(finding: Finding) -> str:
    facts = finding.facts
    method = facts["method_name"]
    overlap = _share(finding.value, finding.low, finding.high)
    floor = _share(facts["floor"], facts.get("floor_low"), facts.get("floor_high"))
    text = (
        f"On {finding.split}, {method}'s {_top(finding)} region overlaps the clean map of the "
        f"same sample ({finding.reference}) by {overlap}, against {floor} between clean runs"
    )
    if finding.reason == "attention_moved_far":
        return text + f": the model looks elsewhere on {finding.split} samples."
    if finding.reason == "attention_moved":
        return text + f": the model's attention moves on {finding.split} samples."
    return text + ": the model still looks at the same evidence."


@sentence("saliency.average_shift")
def _average_shift(finding: Finding) -> str:
    method = finding.facts["method_name"]
    distance = _value(finding.value, finding.low, finding.high)
    if finding.reason == "average_moved":
        return (
            f"On {finding.split}, {method}'s class-average maps move away from "
            f"{finding.reference}'s (distance {distance}, 1 - rank correlation; above "
            f"{number(finding.threshold, digits=2)}): the model attends to other regions there."
        )
    return (
        f"On {finding.split}, {method}'s class-average maps stay close to {finding.reference}'s "
        f"(distance {distance}, 1 - rank correlation)."
    )


@sentence("saliency.sanity")
def _sanity(finding: Finding) -> str:
    method = finding.facts["method_name"]
    similarity = _value(finding.value, finding.low, finding.high)
    if finding.reason == "fails_randomization":
        return (
            f"{method} fails the randomization test: with every layer's weights randomized its "
            f"maps keep a rank correlation of {similarity} with the trained model's (above "
            f"{number(finding.threshold, digits=1)}), so they show the input more than what the "
            "model learned."
        )
    return (
        f"{method} passes the randomization test: with the weights randomized its maps change "
        f"(rank correlation {similarity} with the trained model's)."
    )


@sentence("saliency.deletion")
def _deletion(finding: Finding) -> str:
    method = finding.facts["method_name"]
    auc = _value(finding.value, finding.low, finding.high)
    random_auc = number(finding.facts["random_auc"], digits=2)
    if finding.reason == "faithful":
        return (
            f"{method} is faithful on {finding.split}: removing its most-attributed pixels first "
            f"drops the confidence faster (deletion AUC {auc}) than a random order ({random_auc})."
        )
    return (
        f"{method} is no better than a random order on {finding.split}: deletion AUC {auc} "
        f"against {random_auc} for random pixels, so its maps may not show what the model uses."
    )


@sentence("saliency.feature_ranking")
def _feature_ranking(finding: Finding) -> str:
    facts = finding.facts
    method = facts["method_name"]
    correlation = number(finding.value, digits=2)
    if finding.reason == "ranking_changed":
        return (
            f"On {finding.split}, the model leans on other features ({method}): the ranking of "
            f"mean |attribution| correlates {correlation} with {finding.reference}'s, and the top "
            f"feature is {facts['top_feature']} instead of {facts['reference_top_feature']}."
        )
    return (
        f"On {finding.split}, the model leans on the same features as on {finding.reference} "
        f"({method}: ranking correlation {correlation}; top feature {facts['top_feature']})."
    )


@sentence("saliency.sample")
def _sample(finding: Finding) -> str:
    facts = finding.facts
    verdict = "right" if facts["label"] == facts["predicted"] else "wrong"
    text = (
        f"{facts['sample_id']} is a {facts['label']} that the model calls {facts['predicted']} "
        f"at {percent(facts['confidence'], digits=0)} confidence ({verdict})."
    )
    if finding.reason == "methods_agree":
        return text + (
            f" The {facts['n_methods']} methods agree on where the evidence is (mean rank "
            f"correlation {number(finding.value, digits=2)})."
        )
    if finding.reason == "methods_disagree":
        return text + (
            f" The {facts['n_methods']} methods disagree on where the evidence is (mean rank "
            f"correlation {number(finding.value, digits=2)}): read any single map with care."
        )
    return text


@sentence("saliency.grid")
def _grid(finding: Finding) -> str:
    facts = finding.facts
    return (
        f"On average {percent(finding.value, digits=0)} of each {facts['method_name']} map's "
        f"attribution sits in its top-{round(100 * float(facts['top_k']))}% pixels across these "
        f"{facts['n']} samples (an even spread would put "
        f"{percent(float(facts['top_k']), digits=0)} there)."
    )


@sentence("saliency.group_trend")
def _group_trend(finding: Finding) -> str:
    facts = finding.facts
    column, first_group, last_group = facts["column"], facts["first_group"], facts["last_group"]
    span = (
        f"from {percent(facts['first'], digits=0)} at {column} {first_group} to "
        f"{percent(finding.value, digits=0)} at {column} {last_group}"
    )
    if finding.reason == "falls_with_group":
        return (
            f"With {facts['method_name']}, the overlap with the clean map falls {span} (averaged "
            "over the shifted splits): the stronger the shift, the further the attention moves."
        )
    return (
        f"With {facts['method_name']}, the overlap with the clean map barely changes with "
        f"{column} ({span.replace('from ', '')})."
    )


@sentence("saliency.top_features")
def _top_features(finding: Finding) -> str:
    facts = finding.facts
    features = list(facts["features"])
    named = ", ".join(features[:-1]) + f" and {features[-1]}" if len(features) > 1 else features[0]
    return f"On {finding.split}, {facts['method_name']} finds the model leans most on {named}."


@sentence("saliency.shift_summary")
def _shift_summary(finding: Finding) -> str:
    facts = finding.facts
    top = f"top-{round(100 * float(facts['top_k']))}%"
    overlaps = f"{percent(finding.value, digits=0)} to {percent(facts['overlap_high'], digits=0)}"
    floors = f"{percent(facts['floor_low'], digits=0)} to {percent(facts['floor_high'], digits=0)}"
    if finding.reason == "moved":
        return (
            f"In {facts['n_moved']} of {facts['n_compared']} split-and-method pairs the {top} "
            f"region moves beyond the noise floor: shifted maps keep {overlaps} of the clean "
            f"map's {top} pixels, against {floors} between clean runs; the least is "
            f"{facts['worst_method']} on {facts['worst_split']}."
        )
    return (
        f"Shifted maps keep {overlaps} of the clean map's {top} pixels, against {floors} between "
        "clean runs: within the noise floor, attention does not move."
    )
