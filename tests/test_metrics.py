"""Scorecard metrics: reference implementations, hand-computed cases, invariances, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, brier_score_loss, f1_score, log_loss
from torchmetrics.functional.classification import multiclass_calibration_error

from gengap_dash.metrics import classification as metrics
from gengap_dash.metrics.classification import (
    ECE_N_BINS,
    SCORECARD_METRICS,
    accuracy,
    brier_score,
    check_predictions,
    cross_entropy_losses,
    get_metric,
    macro_f1,
    negative_log_likelihood,
    reduce_stacked,
    stacked_statistics,
    top_label_ece,
)
from gengap_dash.stats.bootstrap import resample_column_sums


def random_predictions(n: int = 400, n_classes: int = 5, seed: int = 0):
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.full(n_classes, 0.7), size=n)
    labels = rng.integers(0, n_classes, size=n)
    return labels, probs


def calibrated_away_from_edges(n: int = 600, n_classes: int = 10, seed: int = 1):
    """Top confidences at bin centres +- 0.3 bin widths (never near an edge, always < 1)."""
    rng = np.random.default_rng(seed)
    bins = rng.integers(2, ECE_N_BINS, size=n)
    confidences = (bins + 0.5 + rng.uniform(-0.3, 0.3, size=n)) / ECE_N_BINS
    top = rng.integers(0, n_classes, size=n)
    probs = np.repeat(((1.0 - confidences) / (n_classes - 1))[:, None], n_classes, axis=1)
    probs[np.arange(n), top] = confidences
    hit = rng.random(n) < confidences * 0.9
    labels = np.where(hit, top, (top + rng.integers(1, n_classes, size=n)) % n_classes)
    return labels, probs


# --------------------------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------------------------


def test_registry_names_units_and_directions():
    assert [m.name for m in SCORECARD_METRICS] == ["accuracy", "macro_f1", "nll", "ece", "brier"]
    units = {m.name: m.unit for m in SCORECARD_METRICS}
    assert units == {
        "accuracy": "percent",
        "macro_f1": "percent",
        "nll": "number",
        "ece": "percent",
        "brier": "number",
    }
    better = {m.name: m.higher_is_better for m in SCORECARD_METRICS}
    assert better == {
        "accuracy": True,
        "macro_f1": True,
        "nll": False,
        "ece": False,
        "brier": False,
    }
    for metric in SCORECARD_METRICS:
        assert metric.label and metric.axis_label
        assert len(metric.description) > 20 and metric.description.endswith(".")


def test_format_value_and_change():
    acc = get_metric("accuracy")
    nll = get_metric("nll")
    assert acc.format_value(0.9123) == "91.2%"
    assert acc.format_change(8.63) == "8.6 points"
    assert acc.format_change(-0.04) == "0.0 points"  # no negative zero
    assert acc.format_value(float("nan")) == "n/a"
    assert nll.format_value(0.31274) == "0.313"
    assert nll.format_change(0.12) == "0.120"
    assert acc.scale == 100.0 and nll.scale == 1.0
    assert (acc.change_unit, nll.change_unit, get_metric("brier").change_unit) == (
        "points",
        "nats",
        "",
    )


def test_get_metric_rejects_unknown_name():
    with pytest.raises(ValueError, match=r"Expected `metric` to be one of .*'accuracy'.*'auroc'"):
        get_metric("auroc")


# --------------------------------------------------------------------------------------------
# Against reference implementations
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_accuracy_matches_sklearn(seed):
    labels, probs = random_predictions(seed=seed)
    preds = probs.argmax(axis=1)
    assert accuracy(labels, preds) == pytest.approx(accuracy_score(labels, preds), abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_macro_f1_matches_sklearn(seed):
    labels, probs = random_predictions(seed=seed)
    preds = probs.argmax(axis=1)
    expected = f1_score(labels, preds, average="macro", zero_division=0)
    assert macro_f1(labels, preds, n_classes=5) == pytest.approx(expected, abs=1e-12)


def test_macro_f1_with_classes_that_never_appear():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 4, size=200)  # classes 4..9 never appear as labels
    preds = labels.copy()
    flip = rng.random(200) < 0.3
    preds[flip] = rng.integers(0, 6, size=int(flip.sum()))  # 4 and 5 appear only as predictions
    expected = f1_score(labels, preds, average="macro", zero_division=0)
    assert macro_f1(labels, preds, n_classes=10) == pytest.approx(expected, abs=1e-12)
    # Classes absent from both labels and predictions do not count (6 present classes here).
    assert macro_f1(labels, preds, n_classes=10) == pytest.approx(
        macro_f1(labels, preds, n_classes=6), abs=1e-12
    )


def test_nll_matches_log_loss_and_torch():
    labels, probs = random_predictions(n=300, n_classes=6, seed=4)
    losses = cross_entropy_losses(labels, probs)
    expected = log_loss(labels, probs, labels=list(range(6)))
    assert negative_log_likelihood(losses) == pytest.approx(expected, rel=1e-10)
    logits = torch.randn(300, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    torch_losses = torch.nn.functional.cross_entropy(
        logits, torch.as_tensor(labels), reduction="none"
    ).numpy()
    softmax = torch.softmax(logits, dim=1).numpy()
    np.testing.assert_allclose(cross_entropy_losses(labels, softmax), torch_losses, rtol=1e-10)


def test_brier_matches_closed_form_and_sklearn_per_class():
    labels, probs = random_predictions(n=250, n_classes=4, seed=5)
    one_hot = np.eye(4)[labels]
    closed_form = np.mean(np.sum((probs - one_hot) ** 2, axis=1))
    per_class = sum(brier_score_loss((labels == k).astype(int), probs[:, k]) for k in range(4))
    assert brier_score(labels, probs) == pytest.approx(closed_form, abs=1e-12)
    assert brier_score(labels, probs) == pytest.approx(per_class, abs=1e-12)


@pytest.mark.parametrize("seed", [1, 2])
def test_ece_matches_torchmetrics(seed):
    labels, probs = calibrated_away_from_edges(seed=seed)
    expected = multiclass_calibration_error(
        torch.as_tensor(probs), torch.as_tensor(labels), num_classes=10, n_bins=15, norm="l1"
    ).item()
    assert top_label_ece(labels, probs) == pytest.approx(expected, abs=1e-6)


# --------------------------------------------------------------------------------------------
# Hand-computed tiny cases
# --------------------------------------------------------------------------------------------


def test_tiny_cases_by_hand():
    labels = np.array([0, 0, 1, 2])
    preds = np.array([0, 1, 1, 1])
    assert accuracy(labels, preds) == pytest.approx(0.5)
    # class 0: TP 1, FN 1 -> 2/3; class 1: TP 1, FP 2 -> 1/2; class 2: FN 1 -> 0.
    assert macro_f1(labels, preds, n_classes=3) == pytest.approx((2 / 3 + 1 / 2 + 0) / 3)
    probs = np.array([[0.7, 0.2, 0.1]])
    assert brier_score(np.array([0]), probs) == pytest.approx(0.09 + 0.04 + 0.01)
    assert brier_score(np.array([2]), probs) == pytest.approx(0.49 + 0.04 + 0.81)
    assert negative_log_likelihood(np.array([0.5, 1.5])) == pytest.approx(1.0)
    assert cross_entropy_losses(np.array([1]), probs)[0] == pytest.approx(-np.log(0.2))


def test_tiny_ece_by_hand():
    # Two samples at confidence 0.9 (one right), two at 0.62 (both right):
    # bin (0.867, 0.933]: |0.5 - 0.9| x 2/4; bin (0.6, 0.667]: |1 - 0.62| x 2/4.
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.62, 0.38], [0.62, 0.38]])
    labels = np.array([0, 1, 0, 0])
    assert top_label_ece(labels, probs) == pytest.approx(0.4 * 0.5 + 0.38 * 0.5)


def test_zero_probability_on_true_class_is_clipped_not_infinite():
    probs = np.array([[1.0, 0.0], [0.5, 0.5]])
    losses = cross_entropy_losses(np.array([1, 0]), probs)
    assert np.isfinite(losses).all()
    assert losses[0] == pytest.approx(-np.log(np.finfo(np.float64).eps))


# --------------------------------------------------------------------------------------------
# Stacked statistics: one matrix serves every metric, points and replicates alike
# --------------------------------------------------------------------------------------------


def test_stacked_statistics_reduce_to_the_convenience_functions():
    labels, probs = random_predictions(n=300, n_classes=6, seed=6)
    losses = cross_entropy_losses(labels, probs)
    matrix, columns = stacked_statistics(labels, probs, losses)
    # accuracy, NLL and Brier carry (value, count): a resample of unequal blocks divides by its size
    assert matrix.shape == (300, 2 + 12 + 2 + 3 * ECE_N_BINS + 2)
    values = reduce_stacked(matrix.sum(axis=0), 300, columns)
    preds = probs.argmax(axis=1)
    assert values["accuracy"] == pytest.approx(accuracy(labels, preds))
    assert values["macro_f1"] == pytest.approx(macro_f1(labels, preds, n_classes=6))
    assert values["nll"] == pytest.approx(negative_log_likelihood(losses))
    assert values["ece"] == pytest.approx(top_label_ece(labels, probs))
    assert values["brier"] == pytest.approx(brier_score(labels, probs))
    # Without losses the NLL comes from the probabilities.
    matrix_no_losses, _ = stacked_statistics(labels, probs)
    np.testing.assert_allclose(matrix_no_losses, matrix)


def test_replicates_equal_metrics_of_the_resampled_data():
    """A replicate is the metric of an actual resample, including macro-F1's class set."""
    rng = np.random.default_rng(7)
    n = 60
    labels = rng.integers(0, 6, size=n)
    labels[:2] = 5  # a rare class that many resamples miss
    probs = rng.dirichlet(np.ones(6), size=n)
    losses = cross_entropy_losses(labels, probs)
    matrix, columns = stacked_statistics(labels, probs, losses)
    sums = resample_column_sums(matrix, n_resamples=25, rng=np.random.default_rng(11))
    replicates = reduce_stacked(sums, n, columns)
    draws = np.random.default_rng(11)
    for b in range(25):
        index = draws.integers(0, n, size=n)
        y, p = labels[index], probs[index]
        preds = p.argmax(axis=1)
        assert replicates["accuracy"][b] == pytest.approx(accuracy_score(y, preds))
        assert replicates["macro_f1"][b] == pytest.approx(
            f1_score(y, preds, average="macro", zero_division=0)
        )
        assert replicates["nll"][b] == pytest.approx(losses[index].mean())
        assert replicates["ece"][b] == pytest.approx(top_label_ece(y, p))
        assert replicates["brier"][b] == pytest.approx(brier_score(y, p))


# --------------------------------------------------------------------------------------------
# Invariances
# --------------------------------------------------------------------------------------------


def all_metrics(labels, probs):
    matrix, columns = stacked_statistics(labels, probs)
    return {k: float(v) for k, v in reduce_stacked(matrix.sum(0), len(labels), columns).items()}


def test_metrics_invariant_to_sample_order():
    labels, probs = random_predictions(n=500, n_classes=7, seed=8)
    order = np.random.default_rng(0).permutation(500)
    before = all_metrics(labels, probs)
    after = all_metrics(labels[order], probs[order])
    for name in before:
        assert after[name] == pytest.approx(before[name], abs=1e-12), name


def test_metrics_invariant_to_consistent_relabelling():
    labels, probs = random_predictions(n=500, n_classes=7, seed=9)
    mapping = np.random.default_rng(1).permutation(7)  # old class k becomes mapping[k]
    new_probs = np.empty_like(probs)
    new_probs[:, mapping] = probs
    before = all_metrics(labels, probs)
    after = all_metrics(mapping[labels], new_probs)
    assert mapping.tolist() != list(range(7))
    for name in before:
        assert after[name] == pytest.approx(before[name], abs=1e-12), name


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


def test_check_predictions_accepts_and_converts():
    labels, probs, losses = check_predictions(
        np.array([0, 1], dtype=np.int32), np.array([[0.6, 0.4], [0.3, 0.7]], dtype=np.float32)
    )
    assert labels.dtype == np.int64 and probs.dtype == np.float64 and losses is None


@pytest.mark.parametrize(
    ("labels", "probs", "losses", "message"),
    [
        (np.zeros((2, 1), int), np.full((2, 2), 0.5), None, r"`labels` of shape \(n_samples,\)"),
        (np.array([0.0, 1.0]), np.full((2, 2), 0.5), None, "integer class indices, but got dtype"),
        (np.array([True, False]), np.full((2, 2), 0.5), None, "dtype bool"),
        (np.array([0, -1]), np.full((2, 2), 0.5), None, "non-negative class indices, but got -1"),
        (np.array([0, 1]), np.full(2, 0.5), None, "at least 2 classes, but got shape"),
        (np.array([0, 1]), np.full((2, 1), 1.0), None, "at least 2 classes"),
        (np.array([0, 1]), np.full((3, 2), 0.5), None, r"one row per label \(2\), but got 3"),
        (
            np.array([0, 1]),
            np.array([[np.nan, 0.5], [0.5, 0.5]]),
            None,
            r"finite, but row 0 is \[nan",
        ),
        (np.array([0, 1]), np.array([[3.0, -2.0], [0.5, 0.5]]), None, "apply a softmax"),
        (np.array([0, 2]), np.full((2, 2), 0.5), None, r"`labels` in \[0, 2\).*got label 2"),
        (np.array([0, 1]), np.full((2, 2), 0.5), np.zeros(3), r"`losses` of shape \(2,\)"),
        (np.array([0, 1]), np.full((2, 2), 0.5), np.array([0.1, np.nan]), "without NaN"),
        (np.array([0, 1]), np.full((2, 2), 0.5), np.array([0.1, -1.0]), "non-negative"),
        (np.array([0, 1]), np.array([["a", "b"], ["c", "d"]]), None, "real numbers"),
        (np.array([0, 1]), np.full((2, 2), 0.5), np.array(["x", "y"]), "real numbers"),
    ],
)
def test_check_predictions_errors(labels, probs, losses, message):
    with pytest.raises(ValueError, match=message):
        check_predictions(labels, probs, losses)


def test_convenience_function_errors():
    with pytest.raises(ValueError, match=r"Expected `preds` to have one entry per label \(3\)"):
        accuracy(np.array([0, 1, 1]), np.array([0, 1]))
    with pytest.raises(ValueError, match="Expected `preds` to be integer class indices"):
        accuracy(np.array([0, 1]), np.array([0.0, 1.0]))
    with pytest.raises(
        ValueError, match="Expected `n_classes` to be a positive integer, but got 0"
    ):
        macro_f1(np.array([0]), np.array([0]), n_classes=0)
    with pytest.raises(ValueError, match=r"class indices below `n_classes` \(2\), but got 4"):
        macro_f1(np.array([0, 4]), np.array([0, 1]), n_classes=2)
    with pytest.raises(ValueError, match=r"`losses` of shape \(n_samples,\), but got shape"):
        negative_log_likelihood(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="Expected `n_bins` to be a positive integer"):
        top_label_ece(np.array([0, 1]), np.full((2, 2), 0.5), n_bins=0)


def test_empty_input_gives_nan_not_an_error():
    empty = np.array([], dtype=np.int64)
    assert np.isnan(accuracy(empty, empty))
    assert np.isnan(macro_f1(empty, empty))
    assert np.isnan(metrics.negative_log_likelihood(np.array([])))
