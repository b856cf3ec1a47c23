"""Robustness maths: curves and corruption errors against brute force, the bridge's MMD²
against the statistics engine, and the findings (thresholds decide; one wording test each)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score

from gengap_dash.analysis.robustness import RobustnessResult
from gengap_dash.analysis.robustness.bridge import CLEAN, bridge_to_shift
from gengap_dash.analysis.robustness.curves import feature_sensitivity, sweep_curves
from gengap_dash.analysis.robustness.findings import (
    DROP_WARNING,
    bridge_findings,
    curve_findings,
    robustness_findings,
    sensitivity_finding,
    summary_finding,
)
from gengap_dash.findings.render import render
from gengap_dash.metrics.registry import metric_info
from gengap_dash.stats.two_sample import mmd2_unbiased


def _probs(labels: np.ndarray, accuracy: float, rng: np.random.Generator, n_classes: int = 3):
    """Probabilities whose argmax is right on about ``accuracy`` of the rows."""
    n = labels.size
    right = rng.random(n) < accuracy
    preds = np.where(right, labels, (labels + 1 + rng.integers(0, n_classes - 1, n)) % n_classes)
    probs = rng.dirichlet(np.ones(n_classes), size=n) * 0.3
    probs[np.arange(n), preds] += 0.7
    return probs / probs.sum(axis=1, keepdims=True)


@pytest.fixture(scope="module")
def sweep():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 400)
    clean = _probs(labels, 0.9, rng)
    corrupted = {}
    for name, slope in (("blur", 0.08), ("noise", 0.02)):
        for severity in range(1, 6):
            corrupted[(name, severity)] = _probs(labels, 0.9 - slope * severity, rng)
    return labels, clean, corrupted


def test_curves_match_brute_force(sweep) -> None:
    labels, clean, corrupted = sweep
    curves = sweep_curves(labels, clean, corrupted, split="test", n_resamples=300, seed=1)
    ece = metric_info("ece").compute
    assert curves.clean_accuracy.value == pytest.approx(accuracy_score(labels, clean.argmax(1)))
    assert curves.clean_ece.value == pytest.approx(ece(labels, clean))
    for row in curves.curves.itertuples():
        probs = corrupted[(row.corruption, row.severity)]
        assert row.accuracy == pytest.approx(accuracy_score(labels, probs.argmax(1)))
        assert row.ece == pytest.approx(ece(labels, probs))
        assert row.accuracy_low <= row.accuracy <= row.accuracy_high
        assert row.drop == pytest.approx(curves.clean_accuracy.value - row.accuracy)
        assert row.drop_low <= row.drop <= row.drop_high
    clean_error = 1 - curves.clean_accuracy.value
    for row in curves.errors.itertuples():
        errors = [
            1 - accuracy_score(labels, corrupted[(row.corruption, s)].argmax(1))
            for s in range(1, 6)
        ]
        assert row.corruption_error == pytest.approx(np.mean(errors) / clean_error)
        assert row.low <= row.corruption_error <= row.high
    mce = curves.mean_corruption_error
    assert mce.value == pytest.approx(curves.errors["corruption_error"].mean())
    assert mce.low <= mce.value <= mce.high
    assert curves.mean_accuracy_drop.value == pytest.approx(curves.curves["drop"].mean())


def test_paired_intervals_are_narrower_than_independent_ones(sweep) -> None:
    """The same resample serves clean and corrupted data: a drop's interval is far narrower
    than the two accuracies' intervals side by side (the pairing is used)."""
    labels, clean, _ = sweep
    same = {("copy", s): clean.copy() for s in range(1, 6)}
    curves = sweep_curves(labels, clean, same, n_resamples=200)
    row = curves.curves.iloc[0]
    assert row["drop"] == 0 and row["drop_low"] == 0 and row["drop_high"] == 0
    assert row["accuracy_high"] - row["accuracy_low"] > 0.03


def test_same_seed_same_intervals_and_errors_named(sweep) -> None:
    labels, clean, corrupted = sweep
    first = sweep_curves(labels, clean, corrupted, n_resamples=100, seed=3)
    again = sweep_curves(labels, clean, corrupted, n_resamples=100, seed=3)
    pd.testing.assert_frame_equal(first.curves, again.curves)
    with pytest.raises(ValueError, match="at least one corrupted condition"):
        sweep_curves(labels, clean, {})
    with pytest.raises(ValueError, match=r"Expected blur at severity 1 probabilities of shape"):
        sweep_curves(labels, clean, {("blur", 1): clean[:10]})


def test_corruption_error_is_undefined_without_clean_errors() -> None:
    labels = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    clean = np.eye(3)[labels] * 0.8 + 0.2 / 3
    worse = np.roll(clean, 1, axis=0)
    curves = sweep_curves(labels, clean, {("x", 1): worse}, n_resamples=50)
    assert np.isnan(curves.errors["corruption_error"].iloc[0])
    assert np.isnan(curves.mean_corruption_error.value)
    assert curves.curves["drop"].iloc[0] == pytest.approx(
        1 - accuracy_score(labels, worse.argmax(1))
    )
    finding = summary_finding(_result(curves))
    assert finding.facts["mce"] is None
    assert "errs" not in render(finding)


def test_feature_sensitivity_ranks_by_drop(sweep) -> None:
    labels, clean, corrupted = sweep
    perturbed = {("a", "noise"): corrupted[("noise", 1)], ("b", "noise"): corrupted[("blur", 5)]}
    result = feature_sensitivity(labels, clean, perturbed, severity=3, n_resamples=100)
    assert list(result.table["feature"]) == ["b", "a"]
    top = result.table.iloc[0]
    assert top["drop"] == pytest.approx(
        accuracy_score(labels, clean.argmax(1))
        - accuracy_score(labels, corrupted[("blur", 5)].argmax(1))
    )
    assert top["low"] <= top["drop"] <= top["high"]


# -- the bridge -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def embeddings():
    rng = np.random.default_rng(1)
    clean = rng.normal(size=(300, 4))
    candidates = {("blur", s): clean * (1 - 0.15 * s) for s in range(1, 6)} | {
        ("noise", s): clean + rng.normal(scale=0.4 * s, size=clean.shape) for s in range(1, 6)
    }
    return clean, candidates


def test_bridge_mmd_equals_the_statistics_engine(embeddings) -> None:
    clean, candidates = embeddings
    rng = np.random.default_rng(2)
    real = rng.normal(size=(50, 4)) * 0.55
    bridge = bridge_to_shift({"field": ("deployment", real)}, clean, candidates, max_samples=1000)
    assert bridge.bandwidth > 0
    for row in bridge.distances.itertuples():
        other = clean if row.corruption == CLEAN else candidates[(row.corruption, row.severity)]
        expected = mmd2_unbiased(real, other, bandwidth=bridge.bandwidth)
        assert row.mmd2 == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert sorted(bridge.distances["rank"]) == list(range(1, 12))
    assert list(bridge.distances["corruption"])[:2] == [CLEAN, "blur"]  # the candidates' order


def test_bridge_finds_the_planted_corruption_and_a_runner_up_of_another_kind(embeddings) -> None:
    clean, candidates = embeddings
    rng = np.random.default_rng(3)
    fresh = rng.normal(size=(300, 4))
    real = {
        "shrunk": ("shifted", fresh * (1 - 0.15 * 3)),
        "noisy": ("shifted", fresh + rng.normal(scale=1.6, size=fresh.shape)),
        "same": ("deployment", rng.normal(size=(300, 4))),
    }
    bridge = bridge_to_shift(real, clean, candidates, reference="test", seed=0)
    found = {m.split: m for m in bridge.matches}
    assert (found["shrunk"].corruption, found["shrunk"].severity) == ("blur", 3)
    assert found["shrunk"].runner_up == "noise"
    assert found["noisy"].corruption == "noise" and found["noisy"].severity in (3, 4, 5)
    assert found["same"].corruption == CLEAN
    kinds = {f.split: f.reason for f in bridge_findings(bridge)}
    assert kinds == {"shrunk": "match", "noisy": "match", "same": "like_clean"}


def test_bridge_skips_splits_it_cannot_compare_and_checks_inputs(embeddings) -> None:
    clean, candidates = embeddings
    real = {
        "none": ("shifted", None),
        "tiny": ("shifted", clean[:3]),
        "wide": ("shifted", np.zeros((10, 5))),
    }
    bridge = bridge_to_shift(real, clean, candidates)
    assert bridge.matches == ()
    assert set(bridge.skipped) == {"none", "tiny", "wide"}
    with pytest.raises(ValueError, match="Expected the embeddings of blur at severity 1"):
        bridge_to_shift({}, clean, {("blur", 1): clean[:10]})
    with pytest.raises(ValueError, match="Expected `max_samples` to be an integer of at least 5"):
        bridge_to_shift({}, clean, candidates, max_samples=2)


# -- findings -------------------------------------------------------------------------------------


def _result(curves, *, bridge=None, sensitivity=None, kind="image") -> RobustnessResult:
    return RobustnessResult(kind, curves.split or "test", curves.n, 0, curves, sensitivity,
                            bridge, "")  # fmt: skip


def test_findings_thresholds_decide_severity(sweep) -> None:
    labels, clean, corrupted = sweep
    curves = sweep_curves(labels, clean, corrupted, split="test", n_resamples=100)
    findings = {f.kind: f for f in robustness_findings(_result(curves))}
    summary = findings["robustness.summary"]
    assert summary.value == pytest.approx(curves.mean_accuracy_drop.value)
    assert summary.severity == ("warning" if summary.value >= DROP_WARNING else "ok")
    weakest = findings["robustness.weakest"]
    assert weakest.facts["corruption"] == "blur" and weakest.facts["best_corruption"] == "noise"
    blur = curves.curves[curves.curves["corruption"] == "blur"]
    assert weakest.facts["breaking_severity"] == int(
        blur[blur["drop"] >= DROP_WARNING]["severity"].min()
    )
    mild = {key: value for key, value in corrupted.items() if key[0] == "noise"}
    calm = sweep_curves(labels, clean, {("noise", 1): mild[("noise", 1)]}, n_resamples=50)
    assert {f.kind: f.severity for f in curve_findings(calm)}["robustness.weakest"] == "ok"


def test_every_finding_kind_has_words(sweep, embeddings) -> None:
    labels, clean, corrupted = sweep
    curves = sweep_curves(labels, clean, corrupted, split="test", n_resamples=50)
    clean_e, candidates = embeddings
    bridge = bridge_to_shift(
        {"field": ("deployment", clean_e * 0.55)}, clean_e, candidates, reference="test"
    )
    sensitivity = feature_sensitivity(
        labels, clean, {("f1", "noise"): corrupted[("blur", 5)], ("f2", "missing"): clean},
        severity=3, n_resamples=50,
    )  # fmt: skip
    result = _result(curves, bridge=bridge, sensitivity=sensitivity, kind="tabular")
    texts = {f.kind: render(f) for f in robustness_findings(result)}
    assert set(texts) == {
        "robustness.summary",
        "robustness.weakest",
        "robustness.calibration",
        "robustness.bridge",
        "robustness.feature_sensitivity",
    }
    assert texts["robustness.summary"].startswith("Over 2 perturbations at 5 severities")
    assert "field looks most like" in texts["robustness.bridge"]
    assert "for the next" in texts["robustness.bridge"]
    assert texts["robustness.feature_sensitivity"].startswith(
        "The model is most sensitive to feature f1: Gaussian noise at severity 3"
    )
    assert sensitivity_finding(sensitivity, split="test").severity == "warning"


def test_a_split_mmd_cannot_tell_from_clean_is_indistinct(embeddings) -> None:
    clean, candidates = embeddings
    rng = np.random.default_rng(9)
    same = rng.normal(size=(12, 4))  # a few rows of the clean distribution
    bridge = bridge_to_shift({"small": ("shifted", same)}, clean, candidates, reference="test")
    (match,) = bridge.matches
    forced = dataclasses.replace(match, corruption="noise", severity=1, clean_mmd2=-0.001)
    bridge = dataclasses.replace(bridge, matches=(forced,))
    (finding,) = bridge_findings(bridge)
    assert (finding.severity, finding.reason) == ("ok", "indistinct")
    assert render(finding).startswith("small cannot be told from clean test data by MMD² on")
