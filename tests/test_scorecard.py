"""The gap scorecard: numbers, gaps, determinism, verdicts, serialisation and its figures."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from gengap_dash.analysis.scorecard import (
    GAP_THRESHOLDS,
    OVERFITTING_EVIDENCE_METRICS,
    UNDERFITTING_MAX_TRAIN_ACCURACY,
    GapScores,
    Scorecard,
    SplitData,
    SplitScores,
    assess_gap,
    compute_scorecard,
    gap_chart_takeaway,
    headline,
    metric_takeaway,
    scorecard_findings,
    splits_from_predictions,
)
from gengap_dash.findings import render, to_json
from gengap_dash.metrics.classification import (
    SCORECARD_METRICS,
    accuracy,
    brier_score,
    get_metric,
    macro_f1,
    negative_log_likelihood,
    top_label_ece,
)
from gengap_dash.plots.scorecard import gap_figure, gap_heatmap_figure, metric_by_split_figure
from gengap_dash.plots.style import BAD, split_colors
from gengap_dash.project.errors import ProjectError
from gengap_dash.stats.bootstrap import Estimate, difference

METRIC_NAMES = [m.name for m in SCORECARD_METRICS]
OTHER_METRICS = Estimate(0.1, 0.05, 0.15)


@dataclass(frozen=True)
class Verdict:
    """A verdict as the page lists it: the finding's kind without the view and the fit/shift
    prefix, its severity, its sentence and its split."""

    kind: str
    severity: str
    text: str
    split: str | None = None


VERDICT_KIND = {
    "scorecard.overfitting": "overfitting",
    "scorecard.underfitting": "underfitting",
    "scorecard.shift": "shift",
    "scorecard.fit_healthy": "healthy",
    "scorecard.shift_healthy": "healthy",
    "scorecard.fit_uncertain": "uncertain",
    "scorecard.shift_uncertain": "uncertain",
}


def diagnose(card: Scorecard) -> tuple[Verdict, ...]:
    return tuple(
        Verdict(VERDICT_KIND[f.kind], f.severity, render(f), f.split)
        for f in scorecard_findings(card)
    )


def make_split(
    name: str,
    role: str,
    n: int,
    accuracy_target: float,
    *,
    n_classes: int = 4,
    confidence: float = 0.8,
    seed: int = 0,
) -> SplitData:
    """A split whose accuracy is exactly ``round(accuracy_target * n) / n``."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, size=n)
    correct = np.zeros(n, dtype=bool)
    correct[rng.permutation(n)[: round(accuracy_target * n)]] = True
    preds = np.where(correct, labels, (labels + 1) % n_classes)
    probs = np.full((n, n_classes), (1.0 - confidence) / (n_classes - 1))
    probs[np.arange(n), preds] = confidence
    losses = -np.log(probs[np.arange(n), labels])
    return SplitData(name, role, labels, probs, losses)


@pytest.fixture(scope="module")
def project_splits() -> list[SplitData]:
    return [
        make_split("train", "train", 2000, 0.99, seed=0),
        make_split("val", "validation", 1000, 0.85, seed=1),
        make_split("test", "test", 1000, 0.86, seed=2),
        make_split("rotated", "shifted", 800, 0.55, seed=3),
        make_split("field", "deployment", 800, 0.79, seed=4),
    ]


@pytest.fixture(scope="module")
def card(project_splits) -> Scorecard:
    return compute_scorecard(project_splits, n_resamples=300, seed=0)


# --------------------------------------------------------------------------------------------
# Numbers
# --------------------------------------------------------------------------------------------


def test_point_values_equal_the_metric_functions(card, project_splits):
    for data, scores in zip(project_splits, card.splits, strict=True):
        preds = data.probs.argmax(axis=1)
        assert scores.name == data.name and scores.role == data.role
        assert scores.n == len(data.labels)
        expected = {
            "accuracy": accuracy(data.labels, preds),
            "macro_f1": macro_f1(data.labels, preds, n_classes=4),
            "nll": negative_log_likelihood(data.losses),
            "ece": top_label_ece(data.labels, data.probs),
            "brier": brier_score(data.labels, data.probs),
        }
        for name, value in expected.items():
            estimate = scores.metrics[name]
            assert estimate.value == pytest.approx(value, abs=1e-12), (data.name, name)
            assert estimate.low <= estimate.value <= estimate.high, (data.name, name)
            assert scores.replicates[name].shape == (300,)


def test_interval_width_shrinks_with_more_samples():
    small = compute_scorecard([make_split("a", "test", 200, 0.8)], n_resamples=300)
    large = compute_scorecard([make_split("a", "test", 5000, 0.8)], n_resamples=300)
    small_ci, large_ci = (c.splits[0].metrics["accuracy"] for c in (small, large))
    assert (large_ci.high - large_ci.low) < 0.5 * (small_ci.high - small_ci.low)


def test_gaps_are_other_minus_reference_with_a_bootstrapped_interval(card):
    assert card.train == "train" and card.validation == "val" and card.shift_reference == "test"
    assert list(card.vs_train) == ["val", "test", "rotated", "field"]  # not train itself
    assert list(card.vs_validation) == ["train", "test", "rotated", "field"]
    gap = card.vs_validation["rotated"]
    rotated, val = card.split("rotated"), card.split("val")
    for name in METRIC_NAMES:
        expected = difference(
            rotated.metrics[name].value,
            rotated.replicates[name],
            val.metrics[name].value,
            val.replicates[name],
            confidence=card.confidence,
            kind=get_metric(name).interval,
        )
        assert gap.metrics[name] == expected
    assert gap.metrics["accuracy"].value == pytest.approx(0.55 - 0.85)
    points = gap.points("accuracy")
    assert points.value == pytest.approx(-30.0)
    assert points.low == pytest.approx(100 * gap.metrics["accuracy"].low)
    assert card.gap_between("rotated", "val") == gap


def test_points_only_for_percentages(card):
    with pytest.raises(ValueError, match=r"percentage metric for `points`, but got 'nll'"):
        card.vs_train["val"].points("nll")
    assert card.vs_train["val"].display("nll") == card.vs_train["val"].metrics["nll"]


def test_same_seed_same_numbers_other_seed_other_intervals(project_splits, card):
    again = compute_scorecard(project_splits, n_resamples=300, seed=0)
    other = compute_scorecard(project_splits, n_resamples=300, seed=1)
    assert again.to_dict() == card.to_dict()
    assert (
        other.split("val").metrics["accuracy"].value == card.split("val").metrics["accuracy"].value
    )
    assert other.split("val").metrics["accuracy"] != card.split("val").metrics["accuracy"]


def test_each_split_has_its_own_random_stream(project_splits, card):
    """Adding a split at the end leaves the earlier splits' intervals unchanged."""
    extended = compute_scorecard(
        [*project_splits, make_split("extra", "shifted", 300, 0.5, seed=9)],
        n_resamples=300,
        seed=0,
    )
    for name in card.split_names:
        assert extended.split(name).metrics == card.split(name).metrics


def test_missing_train_or_validation_gives_no_gaps_against_it():
    only_test = compute_scorecard(
        [make_split("test", "test", 300, 0.9), make_split("rot", "shifted", 300, 0.6, seed=1)],
        n_resamples=100,
    )
    assert only_test.train is None and only_test.validation is None
    assert only_test.vs_train == {} and only_test.vs_validation == {}
    assert only_test.to_dict()["gaps"] == {"vs_train": {}, "vs_validation": {}}
    assert [v.kind for v in diagnose(only_test)] == ["shift"]
    no_test = compute_scorecard(
        [make_split("val", "validation", 300, 0.9), make_split("rot", "shifted", 300, 0.6)],
        n_resamples=100,
    )
    assert no_test.shift_reference == "val"  # validation stands in for test
    assert "rot" in no_test.vs_shift_reference


def test_several_splits_per_role_use_the_first_as_reference():
    card = compute_scorecard(
        [
            make_split("train_a", "train", 300, 0.95),
            make_split("train_b", "train", 300, 0.9, seed=1),
            make_split("val", "validation", 300, 0.9, seed=2),
            make_split("rot", "shifted", 300, 0.6, seed=3),
            make_split("blur", "shifted", 300, 0.7, seed=4),
        ],
        n_resamples=100,
    )
    assert card.train == "train_a"
    assert "train_b" in card.vs_train
    assert [v.split for v in diagnose(card) if v.kind == "shift"] == ["rot", "blur"]


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


def test_split_with_no_rows_is_a_project_error_naming_it():
    empty = SplitData("rotated", "shifted", np.array([], np.int64), np.zeros((0, 3)), np.array([]))
    with pytest.raises(ProjectError, match="Expected split 'rotated' to have at least one sample"):
        compute_scorecard([make_split("test", "test", 50, 0.9), empty], n_resamples=10)


@pytest.mark.parametrize(
    ("splits", "message"),
    [
        ([], "Expected at least one split to score, but got none"),
        (
            [SplitData("scalar", "test", np.int64(0), np.full((1, 2), 0.5), np.zeros(1))],
            r"Split 'scalar': Expected `labels` of shape \(n_samples,\)",
        ),
        (
            [make_split("a", "test", 20, 0.5), make_split("a", "train", 20, 0.5)],
            "Expected unique split names, but 'a' appears twice",
        ),
        ([make_split("a", "holdout", 20, 0.5)], "role of split 'a' to be one of train, valid"),
        (["not a split"], "Expected each split to be a SplitData, but got str"),
        (
            [SplitData("bad", "test", np.array([0, 1]), np.full((2, 2), 0.5), np.zeros(3))],
            r"Split 'bad': Expected `losses` of shape \(2,\)",
        ),
        (
            [SplitData("logits", "test", np.array([0, 1]), np.full((2, 2), 4.0), np.zeros(2))],
            "Split 'logits': Expected `probs` to be probabilities",
        ),
    ],
)
def test_bad_splits_raise_project_errors(splits, message):
    with pytest.raises(ProjectError, match=message):
        compute_scorecard(splits, n_resamples=10)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"n_resamples": 0}, "Expected `n_resamples` to be a positive integer, but got 0"),
        ({"n_resamples": True}, "Expected `n_resamples` to be a positive integer, but got True"),
        ({"n_resamples": 10.0}, r"positive integer, but got 10\.0"),
        ({"confidence": 1.0}, r"Expected `confidence` in \(0, 1\), but got 1\.0"),
        ({"confidence": "95%"}, r"Expected `confidence` in \(0, 1\), but got '95%'"),
        ({"seed": -1}, "Expected `seed` to be a non-negative integer, but got -1"),
    ],
)
def test_bad_options_raise_value_errors(options, message):
    with pytest.raises(ValueError, match=message):
        compute_scorecard([make_split("a", "test", 20, 0.5)], **options)


def test_lookup_errors(card):
    with pytest.raises(ValueError, match=r"Expected a split name among 'train', .*but got 'nope'"):
        card.split("nope")
    with pytest.raises(ValueError, match="Expected `reference` to be one of 'train'"):
        card.gaps("test")
    with pytest.raises(ValueError, match="Expected `metric` to be one of"):
        card.vs_train["val"].assess("auroc")


# --------------------------------------------------------------------------------------------
# Serialisation
# --------------------------------------------------------------------------------------------


def test_to_dict_shape_and_json(card):
    data = card.to_dict()
    assert set(data) == {"splits", "gaps"}  # the verdicts are the findings, next to it
    assert list(data["splits"]) == ["train", "val", "test", "rotated", "field"]
    val = data["splits"]["val"]
    assert set(val) == {"role", "n", *METRIC_NAMES, "ci"}
    assert val["role"] == "validation" and val["n"] == 1000 and type(val["n"]) is int
    assert val["accuracy"] == pytest.approx(0.85) and type(val["accuracy"]) is float
    assert set(val["ci"]) == set(METRIC_NAMES)
    low, high = val["ci"]["accuracy"]
    assert low < 0.85 < high
    assert set(data["gaps"]) == {"vs_train", "vs_validation"}
    assert list(data["gaps"]["vs_train"]) == ["val", "test", "rotated", "field"]
    entry = data["gaps"]["vs_validation"]["rotated"]["accuracy"]
    assert set(entry) == {"value", "low", "high"}
    assert entry["value"] == pytest.approx(-0.30)
    findings = to_json(scorecard_findings(card))
    assert all(
        {"kind", "severity", "split", "value", "low", "high", "text"} <= set(f) for f in findings
    )
    assert json.loads(json.dumps(data, allow_nan=False)) == data


def test_to_dict_writes_nan_as_none():
    nan = Estimate(float("nan"), float("nan"), float("nan"))
    card = hand_card({"test": ("test", 0.9)}, other=nan)
    data = card.to_dict()
    assert data["splits"]["test"]["nll"] is None
    assert data["splits"]["test"]["ci"]["nll"] == [None, None]
    json.dumps(data, allow_nan=False)


def test_to_frame_is_tidy(card):
    frame = card.to_frame()
    assert list(frame.columns) == ["split", "role", "metric", "value", "low", "high"]
    assert len(frame) == 5 * len(METRIC_NAMES)
    row = frame[(frame["split"] == "rotated") & (frame["metric"] == "accuracy")].iloc[0]
    assert row["role"] == "shifted" and row["value"] == pytest.approx(0.55)
    gaps = card.gaps_frame()
    assert set(gaps["reference"]) == {"train", "validation", "shift_reference"}
    assert len(gaps) == 3 * 4 * len(METRIC_NAMES)


def test_splits_from_predictions_round_trip(project_splits):
    frames = []
    for split in project_splits[:2]:
        frame = pd.DataFrame({"split": split.name, "label": split.labels, "loss": split.losses})
        for k in range(split.probs.shape[1]):
            frame[f"prob_{k}"] = split.probs[:, k].astype(np.float32)
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    table["split"] = pd.Categorical(table["split"], categories=["train", "val"])
    built = splits_from_predictions(table, {"train": "train", "val": "validation"})
    assert [s.name for s in built] == ["train", "val"] and built[1].role == "validation"
    np.testing.assert_array_equal(built[1].labels, project_splits[1].labels)
    np.testing.assert_allclose(built[1].probs, project_splits[1].probs, rtol=1e-6)
    with pytest.raises(ProjectError, match=r"columns loss, prob_0 \.\.\. prob_"):
        splits_from_predictions(table[["split", "label"]], {"train": "train"})


# --------------------------------------------------------------------------------------------
# Gap assessment and verdicts on hand-made scorecards
# --------------------------------------------------------------------------------------------


def hand_card(
    accuracies: dict[str, tuple[str, float]],
    *,
    vs_train: dict[str, Estimate] | None = None,
    vs_validation: dict[str, Estimate] | None = None,
    vs_shift: dict[str, Estimate] | None = None,
    other: Estimate = OTHER_METRICS,
    train_interval: tuple[float, float] | None = None,
    split_metrics: dict[str, dict[str, Estimate]] | None = None,
    train_gaps: dict[str, Estimate] | None = None,
) -> Scorecard:
    """A scorecard with chosen accuracies and accuracy gaps (other metrics: ``other``).

    ``split_metrics`` overrides other metrics per split (``{"val": {"nll": ...}}``) and
    ``train_gaps`` overrides other metrics' gaps in ``vs_train`` (otherwise 0, -0.01 to 0.01).
    """
    splits = []
    for name, (role, value) in accuracies.items():
        low, high = train_interval if (train_interval and role == "train") else (value, value)
        metrics = {m: other for m in METRIC_NAMES}
        metrics["accuracy"] = Estimate(value, low, high)
        metrics.update((split_metrics or {}).get(name, {}))
        splits.append(SplitScores(name, role, 1000, metrics))

    def first(role):
        return next((n for n, (r, _) in accuracies.items() if r == role), None)

    train, validation = first("train"), first("validation")
    shift_reference = first("test") or validation

    def gaps(given, reference, overrides=None):
        result = {}
        for name, gap in (given or {}).items():
            metrics = {m: Estimate(0.0, -0.01, 0.01) for m in METRIC_NAMES}
            metrics.update(overrides or {})
            metrics["accuracy"] = gap
            result[name] = GapScores(
                name, accuracies[name][0], reference, accuracies[reference][0], metrics
            )
        return result

    return Scorecard(
        splits=tuple(splits),
        vs_train=gaps(vs_train, train, train_gaps),
        vs_validation=gaps(vs_validation, validation),
        vs_shift_reference=gaps(vs_shift, shift_reference),
        train=train,
        validation=validation,
        shift_reference=shift_reference,
        n_resamples=1000,
        confidence=0.95,
        seed=0,
    )


@pytest.mark.parametrize(
    ("gap", "status", "severity"),
    [
        (Estimate(-0.086, -0.100, -0.071), "worse", "warning"),  # 8.6 points, clear
        (Estimate(-0.234, -0.279, -0.190), "worse", "critical"),  # 23.4 points
        (Estimate(-0.10, -0.12, -0.08), "worse", "critical"),  # exactly the critical threshold
        (Estimate(-0.008, -0.027, 0.012), "fine", "ok"),  # within the noise
        (Estimate(-0.015, -0.021, -0.009), "fine", "ok"),  # real but small
        (Estimate(0.05, 0.03, 0.07), "fine", "ok"),  # better than the reference
        (Estimate(-0.05, -0.11, 0.01), "uncertain", "warning"),  # large but not significant
        (Estimate(-0.01, -0.06, 0.04), "uncertain", "ok"),  # small but a wide interval
        (Estimate(float("nan"), float("nan"), float("nan")), "uncertain", "ok"),
    ],
)
def test_assess_gap_rules(gap, status, severity):
    assessment = assess_gap(gap, metric="accuracy")
    assert (assessment.status, assessment.severity) == (status, severity)
    assert assessment.worse_by.value == pytest.approx(-100 * gap.value, nan_ok=True)


def test_assess_gap_respects_the_metric_direction():
    rise = Estimate(0.3, 0.2, 0.4)  # NLL up by 0.3 nats: worse
    assert assess_gap(rise, metric="nll").status == "worse"
    assert assess_gap(rise, metric="nll").worse_by == rise
    assert assess_gap(rise, metric="accuracy").status == "fine"  # accuracy up 30 points
    assert assess_gap(Estimate(0.6, 0.55, 0.7), metric="nll").severity == "critical"
    assert GAP_THRESHOLDS["nll"].critical == 0.5


def test_overfitting_verdict_text():
    card = hand_card(
        {"train": ("train", 0.998), "validation": ("validation", 0.912)},
        vs_train={"validation": Estimate(-0.086, -0.100, -0.071)},
    )
    (verdict,) = diagnose(card)
    assert verdict == Verdict(
        "overfitting",
        "warning",
        "Overfitting: train accuracy 99.8%, validation 91.2%, gap 8.6 points (95% CI 7.1 to 10.0).",
        "validation",
    )


def test_healthy_verdict_text():
    card = hand_card(
        {"train": ("train", 0.97), "validation": ("validation", 0.962)},
        vs_train={"validation": Estimate(-0.008, -0.027, 0.012)},
    )
    (verdict,) = diagnose(card)
    assert (verdict.kind, verdict.severity) == ("healthy", "ok")
    assert verdict.text == (
        "No clear overfitting: train and validation accuracy differ by 0.8 points, within the "
        "noise (95% CI -1.2 to 2.7)."
    )
    assert render(headline(card)) == (
        "No clear generalization gap: no split is clearly worse than its reference in accuracy."
    )


def test_real_but_small_gap_is_healthy_and_says_so():
    card = hand_card(
        {"train": ("train", 0.97), "validation": ("validation", 0.955)},
        vs_train={"validation": Estimate(-0.015, -0.021, -0.009)},
    )
    (verdict,) = diagnose(card)
    assert verdict.kind == "healthy"
    assert "a real but small gap under the 3.0-point threshold" in verdict.text


def test_uncertain_overfitting_verdict():
    card = hand_card(
        {"train": ("train", 0.99), "validation": ("validation", 0.94)},
        vs_train={"validation": Estimate(-0.05, -0.11, 0.01)},
    )
    (verdict,) = diagnose(card)
    assert (verdict.kind, verdict.severity) == ("uncertain", "warning")
    assert verdict.text.startswith("Possible overfitting: train accuracy 99.0%, validation 94.0%")
    assert "(-1.0 to 11.0) includes no gap" in verdict.text
    assert "too noisy to call (validation)" in render(headline(card))


def test_underfitting_verdict():
    card = hand_card(
        {"train": ("train", 0.72), "validation": ("validation", 0.705)},
        vs_train={"validation": Estimate(-0.015, -0.028, -0.002)},
        train_interval=(0.691, 0.748),
    )
    (verdict,) = diagnose(card)
    assert (verdict.kind, verdict.severity, verdict.split) == ("underfitting", "warning", "train")
    assert verdict.text.startswith(
        "Underfitting: train accuracy is only 72.0% (95% CI 69.1% to 74.8%) and validation is "
        "close at 70.5%"
    )
    assert UNDERFITTING_MAX_TRAIN_ACCURACY == 0.90


def test_underfitting_without_validation():
    card = hand_card({"train": ("train", 0.6)})
    (verdict,) = diagnose(card)
    assert verdict.kind == "underfitting" and "below the 90% bar" in verdict.text


def test_big_gap_on_low_train_accuracy_is_overfitting_not_underfitting():
    card = hand_card(
        {"train": ("train", 0.85), "validation": ("validation", 0.70)},
        vs_train={"validation": Estimate(-0.15, -0.18, -0.12)},
    )
    (verdict,) = diagnose(card)
    assert (verdict.kind, verdict.severity) == ("overfitting", "critical")


# The sample project: train memorised (100% accuracy, NLL 0.0003), validation 97.5% with NLL 0.149.
MEMORISED_ACCURACIES = {"train": ("train", 1.0), "val": ("validation", 0.975)}
MEMORISED_GAP = Estimate(-0.025, -0.040, -0.010)  # 2.5 points (1.0 to 4.0): real, uncertain
MEMORISED_METRICS = {
    "train": {"nll": Estimate(0.0003, 0.00025, 0.00039), "ece": Estimate(0.0003, 0.0002, 0.0004)},
    "val": {"nll": Estimate(0.149, 0.051, 0.275), "ece": Estimate(0.020, 0.008, 0.033)},
}
NLL_CLEARLY_WORSE = Estimate(0.149, 0.051, 0.274)  # >= 0.1 nats, interval above 0
ECE_CLEARLY_WORSE = Estimate(0.080, 0.050, 0.110)  # 8 points, interval above 0


def memorised_card(gap: Estimate = MEMORISED_GAP, **train_gaps: Estimate) -> Scorecard:
    return hand_card(
        MEMORISED_ACCURACIES,
        vs_train={"val": gap},
        split_metrics=MEMORISED_METRICS,
        train_gaps=train_gaps,
    )


def test_memorised_training_set_is_overfitting_though_the_accuracy_gap_is_small():
    card = memorised_card(nll=NLL_CLEARLY_WORSE)
    assert assess_gap(MEMORISED_GAP, metric="accuracy").status == "uncertain"
    (verdict,) = diagnose(card)
    assert verdict == Verdict(
        "overfitting",
        "warning",
        "Overfitting (mild in accuracy): train accuracy 100.0% vs validation 97.5% (gap 2.5 "
        "points, 95% CI 1.0 to 4.0), but validation loss is 0.149 against 0.000 on train: the "
        "model is far more confident on data it has seen.",
        "val",
    )
    assert render(headline(card)) == verdict.text  # the only problem, so it is the headline
    assert OVERFITTING_EVIDENCE_METRICS == ("nll", "ece")


def test_same_accuracy_gap_without_worse_nll_or_ece_stays_uncertain():
    for train_gaps in (
        {},  # nothing else differs
        {"nll": Estimate(0.08, 0.03, 0.13)},  # real but under the 0.1-nat threshold
        {"nll": Estimate(0.3, -0.02, 0.6)},  # large but its interval includes 0
        {"brier": Estimate(0.05, 0.02, 0.08)},  # Brier is not read as evidence
        {"nll": Estimate(-0.2, -0.3, -0.1)},  # validation loss lower: better, not worse
    ):
        (verdict,) = diagnose(memorised_card(**train_gaps))
        assert (verdict.kind, verdict.severity) == ("uncertain", "info"), train_gaps
        assert verdict.text == (
            "Unclear whether the model overfits: train and validation accuracy differ by 2.5 "
            "points, but the 95% CI (1.0 to 4.0) cannot rule out a gap of 3.0 points or more; "
            "more validation samples would tell."
        )


def test_real_but_small_accuracy_gap_with_worse_calibration_is_overfitting():
    small = Estimate(-0.015, -0.021, -0.009)  # 1.5 points (0.9 to 2.1): fine on its own
    assert assess_gap(small, metric="accuracy").status == "fine"
    (verdict,) = diagnose(memorised_card(small, ece=ECE_CLEARLY_WORSE))
    assert (verdict.kind, verdict.severity) == ("overfitting", "warning")
    assert verdict.text == (
        "Overfitting (mild in accuracy): train accuracy 100.0% vs validation 97.5% (gap 1.5 "
        "points, 95% CI 0.9 to 2.1), but validation calibration error is 2.0% against 0.0% on "
        "train: the model's confidence is far better founded on data it has seen."
    )


def test_both_nll_and_ece_are_named_when_both_are_worse():
    (verdict,) = diagnose(memorised_card(nll=NLL_CLEARLY_WORSE, ece=ECE_CLEARLY_WORSE))
    assert verdict.kind == "overfitting"
    assert verdict.text.endswith(
        "but validation loss is 0.149 against 0.000 on train and calibration error 2.0% against "
        "0.0%: the model is far more confident on data it has seen."
    )


def test_critical_nll_gap_still_gives_a_warning_when_accuracy_barely_moves():
    (verdict,) = diagnose(memorised_card(nll=Estimate(0.9, 0.6, 1.2)))
    assert (verdict.kind, verdict.severity) == ("overfitting", "warning")


@pytest.mark.parametrize(
    ("gap", "kind", "start"),
    [
        # The accuracy interval includes 0: no real drop, whatever NLL says.
        (Estimate(-0.05, -0.11, 0.01), "uncertain", "Possible overfitting: train accuracy"),
        (Estimate(-0.01, -0.06, 0.04), "uncertain", "Unclear whether the model overfits"),
        (Estimate(-0.008, -0.027, 0.012), "healthy", "No clear overfitting: train and valid"),
        # Validation above train.
        (Estimate(0.02, 0.01, 0.03), "healthy", "No overfitting: validation accuracy is 2.0"),
        # Clearly worse in accuracy: the plain overfitting verdict, severity from accuracy.
        (Estimate(-0.12, -0.15, -0.10), "overfitting", "Overfitting: train accuracy 100.0%"),
    ],
)
def test_nll_evidence_only_counts_when_accuracy_really_drops_a_little(gap, kind, start):
    (verdict,) = diagnose(memorised_card(gap, nll=NLL_CLEARLY_WORSE, ece=ECE_CLEARLY_WORSE))
    assert verdict.kind == kind
    assert verdict.text.startswith(start)
    if kind == "overfitting":
        assert verdict.severity == "critical" and "loss" not in verdict.text


def test_underfitting_comes_before_the_nll_evidence():
    card = hand_card(
        {"train": ("train", 0.72), "validation": ("validation", 0.705)},
        vs_train={"validation": Estimate(-0.015, -0.028, -0.002)},
        train_gaps={"nll": NLL_CLEARLY_WORSE},
    )
    (verdict,) = diagnose(card)
    assert verdict.kind == "underfitting"


def test_memorised_sample_like_data_end_to_end():
    """Real predictions: train right with confidence 0.9999, validation 97.5% right at 0.9."""
    rng = np.random.default_rng(0)

    def split(name, role, n, accuracy, confidence):
        labels = rng.integers(0, 4, size=n)
        right = np.arange(n) < round(accuracy * n)
        preds = np.where(right, labels, (labels + 1) % 4)
        probs = np.full((n, 4), (1 - confidence) / 3)
        probs[np.arange(n), preds] = confidence
        return SplitData(name, role, labels, probs, -np.log(probs[np.arange(n), labels]))

    card = compute_scorecard(
        [split("train", "train", 800, 1.0, 0.9999), split("val", "validation", 400, 0.975, 0.9)],
        n_resamples=500,
    )
    assert card.vs_train["val"].assess("accuracy").status != "worse"
    assert card.vs_train["val"].assess("nll").status == "worse"
    (verdict,) = diagnose(card)
    assert (verdict.kind, verdict.severity) == ("overfitting", "warning")
    assert verdict.text.startswith("Overfitting (mild in accuracy): train accuracy 100.0% vs ")


def shift_card() -> Scorecard:
    return hand_card(
        {
            "train": ("train", 0.998),
            "validation": ("validation", 0.912),
            "test": ("test", 0.918),
            "rotated": ("shifted", 0.684),
            "noisy": ("shifted", 0.91),
            "field": ("deployment", 0.857),
        },
        vs_train={"validation": Estimate(-0.086, -0.100, -0.071)},
        vs_validation={
            "train": Estimate(0.086, 0.071, 0.100),
            "test": Estimate(0.006, -0.01, 0.02),
            "rotated": Estimate(-0.31, -0.35, -0.27),
            "noisy": Estimate(-0.002, -0.02, 0.015),
            "field": Estimate(-0.061, -0.08, -0.04),
        },
        vs_shift={
            "rotated": Estimate(-0.234, -0.279, -0.190),
            "noisy": Estimate(-0.008, -0.027, 0.012),
            "field": Estimate(-0.061, -0.080, -0.042),
        },
    )


def test_shift_and_deployment_verdicts():
    verdicts = diagnose(shift_card())
    assert [(v.kind, v.severity, v.split) for v in verdicts] == [
        ("overfitting", "warning", "validation"),
        ("shift", "critical", "rotated"),
        ("healthy", "ok", "noisy"),
        ("shift", "warning", "field"),
    ]
    assert verdicts[1].text == (
        "Shift: rotated is 23.4 points below test (95% CI 19.0 to 27.9); accuracy 68.4% vs 91.8%."
    )
    assert verdicts[2].text == (
        "No clear shift: noisy is 0.8 points below test, within the noise (95% CI -1.2 to 2.7)."
    )
    assert verdicts[3].text.startswith("Deployment: field is 6.1 points below test (95% CI 4.2")


@pytest.mark.parametrize(
    ("role", "gap", "kind", "severity", "text"),
    [
        (
            "shifted",
            Estimate(-0.05, -0.11, 0.01),
            "uncertain",
            "warning",
            "Possible shift: blur is 5.0 points below test, but the 95% CI (-1.0 to 11.0) "
            "includes no drop; more samples would tell.",
        ),
        (
            "deployment",
            Estimate(0.01, -0.04, 0.06),
            "uncertain",
            "info",  # too noisy to call: information, not good news
            "Unclear deployment shift: blur is 1.0 points above test (95% CI -4.0 to 6.0), too "
            "wide to rule out a drop of 3.0 points or more; more samples would tell.",
        ),
        (
            "shifted",
            Estimate(0.02, 0.01, 0.03),
            "healthy",
            "ok",
            "No clear shift: blur is 2.0 points above test, clearly better (95% CI 1.0 to 3.0).",
        ),
        (
            "deployment",
            Estimate(-0.015, -0.021, -0.009),
            "healthy",
            "ok",
            "No clear deployment shift: blur is 1.5 points below test, a real but small drop "
            "under the 3.0-point threshold (95% CI 0.9 to 2.1).",
        ),
    ],
)
def test_shift_verdict_variants(role, gap, kind, severity, text):
    card = hand_card(
        {"test": ("test", 0.9), "blur": (role, 0.9 + gap.value)}, vs_shift={"blur": gap}
    )
    (verdict,) = diagnose(card)
    assert (verdict.kind, verdict.severity, verdict.split) == (kind, severity, "blur")
    assert verdict.text == text


def test_validation_better_than_train_is_not_overfitting():
    card = hand_card(
        {"train": ("train", 0.93), "validation": ("validation", 0.95)},
        vs_train={"validation": Estimate(0.02, 0.01, 0.03)},
    )
    (verdict,) = diagnose(card)
    assert verdict.kind == "healthy"
    assert verdict.text.startswith(
        "No overfitting: validation accuracy is 2.0 points above train, clearly (95% CI 1.0 to 3.0)"
    )


def test_headline_picks_the_most_severe_finding():
    text = render(headline(shift_card()))
    assert text == (
        "Shift: rotated is 23.4 points below test (95% CI 19.0 to 27.9); accuracy 68.4% vs 91.8%; "
        "2 more problems below."
    )


def test_headline_without_anything_to_compare():
    card = hand_card({"val": ("validation", 0.9), "test": ("test", 0.88)})
    assert diagnose(card) == ()
    assert render(headline(card)).startswith(
        "No verdict: the verdicts compare train with validation"
    )


def test_headline_with_a_single_split():
    card = hand_card({"test": ("test", 0.9)})
    assert render(headline(card)) == (
        "Only one split (test, accuracy 90.0%): add a train or validation split to measure a gap."
    )


def test_gap_chart_takeaway():
    card = shift_card()
    assert render(gap_chart_takeaway(card)) == (
        "Against validation, the model loses 31 points of accuracy on rotated, the largest drop; "
        "field (deployment) loses 6.1."
    )
    assert render(gap_chart_takeaway(card, reference="shift_reference")).startswith(
        "Against test, the model loses 23 points of accuracy on rotated"
    )
    assert render(gap_chart_takeaway(card, reference="train")) == (
        "Against train, the model loses 8.6 points of accuracy on validation, the largest drop."
    )
    healthy = hand_card(
        {"train": ("train", 0.97), "validation": ("validation", 0.962)},
        vs_train={"validation": Estimate(-0.008, -0.027, 0.012)},
    )
    assert render(gap_chart_takeaway(healthy, reference="train")) == (
        "No split is clearly worse than train in accuracy; the differences are at most 0.8 points."
    )
    unclear = hand_card(
        {"train": ("train", 0.97), "validation": ("validation", 0.96)},
        vs_train={"validation": Estimate(-0.01, -0.06, 0.04)},
    )
    assert render(gap_chart_takeaway(unclear, reference="train")).endswith(
        "at most 1.0 points, but the interval for validation is too wide to tell."
    )
    assert render(gap_chart_takeaway(hand_card({"test": ("test", 0.9)}), reference="train")) == (
        "There is no train split, so there is no gap against it to show."
    )


def test_gap_chart_takeaway_names_its_reference(card):
    """Toggling the reference must change the words, not only the numbers."""
    by_reference = {
        reference: render(gap_chart_takeaway(card, metric="accuracy", reference=reference))
        for reference in ("validation", "train", "shift_reference")
    }
    assert by_reference["validation"] == (
        "Against val (validation), the model loses 30 points of accuracy on rotated, the largest "
        "drop; field (deployment) loses 6.0."
    )
    assert by_reference["train"].startswith("Against train, the model loses 44 points")
    assert by_reference["shift_reference"].startswith("Against test, the model loses 31 points")
    assert render(gap_chart_takeaway(card, metric="nll", reference="train")).startswith(
        "Against train, NLL rises by 1.093 on rotated, the largest rise; field (deployment) rises"
    )
    healthy = hand_card(
        {"train": ("train", 0.97), "val": ("validation", 0.962)},
        vs_validation={"train": Estimate(0.008, -0.012, 0.027)},
    )
    assert render(gap_chart_takeaway(healthy, reference="validation")).startswith(
        "No split is clearly worse than val (validation) in accuracy"
    )


def test_metric_takeaway():
    text = render(metric_takeaway(shift_card()))
    assert text == (
        "Accuracy is best on train (99.8%) and worst on rotated (68.4%); validation is 91.2%."
    )


def test_verdicts_end_to_end(card):
    kinds = {v.split: (v.kind, v.severity) for v in diagnose(card)}
    assert kinds["val"] == ("overfitting", "critical")  # 99% vs 85%
    assert kinds["rotated"] == ("shift", "critical")  # 55% vs 86%
    assert kinds["field"] == ("shift", "warning")  # 79% vs 86%
    assert render(headline(card)).startswith("Shift: rotated is 31.0 points below test")


def test_verdict_numbers_follow_the_confidence_level(project_splits):
    card = compute_scorecard(project_splits[:2], n_resamples=200, confidence=0.9)
    assert "(90% CI " in diagnose(card)[0].text


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------


def row_of(labels, name: str) -> int:
    """The index of split ``name`` among axis labels ("rotated<br>...shifted..." or "train")."""
    return [label.split("<br>")[0] for label in labels].index(name)


def legend_lines(fig: go.Figure) -> dict[str, go.layout.Shape]:
    """Reference lines shown as legend entries, by legend name."""
    return {shape.name: shape for shape in fig.layout.shapes if shape.showlegend}


def test_metric_by_split_figure(card):
    fig = metric_by_split_figure(card, "accuracy")
    assert isinstance(fig, go.Figure)
    assert len(fig.data) == len(card.splits)
    assert fig.layout.title.text.startswith("Accuracy by split")
    assert "95% CI" in fig.layout.title.subtitle.text
    assert fig.layout.xaxis.title.text == "Accuracy (%)<br>higher is better →"
    colors = split_colors(card.split_roles)
    rotated = next(trace for trace in fig.data if trace.name == "rotated")
    assert rotated.x[0] == pytest.approx(55.0)
    assert rotated.marker.color == colors["rotated"]
    assert rotated.y[0].startswith("rotated<br>") and "shifted" in rotated.y[0]
    estimate = card.split("rotated").metrics["accuracy"]
    assert rotated.error_x.arrayminus[0] == pytest.approx(100 * (estimate.value - estimate.low))
    assert "95% CI" in rotated.hovertemplate and "55.0%" in rotated.hovertemplate
    custom = metric_by_split_figure(card, "nll", colors={"rotated": "#000000"})
    assert next(t for t in custom.data if t.name == "rotated").marker.color == "#000000"
    assert custom.layout.xaxis.title.text == "NLL (nats)<br>← lower is better"


def test_metric_by_split_reference_levels_are_legend_entries_not_labels(card):
    """Labels on the lines collide when the levels are close; legend entries never do."""
    fig = metric_by_split_figure(card, "accuracy")
    assert not fig.layout.annotations
    lines = legend_lines(fig)
    assert list(lines) == ["train level 99.0%", "val (validation) level 85.0%"]
    assert lines["train level 99.0%"].x0 == pytest.approx(99.0)
    assert lines["train level 99.0%"].line.dash == "dot"
    assert lines["val (validation) level 85.0%"].x0 == pytest.approx(85.0)
    assert lines["val (validation) level 85.0%"].line.dash == "dash"
    assert fig.layout.showlegend is True
    assert not any(trace.showlegend for trace in fig.data)  # only the two lines in the key
    # 2.5 points apart, as on the sample project: still two separate entries.
    close = hand_card({"train": ("train", 1.0), "val": ("validation", 0.975)})
    assert list(legend_lines(metric_by_split_figure(close))) == [
        "train level 100.0%",
        "val (validation) level 97.5%",
    ]


def test_metric_by_split_axis_is_tight_around_the_data(card):
    fig = metric_by_split_figure(card, "accuracy")
    lows = [100 * s.metrics["accuracy"].low for s in card.splits]
    highs = [100 * s.metrics["accuracy"].high for s in card.splits]
    span = max(highs) - min(lows)
    assert list(fig.layout.xaxis.range) == pytest.approx(
        [min(lows) - 0.06 * span, max(highs) + 0.06 * span]
    )
    assert fig.layout.xaxis.range[0] > 40  # rotated is 55%: the axis does not start at 0
    clustered = hand_card(
        {"train": ("train", 1.0), "val": ("validation", 0.975), "low": ("shifted", 0.757)}
    )
    low, high = metric_by_split_figure(clustered).layout.xaxis.range
    assert low == pytest.approx(75.7 - 0.06 * 24.3) and high == pytest.approx(100 + 0.06 * 24.3)
    single = metric_by_split_figure(hand_card({"test": ("test", 0.9)}))
    assert list(single.layout.xaxis.range) == pytest.approx([89.0, 91.0])
    assert not single.layout.showlegend  # no train or validation level to show


def test_gap_figure(card):
    fig = gap_figure(card, "accuracy", reference="shift_reference")
    assert fig.layout.title.text.startswith("Accuracy gap against test")
    assert "95% CI" in fig.layout.title.subtitle.text
    title = fig.layout.xaxis.title.text
    # One sign convention with the table and the sentences: positive = worse, for every metric.
    assert title == "Worse than test by (points)<br>← better · worse →"  # the hint on its own line
    critical = next(t for t in fig.data if t.name == "Critical gap")
    assert critical.marker.color == BAD
    index = row_of(critical.y, "rotated")
    assert critical.x[index] == pytest.approx(31.0)
    assert "95% CI" in critical.customdata[index]
    zero_lines = [s for s in fig.layout.shapes if s.x0 == 0 and s.x1 == 0]
    assert zero_lines
    nll = gap_figure(card, "nll", reference="train")
    assert nll.layout.xaxis.title.text.endswith("<br>← better · worse →")
    bars = sum(len(trace.x) for trace in nll.data)
    assert bars == len(card.vs_train)


def test_gap_figure_thresholds_are_legend_entries_not_labels(card):
    fig = gap_figure(card, "accuracy", reference="validation")
    assert not fig.layout.annotations  # nothing printed at the top of the lines to collide
    lines = legend_lines(fig)
    assert list(lines) == ["warning threshold (+3.0 points)", "critical threshold (+10.0 points)"]
    assert [line.x0 for line in lines.values()] == [3.0, 10.0]
    assert {line.legend for line in lines.values()} == {"legend2"}  # their own key, at the top
    assert {trace.legend for trace in fig.data} == {None}  # the status key stays the first legend
    nll = legend_lines(gap_figure(card, "nll", reference="validation"))
    assert list(nll) == ["warning threshold (+0.100 nats)", "critical threshold (+0.500 nats)"]
    assert [line.x0 for line in nll.values()] == [0.1, 0.5]


def test_gap_figure_without_the_reference_explains_itself():
    card = hand_card({"test": ("test", 0.9)})
    fig = gap_figure(card, reference="train")
    assert len(fig.data) == 0
    assert fig.layout.annotations[0].text == (
        "No train split in this project, so there is no gap to show."
    )


def test_gap_heatmap_figure(card):
    fig = gap_heatmap_figure(card, reference="validation")
    (heatmap,) = fig.data
    assert list(heatmap.x) == ["Accuracy ↑", "Macro-F1 ↑", "NLL ↓", "ECE ↓", "Brier score ↓"]
    row = row_of(heatmap.y, "rotated")
    assert row == 2 and "shifted" in heatmap.y[row]
    assert heatmap.z[row][0] == pytest.approx(1.0)  # 30 points worse: beyond critical, clipped
    assert heatmap.text[row][0].startswith("+30.0")  # worse by, as in the table and the text
    assert heatmap.z[0][0] < 0  # train is better than validation
    assert heatmap.zmid == 0 and heatmap.zmin == -1 and heatmap.zmax == 1


def test_figures_survive_undefined_values():
    nan = Estimate(float("nan"), float("nan"), float("nan"))
    card = hand_card(
        {"train": ("train", 0.9), "validation": ("validation", 0.88)},
        vs_train={"validation": nan},
        vs_validation={"train": nan},
        other=nan,
    )
    nll = metric_by_split_figure(card, "nll")
    assert len(nll.data) == 2
    assert nll.layout.xaxis.range is None  # nothing finite to fit: plotly's autorange
    fig = gap_figure(card, "accuracy", reference="train")
    (uncertain,) = fig.data
    assert uncertain.name == "Uncertain: interval too wide" and "n/a" in uncertain.customdata[0]
    heatmap = gap_heatmap_figure(card, reference="train").data[0]
    assert heatmap.z[0][0] is None and heatmap.text[0][0] == "n/a"


def test_ece_uses_the_bias_corrected_basic_interval_like_the_calibration_page(card):
    """The plug-in ECE is biased upwards; its interval is [2 v - q_high, 2 v - q_low]."""
    rotated = card.split("rotated")
    value = rotated.metrics["ece"].value
    q_low, q_high = np.percentile(rotated.replicates["ece"], [2.5, 97.5])
    assert rotated.metrics["ece"].low == pytest.approx(max(2 * value - q_high, 0.0))
    assert rotated.metrics["ece"].high == pytest.approx(max(2 * value - q_low, 0.0))
    a_low, a_high = np.percentile(rotated.replicates["accuracy"], [2.5, 97.5])
    assert rotated.metrics["accuracy"].low == pytest.approx(a_low)
    assert rotated.metrics["accuracy"].high == pytest.approx(a_high)


def test_the_scorecard_and_the_calibration_report_give_one_ece_interval():
    """Same split, same stream (seed, position): the overview and the calibration page agree."""
    from gengap_dash.analysis.calibration.report import calibration_report
    from gengap_dash.stats.bootstrap import split_stream

    splits = [make_split("val", "validation", 400, 0.9), make_split("rotated", "shifted", 400, 0.6)]
    card = compute_scorecard(splits, n_resamples=500, seed=3)
    for position, split in enumerate(splits):
        report = calibration_report(
            split.labels, split.probs, n_resamples=500, seed=split_stream(3, position)
        )
        shown = card.split(split.name).metrics["ece"]
        assert shown.value == pytest.approx(report.ece.value, rel=1e-9)
        assert shown.low == pytest.approx(report.ece.low, rel=1e-9)
        assert shown.high == pytest.approx(report.ece.high, rel=1e-9)
