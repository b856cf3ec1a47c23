"""The words of the learning-curve findings: one template per finding kind.

The findings come from :mod:`gengap_dash.analysis.learning_curves.findings`; every number is
written with :mod:`gengap_dash.findings.words`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from gengap_dash.data.training_logs import metric_label
from gengap_dash.findings.model import Finding
from gengap_dash.findings.render import render, sentence
from gengap_dash.findings.words import (
    capital,
    count,
    plural,
    position,
    ratio,
    relative,
    significant,
)

_num = significant
_x = position


def _held(finding: Finding) -> str:
    """``"validation loss"``."""
    return metric_label(finding.split or "validation", finding.metric or "")


def _train(finding: Finding) -> str:
    return metric_label("train", finding.metric or "")


def _at(finding: Finding, key: str) -> str:
    """``"epoch 13"``."""
    return f"{finding.facts['unit']} {_x(finding.facts.get(key))}"


def _change(start: float, end: float, mode: str, *, improving: bool = False) -> str:
    """A move from ``start`` to ``end``: relative for losses, absolute for accuracies."""
    if mode == "min":
        change = (end - start) / abs(start) if start else math.inf
        return f"fell {relative(-change)}" if improving else f"rose {relative(change)}"
    difference = end - start
    return f"rose by {_num(difference)}" if improving else f"fell by {_num(-difference)}"


def _within(start: float, end: float, mode: str) -> str:
    """``"ended within 4.3% of it"``, or ``"ended level with it"`` when the difference rounds
    to nothing."""
    if mode == "min":
        change = abs(end - start) / abs(start) if start else math.inf
        if change < 0.0005:
            return "ended level with it"
        return f"ended within {relative(change)} of it"
    difference = abs(end - start)
    if difference == 0 or _num(difference) in ("0", "0.00"):
        return "ended level with it"
    return f"ended within {_num(difference)} of it"


# --------------------------------------------------------------------------- run verdict


@sentence("learning_curves.overfitting_minimum")
def _overfitting_minimum(f: Finding) -> str:
    facts, unit = f.facts, f.facts["unit"]
    bottom = "bottomed" if facts["mode"] == "min" else "peaked"
    change = _change(facts["best_value"], facts["final_value"], facts["mode"])
    trend = facts.get("train_after_onset")
    train_part = ""
    if trend is not None:
        improving = "kept falling" if facts["mode"] == "min" else "kept rising"
        train_part = f" while {_train(f)} {improving if trend == 'improving' else 'stayed flat'}"
    return (
        f"{capital(_held(f))} {bottom} at {_at(f, 'best_x')} ({_num(facts['best_value'])}) and "
        f"{change} by the last {unit} ({_num(facts['final_value'])} at {_at(f, 'final_x')})"
        f"{train_part}: overfitting began around {_at(f, 'onset_x')}."
    )


@sentence("learning_curves.overfitting_gap")
def _overfitting_gap(f: Finding) -> str:
    facts, unit = f.facts, f.facts["unit"]
    gap_name = (
        f"gap between {_held(f)} and {_train(f)}" if facts["has_train"] else f"gap in {f.metric}"
    )
    return (
        f"The {gap_name} began to widen around {_at(f, 'onset_x')} and reached {_num(f.value)} "
        f"by the last {unit}, while {_held(f)} stalled (best {_num(facts['best_value'])} at "
        f"{_at(f, 'best_x')}, last {_num(facts['final_value'])}): the model is overfitting, "
        "fitting the training set without generalising better."
    )


@sentence("learning_curves.unstable")
def _unstable(f: Finding) -> str:
    facts = f.facts
    return (
        f"{capital(_held(f))} and {_train(f)} both got worse after {_at(f, 'diverged_x')} "
        f"({_held(f)} from {_num(facts['best_value'])} to {_num(facts['final_value'])}): "
        "training became unstable (a learning rate too high, or a numerical problem) rather "
        "than overfitting."
    )


@sentence("learning_curves.still_improving")
def _still_improving(f: Finding) -> str:
    facts, unit = f.facts, f.facts["unit"]
    who = (
        f"{capital(_train(f))} and {_held(f)} were both"
        if facts["has_train"]
        else f"{capital(_held(f))} was"
    )
    verb = "falling" if facts["mode"] == "min" else "rising"
    change = _change(facts["from_value"], facts["final_value"], facts["mode"], improving=True)
    return (
        f"{who} still {verb} at the last {unit} ({_held(f)} {change} since "
        f"{_at(f, 'from_x')}, to {_num(facts['final_value'])}): the model is underfitting; "
        "training longer is likely to help."
    )


@sentence("learning_curves.both_high")
def _both_high(f: Finding) -> str:
    facts = f.facts
    return (
        f"{capital(_train(f))} only went from {_num(facts['first_train'])} to "
        f"{_num(facts['final_train'])}, and {_held(f)} stays close to it (gap "
        f"{_num(facts['final_gap'])}): both are high, so the model is underfitting (more "
        "capacity, less regularisation or a higher learning rate may help)."
    )


def _noise_text(f: Finding) -> str:
    unit, share = f.facts["unit"], f.facts["share"]
    share_text = f"{share:.0%}" if share is not None and math.isfinite(share) else "all"
    return (
        f"{capital(_held(f))} is noisy: its {unit}-to-{unit} noise (±{_num(f.value)}) is "
        f"{share_text} of its total movement"
    )


@sentence("learning_curves.noisy")
def _noisy(f: Finding) -> str:
    facts, unit = f.facts, f.facts["unit"]
    return (
        f"{_noise_text(f)}, so its best {unit} ({_x(facts['best_x'])}, "
        f"{_num(facts['best_value'])}) and the early-stopping point are unreliable; a larger "
        "validation set or smoothing would help."
    )


@sentence("learning_curves.noise")
def _noise(f: Finding) -> str:
    return f"{_noise_text(f)}, so read the {f.facts['unit']} numbers above as approximate."


@sentence("learning_curves.healthy")
def _healthy(f: Finding) -> str:
    facts, unit = f.facts, f.facts["unit"]
    gap_part = (
        f"; the final gap to {_train(f)} is {_num(facts['final_gap'])}"
        if facts.get("final_gap") is not None
        else ""
    )
    if facts["best_x"] == facts["final_x"]:
        reached = (
            f"{capital(_held(f))} reached its best at the last {unit} ({_x(facts['best_x'])}, "
            f"{_num(facts['best_value'])})"
        )
    else:
        within = _within(facts["best_value"], facts["final_value"], facts["mode"])
        reached = (
            f"{capital(_held(f))} reached its best at {_at(f, 'best_x')} "
            f"({_num(facts['best_value'])}) and {within} ({_num(facts['final_value'])} at "
            f"{_at(f, 'final_x')})"
        )
    return f"{reached}{gap_part}. No clear sign of overfitting or underfitting."


@sentence("learning_curves.early_stopping")
def _early_stopping(f: Finding) -> str:
    facts = f.facts
    if f.reason == "no_held_out":
        return ""
    unit = facts["unit"]
    prefix = f"Early stopping with patience {facts['patience']}"
    if f.reason == "never_stopped":
        return f"{prefix} would not have stopped before the last {unit} ({_x(facts['final_x'])})."
    stop = f"{prefix} would have stopped at {_at(f, 'stop_x')}"
    kept = f"{_held(f)} {_num(facts['best_value'])} ({_at(f, 'best_x')})"
    final = _num(facts["final_value"])
    if f.reason == "kept_worse":
        return (
            f"{stop}, keeping {kept}, worse than the final {final}: on this run training to the "
            f"last {unit} did better."
        )
    if f.reason == "kept_same":
        return f"{stop}, keeping {kept}, the same as the final {final}."
    return f"{stop}, keeping {kept}, better than the final {final}."


@sentence("learning_curves.checkpoint")
def _checkpoint(f: Finding) -> str:
    facts, unit = f.facts, f.facts["unit"]
    where = f"The loaded checkpoint is from {_at(f, 'checkpoint_x')}"
    if f.reason == "not_logged":
        return f"{where}, where {_held(f)} was not logged."
    if f.reason == "at_best":
        return f"{where}, the best {unit} ({_held(f)} {_num(f.value)})."
    return (
        f"{where}, where {_held(f)} was {_num(f.value)} (best {_num(facts['best_value'])} at "
        f"{_at(f, 'best_x')})."
    )


def verdict_text(findings: Iterable[Finding]) -> str:
    """A run's (or the data-size) verdict in one paragraph: its findings' sentences joined."""
    return " ".join(text for text in (render(f) for f in findings) if text)


# --------------------------------------------------------------------------- data size


@sentence("learning_curves.data_size")
def _data_size(f: Finding) -> str:
    facts = f.facts
    largest = facts["largest"]
    if facts["mode"] == "min":
        noun = capital(_held(f))
    else:
        noun = f"{capital(f.split or 'validation')} error ({facts['error_label']})"
    doubled = (
        f"doubling the training set to {count(2 * largest)} would bring it from "
        f"{_num(facts['current_error'])} to ~{_num(facts['doubled_error'])}"
    )
    falls = f"{noun} falls as n^-{facts['exponent']:.2f}"
    target = _num(facts.get("target_error"))
    if f.reason == "flattened":
        return (
            "The curve has flattened: more data of the same kind is unlikely to close the gap "
            f"({doubled})."
        )
    if f.reason == "unknown":
        return f"{falls}; {doubled}. No train values to compare with."
    if f.reason == "closed":
        return f"{falls}; at {count(largest)} samples it is already at the train level ({target})."
    if f.reason == "limited":
        return (
            f"{falls} but levels off near {_num(facts['floor_error'])}, above the train level of "
            f"{target}: more data of the same kind will narrow the gap but not close it; "
            f"{doubled}."
        )
    needed, times = count(facts["size_needed"]), ratio(facts["ratio"])
    if f.reason == "far":
        return (
            f"{falls}; reaching the train level of {target} would take ~{needed} samples "
            f"({times} now), far beyond the sizes measured: more data alone is an expensive way "
            f"to close the gap; {doubled}."
        )
    return (
        f"{falls}; ~{needed} training samples ({times} now) would bring it to the train level "
        f"of {target}."
    )


@sentence("learning_curves.loose_fit")
def _loose_fit(f: Finding) -> str:
    return (
        f"The power law fits the points loosely (R² = {f.value:.2f}), so treat these numbers as "
        "rough."
    )


@sentence("learning_curves.data_size_takeaway")
def _data_size_takeaway(f: Finding) -> str:
    facts = f.facts
    when = "at the last epoch" if facts["at"] == "final" else "at the best epoch"
    text = (
        f"{capital(_held(f))} {when} goes from {_num(facts['first_value'])} with "
        f"{plural_samples(facts['smallest'])} to {_num(facts['last_value'])} with "
        f"{count(facts['largest'])}"
    )
    if f.reason in ("narrows", "widens"):
        text += (
            f", while the gap to train {f.reason} from {_num(facts['first_gap'])} to "
            f"{_num(facts['last_gap'])}"
        )
    return text + (
        f". The dashed line is the power law fitted to the {facts['error_label']} (exponent "
        f"{facts['exponent']:.2f}, R² = {facts['r_squared']:.2f})."
    )


def plural_samples(n: float) -> str:
    """``"1 training sample"``, ``"800 training samples"`` (rounded as :func:`count`)."""
    return f"{count(n)} training sample{'' if round(n) == 1 else 's'}"


# --------------------------------------------------------------------------- chart takeaways


@sentence("learning_curves.curves_takeaway")
def _curves_takeaway(f: Finding) -> str:
    facts, unit, held = f.facts, f.facts["unit"], _held(f)
    text = (
        f"{capital(held)} is best at {_at(f, 'best_x')} ({_num(facts['best_value'])}) and ends "
        f"at {_num(facts['final_value'])} ({_at(f, 'final_x')})"
    )
    if facts.get("final_train") is not None:
        text += f", while {_train(f)} ends at {_num(facts['final_train'])}"
    text += "."
    if f.reason == "validation_minimum":
        return text + (
            f" After {_at(f, 'onset_x')} {held} gets worse again: that is where overfitting began."
        )
    if f.reason == "gap_widening":
        return text + (
            f" From {unit} {_x(facts['onset_x'])} on the train curve pulls away while {held} "
            "stalls: that is where overfitting began."
        )
    if f.reason == "underfitting":
        return text + " No onset of overfitting: the model has not yet fitted its training data."
    return text + " No onset of overfitting is marked: the curves do not part for good."


@sentence("learning_curves.gap_takeaway")
def _gap_takeaway(f: Finding) -> str:
    facts, unit, held = f.facts, f.facts["unit"], _held(f)
    if f.reason == "no_gap_logged":
        return f"The run does not log train and {held} at the same {unit}s, so there is no gap."
    if f.reason == "onset":
        at_onset, final = facts["at_onset"], f.value
        text = (
            f"The gap was {_num(at_onset)} at the onset ({_at(f, 'onset_x')}) and {_num(final)} "
            f"by {_at(f, 'last_x')}"
        )
        if at_onset > 0 and final > at_onset:
            text += f" ({ratio(final / at_onset)} wider)"
        return text + (
            ": it opened during training, so the weights from around the onset (or more "
            "regularisation) would generalise better."
        )
    if f.reason == "held_out_not_worse":
        return (
            f"{capital(held)} ends as good as or better than train (gap {_num(f.value)} at "
            f"{_at(f, 'last_x')}): no gap opened in training, as happens when dropout or "
            "augmentation make training harder than evaluation."
        )
    return (
        f"The gap ends at {_num(f.value)} ({_at(f, 'last_x')}); its smallest was "
        f"{_num(facts['smallest'])} at {_at(f, 'smallest_x')}. No onset of overfitting is "
        "marked: the gap does not widen for good while the held-out curve stalls."
    )


@sentence("learning_curves.patience_takeaway")
def _patience_takeaway(f: Finding) -> str:
    facts, unit, held = f.facts, f.facts["unit"], _held(f)
    text = (
        f"Patience {facts['best_patience']} or more keeps the best {held} seen "
        f"({_num(f.value)}, {_at(f, 'best_x')})"
    )
    if facts["best_patience"] != facts["first_patience"]:
        text += f"; patience {facts['first_patience']} keeps {_num(facts['first_kept'])}"
    final = _num(facts["final_value"])
    if f.reason == "all_beat_final":
        text += (
            f". Every patience from {facts['first_patience']} to {facts['last_patience']} beats "
            f"training to the last {unit} ({final})"
        )
    elif f.reason == "some_beat_final":
        text += (
            f". Below patience {facts['first_better_patience']} early stopping keeps a worse "
            f"{held} than training to the last {unit} ({final})"
        )
    else:
        text += f". No patience shown beats training to the last {unit} ({final})"
    if facts.get("never_stops_from") is not None:
        text += f"; from patience {facts['never_stops_from']} on, training would never have stopped"
    return text + "."


@sentence("learning_curves.overlay_takeaway")
def _overlay_takeaway(f: Finding) -> str:
    if f.reason == "none":
        return "None of the selected runs logs a validation or test value for this metric."
    held, ranking = _held(f), f.facts["ranking"]

    def describe(row: list) -> str:
        return f"{row[0]} ({_num(row[1])} at {row[3]} {_x(row[2])})"

    if f.reason == "one":
        return f"Best {held} of {describe(ranking[0])}. Select more runs to compare them."
    text = f"Best {held}: {describe(ranking[0])}; worst: {describe(ranking[-1])}"
    if len(ranking) > 2:
        text += f". From best to worst: {', '.join(row[0] for row in ranking)}"
    return text + "."


def runs_title(metric: str, n_runs: int) -> str:
    """The run-comparison chart's title: ``"Loss across 3 runs"``, ``"Loss of 1 run"``."""
    if n_runs == 1:
        return f"{capital(metric.replace('_', ' '))} of 1 run"
    return f"{capital(metric.replace('_', ' '))} across {plural(n_runs, 'run')}"
