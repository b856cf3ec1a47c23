"""The cohorts and slices views' findings: their fields and thresholds on an analysed project,
and one wording test per finding kind (templates in findings/cohorts.py and findings/slices.py)."""

from __future__ import annotations

import pytest

from gengap_dash.analysis.cohorts import findings as verdicts
from gengap_dash.findings.model import Finding
from gengap_dash.findings.render import registered_kinds, render


def test_every_kind_of_these_views_has_a_template() -> None:
    kinds = {k for k in registered_kinds() if k.startswith(("cohorts.", "slices."))}
    assert kinds == {
        "cohorts.weakest_cohort", "cohorts.heatmap", "cohorts.decomposition", "cohorts.fairness",
        "cohorts.confusion", "cohorts.change_point", "cohorts.no_change", "slices.weak_slice",
        "slices.none_found", "slices.weak_cluster",
    }  # fmt: skip


def test_cohort_cell_wording() -> None:
    finding = Finding(
        "cohorts.weakest_cohort", "warning", split="field", metric="accuracy", value=-0.197,
        low=-0.255, high=-0.138, reason="cohort_gap_significant", reference="val",
        facts={"column": "source", "cohort": "scanner B", "n": 258, "cohort_value": 0.721,
               "reference_value": 0.966, "split_value": 0.8},
    )  # fmt: skip
    assert render(finding) == (
        "On field, the cohort source = scanner B (258 samples) has accuracy 72.1% against 96.6% "
        "for the same cohort on val: 19.7 pts worse (higher is better; gap -19.7 pts, 95% "
        "interval -25.5 to -13.8)."
    )


@pytest.mark.parametrize(
    ("metric", "label", "unit", "direction", "value", "expected"),
    [
        ("error", "Error rate", "percent", "lower", 0.197,
         "has error rate 27.9% against 8.2% for the same cohort on val: 19.7 pts worse (lower "
         "is better; gap +19.7 pts, 95% interval +13.8 to +25.5)."),
        ("nll", "NLL", "nats", "lower", -0.197,
         "has NLL 0.279 against 0.082 for the same cohort on val: 0.197 better (lower is "
         "better; gap -0.197, 95% interval 0.138 to 0.255)."),
        ("overconfidence", "Overconfidence", "points", "zero", 0.197,
         "has overconfidence +27.9 pts against +8.2 pts for the same cohort on val: 19.7 pts "
         "further from 0 (0 is ideal; gap +19.7 pts, 95% interval +13.8 to +25.5)."),
        ("mean_confidence", "Mean confidence", "percent", "none", 0.197,
         "has mean confidence 27.9% against 8.2% for the same cohort on val: a change of +19.7 "
         "pts (neither direction is better; gap +19.7 pts, 95% interval +13.8 to +25.5)."),
    ],
)  # fmt: skip
def test_cohort_cell_wording_follows_the_metric(metric, label, unit, direction, value, expected):
    worse = {"lower": value, "zero": 0.279 - 0.082, "none": abs(value)}[direction]
    finding = Finding(
        "cohorts.weakest_cohort", "warning", split="field", metric=metric, value=value,
        low=0.138, high=0.255, reason="cohort_gap_significant", reference="val",
        facts={"column": "source", "cohort": "scanner B", "n": 258, "cohort_value": 0.279,
               "reference_value": 0.082, "split_value": 0.2, "label": label, "unit": unit,
               "direction": direction, "worse": worse},
    )  # fmt: skip
    text = render(finding)
    assert text.endswith(expected), text


def test_decomposition_wording() -> None:
    finding = Finding(
        "cohorts.decomposition", "warning", split="field", metric="accuracy", value=-0.061,
        low=-0.08, high=-0.04, reason="change_significant", reference="val",
        facts={"mix": -0.013, "mix_low": -0.02, "mix_high": -0.005, "performance": -0.048,
               "performance_low": -0.07, "performance_high": -0.03,
               "top_cohort": "scanner = B", "top_performance": -0.048,
               "top_mix_cohort": "scanner = A", "top_mix": -0.01, "column": "scanner"},
    )  # fmt: skip
    assert render(finding) == (
        "Of field's 6.1-point drop in accuracy against val (-8.0 to -4.0), 4.8 pts come from "
        "worse accuracy inside scanner = B and 4.8 pts (-7.0 to -3.0) from changes inside all "
        "cohorts together; the changed scanner mix adds 1.3 pts (-2.0 to -0.5)."
    )


def test_change_point_and_trend_wording() -> None:
    facts = {"window": "week of 2026-03-02", "before": 0.859, "after": 0.726, "p_value": 0.001,
             "p_adjusted": 0.008, "trend": -5.6, "trend_p_adjusted": 0.004,
             "column": "timestamp"}  # fmt: skip
    step = Finding("cohorts.change_point", "warning", split="field", reason="accuracy_fell",
                   facts=facts)  # fmt: skip
    assert render(step) == (
        "Accuracy on field fell from the week of 2026-03-02 on: 85.9% before, 72.6% from then "
        "(adjusted p = 0.008, permutation test for one change point over timestamp windows)."
    )
    trend = Finding("cohorts.change_point", "warning", split="field",
                    reason="accuracy_trend_down", facts=facts)  # fmt: skip
    assert render(trend).startswith(
        "Accuracy on field falls steadily over the timestamp windows (adjusted p = 0.004, "
        "permutation trend test); the most likely start of the change is the week of 2026-03-02"
    )


def test_slice_wording() -> None:
    finding = Finding(
        "slices.weak_slice", "warning", split="field", metric="error", value=0.711, low=0.612,
        high=0.81, reason="slice_error_excess",
        facts={"slice": "ink = heavy and source = scanner B", "n": 83, "lift": 3.9,
               "p_adjusted": 0.0001, "split_error": 0.184, "n_tested": 81,
               "clean": {"val": 0.0, "test": 0.0}, "new_under_shift": True},
    )  # fmt: skip
    assert render(finding) == (
        "The weakest slice of field is ink = heavy and source = scanner B: 83 samples, error "
        "71.1% (61.2 to 81.0), 3.9x the split's 18.4% (adjusted p < 0.001, 81 slices tested). "
        "It is new under shift: the same slice errs far less on val 0.0% and test 0.0%."
    )
    none = Finding("slices.none_found", "ok", split="noisy", value=0.188,
                   facts={"n_tested": 2, "min_support": 20})  # fmt: skip
    assert render(none) == (
        "No slice of noisy errs significantly more than the split's 18.8% (2 slices of at least "
        "20 samples tested, Benjamini-Hochberg at 5%)."
    )


def test_thresholds_decide_the_severity() -> None:
    from test_cohorts import ROLES, analyse, frame

    frames = {
        "train": frame(600, seed=1, hard_share=0.3, hard_acc=0.95, easy_acc=0.99),
        "val": frame(500, seed=2, hard_share=0.3, hard_acc=0.85, easy_acc=0.95),
        "field": frame(700, seed=3, hard_share=0.6, hard_acc=0.70, easy_acc=0.94),
    }
    result = analyse(frames)
    found = {f.kind: f for f in verdicts.cohort_findings(result)}
    weakest = found["cohorts.weakest_cohort"]
    assert weakest.split == "field" and weakest.facts["cohort"] == "hard"
    assert weakest.severity == "warning" and weakest.high < 0
    assert weakest.value < -verdicts.COHORT_GAP_WARNING
    decomposition = found["cohorts.decomposition"]
    assert decomposition.severity == "warning"
    assert decomposition.facts["mix"] + decomposition.facts["performance"] == pytest.approx(
        decomposition.value
    )
    fairness = found["cohorts.fairness"]
    assert fairness.value > verdicts.FAIRNESS_GAP_WARNING and fairness.severity == "warning"
    assert set(ROLES) == set(frames)
