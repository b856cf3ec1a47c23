"""Sentences of the calibration view's findings (``gengap_dash.analysis.calibration.findings``).

One template per kind; numbers go through ``gengap_dash.findings.words``.
"""

from __future__ import annotations

from gengap_dash.findings.model import Finding
from gengap_dash.findings.render import sentence
from gengap_dash.findings.tables import with_interval
from gengap_dash.findings.words import interval, join_names, number, percent, plural, points
from gengap_dash.metrics.registry import label as metric_label
from gengap_dash.metrics.registry import unit as metric_unit
from gengap_dash.stats.bootstrap import Estimate

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


def _metric_value(metric: str, value: float | None) -> str:
    """A calibration metric as the page writes it: ``6.1%``, ``+5.2 pts``, ``0.149``."""
    kind = metric_unit(metric)
    if kind == "percent":
        return percent(value)
    return points(value) if kind == "points" else number(value)


def _metric_estimate(metric: str, value: float, low: float | None, high: float | None) -> str:
    estimate = Estimate(
        value, float("nan") if low is None else low, float("nan") if high is None else high
    )
    return with_interval(_metric_value(metric, value), estimate, unit=metric_unit(metric))


def _bin_range(lower: float, upper: float) -> str:
    decimals = 0 if upper - lower >= 0.05 else 1 if upper - lower >= 0.005 else 2
    return f"{100 * lower:.{decimals}f}–{100 * upper:.{decimals}f}%"


@sentence("calibration.metrics_range")
def _metrics_range(finding: Finding) -> str:
    facts = finding.facts
    worst_split, best = finding.split, finding.reference
    if finding.reason == "single_split":
        ece = _metric_estimate("ece", finding.value, finding.low, finding.high)
        nll = _metric_estimate("nll", facts["nll"], facts.get("nll_low"), facts.get("nll_high"))
        return f"On {worst_split}, ECE is {ece} and NLL {nll}."
    text = (
        f"ECE ranges from {percent(facts['best_ece'])} on {best} to {percent(finding.value)} on "
        f"{worst_split}; "
    )
    if finding.reason == "intervals_apart":
        text += "their 95% intervals do not overlap, so the difference is real, not noise."
    else:
        text += "their 95% intervals overlap, so the difference may be noise."
    return text + (
        f" NLL goes from {number(facts['best_nll'])} on {best} to {number(facts['nll'])} on "
        f"{worst_split}."
    )


@sentence("calibration.worst_bin")
def _worst_bin(finding: Finding) -> str:
    facts = finding.facts
    confidence, accuracy = 100 * float(facts["confidence"]), 100 * float(facts["accuracy"])
    text = (
        f"On {finding.split}, the largest miscalibration is in the "
        f"{_bin_range(facts['lower'], facts['upper'])} confidence bin "
        f"({100 * float(facts['share']):.0f}% of its samples): "
    )
    if finding.reason == "overconfident":
        text += (
            f"the model claims {confidence:.1f}% there but is right only {accuracy:.1f}% of "
            "the time."
        )
    else:
        text += (
            f"the model claims only {confidence:.1f}% there but is right {accuracy:.1f}% of "
            "the time."
        )
    if finding.reference is not None:
        text += (
            f" {finding.reference} stays closest to the diagonal (ECE "
            f"{percent(facts['best_ece'])})."
        )
    sparse = int(facts["sparse_points"])
    if sparse:
        text += (
            f" {sparse} of the {int(facts['drawn_points'])} points come from bins with fewer "
            f"than {int(finding.threshold or 0)} samples; they are faded and their intervals "
            "are wide: they swing by chance."
        )
    return text


@sentence("calibration.diagrams")
def _diagrams(finding: Finding) -> str:
    method = _RECALIBRATION_NAMES.get(str(finding.facts["method"]), str(finding.facts["method"]))
    parts = [
        f"{split}: {percent(values['before'])} before, {percent(values['after'])} after "
        f"scaling, {percent(values['recalibrated'])} after {method}"
        for split, values in finding.facts["splits"].items()
    ]
    return "ECE " + "; ".join(parts) + "."


@sentence("calibration.cohort_extremes")
def _cohort_extremes(finding: Finding) -> str:
    facts = finding.facts
    column, metric = facts["column"], str(finding.metric)
    small, size = int(facts["too_small"]), int(facts["min_samples"])
    note = (
        f" {plural(small, 'cohort')} {'has' if small == 1 else 'have'} fewer than {size} "
        "samples: their values are shown as open markers without an interval, because so few "
        "samples cannot pin them down."
        if small
        else ""
    )
    if finding.reason == "all_too_small":
        return f"Every cohort of {column} is too small for an interval.{note}"
    value = _metric_estimate(metric, finding.value, finding.low, finding.high)
    text = (
        f"The worst cohort is {column} = {facts['worst_cohort']} on {finding.split}: "
        f"{metric_label(metric)} {value}"
    )
    if "best_cohort" in facts:
        best = _metric_estimate(metric, facts["best_value"], facts["best_low"], facts["best_high"])
        text += f"; the best is {column} = {facts['best_cohort']} on {facts['best_split']}: {best}"
    return text + "." + note


@sentence("calibration.selective")
def _selective(finding: Finding) -> str:
    facts = finding.facts
    opening = f"Keeping the {percent(facts['coverage'], digits=0)} most confident predictions"
    reference = finding.reference
    if finding.reason == "reference_only":
        text = (
            f"{opening}, error on {reference} is {percent(facts['reference_risk'])} "
            f"(against {percent(facts['reference_error_rate'])} when the model answers "
            "everything)."
        )
    else:
        link = "but" if finding.reason == "clearly_worse" else "and"
        text = (
            f"{opening}, error is {percent(facts['reference_risk'])} on {reference} {link} "
            f"{percent(finding.value)} on {finding.split}."
        )
    if "lowest_aurc_split" in facts:
        text += (
            f" Averaged over every coverage (AURC), error is lowest on "
            f"{facts['lowest_aurc_split']} ({100 * float(facts['lowest_aurc']):.2f}%) and "
            f"highest on {facts['highest_aurc_split']} "
            f"({100 * float(facts['highest_aurc']):.2f}%)."
        )
    return text
