"""The scorecard's findings as data (kind, severity, split, reference, value, interval, threshold,
reason), the words of each kind once, and the one sign convention of the cards and the table."""

from __future__ import annotations

import json

import pytest
from test_scorecard import hand_card, memorised_card, shift_card

from gengap_dash.analysis.scorecard import (
    GAP_THRESHOLDS,
    UNDERFITTING_MAX_TRAIN_ACCURACY,
    Scorecard,
    gap_chart_takeaway,
    headline,
    metric_takeaway,
    scorecard_findings,
)
from gengap_dash.analysis.scorecard.findings import comparison_reference, pair_finding
from gengap_dash.findings import render, to_json
from gengap_dash.findings.render import registered_kinds
from gengap_dash.plots.scorecard import (  # the table and the cards
    GAP_COLUMN,
    accuracy_delta_color,
    accuracy_delta_text,
    gap_figure,
    scorecard_table,
)
from gengap_dash.stats.bootstrap import Estimate


def fit(card: Scorecard):
    (finding,) = [f for f in scorecard_findings(card) if f.split != "rotated"][:1]
    return finding


# --------------------------------------------------------------------------- structured fields


def test_overfitting_is_data_worse_by_in_the_metric_units():
    card = hand_card(
        {"train": ("train", 0.998), "validation": ("validation", 0.912)},
        vs_train={"validation": Estimate(-0.086, -0.100, -0.071)},
    )
    (finding,) = scorecard_findings(card)
    assert finding.kind == "scorecard.overfitting"
    assert (finding.severity, finding.split, finding.reference) == (
        "warning",
        "validation",
        "train",
    )
    assert finding.metric == "accuracy" and finding.view == "scorecard"
    assert finding.value == pytest.approx(0.086)  # positive = worse, a fraction
    assert (finding.low, finding.high) == (pytest.approx(0.071), pytest.approx(0.100))
    assert finding.threshold == pytest.approx(GAP_THRESHOLDS["accuracy"].warning / 100)
    assert finding.reason == "gap_above_threshold"
    assert finding.facts["train_value"] == pytest.approx(0.998)
    assert finding.facts["validation_value"] == pytest.approx(0.912)


def test_a_larger_gap_is_critical_and_a_smaller_one_is_not_a_problem():
    def kind_of(gap: Estimate):
        card = hand_card(
            {"train": ("train", 0.99), "val": ("validation", 0.99 + gap.value)},
            vs_train={"val": gap},
        )
        (finding,) = scorecard_findings(card)
        return finding.kind, finding.severity, finding.reason

    assert kind_of(Estimate(-0.12, -0.14, -0.10)) == ("scorecard.overfitting", "critical",
                                                       "gap_above_threshold")  # fmt: skip
    assert kind_of(Estimate(-0.015, -0.021, -0.009)) == ("scorecard.fit_healthy", "ok",
                                                          "small_real_gap")  # fmt: skip
    assert kind_of(Estimate(-0.008, -0.027, 0.012)) == ("scorecard.fit_healthy", "ok",
                                                         "within_noise")  # fmt: skip
    assert kind_of(Estimate(0.02, 0.01, 0.03)) == ("scorecard.fit_healthy", "ok", "better")
    assert kind_of(Estimate(-0.05, -0.11, 0.01)) == ("scorecard.fit_uncertain", "warning",
                                                      "interval_includes_zero")  # fmt: skip
    assert kind_of(Estimate(-0.01, -0.06, 0.04)) == ("scorecard.fit_uncertain", "info",
                                                      "interval_reaches_threshold")  # fmt: skip


def test_underfitting_states_the_bar_it_was_compared_with():
    card = hand_card(
        {"train": ("train", 0.8), "val": ("validation", 0.79)},
        vs_train={"val": Estimate(-0.01, -0.03, 0.01)},
        train_interval=(0.77, 0.83),
    )
    (finding,) = scorecard_findings(card)
    assert (finding.kind, finding.split, finding.reason) == (
        "scorecard.underfitting",
        "train",
        "train_below_bar",
    )
    assert finding.threshold == UNDERFITTING_MAX_TRAIN_ACCURACY
    assert (finding.value, finding.low, finding.high) == (0.8, 0.77, 0.83)


def test_memorised_training_set_names_its_evidence():
    from test_scorecard import NLL_CLEARLY_WORSE

    (finding,) = scorecard_findings(memorised_card(nll=NLL_CLEARLY_WORSE))
    assert (finding.kind, finding.severity) == ("scorecard.overfitting", "warning")
    assert finding.reason == "confirmed_by_loss_or_calibration"
    assert list(finding.facts["evidence"]) == ["nll"]


def test_shift_findings_compare_against_the_shift_reference():
    findings = scorecard_findings(shift_card())
    rows = [(f.kind, f.severity, f.split, f.reference, f.reason) for f in findings]
    assert rows == [
        ("scorecard.overfitting", "warning", "validation", "train", "gap_above_threshold"),
        ("scorecard.shift", "critical", "rotated", "test", "drop_above_threshold"),
        ("scorecard.shift_healthy", "ok", "noisy", "test", "within_noise"),
        ("scorecard.shift", "warning", "field", "test", "drop_above_threshold"),
    ]
    assert findings[1].value == pytest.approx(0.234)
    assert findings[3].facts["role"] == "deployment"


def test_headline_is_the_most_severe_problem_with_a_count_of_the_others():
    top = headline(shift_card())
    assert (top.kind, top.split, top.facts["more_problems"]) == ("scorecard.shift", "rotated", 2)
    too_noisy = headline(
        hand_card(
            {"train": ("train", 0.99), "val": ("validation", 0.94)},
            vs_train={"val": Estimate(-0.05, -0.11, 0.01)},
        )
    )
    assert (too_noisy.kind, too_noisy.severity, too_noisy.facts["splits"]) == (
        "scorecard.too_noisy",
        "warning",
        ["val"],
    )
    healthy = hand_card(
        {"train": ("train", 0.95), "val": ("validation", 0.945)},
        vs_train={"val": Estimate(-0.005, -0.02, 0.01)},
    )
    assert headline(healthy).kind == "scorecard.no_gap"
    assert headline(hand_card({"test": ("test", 0.9)})).kind == "scorecard.one_split"
    assert headline(hand_card({"val": ("validation", 0.9), "test": ("test", 0.8)})).kind == (
        "scorecard.no_comparison"
    )


def test_findings_json_carries_the_fields_and_the_text():
    payload = to_json(scorecard_findings(shift_card()))
    assert json.loads(json.dumps(payload, allow_nan=False)) == payload
    first = payload[0]
    assert {k: first[k] for k in ("kind", "severity", "split", "metric", "reference")} == {
        "kind": "scorecard.overfitting",
        "severity": "warning",
        "split": "validation",
        "metric": "accuracy",
        "reference": "train",
    }
    assert first["text"].startswith("Overfitting: train accuracy 99.8%, validation 91.2%")


# --------------------------------------------------------------------------- words, once per kind


def test_every_scorecard_kind_has_a_sentence():
    from test_scorecard import NLL_CLEARLY_WORSE

    examples = [
        *scorecard_findings(shift_card()),
        headline(shift_card()),
        *scorecard_findings(memorised_card(nll=NLL_CLEARLY_WORSE)),
        headline(hand_card({"test": ("test", 0.9)})),
        headline(hand_card({"val": ("validation", 0.9), "test": ("test", 0.8)})),
        gap_chart_takeaway(shift_card()),
        metric_takeaway(shift_card()),
    ]
    for gap in (Estimate(-0.05, -0.11, 0.01), Estimate(0.02, 0.01, 0.03)):
        card = hand_card(
            {"train": ("train", 0.95), "val": ("validation", 0.95 + gap.value)},
            vs_train={"val": gap},
        )
        examples += [*scorecard_findings(card), headline(card)]
    examples += scorecard_findings(
        hand_card(
            {"train": ("train", 0.8), "val": ("validation", 0.79)},
            vs_train={"val": Estimate(-0.01, -0.03, 0.01)},
        )
    )
    examples += scorecard_findings(
        hand_card(
            {"test": ("test", 0.9), "blur": ("shifted", 0.85)},
            vs_shift={"blur": Estimate(-0.05, -0.11, 0.01)},
        )
    )
    kinds = {f.kind for f in examples}
    assert kinds == {k for k in registered_kinds() if k.startswith("scorecard.")}
    for finding in examples:
        text = render(finding)
        assert text.endswith(".") and "nan" not in text and "None" not in text, text


@pytest.mark.parametrize(
    ("more", "ending"),
    [(0, "vs 91.8%."), (1, "; 1 more problem below."), (2, "; 2 more problems below.")],
)
def test_headline_plural_by_construction(more: int, ending: str):
    import dataclasses

    top = headline(shift_card())
    assert render(dataclasses.replace(top, facts={**top.facts, "more_problems": more})).endswith(
        ending
    )


# --------------------------------------------------------------------------- one sign, one ref


def test_cards_and_table_state_their_reference_and_agree_with_the_verdicts():
    card = shift_card()
    assert comparison_reference(card, "train") is None
    assert comparison_reference(card, "validation") == "train"
    assert comparison_reference(card, "rotated") == "test"
    assert comparison_reference(card, "test") == "validation"
    assert accuracy_delta_text(card, "rotated") == "23.4 pts worse than test"
    assert accuracy_delta_color(card, "rotated") == "red"  # the shift verdict is critical
    assert accuracy_delta_text(card, "validation") == "8.6 pts worse than train"
    assert accuracy_delta_color(card, "validation") == "orange"  # overfitting: a warning
    assert accuracy_delta_color(card, "noisy") == "green"
    assert accuracy_delta_text(card, "train") is None  # the reference: no green arrow
    assert pair_finding(card, "train", "validation").kind == "scorecard.overfitting"


def test_the_table_has_one_gap_column_positive_is_worse():
    card = hand_card(
        {"train": ("train", 0.95), "val": ("validation", 0.9), "rot": ("shifted", 0.6)},
        vs_train={"val": Estimate(-0.05, -0.07, -0.03)},
        vs_shift={"rot": Estimate(-0.30, -0.34, -0.26)},  # no test split: val stands in
    )
    table = scorecard_table(card).set_index("Split")
    assert [c for c in table.columns if "gap" in c.lower()] == [GAP_COLUMN]
    assert table.loc["train", GAP_COLUMN] == "reference"
    assert table.loc["val", GAP_COLUMN].startswith("+5.0 ")
    assert table.loc["val", GAP_COLUMN].endswith(" vs train")
    assert (
        table.loc["rot", GAP_COLUMN].startswith("+30.0 ")
        and "vs val" in table.loc["rot", GAP_COLUMN]
    )


def test_the_gap_chart_colours_the_pair_as_its_verdict():
    """Against validation, train's bar is drawn better (negative) but in the overfitting
    verdict's colour, not as 'no clear gap'."""
    card = shift_card()
    fig = gap_figure(card, "accuracy", reference="validation")
    train_trace = next(t for t in fig.data if any("train" in str(y) for y in t.y))
    assert train_trace.name == "Warning gap"
    index = [str(y) for y in train_trace.y].index("train")
    assert train_trace.x[index] == pytest.approx(-8.6)
