"""Sentences of the calibration view's findings (``gengap_dash.analysis.calibration.findings``).

One template per kind; numbers go through ``gengap_dash.findings.words``.
"""

from __future__ import annotations

from gengap_dash.findings.model import Finding
from gengap_dash.findings.render import sentence
from gengap_dash.findings.words import interval, join_names, percent, points

GAIN_VERDICT_LABELS = {
    "fit split": "fitted here",
    "holds": "gain holds",
    "partial": "gain holds partly",
    "none": "no clear change",
    "worse": "worse after scaling",
}
"""Short labels of the temperature-scaling verdicts, for tables and hovers."""

_RECALIBRATION_NAMES = {"histogram": "histogram binning", "isotonic": "isotonic regression"}


def _level(finding: Finding) -> str:
    return f"{round(100 * float(finding.facts.get('confidence', 0.95)))}%"


def _ece_with_interval(value: float | None, low: float | None, high: float | None) -> str:
    bounds = interval(low, high, unit="percent")
    return f"{percent(value)} {bounds}" if bounds else percent(value)


@sentence("calibration.headline")
def _headline(finding: Finding) -> str:
    facts = finding.facts
    n_splits = int(facts["n_splits"])
    where = f"the {n_splits} splits shown" if n_splits > 1 else "the split shown"
    ece = _ece_with_interval(finding.value, finding.low, finding.high)
    if finding.severity == "ok":
        text = (
            f"The model is well calibrated on {where}: the largest ECE is {ece}, "
            f"on {finding.split}."
        )
    else:
        text = f"{finding.split} is the worst-calibrated split shown: ECE {ece}."
    confidence = percent(facts["mean_confidence"])
    accuracy = percent(facts["accuracy"])
    gap = points(abs(float(facts["overconfidence"])), signed=False)
    direction = facts["direction"]
    if direction == "overconfident":
        text += (
            f" The model is overconfident there: its mean confidence ({confidence}) is {gap} "
            f"above its accuracy ({accuracy})."
        )
    elif direction == "underconfident":
        text += (
            f" The model is underconfident there: its mean confidence ({confidence}) is {gap} "
            f"below its accuracy ({accuracy})."
        )
    else:
        text += (
            f" On average its confidence ({confidence}) matches its accuracy ({accuracy}) "
            "within the noise, so the error comes from individual confidence ranges."
        )
    if finding.reference is not None:
        reference = _ece_with_interval(
            facts["reference_ece"], facts.get("reference_low"), facts.get("reference_high")
        )
        text += f" On {finding.reference}, ECE is {reference}."
    if n_splits > 1:
        text += " " + _directions(
            int(facts["n_overconfident"]), int(facts["n_underconfident"]), n_splits
        )
    return text


def _directions(over: int, under: int, total: int) -> str:
    if over == total:
        return f"It is overconfident on every split shown ({total})."
    if under == total:
        return f"It is underconfident on every split shown ({total})."
    if over + under == 0:
        return "On every split shown its confidence matches its accuracy within the noise."
    parts = [f"overconfident on {over}"] if over else []
    parts += [f"underconfident on {under}"] if under else []
    rest = total - over - under
    text = f"Of the {total} splits shown, it is " + " and ".join(parts)
    if rest:
        text += f"; on {rest} its confidence matches its accuracy within the noise"
    return text + "."


@sentence("calibration.temperature_fit")
def _temperature_fit(finding: Finding) -> str:
    facts = finding.facts
    t = f"{float(facts['temperature']):.3g}"
    where = "validation" if facts.get("role") == "validation" else str(finding.split)
    before, after = percent(facts["ece_before"]), percent(facts["ece_after"])
    change = facts["change"]
    if change == "lower":
        effect = f"lowers {where} ECE from {before} to {after}"
    elif change == "higher":
        effect = f"raises {where} ECE from {before} to {after}"
    else:
        effect = f"leaves {where} ECE about where it was ({before} → {after}, no clear change)"
    meaning = facts["meaning"]
    if meaning == "overconfident":
        text = f"T = {t}: the model is overconfident; dividing its logits by {t} {effect}."
    elif meaning == "underconfident":
        text = (
            f"T = {t}: the model is underconfident; dividing its logits by {t} sharpens its "
            f"probabilities and {effect}."
        )
    else:
        text = (
            f"T = {t}: the model's confidence is already about right on {where}; dividing its "
            f"logits by {t} {effect}."
        )
    if not facts.get("converged", True):
        text += (
            f" The fit did not converge (the NLL on {finding.split} keeps falling towards the "
            "edge of the search range, for example because the logits separate the classes "
            "perfectly), so T is a bound rather than an optimum."
        )
    return text


@sentence("calibration.temperature_transfer")
def _temperature_transfer(finding: Finding) -> str:
    facts = finding.facts
    split = f"{finding.split} (under shift)" if facts.get("shifted") else str(finding.split)
    move = f"ECE {percent(facts['ece_before'])} → {percent(facts['ece_after'])}"
    bounds = interval(finding.low, finding.high, unit="points")
    change = points(finding.value)
    detail = f"{change}, {_level(finding)} interval {bounds[1:-1]}" if bounds else change
    fit = f"{finding.reference}'s {percent(facts['fit_ece_after'])}"
    tolerance = points(finding.threshold, digits=0, signed=False)
    verdict = finding.reason
    if verdict == "holds":
        return (
            f"On {split} the gain holds: {move} ({detail}), within {tolerance} of {fit} after "
            "scaling."
        )
    if verdict == "partial":
        return (
            f"On {split} the gain holds only partly: {move} ({detail}), still more than "
            f"{tolerance} above {fit} after scaling."
        )
    if verdict == "none":
        return (
            f"On {split} temperature scaling makes no clear difference: {move} ({detail}; the "
            "interval includes zero)."
        )
    return f"On {split} temperature scaling makes calibration worse: {move} ({detail})."


@sentence("calibration.recalibration")
def _recalibration(finding: Finding) -> str:
    name = _RECALIBRATION_NAMES.get(str(finding.facts["method"]), str(finding.facts["method"]))
    parts = [f"{percent(finding.value)} on {finding.split} (where it was fit)"]
    parts += [f"{percent(value)} on {split}" for split, value in finding.facts["others"].items()]
    return f"For comparison, {name} fit on {finding.split} gives ECE {join_names(parts)}."
