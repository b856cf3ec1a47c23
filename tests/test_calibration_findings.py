"""The calibration view's findings: decisions as data (fields asserted), one wording test per
kind (``gengap_dash.findings.calibration``)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from gengap_dash.analysis.calibration import findings as cal_findings
from gengap_dash.analysis.calibration.report import calibration_report
from gengap_dash.analysis.calibration.temperature import (
    GAIN_TOLERANCE,
    gain_verdict,
    temperature_scaling_comparison,
)
from gengap_dash.findings import render, to_json
from gengap_dash.findings.render import registered_kinds
from gengap_dash.stats.bootstrap import Estimate

NAN = float("nan")


def make_logits(n: int, seed: int, scale: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 4))
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    labels = np.array([rng.choice(4, p=row) for row in p])
    return z * scale, labels  # scale > 1: overconfident


@pytest.fixture(scope="module")
def report():
    logits, labels = make_logits(1500, seed=1)
    return calibration_report(labels, logits, outputs_are="logits", n_resamples=200)


def with_ece(summary, value: float, low: float, high: float):
    return dataclasses.replace(summary, ece=Estimate(value, low, high))


# --------------------------------------------------------------------------------------------
# calibration.headline
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ece", "severity", "threshold", "reason"),
    [
        (0.0299, "ok", 0.03, "ece_below_well_calibrated"),
        (0.03, "warning", 0.03, "ece_above_well_calibrated"),
        (0.0999, "warning", 0.03, "ece_above_well_calibrated"),
        (0.10, "critical", 0.10, "ece_above_poorly_calibrated"),
    ],
)
def test_headline_grades_the_worst_split_by_the_documented_thresholds(
    report, ece, severity, threshold, reason
):
    assert (cal_findings.WELL_CALIBRATED_ECE, cal_findings.POORLY_CALIBRATED_ECE) == (0.03, 0.10)
    reports = {"val": with_ece(report, 0.01, 0.0, 0.02), "test": with_ece(report, ece, 0.0, 0.2)}
    finding = cal_findings.headline_finding(reports, {"val": "validation", "test": "test"})
    assert finding.kind == "calibration.headline" and finding.view == "calibration"
    assert (finding.split, finding.metric, finding.value) == ("test", "ece", ece)
    assert (finding.severity, finding.threshold, finding.reason) == (severity, threshold, reason)
    assert finding.facts["direction"] == "overconfident"  # scale 2: confidence above accuracy
    assert finding.facts["n_splits"] == 2 and finding.facts["n_overconfident"] == 2
    # the validation ECE is quoted beside a worse split, unless all is well
    assert finding.reference == (None if severity == "ok" else "val")


def test_headline_refuses_no_reports():
    with pytest.raises(ValueError, match=r"Expected at least one split's calibration report"):
        cal_findings.headline_finding({}, {})


def test_confidence_direction_reads_the_interval():
    direction = cal_findings.confidence_direction
    assert direction(Estimate(0.05, 0.01, 0.09)) == "overconfident"
    assert direction(Estimate(-0.05, -0.09, -0.01)) == "underconfident"
    assert direction(Estimate(0.05, -0.01, 0.09)) == "about right"
    assert direction(Estimate(-0.01, NAN, NAN)) == "underconfident"  # no interval: the sign


def test_headline_wording(report):
    reports = {"val": with_ece(report, 0.021, 0.015, 0.027), "rotated": report}
    finding = cal_findings.headline_finding(reports, {"val": "validation", "rotated": "shifted"})
    text = render(finding)
    ece = report.ece
    assert text.startswith(
        f"rotated is the worst-calibrated split shown: ECE {100 * ece.value:.1f}% "
        f"({100 * ece.low:.1f} to {100 * ece.high:.1f})."
    )
    assert "The model is overconfident there: its mean confidence (" in text
    assert "On val, ECE is 2.1% (1.5 to 2.7)." in text
    assert text.endswith("It is overconfident on every split shown (2).")
    ok = cal_findings.headline_finding({"val": with_ece(report, 0.02, 0.01, 0.03)}, {})
    assert render(ok).startswith(
        "The model is well calibrated on the split shown: the largest ECE is 2.0% (1.0 to 3.0), "
        "on val."
    )


# --------------------------------------------------------------------------------------------
# Temperature scaling: the verdicts from the paired interval of the ECE change
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "after", "fit_after", "verdict"),
    [
        # the first case: 2.4% -> 2.4%, no gain: the interval includes 0
        (Estimate(0.0004, -0.003, 0.004), 0.024, 0.033, "none"),
        # the second case: ECE halved 16.3% -> 7.6%, but validation reached 2.4%
        (Estimate(-0.087, -0.095, -0.079), 0.076, 0.024, "partial"),
        (Estimate(-0.05, -0.06, -0.04), 0.04, 0.024, "holds"),  # within 2 points
        (Estimate(-0.05, -0.06, -0.04), 0.024 + GAIN_TOLERANCE, 0.024, "holds"),  # the edge
        (Estimate(0.02, 0.01, 0.03), 0.08, 0.02, "worse"),
        (Estimate(0.004, NAN, NAN), 0.03, 0.03, "none"),  # no interval: half a point
        (Estimate(0.006, NAN, NAN), 0.03, 0.03, "worse"),
        (Estimate(-0.006, NAN, NAN), 0.03, 0.03, "holds"),
    ],
)
def test_gain_verdict(change, after, fit_after, verdict):
    assert gain_verdict(change, after, fit_after) == verdict


@pytest.fixture(scope="module")
def comparison():
    logits, labels = {}, {}
    for index, split in enumerate(("train", "val", "test", "rotated", "copy")):
        split_logits, split_labels = make_logits(3000, seed=10 + index)
        if split == "rotated":  # labels no longer follow the logits: scaling cannot fix it
            split_labels = np.random.default_rng(3).integers(0, 4, 3000)
        logits[split], labels[split] = split_logits, split_labels
    logits["copy"], labels["copy"] = logits["val"] / 2.0, labels["val"]  # already calibrated
    roles = {"train": "train", "val": "validation", "test": "test", "rotated": "shifted",
             "copy": "deployment"}  # fmt: skip
    return temperature_scaling_comparison(logits, labels, roles=roles, n_resamples=300)


def test_temperature_findings_fields(comparison):
    found = cal_findings.temperature_findings(comparison)
    kinds = [f.kind for f in found]
    assert kinds == [
        "calibration.temperature_fit",
        "calibration.temperature_transfer",
        "calibration.temperature_transfer",
        "calibration.temperature_transfer",
        "calibration.recalibration",
    ]
    fit = found[0]
    assert fit.split == "val" and fit.facts["meaning"] == "overconfident"
    assert fit.facts["temperature"] == pytest.approx(comparison.temperature.temperature)
    assert fit.facts["change"] == "lower" and fit.high < 0
    transfer = {f.split: f for f in found[1:4]}
    assert set(transfer) == {"test", "rotated", "copy"}  # train is left out
    for split, finding in transfer.items():
        change = comparison.ece_change[split]
        assert (finding.value, finding.low, finding.high) == (change.value, change.low, change.high)
        assert finding.reason == comparison.verdicts[split]
        assert finding.threshold == GAIN_TOLERANCE and finding.reference == "val"
    assert transfer["test"].reason == "holds" and transfer["test"].severity == "ok"
    assert transfer["rotated"].facts["shifted"] is True
    # scaling an already calibrated split by T > 1 makes it underconfident: worse
    assert transfer["copy"].reason == "worse" and transfer["copy"].severity == "warning"
    assert transfer["copy"].low > 0
    note = found[-1]
    assert note.facts["method"] == "histogram" and set(note.facts["others"]) == set(transfer)
    payload = to_json(found)
    assert payload[1]["kind"] == "calibration.temperature_transfer" and payload[1]["text"]


def test_temperature_fit_wording(comparison):
    fit = cal_findings.temperature_findings(comparison)[0]
    t = f"{comparison.temperature.temperature:.3g}"
    before, after = comparison.before["val"].ece.value, comparison.after["val"].ece.value
    assert render(fit) == (
        f"T = {t}: the model is overconfident; dividing its logits by {t} lowers validation ECE "
        f"from {100 * before:.1f}% to {100 * after:.1f}%."
    )
    unchanged = dataclasses.replace(
        fit, facts={**fit.facts, "change": "unchanged", "meaning": "about right"}
    )
    assert "already about right on validation" in render(unchanged)
    assert "leaves validation ECE about where it was" in render(unchanged)


@pytest.mark.parametrize(
    ("verdict", "words"),
    [
        ("holds", "On test the gain holds: ECE 8.0% → 2.5% (-5.5 pts, 95% interval -6.1 to -4.8), "
         "within 2 pts of val's 2.0% after scaling."),
        ("partial", "On test the gain holds only partly: ECE 8.0% → 2.5% (-5.5 pts, 95% interval "
         "-6.1 to -4.8), still more than 2 pts above val's 2.0% after scaling."),
        ("none", "On test temperature scaling makes no clear difference: ECE 8.0% → 2.5% (-5.5 "
         "pts, 95% interval -6.1 to -4.8; the interval includes zero)."),
        ("worse", "On test temperature scaling makes calibration worse: ECE 8.0% → 2.5% (-5.5 "
         "pts, 95% interval -6.1 to -4.8)."),
    ],
)  # fmt: skip
def test_temperature_transfer_wording(comparison, verdict, words):
    finding = next(f for f in cal_findings.temperature_findings(comparison) if f.split == "test")
    finding = dataclasses.replace(
        finding,
        reason=verdict,
        value=-0.055,
        low=-0.061,
        high=-0.048,
        facts={**finding.facts, "ece_before": 0.08, "ece_after": 0.025, "fit_ece_after": 0.02},
    )
    assert render(finding) == words


def test_recalibration_wording(comparison):
    note = cal_findings.temperature_findings(comparison)[-1]
    assert render(note).startswith(
        "For comparison, histogram binning fit on val gives ECE 0.0% on val (where it was fit), "
    )
    assert "train" not in render(note)


def test_every_calibration_kind_has_a_template():
    kinds = set(registered_kinds())
    assert {
        "calibration.headline",
        "calibration.temperature_fit",
        "calibration.temperature_transfer",
        "calibration.recalibration",
        "calibration.metrics_range",
        "calibration.worst_bin",
        "calibration.diagrams",
        "calibration.cohort_extremes",
        "calibration.selective",
    } <= kinds


def test_calibration_findings_puts_the_headline_first(report, comparison):
    found = cal_findings.calibration_findings({"val": report}, {"val": "validation"}, comparison)
    assert found[0].kind == "calibration.headline"
    assert len(found) == 1 + len(cal_findings.temperature_findings(comparison))


# --------------------------------------------------------------------------------------------
# The page's takeaways: metrics range, worst bin, diagrams, cohort extremes
# --------------------------------------------------------------------------------------------


def test_metrics_range_compares_the_extreme_held_out_splits(report):
    reports = {
        "train": with_ece(report, 0.001, 0.0, 0.002),
        "val": with_ece(report, 0.02, 0.015, 0.025),
        "field": with_ece(report, 0.09, 0.08, 0.10),
    }
    roles = {"train": "train", "val": "validation", "field": "deployment"}
    found = cal_findings.metrics_range_finding(reports, roles)
    assert (found.split, found.reference, found.reason) == ("field", "val", "intervals_apart")
    assert (found.value, found.low, found.high) == (0.09, 0.08, 0.10)
    assert found.facts["best_ece"] == 0.02
    assert render(found).startswith(
        "ECE ranges from 2.0% on val to 9.0% on field; their 95% intervals do not overlap, so "
        "the difference is real, not noise. NLL goes from "
    )
    reports["field"] = with_ece(report, 0.03, 0.02, 0.04)  # 0.02 <= 0.025: overlapping
    assert cal_findings.metrics_range_finding(reports, roles).reason == "intervals_overlap"
    alone = cal_findings.metrics_range_finding({"val": reports["val"]}, roles)
    assert (alone.reason, alone.reference) == ("single_split", None)
    assert render(alone).startswith("On val, ECE is 2.0% (1.5 to 2.5) and NLL ")


def test_worst_bin_picks_the_bin_adding_most_to_the_ece(report):
    reports = {"val": report}
    found = cal_findings.worst_bin_finding(reports, {"val": "validation"})
    bins = report.reliability
    contribution = np.where(bins.count > 0, bins.count * np.abs(np.nan_to_num(bins.gap)), -1)
    index = int(np.argmax(contribution))
    assert found.facts["lower"] == pytest.approx(bins.lower[index])
    assert found.facts["accuracy"] == pytest.approx(bins.accuracy[index])
    confident = bins.mean_confidence[index] >= bins.accuracy[index]
    assert found.reason == ("overconfident" if confident else "underconfident")
    sparse = int(((bins.count > 0) & (bins.count < cal_findings.SPARSE_BIN)).sum())
    assert found.facts["sparse_points"] == sparse
    assert found.facts["drawn_points"] == int((bins.count > 0).sum())
    text = render(found)
    assert text.startswith("On val, the largest miscalibration is in the ")
    assert ("fewer than 10 samples" in text) == (sparse > 0)


def test_cohort_extremes_rank_by_the_metric_and_count_small_cohorts(report):
    from gengap_dash.analysis.calibration.cohorts import CohortCalibration

    cohorts = {
        "test": CohortCalibration(
            summaries={
                "A": with_ece(report, 0.02, 0.01, 0.03),
                "B": with_ece(report, 0.12, 0.10, 0.14),
                "C": with_ece(report, 0.50, NAN, NAN),
            },
            too_few={"A": False, "B": False, "C": True},
            min_samples=100,
        )
    }
    found = cal_findings.cohort_extremes_finding(cohorts, "ece", "site")
    assert (found.split, found.facts["worst_cohort"], found.value) == ("test", "B", 0.12)
    assert found.facts["best_cohort"] == "A" and found.facts["too_small"] == 1
    assert render(found) == (
        "The worst cohort is site = B on test: ECE 12.0% (10.0 to 14.0); the best is site = A "
        "on test: 2.0% (1.0 to 3.0). 1 cohort has fewer than 100 samples: their values are "
        "shown as open markers without an interval, because so few samples cannot pin them down."
    )
    by_accuracy = cal_findings.cohort_extremes_finding(cohorts, "accuracy", "site")
    assert by_accuracy.facts["worst_cohort"] in {"A", "B"}  # same accuracy: either is worst
    only_small = {"test": dataclasses.replace(cohorts["test"], too_few=dict.fromkeys("ABC", True))}
    none = cal_findings.cohort_extremes_finding(only_small, "ece", "site")
    assert none.reason == "all_too_small"
    assert render(none).startswith("Every cohort of site is too small for an interval. 3 cohorts")


def test_diagrams_finding_lists_each_drawn_split(comparison):
    splits = list(comparison.before)[:2]
    found = cal_findings.diagrams_finding(comparison, splits)
    assert list(found.facts["splits"]) == splits
    first = found.facts["splits"][splits[0]]
    assert first["after"] == comparison.after[splits[0]].ece.value
    assert render(found).startswith(f"ECE {splits[0]}: ")
    assert "after histogram binning" in render(found)
