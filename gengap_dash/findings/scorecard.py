"""The words of the scorecard's findings: one template per finding kind.

The findings come from :mod:`gengap_dash.analysis.scorecard.findings`; their numbers are "worse
by" amounts in the metric's units (positive = worse), written here in points.
"""

from __future__ import annotations

from gengap_dash.findings.model import Finding
from gengap_dash.findings.render import sentence
from gengap_dash.findings.words import confidence_label, decimal
from gengap_dash.metrics.classification import MetricDefinition, get_metric

_NOUNS = {"nll": "loss", "ece": "calibration error"}


def _points(fraction: float | None) -> str:
    """A fraction in points, one decimal, no sign: ``0.0863 -> "8.6"``."""
    return decimal(None if fraction is None else 100 * fraction)


def _interval_points(low: float | None, high: float | None) -> str:
    return f"{_points(low)} to {_points(high)}"


def _interval_percent(low: float | None, high: float | None) -> str:
    return f"{_points(low)}% to {_points(high)}%"


def _bar(fraction: float) -> str:
    """``0.9 -> "90%"``, ``0.925 -> "92.5%"``."""
    return f"{_points(fraction)}%".replace(".0%", "%")


def _ci(f: Finding) -> str:
    return confidence_label(f.facts.get("confidence", 0.95))


def _value(f: Finding, value: float | None) -> str:
    return get_metric(f.metric or "accuracy").format_value(value)


def _in_sentence(label: str) -> str:
    """A label inside a sentence: ``"Accuracy" -> "accuracy"``, ``"NLL"`` unchanged."""
    if len(label) > 1 and label[1].islower():
        return label[0].lower() + label[1:]
    return label


def _with_more(text: str, f: Finding) -> str:
    """A problem as the headline: ``"...; 2 more problems below."``."""
    more = f.facts.get("more_problems")
    if not more:
        return text
    return f"{text.rstrip('.')}; {more} more problem{'s' if more > 1 else ''} below."


# --------------------------------------------------------------------------- fit


@sentence("scorecard.overfitting")
def _overfitting(f: Finding) -> str:
    facts, ci = f.facts, _ci(f)
    train, validation = _value(f, facts["train_value"]), _value(f, facts["validation_value"])
    if f.reason == "confirmed_by_loss_or_calibration":
        text = (
            f"Overfitting (mild in accuracy): train accuracy {train} vs validation {validation} "
            f"(gap {_points(f.value)} points, {ci} {_interval_points(f.low, f.high)}), but "
            f"{_evidence(facts['evidence'])}"
        )
    else:
        text = (
            f"Overfitting: train accuracy {train}, validation {validation}, gap "
            f"{_points(f.value)} points ({ci} {_interval_points(f.low, f.high)})."
        )
    return _with_more(text, f)


def _evidence(evidence: dict[str, dict[str, float]]) -> str:
    """``"validation loss is 0.149 against 0.000 on train: ..."``."""
    parts = []
    for index, (name, values) in enumerate(evidence.items()):
        definition = get_metric(name)
        noun = _NOUNS.get(name, _in_sentence(definition.label))
        numbers = (
            f"{definition.format_value(values['validation'])} against "
            f"{definition.format_value(values['train'])}"
        )
        parts.append(
            f"validation {noun} is {numbers} on train" if index == 0 else f"{noun} {numbers}"
        )
    text = " and ".join(parts)
    if "nll" in evidence:
        return text + ": the model is far more confident on data it has seen."
    return text + ": the model's confidence is far better founded on data it has seen."


@sentence("scorecard.underfitting")
def _underfitting(f: Finding) -> str:
    train = _value(f, f.value)
    interval = f"({_ci(f)} {_interval_percent(f.low, f.high)})"
    validation = f.facts.get("validation_value")
    if validation is None:
        text = (
            f"Underfitting: train accuracy is only {train} {interval}, below the "
            f"{_bar(f.threshold)} bar; the model does not fit its own training data well."
        )
    else:
        text = (
            f"Underfitting: train accuracy is only {train} {interval} and validation is close "
            f"at {_value(f, validation)}; the model does not fit even its training data (a "
            "bigger model, longer training or less regularisation may help)."
        )
    return _with_more(text, f)


@sentence("scorecard.fit_uncertain")
def _fit_uncertain(f: Finding) -> str:
    facts, ci = f.facts, _ci(f)
    interval = _interval_points(f.low, f.high)
    if f.reason == "interval_includes_zero":
        return (
            f"Possible overfitting: train accuracy {_value(f, facts['train_value'])}, validation "
            f"{_value(f, facts['validation_value'])}, gap {_points(f.value)} points, but the "
            f"{ci} ({interval}) includes no gap; more validation samples would tell."
        )
    return (
        f"Unclear whether the model overfits: train and validation accuracy differ by "
        f"{_points(f.value)} points, but the {ci} ({interval}) cannot rule out a gap of "
        f"{_points(f.threshold)} points or more; more validation samples would tell."
    )


@sentence("scorecard.fit_healthy")
def _fit_healthy(f: Finding) -> str:
    ci = _ci(f)
    interval = f"({ci} {_interval_points(f.low, f.high)})"
    if f.value is not None and f.value < 0:
        detail = "clearly" if f.reason == "better" else "within the noise,"
        return (
            f"No overfitting: validation accuracy is {_points(-f.value)} points above train, "
            f"{detail} ({ci} {_interval_points(-f.high, -f.low)}); strong augmentation or "
            "regularisation on the training data can do this."
        )
    if f.reason == "small_real_gap":
        return (
            f"No clear overfitting: train and validation accuracy differ by {_points(f.value)} "
            f"points {interval}, a real but small gap under the {_points(f.threshold)}-point "
            "threshold."
        )
    return (
        f"No clear overfitting: train and validation accuracy differ by {_points(f.value)} "
        f"points, within the noise {interval}."
    )


# --------------------------------------------------------------------------- shift


def _shift_noun(f: Finding) -> str:
    return "deployment shift" if f.facts.get("role") == "deployment" else "shift"


def _direction(f: Finding) -> tuple[str, str]:
    """``("below", "lo to hi")`` of the drop, or ``("above", ...)`` of the rise."""
    if f.value is not None and f.value < 0:
        return "above", _interval_points(-f.high, -f.low)
    return "below", _interval_points(f.low, f.high)


@sentence("scorecard.shift")
def _shift(f: Finding) -> str:
    facts = f.facts
    prefix = "Deployment" if facts.get("role") == "deployment" else "Shift"
    text = (
        f"{prefix}: {f.split} is {_points(abs(f.value))} points below {f.reference} ({_ci(f)} "
        f"{_interval_points(f.low, f.high)}); accuracy {_value(f, facts['split_value'])} vs "
        f"{_value(f, facts['reference_value'])}."
    )
    return _with_more(text, f)


@sentence("scorecard.shift_uncertain")
def _shift_uncertain(f: Finding) -> str:
    amount, noun, ci = _points(abs(f.value)), _shift_noun(f), _ci(f)
    if f.reason == "interval_includes_zero":
        return (
            f"Possible {noun}: {f.split} is {amount} points below {f.reference}, but the {ci} "
            f"({_interval_points(f.low, f.high)}) includes no drop; more samples would tell."
        )
    direction, shown = _direction(f)
    return (
        f"Unclear {noun}: {f.split} is {amount} points {direction} {f.reference} ({ci} "
        f"{shown}), too wide to rule out a drop of {_points(f.threshold)} points or more; more "
        "samples would tell."
    )


@sentence("scorecard.shift_healthy")
def _shift_healthy(f: Finding) -> str:
    direction, shown = _direction(f)
    if f.reason == "small_real_gap":
        detail = f"a real but small drop under the {_points(f.threshold)}-point threshold"
    elif f.reason == "better":
        detail = "clearly better"
    else:
        detail = "within the noise"
    return (
        f"No clear {_shift_noun(f)}: {f.split} is {_points(abs(f.value))} points {direction} "
        f"{f.reference}, {detail} ({_ci(f)} {shown})."
    )


# --------------------------------------------------------------------------- headline


@sentence("scorecard.too_noisy")
def _too_noisy(f: Finding) -> str:
    splits = f.facts["splits"]
    count = len(splits)
    return (
        f"No clear problem found, but {count} comparison{'s are' if count > 1 else ' is'} too "
        f"noisy to call ({', '.join(splits)}): more samples would settle it."
    )


@sentence("scorecard.no_gap")
def _no_gap(f: Finding) -> str:
    return "No clear generalization gap: no split is clearly worse than its reference in accuracy."


@sentence("scorecard.one_split")
def _one_split(f: Finding) -> str:
    return (
        f"Only one split ({f.split}, accuracy {_value(f, f.value)}): add a train or validation "
        "split to measure a gap."
    )


@sentence("scorecard.no_comparison")
def _no_comparison(f: Finding) -> str:
    return (
        "No verdict: the verdicts compare train with validation and shifted or deployment splits "
        "with test, and this project has neither pair; the gap charts still show the differences."
    )


# --------------------------------------------------------------------------- chart takeaways


def _short_change(definition: MetricDefinition, value: float) -> str:
    """Rounded for a takeaway: whole points from 10 up, one decimal below; 3 decimals else."""
    if definition.unit == "percent":
        return decimal(value, digits=0 if abs(value) >= 10 else 1)
    return decimal(value, digits=3)


def _worse_phrase(definition: MetricDefinition, amount: float, *, first: bool) -> str:
    """``"the model loses 31 points of accuracy"`` / ``"loses 6"`` / ``"NLL rises by 0.850"``."""
    size = _short_change(definition, amount)
    unit = " points" if definition.unit == "percent" else ""
    if definition.higher_is_better:
        if first:
            return f"the model loses {size}{unit} of {_in_sentence(definition.label)}"
        return f"loses {size}"
    return f"{definition.label} rises by {size}{unit}" if first else f"rises by {size}"


def split_label(name: str, role: str) -> str:
    """``"val (validation)"``, or just the name when it is the role (``"train"``)."""
    return name if name == role else f"{name} ({role})"


@sentence("scorecard.gap_takeaway")
def _gap_takeaway(f: Finding) -> str:
    facts = f.facts
    definition = get_metric(f.metric or "accuracy")
    if f.reason == "no_reference":
        word = str(facts["reference_word"]).replace("_", " ")
        return f"There is no {word} split, so there is no gap against it to show."
    if f.reason == "only_split":
        return f"{f.reference} is the only split, so there is no gap to show."
    reference = split_label(f.reference, facts["reference_role"])
    if f.reason == "none_worse":
        spread = facts["spread"]
        spread_text = "n/a" if spread is None else _short_change(definition, spread)
        text = (
            f"No split is clearly worse than {reference} in {_in_sentence(definition.label)}; "
            f"the differences are at most {spread_text}"
            f"{' points' if definition.unit == 'percent' else ''}"
        )
        unclear = facts["unclear"]
        if unclear:
            many = len(unclear) > 1
            text += (
                f", but the interval{'s' if many else ''} for {', '.join(unclear)} "
                f"{'are' if many else 'is'} too wide to tell"
            )
        return text + "."
    text = (
        f"Against {reference}, {_worse_phrase(definition, facts['worse_by'], first=True)} on "
        f"{f.split}, the largest {'drop' if definition.higher_is_better else 'rise'}"
    )
    extras = [
        f"{name} (deployment) {_worse_phrase(definition, amount, first=False)}"
        for name, amount in facts["deployment"]
    ]
    if not extras and facts.get("next"):
        name, amount = facts["next"]
        extras = [f"next is {name} ({_short_change(definition, amount)})"]
    if extras:
        text += "; " + ", ".join(extras)
    return text + "."


@sentence("scorecard.metric_takeaway")
def _metric_takeaway(f: Finding) -> str:
    definition = get_metric(f.metric or "accuracy")
    if f.reason == "none":
        return f"{definition.label} is not available on any split."
    if f.reason == "one":
        return f"{definition.label} is {definition.format_value(f.value)} on {f.split}."
    (best, best_value), (worst, worst_value) = f.facts["best"], f.facts["worst"]
    text = (
        f"{definition.label} is best on {best} ({definition.format_value(best_value)}) and worst "
        f"on {worst} ({definition.format_value(worst_value)})"
    )
    if f.facts.get("reference"):
        name, value = f.facts["reference"]
        text += f"; {name} is {definition.format_value(value)}"
    return text + "."
