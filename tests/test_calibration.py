"""Calibration: binning, every metric against a reference, intervals, temperature scaling,
recalibration, cohorts, the sentences, and the figures built from them."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
import torch
from scipy.optimize import minimize_scalar
from scipy.special import logsumexp
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss, log_loss
from torchmetrics.functional.classification import multiclass_calibration_error

from gengap_dash.analysis.calibration import cohorts as cal_cohorts
from gengap_dash.analysis.calibration import recalibration as cal_recalibration
from gengap_dash.analysis.calibration import report as cal_report
from gengap_dash.analysis.calibration import temperature as cal_temperature
from gengap_dash.metrics import calibration as calibration_metrics
from gengap_dash.metrics import classification
from gengap_dash.plots import calibration as plots
from gengap_dash.plots.style import split_colors
from gengap_dash.project.errors import ProjectError
from gengap_dash.stats import binning, bootstrap

N_CLASSES = 4


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def make_logits(
    n: int, *, seed: int = 0, n_classes: int = N_CLASSES, scale: float = 2.0, margin: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from softmax(z); the model reports scale * z (overconfident for scale > 1)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 1.2, (n, n_classes))
    z[:, 0] += margin
    labels = (rng.random(n)[:, None] > np.cumsum(softmax(z), axis=1)).sum(axis=1)
    return scale * z, labels


def away_from_edges(probs: np.ndarray, n_bins: int = 15, gap: float = 1e-4) -> np.ndarray:
    """Rows whose top confidence is at least ``gap`` from every bin edge and below 1."""
    top = probs.max(axis=1)
    distance = np.abs(top[:, None] - np.linspace(0, 1, n_bins + 1)[None, :]).min(axis=1)
    return distance > gap


def hand_ece(confidences, hits, edges, norm="l1"):
    """The textbook definition, one bin at a time."""
    n = len(confidences)
    gaps, weights = [], []
    for lo, hi in itertools.pairwise(edges):
        in_bin = (confidences > lo) & (confidences <= hi) if lo > 0 else (confidences <= hi)
        if in_bin.any():
            gaps.append(abs(hits[in_bin].mean() - confidences[in_bin].mean()))
            weights.append(in_bin.sum() / n)
    gaps, weights = np.array(gaps), np.array(weights)
    if norm == "l1":
        return float((gaps * weights).sum())
    if norm == "l2":
        return float(np.sqrt((gaps**2 * weights).sum()))
    return float(gaps.max())


# --------------------------------------------------------------------------------------------
# Bin edges and reliability bins
# --------------------------------------------------------------------------------------------


def test_equal_mass_edges_split_samples_evenly():
    confidences = np.arange(1, 11) / 10.0  # 0.1 ... 1.0
    edges = binning.equal_mass_edges(confidences, 5)
    np.testing.assert_allclose(edges, [0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
    bins = cal_report.reliability_bins(confidences, np.ones(10), n_bins=5, strategy="quantile")
    np.testing.assert_array_equal(bins.count, [2, 2, 2, 2, 2])


def test_equal_mass_edges_deduplicate_ties_and_ones():
    confidences = np.array([0.5] * 3 + [1.0] * 7)
    np.testing.assert_allclose(binning.equal_mass_edges(confidences, 5), [0.0, 0.5, 1.0])
    np.testing.assert_allclose(binning.equal_mass_edges(np.full(8, 0.7), 15), [0.0, 1.0])
    np.testing.assert_allclose(binning.equal_mass_edges(np.array([]), 15), [0.0, 1.0])


@pytest.mark.parametrize("n_samples", [3, 14, 100, 1001])
def test_equal_mass_bins_are_never_empty(n_samples):
    rng = np.random.default_rng(n_samples)
    confidences = np.round(rng.uniform(0.3, 1.0, n_samples), 2)  # many ties
    confidences[:2] = 1.0
    bins = cal_report.reliability_bins(
        confidences, rng.integers(0, 2, n_samples), n_bins=15, strategy="quantile"
    )
    assert bins.n_bins <= 15
    assert (bins.count > 0).all()
    assert bins.n_samples == n_samples


def test_reliability_bins_match_sklearn_calibration_curve():
    rng = np.random.default_rng(3)
    probs = rng.dirichlet(np.ones(3), 4000)
    labels = rng.integers(0, 3, 4000)
    for k in range(3):
        event, prob = labels == k, probs[:, k]
        prob_true, prob_pred = calibration_curve(event, prob, n_bins=10, strategy="uniform")
        bins = cal_report.reliability_bins(prob, event, n_bins=10)
        filled = bins.count > 0  # calibration_curve drops empty bins
        np.testing.assert_allclose(bins.accuracy[filled], prob_true, rtol=1e-12)
        np.testing.assert_allclose(bins.mean_confidence[filled], prob_pred, rtol=1e-12)


def test_reliability_bins_by_hand_with_empty_bins_and_exact_ones():
    confidences = np.array([0.05, 0.95, 1.0, 1.0, 0.55])
    hits = np.array([0, 1, 1, 0, 1])
    bins = cal_report.reliability_bins(confidences, hits, n_bins=10)
    np.testing.assert_array_equal(bins.count, [1, 0, 0, 0, 0, 1, 0, 0, 0, 3])
    assert bins.accuracy[9] == pytest.approx(2 / 3)
    assert bins.mean_confidence[9] == pytest.approx((0.95 + 2.0) / 3)
    assert bins.gap[9] == pytest.approx((0.95 + 2.0) / 3 - 2 / 3)  # overconfident: positive
    assert bins.gap[0] == pytest.approx(0.05)
    empty = bins.count == 0
    assert np.isnan(bins.accuracy[empty]).all() and np.isnan(bins.mean_confidence[empty]).all()
    frame = bins.to_frame()
    assert list(frame.columns) == [
        "lower",
        "upper",
        "count",
        "share",
        "accuracy",
        "mean_confidence",
        "gap",
        "accuracy_low",
        "accuracy_high",
    ]
    assert frame["share"].sum() == pytest.approx(1.0)
    payload = json.dumps(bins.to_dict(), allow_nan=False)
    assert json.loads(payload)["accuracy"][1] is None
    assert json.loads(payload)["accuracy_low"][1] is None


def test_reliability_bins_carry_the_wilson_interval_of_each_bins_accuracy():
    """Checked against scipy.stats.binomtest(k, n).proportion_ci(method="wilson")."""
    from scipy.stats import binomtest

    rng = np.random.default_rng(5)
    confidences = rng.uniform(0.3, 1.0, 400)
    hits = (rng.random(400) < confidences).astype(float)
    bins = cal_report.reliability_bins(confidences, hits, n_bins=15)
    for index in np.flatnonzero(bins.count > 0):
        n = int(bins.count[index])
        k = round(float(bins.accuracy[index]) * n)
        reference = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        assert bins.accuracy_low[index] == pytest.approx(reference.low, abs=1e-12)
        assert bins.accuracy_high[index] == pytest.approx(reference.high, abs=1e-12)
    assert np.isnan(bins.accuracy_low[bins.count == 0]).all()
    # by hand: 0 of 3 samples right gives (0, 0.5615), not the Wald interval's empty (0, 0)
    from gengap_dash.stats.proportions import wilson_interval

    low, high = wilson_interval(np.array([0.0, 3.0]), np.array([3.0, 3.0]))
    assert low[0] == pytest.approx(0.0, abs=1e-12) and high[0] == pytest.approx(0.561497, abs=1e-6)
    assert low[1] == pytest.approx(1 - 0.561497, abs=1e-6) and high[1] == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"Expected `confidence` in \(0, 1\), but got 1.5"):
        wilson_interval(np.array([1.0]), np.array([2.0]), confidence=1.5)


@pytest.mark.parametrize("n_bins", [1, 2, 3, 7, 10, 15, 20, 100])
def test_fast_uniform_binning_matches_assign_bins_on_every_edge(n_bins):
    edges = binning.equal_width_edges(n_bins)
    values = np.concatenate(
        [
            edges,
            np.arange(n_bins + 1) / n_bins,
            np.nextafter(edges, 2.0).clip(0, 1),
            np.nextafter(edges, -1.0).clip(0, 1),
            np.random.default_rng(n_bins).random(500),
        ]
    )
    np.testing.assert_array_equal(
        binning.uniform_bins(values, n_bins), binning.assign_bins(values, edges)
    )


def test_report_bins_confidences_on_edges_like_assign_bins():
    edges = binning.equal_width_edges(15)
    confidences = np.concatenate([edges[8:], np.nextafter(edges[8:], 0.0)])  # all >= 0.5
    probs = np.column_stack([confidences, 1.0 - confidences])
    labels = np.arange(len(confidences)) % 2
    report = cal_report.calibration_report(labels, probs, n_resamples=0)
    expected = cal_report.reliability_bins(confidences, labels == 0)
    np.testing.assert_array_equal(report.reliability.count, expected.count)
    np.testing.assert_array_equal(report.reliability.count[7:], [2] * 8)


def test_confidence_of_exactly_one_falls_in_the_last_bin():
    # torchmetrics' [lo, hi) bins drop a confidence of 1.0; ours are (lo, hi], so it counts.
    confidences = np.array([1.0, 1.0, 1.0, 1.0])
    hits = np.array([1, 1, 1, 0])
    assert calibration_metrics.expected_calibration_error(confidences, hits) == pytest.approx(0.25)
    bins = cal_report.reliability_bins(confidences, hits)
    assert bins.count[-1] == 4


# --------------------------------------------------------------------------------------------
# Metrics against references
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "norm"), [("ece", "l1"), ("mce", "max"), ("rms_ce", "l2")])
def test_ece_mce_rms_match_torchmetrics(name, norm):
    logits, labels = make_logits(6000, seed=1)
    probs = softmax(logits)
    keep = away_from_edges(probs)
    probs, labels = probs[keep], labels[keep]
    expected = multiclass_calibration_error(
        torch.from_numpy(probs),
        torch.from_numpy(labels),
        num_classes=N_CLASSES,
        n_bins=15,
        norm=norm,
    ).item()
    summary = cal_report.calibration_report(labels, probs, n_resamples=0)
    assert getattr(summary, name).value == pytest.approx(expected, abs=1e-6)
    confidences, hits = cal_report.top_label(labels, probs)
    edges = binning.equal_width_edges(15)
    assert getattr(summary, name).value == pytest.approx(hand_ece(confidences, hits, edges, norm))


def test_adaptive_ece_by_hand():
    rng = np.random.default_rng(5)
    confidences = rng.permutation(np.linspace(0.505, 0.995, 300))  # distinct, 300 = 15 x 20
    hits = (rng.random(300) < confidences - 0.1).astype(float)
    probs = np.column_stack([confidences, 1 - confidences])
    labels = np.where(hits == 1, 0, 1)
    summary = cal_report.calibration_report(labels, probs, n_resamples=0)
    order = np.argsort(confidences)
    expected = (
        sum(abs(hits[chunk].sum() - confidences[chunk].sum()) for chunk in np.split(order, 15))
        / 300
    )
    assert summary.adaptive_ece.value == pytest.approx(expected)
    quantile = cal_report.calibration_report(labels, probs, n_resamples=0, strategy="quantile")
    assert quantile.ece.value == pytest.approx(expected)
    assert quantile.reliability.n_bins == 15


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_classwise_ece_by_hand(strategy):
    logits, labels = make_logits(3000, seed=2, n_classes=5)
    probs = softmax(logits)
    probs[:3] = [0.2, 0.8, 0.0, 0.0, 0.0]  # on edges of the 15 uniform bins (0.2 = 3/15)
    probs[3:6] = [1.0, 0.0, 0.0, 0.0, 0.0]
    per_class = []
    for k in range(5):
        edges = binning.bin_edges(probs[:, k], n_bins=15, strategy=strategy)
        per_class.append(hand_ece(probs[:, k], (labels == k).astype(float), edges))
    expected = float(np.mean(per_class))
    assert calibration_metrics.classwise_calibration_error(
        labels, probs, strategy=strategy
    ) == pytest.approx(expected)
    summary = cal_report.calibration_report(labels, probs, n_resamples=0, strategy=strategy)
    assert summary.classwise_ece.value == pytest.approx(expected)


def test_brier_matches_sklearn():
    logits, labels = make_logits(2000, seed=3)
    probs = softmax(logits)
    expected = brier_score_loss(labels, probs, labels=range(N_CLASSES), scale_by_half=False)
    assert classification.brier_score(labels, probs) == pytest.approx(expected)
    summary = cal_report.calibration_report(labels, logits, outputs_are="logits", n_resamples=0)
    assert summary.brier.value == pytest.approx(expected)


def test_nll_matches_sklearn_and_torch():
    logits, labels = make_logits(2000, seed=4)
    probs = softmax(logits)
    expected = log_loss(labels, probs, labels=range(N_CLASSES))
    torch_value = torch.nn.functional.cross_entropy(
        torch.from_numpy(logits), torch.from_numpy(labels)
    ).item()
    assert cal_report.negative_log_likelihood(labels, probs, outputs_are="probs") == pytest.approx(
        expected
    )
    assert cal_report.negative_log_likelihood(labels, logits) == pytest.approx(
        torch_value, rel=1e-12
    )
    summary = cal_report.calibration_report(labels, logits, outputs_are="logits", n_resamples=0)
    assert summary.nll.value == pytest.approx(torch_value, rel=1e-12)


def test_accuracy_confidence_and_overconfidence_by_hand():
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    labels = np.array([0, 1, 1, 1])
    summary = cal_report.calibration_report(labels, probs, n_resamples=0)
    assert summary.accuracy.value == pytest.approx(0.5)
    assert summary.mean_confidence.value == pytest.approx((0.9 + 0.8 + 0.7 + 0.6) / 4)
    assert summary.overconfidence.value == pytest.approx(0.75 - 0.5)
    assert cal_report.overconfidence(np.array([0.9, 0.8, 0.7, 0.6]), [1, 0, 1, 0]) == pytest.approx(
        0.25
    )


def test_logits_and_their_softmax_give_the_same_report():
    logits, labels = make_logits(1500, seed=6)
    from_logits = cal_report.calibration_report(labels, logits, outputs_are="logits", seed=3)
    from_probs = cal_report.calibration_report(labels, softmax(logits), seed=3)
    for name, estimate in from_logits.metrics().items():
        other = getattr(from_probs, name)
        assert estimate.value == pytest.approx(other.value, rel=1e-9, abs=1e-12), name
        assert estimate.low == pytest.approx(other.low, rel=1e-6, abs=1e-9), name


def test_float32_cached_logits_are_accepted():
    logits, labels = make_logits(800, seed=7)
    exact = cal_report.calibration_report(labels, logits, outputs_are="logits", n_resamples=0)
    single = cal_report.calibration_report(
        labels, logits.astype(np.float32), outputs_are="logits", n_resamples=0
    )
    assert single.ece.value == pytest.approx(exact.ece.value, abs=1e-5)
    assert single.nll.value == pytest.approx(exact.nll.value, rel=1e-5)


# --------------------------------------------------------------------------------------------
# Edge cases
# --------------------------------------------------------------------------------------------


def test_one_hot_predictions_with_confidence_exactly_one():
    probs = np.eye(3)[[0, 1, 2, 0]]
    labels = np.array([0, 1, 0, 1])
    summary = cal_report.calibration_report(labels, probs, n_resamples=50)
    assert summary.ece.value == pytest.approx(0.5)
    assert summary.mce.value == pytest.approx(0.5)
    assert summary.overconfidence.value == pytest.approx(0.5)
    assert summary.nll.value == pytest.approx(-np.log(np.finfo(float).eps) / 2)  # clipped
    assert summary.reliability.count[-1] == 4


def test_a_single_class():
    labels = np.zeros(20, dtype=int)
    summary = cal_report.calibration_report(labels, np.ones((20, 1)), n_resamples=100)
    for name in ("ece", "adaptive_ece", "mce", "rms_ce", "classwise_ece", "brier", "nll"):
        estimate = getattr(summary, name)
        assert (estimate.value, estimate.low, estimate.high) == (0.0, 0.0, 0.0), name
    assert summary.accuracy.value == 1.0
    fit = cal_temperature.fit_temperature(np.zeros((20, 1)), labels)
    assert fit.converged and fit.temperature == 1.0


def test_labels_of_a_single_class_among_several():
    logits, _ = make_logits(500, seed=8)
    labels = np.zeros(500, dtype=int)
    summary = cal_report.calibration_report(labels, logits, outputs_are="logits", n_resamples=100)
    probs = softmax(logits)
    by_hand = np.mean(
        [
            hand_ece(probs[:, k], (labels == k).astype(float), binning.equal_width_edges(15))
            for k in range(N_CLASSES)
        ]
    )
    assert summary.classwise_ece.value == pytest.approx(by_hand)
    assert summary.classwise_ece.low <= summary.classwise_ece.high


def test_fewer_samples_than_bins():
    probs = np.array([[0.9, 0.1], [0.35, 0.65], [0.51, 0.49]])
    labels = np.array([0, 0, 1])
    summary = cal_report.calibration_report(labels, probs, n_bins=15, n_resamples=200)
    confidences = np.array([0.9, 0.65, 0.51])
    hits = np.array([1.0, 0.0, 0.0])
    assert summary.ece.value == pytest.approx(hand_ece(confidences, hits, np.linspace(0, 1, 16)))
    assert (summary.reliability.count > 0).sum() == 3
    quantile = cal_report.calibration_report(labels, probs, strategy="quantile", n_resamples=0)
    assert quantile.reliability.n_bins == 3
    assert (quantile.reliability.count == 1).all()
    assert quantile.ece.value == pytest.approx(summary.ece.value)  # one sample per bin either way


def test_negative_infinite_logits_are_probability_zero():
    logits = np.array([[2.0, -np.inf, 0.0], [0.0, 1.0, -np.inf]])
    labels = np.array([0, 1])
    summary = cal_report.calibration_report(labels, logits, outputs_are="logits", n_resamples=0)
    expected = log_loss(labels, softmax(np.where(np.isinf(logits), -1e9, logits)), labels=[0, 1, 2])
    assert summary.nll.value == pytest.approx(expected)
    probs = cal_temperature.apply_temperature(logits, 2.0)
    assert probs[0, 1] == 0.0 and probs.sum(axis=1) == pytest.approx([1.0, 1.0])
    impossible = cal_report.negative_log_likelihood(np.array([1]), logits[:1])  # true class at -inf
    assert impossible == pytest.approx(-np.log(np.finfo(float).eps))  # clipped like probs


# --------------------------------------------------------------------------------------------
# Invariances and the bootstrap
# --------------------------------------------------------------------------------------------


def test_permuting_samples_keeps_every_value():
    logits, labels = make_logits(1200, seed=9)
    order = np.random.default_rng(0).permutation(1200)
    before = cal_report.calibration_report(labels, logits, outputs_are="logits", n_resamples=0)
    after = cal_report.calibration_report(
        labels[order], logits[order], outputs_are="logits", n_resamples=0
    )
    for name, estimate in before.metrics().items():
        assert getattr(after, name).value == pytest.approx(estimate.value, rel=1e-12), name


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_relabelling_classes_keeps_every_value(strategy):
    logits, labels = make_logits(1200, seed=10)
    logits[:, 1] = logits[:, 2] - 3.0  # no ties between the top-two classes
    mapping = np.array([2, 0, 3, 1])  # old class k becomes mapping[k]
    relabelled = np.empty_like(logits)
    relabelled[:, mapping] = logits
    kwargs = {"outputs_are": "logits", "n_resamples": 0, "strategy": strategy}
    before = cal_report.calibration_report(labels, logits, **kwargs)
    after = cal_report.calibration_report(mapping[labels], relabelled, **kwargs)
    for name, estimate in before.metrics().items():
        assert getattr(after, name).value == pytest.approx(estimate.value, rel=1e-10), name


def test_intervals_are_seeded_and_contain_plausible_values():
    logits, labels = make_logits(1500, seed=11)
    first = cal_report.calibration_report(labels, logits, outputs_are="logits", seed=4)
    again = cal_report.calibration_report(labels, logits, outputs_are="logits", seed=4)
    other = cal_report.calibration_report(labels, logits, outputs_are="logits", seed=5)
    assert first.to_frame().equals(again.to_frame())
    assert first.ece.low != other.ece.low
    assert first.resampling == "exact" and first.n_resamples == 1000
    for name in ("accuracy", "mean_confidence", "overconfidence", "brier", "nll"):
        estimate = getattr(first, name)  # percentile intervals contain the value here
        assert estimate.low < estimate.value < estimate.high, name
    for name in cal_report.BINNED_ERRORS:
        estimate = getattr(first, name)  # basic intervals: bias-corrected, below 2 x value
        assert 0.0 <= estimate.low < estimate.high < 2 * estimate.value, name


def test_interval_kinds():
    logits, labels = make_logits(600, seed=12)
    kwargs = {"outputs_are": "logits", "seed": 1}
    auto = cal_report.calibration_report(labels, logits, **kwargs)
    percentile = cal_report.calibration_report(labels, logits, interval="percentile", **kwargs)
    basic = cal_report.calibration_report(labels, logits, interval="basic", **kwargs)
    replicates = percentile.replicates["ece"]
    q_low, q_high = np.percentile(replicates, [2.5, 97.5])
    assert (percentile.ece.low, percentile.ece.high) == pytest.approx((q_low, q_high))
    value = auto.ece.value
    assert (auto.ece.low, auto.ece.high) == pytest.approx(
        (max(2 * value - q_high, 0), 2 * value - q_low)
    )
    assert auto.brier.low == percentile.brier.low
    assert basic.brier.low == pytest.approx(2 * auto.brier.value - percentile.brier.high)


def test_no_resamples_gives_points_without_intervals():
    logits, labels = make_logits(300, seed=13)
    summary = cal_report.calibration_report(labels, logits, outputs_are="logits", n_resamples=0)
    assert summary.resampling == "none" and not summary.replicates
    assert all(np.isnan(e.low) and np.isnan(e.high) for e in summary.metrics().values())
    frame = summary.to_frame()
    assert list(frame.index) == list(cal_report.METRIC_NAMES)
    assert list(frame.columns) == ["label", "unit", "value", "low", "high"]
    payload = json.loads(json.dumps(summary.to_dict(), allow_nan=False))
    assert payload["metrics"]["ece"]["low"] is None
    assert payload["metrics"]["ece"]["value"] == pytest.approx(summary.ece.value)


def test_resampling_path_follows_the_sample_size(monkeypatch):
    monkeypatch.setattr(bootstrap, "EXACT_MAX_SAMPLES", 400)
    monkeypatch.setattr(bootstrap, "N_BLOCKS", 50)
    small = make_logits(400, seed=14)
    large = make_logits(401, seed=14)
    assert (
        cal_report.calibration_report(small[1], small[0], outputs_are="logits").resampling
        == "exact"
    )
    report = cal_report.calibration_report(
        large[1], large[0], outputs_are="logits", n_resamples=200
    )
    assert report.resampling == "blocks"
    forced = cal_report.calibration_report(
        small[1], small[0], outputs_are="logits", resampling="blocks", n_resamples=200
    )
    assert forced.resampling == "blocks"


def test_blocks_and_exact_bootstrap_agree(monkeypatch):
    """On one sample, 250 random blocks of 20 give the exact bootstrap's interval widths."""
    monkeypatch.setattr(bootstrap, "N_BLOCKS", 250)
    logits, labels = make_logits(5000, seed=15)
    order = np.argsort(softmax(logits).max(axis=1))  # sorted: blocks must still be random
    logits, labels = logits[order], labels[order]
    widths = {"exact": [], "blocks": []}
    for method in widths:
        for seed in range(4):
            summary = cal_report.calibration_report(
                labels, logits, outputs_are="logits", seed=seed, resampling=method
            )
            widths[method].append([e.high - e.low for e in summary.metrics().values()])
    ratio = np.mean(widths["blocks"], axis=0) / np.mean(widths["exact"], axis=0)
    assert np.all(np.abs(ratio - 1.0) < 0.12), dict(
        zip(cal_report.METRIC_NAMES, ratio, strict=True)
    )


def _population(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    z = rng.normal(0.0, 1.2, (n, 3))
    z[:, 0] += 0.8
    labels = (rng.random(n)[:, None] > np.cumsum(softmax(z), axis=1)).sum(axis=1)
    return 2.0 * z, labels


@pytest.fixture(scope="module")
def population_truth() -> cal_report.CalibrationSummary:
    """Population values: one very large sample of the same model (bins fixed by the data)."""
    logits, labels = _population(400_000, np.random.default_rng(10_000))
    return cal_report.calibration_report(labels, logits, outputs_are="logits", n_resamples=0)


@pytest.mark.parametrize(
    ("resampling", "n_samples", "blocks"), [("exact", 1500, None), ("blocks", 3000, 150)]
)
def test_interval_coverage_by_simulation(
    population_truth, monkeypatch, resampling, n_samples, blocks
):
    """150 samples from a known population: each 95% interval covers the truth 85-99% of times.

    (Typical values: 0.89-0.95 on the exact path at n = 1500 and 0.92-0.98 with blocks of 20 at
    n = 3000; see docs/calibration.md for the regimes where the binned errors under-cover.)
    """
    if blocks:
        monkeypatch.setattr(bootstrap, "N_BLOCKS", blocks)
    covered = dict.fromkeys(cal_report.METRIC_NAMES, 0)
    for repetition in range(150):
        logits, labels = _population(n_samples, np.random.default_rng(repetition))
        summary = cal_report.calibration_report(
            labels,
            logits,
            outputs_are="logits",
            n_resamples=300,
            seed=repetition,
            resampling=resampling,
        )
        assert summary.resampling == resampling
        for name in covered:
            estimate, truth = getattr(summary, name), getattr(population_truth, name).value
            covered[name] += estimate.low <= truth <= estimate.high
    coverage = {name: count / 150 for name, count in covered.items()}
    assert all(0.85 <= value <= 0.99 for value in coverage.values()), coverage


# --------------------------------------------------------------------------------------------
# Temperature scaling and recalibration
# --------------------------------------------------------------------------------------------


def test_temperature_matches_scipy_optimum():
    logits, labels = make_logits(3000, seed=16, scale=2.5)
    rows = np.arange(3000)

    def mean_nll(beta: float) -> float:
        scaled = beta * logits
        return float(np.mean(logsumexp(scaled, axis=1) - scaled[rows, labels]))

    reference = minimize_scalar(
        mean_nll, bounds=(1e-3, 100.0), method="bounded", options={"xatol": 1e-12}
    )
    fit = cal_temperature.fit_temperature(logits, labels)
    assert fit.converged
    assert fit.inverse_temperature == pytest.approx(reference.x, rel=1e-6)
    assert fit.nll_after <= reference.fun + 1e-12
    assert fit.nll_before == pytest.approx(mean_nll(1.0))
    torch_after = torch.nn.functional.cross_entropy(
        torch.from_numpy(logits / fit.temperature), torch.from_numpy(labels)
    ).item()
    assert fit.nll_after == pytest.approx(torch_after, rel=1e-10)


def test_temperature_recovers_a_known_overconfidence():
    logits, labels = make_logits(40_000, seed=17, scale=2.0)
    fit = cal_temperature.fit_temperature(logits, labels)
    assert fit.temperature == pytest.approx(2.0, rel=0.05)
    assert fit.nll_after < fit.nll_before
    under = cal_temperature.fit_temperature(logits / 4.0, labels)  # the model reports z / 2
    assert under.temperature == pytest.approx(0.5, rel=0.05)


def test_temperature_on_separable_logits_does_not_converge():
    labels = np.array([0, 1, 2, 0, 1])
    logits = 5.0 * np.eye(3)[labels]
    fit = cal_temperature.fit_temperature(logits, labels)
    assert not fit.converged
    assert fit.temperature == pytest.approx(1e-4)
    assert fit.nll_after < 1e-10


def test_apply_temperature():
    logits, _ = make_logits(50, seed=18)
    np.testing.assert_allclose(
        cal_temperature.apply_temperature(logits, 1.0), softmax(logits), rtol=1e-12
    )
    np.testing.assert_allclose(
        cal_temperature.apply_temperature(logits, 2.5), softmax(logits / 2.5)
    )
    flat = cal_temperature.apply_temperature(logits, 1e6)
    np.testing.assert_allclose(flat, 1.0 / N_CLASSES, atol=1e-5)
    assert (cal_temperature.apply_temperature(logits, 0.5).argmax(1) == logits.argmax(1)).all()


def test_histogram_binning_by_hand():
    confidences = np.arange(1, 11) / 10.0
    hits = np.array([0, 0, 0, 1, 0, 1, 1, 1, 1, 1])
    fit = cal_recalibration.fit_recalibration(confidences, hits, n_bins=5)
    np.testing.assert_allclose(fit.inputs, [0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
    np.testing.assert_allclose(fit.outputs, [0.0, 0.5, 0.5, 1.0, 1.0])
    mapped = cal_recalibration.apply_recalibration(fit, np.array([0.0, 0.2, 0.21, 0.5, 0.99, 1.0]))
    np.testing.assert_allclose(mapped, [0.0, 0.0, 0.5, 0.5, 1.0, 1.0])
    # on its own fit data every bin's confidence equals its accuracy: ECE is exactly 0
    logits, labels = make_logits(2000, seed=19)
    confidences, hits = cal_report.top_label(labels, logits, outputs_are="logits")
    recalibrated = cal_recalibration.apply_recalibration(
        cal_recalibration.fit_recalibration(confidences, hits), confidences
    )
    assert calibration_metrics.expected_calibration_error(recalibrated, hits) == pytest.approx(
        0.0, abs=1e-12
    )


def pool_adjacent_violators(values: np.ndarray) -> np.ndarray:
    """The textbook PAV for equal weights: a non-decreasing least-squares fit."""
    blocks = [[float(v), 1] for v in values]
    merged: list[list[float]] = []
    for block in blocks:
        merged.append(block)
        while len(merged) > 1 and merged[-2][0] > merged[-1][0]:
            value, weight = merged.pop()
            merged[-1] = [
                (merged[-1][0] * merged[-1][1] + value * weight) / (merged[-1][1] + weight),
                merged[-1][1] + weight,
            ]
    return np.concatenate([[value] * int(weight) for value, weight in merged])


def test_isotonic_recalibration_matches_pool_adjacent_violators():
    rng = np.random.default_rng(20)
    confidences = np.sort(rng.uniform(0.3, 1.0, 200))  # distinct values
    hits = (rng.random(200) < confidences**2).astype(float)
    fit = cal_recalibration.fit_recalibration(confidences, hits, method="isotonic")
    mapped = cal_recalibration.apply_recalibration(fit, confidences)
    np.testing.assert_allclose(mapped, pool_adjacent_violators(hits), atol=1e-12)
    assert np.all(np.diff(cal_recalibration.apply_recalibration(fit, np.linspace(0, 1, 500))) >= 0)
    assert cal_recalibration.apply_recalibration(fit, np.array([0.0]))[0] == pytest.approx(
        mapped[0]
    )


# --------------------------------------------------------------------------------------------
# The comparison and its sentences
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def comparison() -> cal_temperature.TemperatureComparison:
    logits, labels = {}, {}
    for index, (split, scale, margin) in enumerate(
        [("train", 1.0, 2.5), ("val", 2.0, 1.0), ("test", 2.0, 1.0), ("rotated", 2.0, -0.6)]
    ):
        split_logits, split_labels = make_logits(4000, seed=30 + index, scale=scale, margin=margin)
        if split == "rotated":  # shifted: the labels no longer follow the logits
            split_labels = np.random.default_rng(7).integers(0, N_CLASSES, 4000)
        logits[split], labels[split] = split_logits, split_labels
    roles = {"train": "train", "val": "validation", "test": "test", "rotated": "shifted"}
    return cal_temperature.temperature_scaling_comparison(
        logits, labels, roles=roles, n_resamples=200
    )


def test_comparison_fits_on_validation_and_judges_each_split(comparison):
    assert comparison.fit_split == "val"
    assert comparison.temperature.temperature == pytest.approx(2.0, rel=0.1)
    assert comparison.verdicts == {
        "train": "worse",
        "val": "fit split",
        "test": "holds",
        "rotated": "partial",  # ECE clearly falls, but stays > 2 points above val's
    }
    for split in ("val", "test"):
        assert comparison.after[split].ece.value < comparison.before[split].ece.value
    change = comparison.ece_change["test"]
    expected = comparison.after["test"].ece.value - comparison.before["test"].ece.value
    assert change.value == pytest.approx(expected)
    assert change.low <= change.value <= change.high < 0  # a paired, clearly negative change
    differences = (
        comparison.after["test"].replicates["ece"] - comparison.before["test"].replicates["ece"]
    )
    assert (change.low, change.high) == pytest.approx(
        tuple(np.percentile(differences, [2.5, 97.5]))
    )


def test_comparison_sentences_are_computed_from_the_numbers(comparison):
    t = f"{comparison.temperature.temperature:.3g}"
    before, after = comparison.before, comparison.after

    def pct(value: float) -> str:
        return f"{100 * value:.1f}%"

    assert comparison.explanation == (
        f"T = {t}: the model is overconfident; dividing its logits by {t} lowers validation ECE "
        f"from {pct(before['val'].ece.value)} to {pct(after['val'].ece.value)}."
    )
    assert comparison.transfer.startswith(
        f"On test the gain holds: ECE {pct(before['test'].ece.value)} → "
        f"{pct(after['test'].ece.value)} ("
    )
    assert (
        f"On rotated (under shift) the gain holds only partly: ECE "
        f"{pct(before['rotated'].ece.value)} → {pct(after['rotated'].ece.value)} ("
    ) in comparison.transfer
    assert f"still more than 2 pts above val's {pct(after['val'].ece.value)}" in (
        comparison.transfer
    )
    assert comparison.recalibration_note.startswith(
        "For comparison, histogram binning fit on val gives ECE 0.0% on val (where it was fit), "
    )
    assert "train" not in comparison.transfer + comparison.recalibration_note
    assert comparison.sentences == (
        comparison.explanation,
        comparison.transfer,
        comparison.recalibration_note,
    )


def test_comparison_table(comparison):
    frame = comparison.to_frame()
    assert len(frame) == 4 * len(cal_report.METRIC_NAMES)
    recalibrated = frame.set_index(["split", "metric"])["recalibrated"]
    assert np.isnan(recalibrated[("test", "brier")]) and np.isnan(recalibrated[("test", "nll")])
    assert recalibrated[("val", "ece")] == pytest.approx(0.0, abs=1e-12)
    assert (
        frame.loc[frame.metric == "accuracy", ["before", "after"]]
        .diff(axis=1)
        .iloc[:, 1]
        .abs()
        .max()
        == 0
    )


def test_underconfident_and_well_calibrated_sentences():
    logits, labels = make_logits(4000, seed=40, scale=0.5)
    roles = {"val": "validation"}
    under = cal_temperature.temperature_scaling_comparison(
        {"val": logits}, {"val": labels}, roles=roles, n_resamples=0
    )
    assert "the model is underconfident" in under.explanation
    assert under.transfer == ""
    logits, labels = make_logits(4000, seed=41, scale=1.0)
    calibrated = cal_temperature.temperature_scaling_comparison(
        {"held out": logits}, {"held out": labels}, fit_split="held out", n_resamples=0
    )
    assert "already about right on held out" in calibrated.explanation


def test_comparison_with_isotonic_recalibration():
    logits, labels = make_logits(2000, seed=42)
    result = cal_temperature.temperature_scaling_comparison(
        {"val": logits, "test": logits[::-1]},
        {"val": labels, "test": labels[::-1]},
        roles={"val": "validation", "test": "test"},
        recalibration="isotonic",
        n_resamples=0,
    )
    assert result.recalibration.method == "isotonic"
    assert "isotonic regression fit on val" in result.recalibration_note
    assert result.verdicts["test"] == "holds"  # the same samples in another order
    assert result.after["test"].ece.value == pytest.approx(result.after["val"].ece.value)


# --------------------------------------------------------------------------------------------
# Cohorts
# --------------------------------------------------------------------------------------------


def test_calibration_by_cohort():
    logits, labels = make_logits(1000, seed=50)
    cohorts = pd.Categorical(
        np.where(np.arange(1000) < 40, "rare", np.where(np.arange(1000) % 2, "b", "a")),
        categories=["b", "a", "rare", "unused"],
    )
    result = cal_cohorts.calibration_by_cohort(labels, logits, cohorts, outputs_are="logits")
    assert result.cohorts == ("b", "a", "rare")
    assert result.too_few == {"b": False, "a": False, "rare": True}
    rare = result.summaries["rare"]
    assert np.isnan(rare.ece.low) and rare.resampling == "none"
    alone = cal_report.calibration_report(
        labels[:40], logits[:40], outputs_are="logits", n_resamples=0
    )
    assert rare.ece.value == pytest.approx(alone.ece.value)
    assert rare.n_classes == N_CLASSES
    assert np.isfinite(result.summaries["a"].ece.low)
    frame = result.to_frame()
    assert len(frame) == 3 * len(cal_report.METRIC_NAMES)
    assert frame.loc[frame.cohort == "rare", "too_few"].all()


@pytest.mark.parametrize("n_split", [3_000, 40_000])  # exact resampling, then blocks
def test_a_cohort_that_is_the_whole_split_gets_the_splits_interval(n_split):
    """Every cohort is read off one resample of its split: a column with one value for every
    sample gives exactly the split's report (same stream, same draws); a second column of the
    same call is read off the same resamples."""
    logits, labels = make_logits(n_split, seed=52)
    halves = np.where(np.arange(n_split) % 2, "odd", "even")
    result = cal_cohorts.calibration_by_cohorts(
        labels,
        logits,
        {"everyone": np.full(n_split, "all"), "parity": halves},
        outputs_are="logits",
        n_resamples=200,
        seed=(3, 1),
    )
    alone = cal_report.calibration_report(
        labels, logits, outputs_are="logits", n_resamples=200, seed=(3, 1)
    )
    whole = result["everyone"].summaries["all"]
    for name in cal_report.METRIC_NAMES:
        if name == "classwise_ece":  # not computed for cohorts (see calibration_by_cohorts)
            assert np.isnan(whole.classwise_ece.value) and np.isnan(whole.classwise_ece.low)
            continue
        assert getattr(whole, name).to_dict() == pytest.approx(getattr(alone, name).to_dict())
    assert whole.resampling == alone.resampling == ("exact" if n_split <= 5_000 else "blocks")
    assert result["parity"].cohorts == ("even", "odd")
    odd = np.arange(n_split) % 2 == 1
    assert result["parity"].summaries["odd"].nll.value == pytest.approx(
        log_loss(labels[odd], softmax(logits[odd]), labels=range(N_CLASSES))
    )


def _dirichlet_cohort(rng: np.random.Generator, alpha: np.ndarray, n: int):
    probs = rng.dirichlet(alpha, size=n)
    labels = (rng.random(n)[:, None] > np.cumsum(probs, axis=1)).sum(axis=1)
    return probs, np.minimum(labels, alpha.shape[0] - 1)


@pytest.mark.parametrize(("n_cohort", "n_other"), [(300, 700), (2_000, 8_000)])
def test_cohort_brier_interval_coverage_by_simulation(n_cohort, n_other):
    """A calibrated model (labels drawn from its own Dirichlet probabilities): the cohort's 95%
    Brier interval covers the true expected Brier, 1 - E[sum_k p_k^2], in 90-99% of 150 seeded
    data sets (93% and 94% when written), whether the split is resampled sample by sample
    (1,000 samples) or in blocks (10,000). The other cohort has a different distribution, so a
    leak between them shows."""
    alpha_cohort, alpha_other = np.array([4.0, 1.0, 1.0, 0.5]), np.array([0.5, 0.5, 0.5, 0.5])
    total = alpha_cohort.sum()
    truth = 1.0 - float((alpha_cohort * (alpha_cohort + 1)).sum() / (total * (total + 1)))
    data = np.random.default_rng(2027)
    covered, n_datasets = 0, 150
    for index in range(n_datasets):
        probs_a, labels_a = _dirichlet_cohort(data, alpha_cohort, n_cohort)
        probs_b, labels_b = _dirichlet_cohort(data, alpha_other, n_other)
        cohorts = np.r_[["a"] * n_cohort, ["b"] * n_other]
        order = data.permutation(n_cohort + n_other)  # cohorts interleaved across the blocks
        result = cal_cohorts.calibration_by_cohort(
            np.r_[labels_a, labels_b][order],
            np.vstack([probs_a, probs_b])[order],
            cohorts[order],
            n_resamples=300,
            seed=(7, index),
        )
        brier = result.summaries["a"].brier
        covered += brier.low <= truth <= brier.high
    assert 0.90 <= covered / n_datasets <= 0.99, covered / n_datasets


def test_cohort_intervals_are_as_wide_as_a_bootstrap_of_the_cohort_alone():
    """Reading a cohort off the split's resamples (its size varies) gives the width of
    resampling the cohort alone (fixed size), within 15%, for Brier score and NLL."""
    logits, labels = make_logits(30_000, seed=53)
    cohorts = np.where(np.random.default_rng(0).random(30_000) < 0.2, "small", "large")
    small = cohorts == "small"
    widths = {"shared": [], "alone": []}
    for index in range(4):
        shared = cal_cohorts.calibration_by_cohort(
            labels, logits, cohorts, outputs_are="logits", n_resamples=300, seed=(9, index)
        ).summaries["small"]
        alone = cal_report.calibration_report(
            labels[small], logits[small], outputs_are="logits", n_resamples=300, seed=(9, index)
        )
        for key, summary in (("shared", shared), ("alone", alone)):
            widths[key].append([summary.brier.high - summary.brier.low,
                                summary.nll.high - summary.nll.low])  # fmt: skip
    assert np.mean(widths["shared"], axis=0) == pytest.approx(
        np.mean(widths["alone"], axis=0), rel=0.15
    )


def test_cohorts_with_missing_and_numeric_values():
    logits, labels = make_logits(300, seed=51)
    cohorts = np.array([10, 2, None] * 100, dtype=object)
    result = cal_cohorts.calibration_by_cohort(
        labels, logits, cohorts, outputs_are="logits", min_samples=0, n_resamples=0
    )
    assert result.cohorts == ("2", "10", cal_cohorts.MISSING_COHORT)
    assert all(summary.n_samples == 100 for summary in result.summaries.values())


# --------------------------------------------------------------------------------------------
# Errors that speak to the user
# --------------------------------------------------------------------------------------------

LABELS = np.array([0, 1, 1])
PROBS = np.array([[0.7, 0.3], [0.4, 0.6], [0.2, 0.8]])


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            lambda: binning.equal_width_edges(0),
            ValueError,
            r"`n_bins` to be a positive integer, but got 0",
        ),
        (
            lambda: binning.equal_mass_edges([0.5], True),
            ValueError,
            r"`n_bins` to be a positive integer",
        ),
        (
            lambda: binning.bin_edges([0.5], strategy="log"),
            ValueError,
            r"`strategy` to be one of .*, but got 'log'",
        ),
        (
            lambda: cal_report.calibration_report(LABELS, PROBS, outputs_are="scores"),
            ValueError,
            r"`outputs_are` to be one of .*, but got 'scores'",
        ),
        (
            lambda: cal_report.calibration_report(LABELS[:, None], PROBS),
            ValueError,
            r"`labels` of shape \(n_samples,\), but got shape \(3, 1\)",
        ),
        (
            lambda: cal_report.calibration_report(LABELS * 1.0, PROBS),
            ValueError,
            r"`labels` to be integer class indices, but got dtype float64",
        ),
        (
            lambda: cal_report.calibration_report(LABELS - 1, PROBS),
            ProjectError,
            r"`labels` to be non-negative class indices, but got -1",
        ),
        (
            lambda: cal_report.calibration_report(LABELS + 1, PROBS),
            ProjectError,
            r"`labels` in \[0, 2\) to match the 2 columns .* got label 2",
        ),
        (
            lambda: cal_report.calibration_report(LABELS, PROBS[:, 0]),
            ValueError,
            r"`probs` of shape \(n_samples, n_classes\), but got shape \(3,\)",
        ),
        (
            lambda: cal_report.calibration_report(LABELS, PROBS.astype(str)),
            ValueError,
            r"`probs` to hold real numbers, but got dtype <U",
        ),
        (
            lambda: cal_report.calibration_report(LABELS[:2], PROBS),
            ValueError,
            r"`probs` to have one row per label \(2\), but got 3 rows",
        ),
        (
            lambda: cal_report.calibration_report(LABELS, PROBS * 2 - 0.5),
            ProjectError,
            r"`probs` to be probabilities in \[0, 1\]",
        ),
        (
            lambda: cal_report.calibration_report(LABELS, PROBS * 0.5),
            ProjectError,
            r"each row of `probs` to sum to 1, but row 0 sums to 0.5",
        ),
        (
            lambda: cal_report.calibration_report(LABELS, np.where(PROBS == 0.4, np.nan, PROBS)),
            ProjectError,
            r"`probs` to be finite, but row 1 is \[nan, 0.6\]",
        ),
        (
            lambda: cal_report.calibration_report(
                LABELS, np.array([[0.0, np.inf], [0, 1], [1, 0]]), outputs_are="logits"
            ),
            ProjectError,
            r"`logits` without NaN or \+inf .* but row 0",
        ),
        (
            lambda: cal_report.calibration_report(LABELS[:0], PROBS[:0]),
            ProjectError,
            r"at least one sample to summarise, but got none",
        ),
        (
            lambda: cal_report.calibration_report(LABELS, PROBS, n_resamples=-1),
            ValueError,
            r"`n_resamples` to be a non-negative integer, but got -1",
        ),
        (
            lambda: cal_report.calibration_report(LABELS, PROBS, seed=-2),
            ValueError,
            r"`seed` to be a non-negative integer or a tuple of them, but got -2",
        ),
        (
            lambda: cal_report.calibration_report(LABELS, PROBS, confidence=95),
            ValueError,
            r"`confidence` in \(0, 1\), but got 95",
        ),
        (
            lambda: cal_report.calibration_report(LABELS, PROBS, confidence="0.9"),
            ValueError,
            r"`confidence` in \(0, 1\), but got '0.9'",
        ),
        (
            lambda: cal_report.calibration_report(LABELS, PROBS, resampling="fast"),
            ValueError,
            r"`resampling` to be one of .*, but got 'fast'",
        ),
        (
            lambda: cal_report.calibration_report(LABELS, PROBS, interval="bca"),
            ValueError,
            r"`interval` to be one of .*, but got 'bca'",
        ),
        (
            lambda: cal_report.reliability_bins([0.5, 0.6], [1]),
            ValueError,
            r"`hits` to be 1-D arrays .* shapes \(2,\) and \(1,\)",
        ),
        (
            lambda: cal_report.reliability_bins([[0.5]], [[1]]),
            ValueError,
            r"`confidences` of shape \(n_samples,\), but got shape \(1, 1\)",
        ),
        (
            lambda: cal_report.reliability_bins(["a"], [1]),
            ValueError,
            r"`confidences` to hold real numbers, but got dtype <U1",
        ),
        (
            lambda: cal_report.reliability_bins([1.5], [1]),
            ProjectError,
            r"`confidences` to be probabilities in \[0, 1\], .* 1.5 to 1.5",
        ),
        (
            lambda: cal_report.reliability_bins([0.5], [2]),
            ValueError,
            r"`hits` to be 0/1 or boolean, but got other values",
        ),
        (
            lambda: cal_report.reliability_bins([0.5], ["yes"]),
            ValueError,
            r"`hits` to be 0/1 or boolean, but got dtype <U3",
        ),
        (
            lambda: cal_cohorts.calibration_by_cohort(LABELS, PROBS, ["a", "b"]),
            ValueError,
            r"`cohorts` with one value per sample \(3\), but got 2",
        ),
        (
            lambda: cal_cohorts.calibration_by_cohort(LABELS, PROBS, ["a"] * 3, min_samples=-1),
            ValueError,
            r"`min_samples` to be a non-negative integer, but got -1",
        ),
        (
            lambda: cal_cohorts.calibration_by_cohort(LABELS, PROBS, ["a"] * 3, min_samples=2.5),
            ValueError,
            r"`min_samples` to be a non-negative integer, but got 2.5",
        ),
        (
            lambda: cal_temperature.fit_temperature(PROBS[:0], LABELS[:0]),
            ProjectError,
            r"at least one sample to fit a temperature, but got none",
        ),
        (
            lambda: cal_temperature.fit_temperature(PROBS, LABELS, max_iterations=0),
            ValueError,
            r"`max_iterations` to be a positive integer, but got 0",
        ),
        (
            lambda: cal_temperature.fit_temperature(PROBS, LABELS, max_iterations=1.5),
            ValueError,
            r"`max_iterations` to be a positive integer, but got 1.5",
        ),
        (
            lambda: cal_temperature.fit_temperature(np.array([[0.0, -np.inf]]), np.array([1])),
            ProjectError,
            r"finite logit to fit a temperature, but sample 0 gives it -inf",
        ),
        (
            lambda: cal_temperature.apply_temperature(PROBS, 0.0),
            ValueError,
            r"`temperature` to be a positive finite number, but got 0.0",
        ),
        (
            lambda: cal_temperature.apply_temperature(PROBS, np.inf),
            ValueError,
            r"`temperature` to be a positive finite number, but got inf",
        ),
        (
            lambda: cal_recalibration.fit_recalibration([0.5], [1], method="platt"),
            ValueError,
            r"`method` to be one of .*, but got 'platt'",
        ),
        (
            lambda: cal_recalibration.fit_recalibration([], []),
            ProjectError,
            r"at least one sample to fit a recalibration, but got none",
        ),
        (
            lambda: cal_temperature.temperature_scaling_comparison({"a": PROBS}, {"b": LABELS}),
            ValueError,
            r"the same splits, but got \['a'\] and \['b'\]",
        ),
        (
            lambda: cal_temperature.temperature_scaling_comparison({}, {}),
            ValueError,
            r"at least one split, but got none",
        ),
        (
            lambda: cal_temperature.temperature_scaling_comparison({"a": PROBS}, {"a": LABELS}),
            ValueError,
            r"a split with role 'validation' to fit .* or `fit_split`",
        ),
        (
            lambda: cal_temperature.temperature_scaling_comparison(
                {"a": PROBS}, {"a": LABELS}, fit_split="b"
            ),
            ValueError,
            r"`fit_split` to be one of \['a'\], but got 'b'",
        ),
        (
            lambda: calibration_metrics.calibration_error_from_sums(np.zeros(3), 1, norm="l3"),
            ValueError,
            r"`norm` to be one of .*, but got 'l3'",
        ),
    ],
)
def test_errors_name_the_argument_and_the_value(call, error, message):
    with pytest.raises(error, match=message):
        call()


# --------------------------------------------------------------------------------------------
# Figures (plots/calibration.py): built from results, never computing metrics
# --------------------------------------------------------------------------------------------


def _axis_titles(fig: go.Figure) -> list[str]:
    layout = fig.to_plotly_json()["layout"]
    return [
        value["title"]["text"]
        for key, value in layout.items()
        if key.startswith(("xaxis", "yaxis")) and value.get("title", {}).get("text")
    ]


def test_reliability_diagram_draws_non_empty_bins_only(comparison):
    colors = split_colors(
        {"train": "train", "val": "validation", "test": "test", "rotated": "shifted"}
    )
    bins = {split: comparison.before[split].reliability for split in ("val", "rotated")}
    fig = plots.reliability_diagram(bins, colors=colors)
    lines = [trace for trace in fig.data if trace.type == "scatter" and trace.name in bins]
    assert [trace.name for trace in lines] == ["val", "rotated"]
    for trace in lines:
        reliability = bins[trace.name]
        assert trace.line.color == colors[trace.name]
        # the line joins the bins that hold enough samples to mean something
        reliable = reliability.count >= plots.MIN_RELIABLE_BIN
        np.testing.assert_allclose(np.array(trace.y, dtype=float), reliability.accuracy[reliable])
        # every non-empty bin is a point (small ones faded); an empty bin is not drawn
        points = [t for t in fig.data if t.type == "scatter" and t.legendgroup == trace.name]
        drawn = np.concatenate([np.array(t.y, dtype=float) for t in points if t.mode == "markers"])
        assert np.sort(drawn[np.isfinite(drawn)]).tolist() == pytest.approx(
            np.sort(reliability.accuracy[reliability.count > 0]).tolist()
        )
        assert all("accuracy" in t.hovertemplate and "samples" in t.hovertemplate
                   for t in points if t.mode == "markers")  # fmt: skip
    gaps = [trace for trace in fig.data if trace.type == "bar" and trace.name.endswith(": gap")]
    assert len(gaps[0].x) == int((bins["val"].count >= plots.MIN_RELIABLE_BIN).sum())
    histograms = [
        trace for trace in fig.data if trace.type == "bar" and trace.name.endswith(": samples")
    ]
    np.testing.assert_allclose(histograms[0].y, bins["val"].share)
    assert fig.layout.title.text
    assert {"Accuracy (%)", "Samples (%)", "Confidence (%)"} <= set(_axis_titles(fig))


def test_reliability_diagram_side_by_side_and_errors(comparison):
    bins = {split: comparison.before[split].reliability for split in ("val", "test", "rotated")}
    fig = plots.reliability_diagram(bins, layout="side_by_side")
    assert [a.text for a in fig.layout.annotations][:3] == ["val", "test", "rotated"]
    assert sum(1 for trace in fig.data if trace.showlegend and trace.name in bins) == 3
    with pytest.raises(
        ValueError, match=r"`layout` to be one of 'overlay', 'side_by_side', but got 'grid'"
    ):
        plots.reliability_diagram(bins, layout="grid")
    with pytest.raises(
        ValueError, match=r"a colour for every split, but got none for \['rotated'\]"
    ):
        plots.reliability_diagram(bins, colors={"val": "#000", "test": "#111"})
    with pytest.raises(ValueError, match=r"`bins` for at least one split, but got none"):
        plots.reliability_diagram({})


def test_temperature_figures(comparison):
    fig = plots.temperature_reliability_diagrams(comparison, splits=["val", "rotated"])
    titles = [a.text for a in fig.layout.annotations]
    assert titles[0] == "Before" and titles[1].startswith("After temperature scaling (T = ")
    assert titles[2] == "After histogram binning"
    chart = plots.temperature_comparison_chart(comparison)
    before = [
        trace
        for trace in chart.data
        if trace.mode == "markers" and trace.name == "before" and trace.x[0] is not None
    ]
    assert [trace.y[0] for trace in before] == pytest.approx([-0.22, 0.78, 1.78, 2.78])
    assert before[1].x[0] == pytest.approx(comparison.before["val"].ece.value)
    assert list(chart.layout.yaxis.ticktext) == ["train", "val", "test", "rotated"]
    assert chart.layout.xaxis.title.text == "ECE (%)"
    with pytest.raises(ValueError, match=r"`splits` among"):
        plots.temperature_reliability_diagrams(comparison, splits=["nope"])


def test_metrics_and_cohort_charts_show_values_and_intervals(comparison):
    fig = plots.calibration_metrics_chart(comparison.before)
    ece_markers = [trace for trace in fig.data if trace.mode == "markers" and trace.xaxis == "x"]
    assert [trace.x[0] for trace in ece_markers] == pytest.approx(
        [comparison.before[split].ece.value for split in comparison.before]
    )
    segments = [trace for trace in fig.data if trace.mode == "lines" and trace.xaxis == "x"]
    assert segments[0].x[:2] == pytest.approx(
        (comparison.before["train"].ece.low, comparison.before["train"].ece.high)
    )
    assert "NLL (nats)" in _axis_titles(fig)
    logits, labels = make_logits(600, seed=60)
    cohorts = np.where(np.arange(600) < 30, "tiny", "big")
    result = cal_cohorts.calibration_by_cohort(
        labels, logits, cohorts, outputs_are="logits", n_resamples=100
    )
    chart = plots.cohort_calibration_chart({"test": result}, column="source")
    marker = next(trace for trace in chart.data if trace.mode == "markers")
    assert list(marker.marker.symbol) == ["circle", "circle-open"]  # "tiny" has too few samples
    assert "too few samples" in marker.text[1]
    assert chart.layout.title.text.startswith("ECE by source")
    with pytest.raises(ValueError, match=r"metrics among"):
        plots.cohort_calibration_chart({"test": result}, metric="f1")
