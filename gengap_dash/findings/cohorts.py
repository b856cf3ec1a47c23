"""Words and tables of the cohorts view (findings of ``gengap_dash.analysis.cohorts.findings``).

One template per finding kind; numbers go through ``gengap_dash.findings.words``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from gengap_dash.findings.model import Finding
from gengap_dash.findings.render import sentence
from gengap_dash.findings.words import (
    capital,
    interval,
    join_names,
    number,
    percent,
    plural,
    points,
)
from gengap_dash.store.json_values import json_safe

_DISPLAY_UNITS = {"accuracy": "percent", "nll": "nats"}  # for tables made before units were kept


def _unit_of(metric: str, unit: str | None = None) -> str:
    return unit or _DISPLAY_UNITS.get(metric, "percent")


def _value(metric: str, value: float | None, unit: str | None = None) -> str:
    unit = _unit_of(metric, unit)
    if unit == "percent":
        return percent(value)
    if unit == "points":
        return points(value)
    return number(value)


def _change(metric: str, value: float | None, unit: str | None = None) -> str:
    return points(value) if _unit_of(metric, unit) in ("percent", "points") else number(value)


def _size(metric: str, value: float | None, unit: str | None = None) -> str:
    """The size of a change, unsigned: ``"19.5 pts"`` or ``"0.120"``."""
    if _unit_of(metric, unit) in ("percent", "points"):
        return points(abs(value) if value is not None else None, signed=False)
    return number(abs(value) if value is not None else None)


def _bounds(metric: str, low, high, unit: str | None = None) -> str:
    changes = _unit_of(metric, unit) in ("percent", "points")
    return interval(low, high, unit="points" if changes else "number")


def in_sentence(label: str) -> str:
    """A metric's label inside a sentence: ``"Error rate" -> "error rate"``, ``"Macro-F1" ->
    "macro-F1"``; acronyms and names (NLL, ECE, Brier score) as they are."""
    if label[1:2].islower() and not label.startswith("Brier"):
        return label[0].lower() + label[1:]
    return label


def _interval_after(bounds: str) -> str:
    """``"(-75.0 to -42.4)" -> ", 95% interval -75.0 to -42.4"`` (nothing without one)."""
    return f", 95% interval {bounds[1:-1]}" if bounds else ""


_DIRECTION_NOTES = {
    "higher": "higher is better",
    "lower": "lower is better",
    "zero": "0 is ideal",
    "none": "neither direction is better",
}


@sentence("cohorts.weakest_cohort")
@sentence("cohorts.heatmap")
def _cohort_cell(finding: Finding) -> str:
    facts = finding.facts
    if finding.reason == "no_cells":
        return (
            f"No cohort of {facts['column']} has {facts['min_count']} samples on both a split "
            f"and {finding.reference}, so no gap is shown as a number."
        )
    metric = finding.metric or "accuracy"
    unit = facts.get("unit")
    word = in_sentence(facts.get("label", metric))
    direction = facts.get("direction", "lower" if metric == "nll" else "higher")
    worse = facts.get("worse")
    if worse is None:
        worse = -(finding.value or 0.0) if direction == "higher" else (finding.value or 0.0)
    if direction == "none":
        verdict = f"a change of {_change(metric, finding.value, unit)}"
    elif direction == "zero":
        side = "further from" if worse > 0 else "closer to"
        verdict = f"{_size(metric, worse, unit)} {side} 0"
    else:
        verdict = f"{_size(metric, worse, unit)} {'worse' if worse > 0 else 'better'}"
    text = (
        f"On {finding.split}, the cohort {facts['column']} = {facts['cohort']} "
        f"({plural(int(facts['n']), 'sample')}) has {word} "
        f"{_value(metric, facts['cohort_value'], unit)} against "
        f"{_value(metric, facts['reference_value'], unit)}"
        f" for the same cohort on {finding.reference}: {verdict} "
        f"({_DIRECTION_NOTES[direction]}; gap {_change(metric, finding.value, unit)}"
        f"{_interval_after(_bounds(metric, finding.low, finding.high, unit))})."
    )
    if finding.reason == "cohort_gap_within_noise":
        text += " The interval includes no change, so this may be noise."
    return text


@sentence("cohorts.decomposition")
def _decomposition(finding: Finding) -> str:
    facts = finding.facts
    total = finding.value or 0.0
    size = points(abs(total), signed=False)
    direction = "drop" if total < 0 else "rise"
    inside = points(abs(facts["top_performance"]), signed=False)
    mix = points(abs(facts["mix"]), signed=False)
    mix_word = "adds" if (facts["mix"] < 0) == (total < 0) else "offsets"
    text = (
        f"Of {finding.split}'s {size.replace(' ', '-').replace('pts', 'point')} {direction} in "
        f"accuracy against {finding.reference} "
        f"{_bounds('accuracy', finding.low, finding.high)}, {inside} come from "
        f"{'worse' if total < 0 else 'better'} accuracy inside {facts['top_cohort']} and "
        f"{points(abs(facts['performance']), signed=False)} "
        f"{_bounds('accuracy', facts['performance_low'], facts['performance_high'])} from changes "
        f"inside all cohorts together; the changed {facts['column']} mix {mix_word} {mix} "
        f"{_bounds('accuracy', facts['mix_low'], facts['mix_high'])}."
    )
    if finding.reason == "change_within_noise":
        text += " The change itself is within the noise."
    return text


@sentence("cohorts.fairness")
def _fairness(finding: Finding) -> str:
    facts = finding.facts
    text = (
        f"Across {facts['column']} cohorts on {finding.split}, accuracy differs by up to "
        f"{points(finding.value, signed=False)} {_bounds('accuracy', finding.low, finding.high)}:"
        f" {facts['best']} against {facts['worst']}."
    )
    if "recall_class" in facts:
        text += (
            f" The largest equal-opportunity gap is for class {facts['recall_class']}: its "
            f"recall differs by {points(facts['recall_gap'], signed=False)} "
            f"{_bounds('accuracy', facts['recall_low'], facts['recall_high'])} between "
            f"{facts['recall_best']} and {facts['recall_worst']}."
        )
    if finding.reason == "cohort_difference_noise":
        text += " The interval includes no difference."
    return text


@sentence("cohorts.confusion")
def _confusion(finding: Finding) -> str:
    facts = finding.facts
    text = (
        f"The confusion that grew most on {finding.split}: true {facts['true']} read as "
        f"{facts['predicted']}, {points(finding.value)} "
        f"{_bounds('accuracy', finding.low, finding.high)} of class {facts['true']} against "
        f"{finding.reference}."
    )
    if finding.reason == "confusion_within_noise":
        text += " The interval includes no change."
    return text


def _p(value: float) -> str:
    return "adjusted p < 0.001" if value < 0.001 else f"adjusted p = {value:.3f}"


@sentence("cohorts.change_point")
def _change_point(finding: Finding) -> str:
    facts = finding.facts
    start = (
        f"{percent(facts['before'])} before the {facts['window']}, "
        f"{percent(facts['after'])} from then"
    )
    if finding.reason in ("accuracy_fell", "accuracy_rose"):
        verb = "fell" if finding.reason == "accuracy_fell" else "rose"
        return (
            f"Accuracy on {finding.split} {verb} from the {facts['window']} on: "
            f"{percent(facts['before'])} before, {percent(facts['after'])} from then "
            f"({_p(facts['p_adjusted'])}, permutation test for one change point over "
            f"{facts['column']} windows)."
        )
    verb = "falls" if finding.reason == "accuracy_trend_down" else "rises"
    return (
        f"Accuracy on {finding.split} {verb} steadily over the {facts['column']} windows "
        f"({_p(facts['trend_p_adjusted'])}, permutation trend test); the most likely start of "
        f"the change is the {facts['window']} ({start})."
    )


@sentence("cohorts.no_change")
def _no_change(finding: Finding) -> str:
    if finding.reason == "no_time_column":
        return "The project has no time column, so there is nothing to follow over time."
    names = join_names(list(finding.facts["splits"]))
    return (
        f"No change in accuracy over {finding.facts['column']} windows stands out on {names} "
        "(one-change-point permutation test, adjusted p of 0.05 or more)."
    )


# -- tables and JSON -----------------------------------------------------------------------------


def cohort_frame(table, *, split: str | None = None) -> pd.DataFrame:
    """The cohort table for people: one row per split and cohort; cells under ``min_count``
    samples read "too few"."""
    unit = getattr(table, "unit", None)
    word = getattr(table, "label", table.metric)
    rows = []
    for i, name in enumerate(table.splits):
        if split is not None and name != split:
            continue
        for k, cohort in enumerate(table.cohorts):
            n = int(table.n[i, k])
            if n == 0:
                continue
            enough = n >= table.min_count
            rows.append(
                {
                    "Split": name,
                    "Cohort": cohort,
                    "n": n,
                    capital(word): (
                        _value(table.metric, table.value[i, k], unit) if enough else "too few"
                    ),
                    "95% interval": _bounds_value(table, i, k) if enough else "",
                    f"Gap to {table.reference}": (
                        _change(table.metric, table.gap[i, k], unit)
                        if np.isfinite(table.gap[i, k])
                        else ""
                    ),
                    "Gap interval": _bounds(
                        table.metric, table.gap_low[i, k], table.gap_high[i, k], unit
                    ),
                }
            )
    return pd.DataFrame(rows)


def _bounds_value(table, i: int, k: int) -> str:
    unit = _unit_of(table.metric, getattr(table, "unit", None))
    return interval(
        table.low[i, k],
        table.high[i, k],
        unit=unit if unit in ("percent", "points") else "number",
    )


def decomposition_frame(decompositions) -> pd.DataFrame:
    """One row per compared split: the change and its two parts with intervals."""
    rows = []
    for d in decompositions:
        top = int(np.argmin(d.cohort_performance if d.total <= 0 else -d.cohort_performance))
        rows.append(
            {
                "Split": d.split,
                f"Change vs {d.reference}": f"{points(d.total)} "
                f"{_bounds('accuracy', d.total_low, d.total_high)}",
                "Cohort mix": f"{points(d.mix)} {_bounds('accuracy', d.mix_low, d.mix_high)}",
                "Inside cohorts": f"{points(d.performance)} "
                f"{_bounds('accuracy', d.performance_low, d.performance_high)}",
                "Largest inside-cohort part": (
                    f"{d.cohorts[top]} ({points(d.cohort_performance[top])})"
                ),
            }
        )
    return pd.DataFrame(rows)


def decomposition_cohort_frame(decomposition) -> pd.DataFrame:
    """Per cohort of one decomposition: shares, accuracies and the two terms."""
    d = decomposition
    return pd.DataFrame(
        {
            "Cohort": d.cohorts,
            f"Share on {d.reference}": [percent(v) for v in d.reference_share],
            f"Share on {d.split}": [percent(v) for v in d.share],
            f"Accuracy on {d.reference}": [percent(v) for v in d.reference_value],
            f"Accuracy on {d.split}": [percent(v) for v in d.value],
            "Mix part": [
                f"{points(v)} {_bounds('accuracy', lo, hi)}"
                for v, lo, hi in zip(d.cohort_mix, d.cohort_mix_low, d.cohort_mix_high, strict=True)
            ],
            "Inside-cohort part": [
                f"{points(v)} {_bounds('accuracy', lo, hi)}"
                for v, lo, hi in zip(
                    d.cohort_performance,
                    d.cohort_performance_low,
                    d.cohort_performance_high,
                    strict=True,
                )
            ],
        }
    )


def fairness_frame(result) -> pd.DataFrame:
    """Per split: the widest accuracy difference and the widest equal-opportunity gap."""
    rows = []
    for f in result.fairness:
        if not f.best:
            continue
        recall = np.where(np.isfinite(f.recall_gap), f.recall_gap, -np.inf)
        c = int(np.argmax(recall))
        rows.append(
            {
                "Split": f.split,
                "Best cohort": f.best,
                "Worst cohort": f.worst,
                "Accuracy difference": f"{points(f.difference, signed=False)} "
                f"{_bounds('accuracy', f.low, f.high)}",
                "Widest recall gap": (
                    f"class {result.classes[c]}: {points(f.recall_gap[c], signed=False)} "
                    f"{_bounds('accuracy', f.recall_low[c], f.recall_high[c])}"
                    if np.isfinite(recall[c])
                    else ""
                ),
            }
        )
    return pd.DataFrame(rows)


def confusion_frame(confusions, split: str, *, top: int = 8) -> pd.DataFrame:
    """The confusions that grew most on ``split``, with intervals."""
    i = confusions.splits.index(split)
    rates = confusions.rates()
    r = confusions.splits.index(confusions.reference)
    rows = []
    for true, predicted in confusions.grown(split, top=top):
        rows.append(
            {
                "True class": confusions.classes[true],
                "Predicted": confusions.classes[predicted],
                f"Rate on {confusions.reference}": percent(rates[r, true, predicted]),
                f"Rate on {split}": percent(rates[i, true, predicted]),
                "Change": points(confusions.change[i, true, predicted]),
                "95% interval": _bounds(
                    "accuracy",
                    confusions.change_low[i, true, predicted],
                    confusions.change_high[i, true, predicted],
                ),
                "Count": int(confusions.counts[i, true, predicted]),
            }
        )
    return pd.DataFrame(rows)


def cohort_text_table(table) -> str:
    """The cohort table for a terminal."""
    frame = cohort_frame(table)
    title = (
        f"Cohorts of {' × '.join(table.columns)}: {getattr(table, 'label', table.metric)} "
        f"(gaps against {table.reference})"
    )
    return title + "\n" + (frame.to_string(index=False) if len(frame) else "(no cohorts)")


def decomposition_text(decompositions) -> str:
    """The decompositions for a terminal."""
    return "Mix or performance?\n" + decomposition_frame(decompositions).to_string(index=False)


def cohorts_json(result) -> dict[str, Any]:
    """The cohorts view's ``--json`` data (findings are added by the registry)."""
    table = result.table
    cohorts = []
    for i, split in enumerate(table.splits):
        for k, cohort in enumerate(table.cohorts):
            enough = bool(table.n[i, k] >= table.min_count)
            cohorts.append(
                {
                    "split": split,
                    "cohort": cohort,
                    "values": list(table.parts[k]),
                    "n": int(table.n[i, k]),
                    "value": float(table.value[i, k]),
                    "low": float(table.low[i, k]),
                    "high": float(table.high[i, k]),
                    "gap": float(table.gap[i, k]),
                    "gap_low": float(table.gap_low[i, k]),
                    "gap_high": float(table.gap_high[i, k]),
                    "enough": enough,
                }
            )
    payload: dict[str, Any] = {
        "columns": list(table.columns),
        "metric": table.metric,
        "metric_label": table.label,
        "unit": table.unit,
        "direction": table.direction,
        "reference": table.reference,
        "min_count": table.min_count,
        "chosen_automatically": result.chosen_automatically,
        "cohorts": cohorts,
        "decomposition": [
            {
                "split": d.split,
                "reference": d.reference,
                "total": d.total,
                "total_low": d.total_low,
                "total_high": d.total_high,
                "mix": d.mix,
                "mix_low": d.mix_low,
                "mix_high": d.mix_high,
                "performance": d.performance,
                "performance_low": d.performance_low,
                "performance_high": d.performance_high,
                "cohorts": [
                    {
                        "cohort": c,
                        "mix": float(m),
                        "performance": float(p),
                        "share": float(s),
                        "reference_share": float(rs),
                    }
                    for c, m, p, s, rs in zip(
                        d.cohorts,
                        d.cohort_mix,
                        d.cohort_performance,
                        d.share,
                        d.reference_share,
                        strict=True,
                    )
                ],
            }
            for d in result.decompositions
        ],
        "fairness": [
            {
                "split": f.split,
                "best": f.best,
                "worst": f.worst,
                "difference": f.difference,
                "low": f.low,
                "high": f.high,
                "recall_gap": {result.classes[c]: float(v) for c, v in enumerate(f.recall_gap)},
            }
            for f in result.fairness
        ],
        "over_time": None
        if result.over_time is None
        else {
            "column": result.over_time.column,
            "period": result.over_time.period,
            "changes": [
                {
                    "split": c.split,
                    "window": c.window,
                    "before": c.before,
                    "after": c.after,
                    "statistic": c.statistic,
                    "p_value": c.p_value,
                    "p_adjusted": c.p_adjusted,
                    "trend": c.trend,
                    "trend_p_value": c.trend_p_value,
                    "trend_p_adjusted": c.trend_p_adjusted,
                }
                for c in result.over_time.changes
            ],
        },
        "notes": list(result.notes),
    }
    return json_safe(payload)
