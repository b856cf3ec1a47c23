"""OOD scores and accuracy without labels: AUROC and FPR95 equal scikit-learn's, Mahalanobis and
kNN distances equal direct numpy computations, ATC equals a hand computation and beats the mean
confidence on the sample's shifted splits, the review queue and its CSV, bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import logsumexp, softmax
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.neighbors import NearestNeighbors

from gengap_dash.analysis.ood import (
    ReviewQueue,
    atc_estimate,
    atc_threshold,
    auroc,
    compute_ood,
    doc_estimate,
    energy_score,
    fit_class_gaussians,
    fpr_at_tpr,
    knn_score,
    mahalanobis_score,
    max_logit_score,
    msp_score,
    review_queue,
)
from gengap_dash.analysis.ood.findings import ood_findings, review_findings
from gengap_dash.analysis.shift import SplitArrays
from gengap_dash.findings.render import render
from gengap_dash.views.registry import compute, get_view
from gengap_dash.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def sample_ood(sample: Workspace):
    return compute(get_view("ood"), sample)


def test_auroc_and_fpr95_equal_sklearn() -> None:
    rng = np.random.default_rng(0)
    negative = np.round(rng.normal(size=300), 1)
    positive = np.round(rng.normal(0.8, 1.0, size=200), 1)
    labels = np.r_[np.zeros(300), np.ones(200)]
    scores = np.r_[negative, positive]
    assert auroc(negative, positive) == pytest.approx(roc_auc_score(labels, scores))
    fpr, tpr, _ = roc_curve(labels, scores)
    assert fpr_at_tpr(negative, positive) == pytest.approx(fpr[np.argmax(tpr >= 0.95)])


def test_output_scores_equal_their_definitions() -> None:
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(20, 4))
    probs = softmax(logits, axis=1)
    np.testing.assert_allclose(msp_score(probs), 1 - probs.max(1))
    np.testing.assert_allclose(max_logit_score(logits), -logits.max(1))
    np.testing.assert_allclose(energy_score(logits), -logsumexp(logits, axis=1))


def test_mahalanobis_equals_a_direct_computation() -> None:
    rng = np.random.default_rng(2)
    train = rng.normal(size=(200, 5))
    labels = rng.integers(0, 3, 200)
    train[labels == 1] += 2.0
    queries = rng.normal(size=(30, 5))
    fit = fit_class_gaussians(train, labels, 3)
    means = np.stack([train[labels == c].mean(0) for c in range(3)])
    centred = train - means[labels]
    precision = np.linalg.inv(centred.T @ centred / 200)
    direct = np.array([min((q - m) @ precision @ (q - m) for m in means) for q in queries])
    np.testing.assert_allclose(mahalanobis_score(queries, fit), direct, rtol=1e-8)


def test_knn_equals_brute_force_neighbours() -> None:
    rng = np.random.default_rng(3)
    train = rng.normal(size=(150, 6))
    queries = rng.normal(size=(40, 6))

    def unit(a):
        return a / np.linalg.norm(a, axis=1, keepdims=True)

    neighbours = NearestNeighbors(n_neighbors=5, algorithm="brute").fit(unit(train))
    distances, _ = neighbours.kneighbors(unit(queries))
    np.testing.assert_allclose(knn_score(queries, train, k=5), distances[:, -1], atol=1e-5)
    own, _ = (
        NearestNeighbors(n_neighbors=6, algorithm="brute").fit(unit(train)).kneighbors(unit(train))
    )
    np.testing.assert_allclose(
        knn_score(train, train, k=5, exclude_self=True), own[:, -1], atol=1e-5
    )
    with pytest.raises(
        ValueError, match=r"`k` to be an integer from 1 to 150 \(the train rows\), but got 0"
    ):
        knn_score(queries, train, k=0)


def test_atc_equals_a_hand_computation() -> None:
    confidence = np.array([0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.97, 0.98, 0.99])
    correct = np.array([0, 0, 1, 0, 1, 1, 1, 1, 1, 1], bool)  # 70% accurate: 3 wrong
    threshold = atc_threshold(confidence, correct)
    assert threshold == 0.6  # the 3rd smallest confidence: 7 of 10 lie above it
    assert atc_estimate(confidence, threshold) == pytest.approx(0.7)
    assert atc_estimate(np.array([0.55, 0.65, 0.95, 0.5]), threshold) == pytest.approx(0.5)
    assert atc_threshold(confidence, np.ones(10, bool)) == float("-inf")
    assert doc_estimate(
        np.array([0.5, 0.7]), validation_confidence=confidence, validation_accuracy=0.7
    ) == pytest.approx(0.7 - (confidence.mean() - 0.6))
    with pytest.raises(ValueError, match=r"same non-zero length, but got 0 and 0"):
        atc_threshold(np.array([]), np.array([], bool))


def test_on_the_sample_atc_beats_the_mean_confidence(sample_ood) -> None:
    accuracy = sample_ood.accuracy
    shifted = accuracy[accuracy["role"] == "shifted"]
    atc_error = (shifted["atc"] - shifted["accuracy"]).abs().mean()
    confidence_error = (shifted["mean_confidence"] - shifted["accuracy"]).abs().mean()
    assert atc_error < confidence_error / 2
    validation = accuracy.set_index("split").loc["val"]
    assert validation["atc"] == pytest.approx(validation["accuracy"], abs=1 / 400)


def test_the_sample_scores_and_findings(sample_ood, sample: Workspace) -> None:
    report = sample_ood
    assert report.scores == ("msp", "max_logit", "energy", "mahalanobis", "knn")
    assert len(report.samples) == sum(len(sample.split_predictions(s)) for s in sample.split_names)
    detection = report.detection
    assert set(detection["split"]) == {"rotated", "blurred", "noisy", "low_contrast", "field"}
    test = report.samples[report.samples["split"] == "test"]
    rotated = report.samples[report.samples["split"] == "rotated"]
    row = detection[(detection["split"] == "rotated") & (detection["score"] == "knn")].iloc[0]
    labels = np.r_[np.zeros(len(test)), np.ones(len(rotated))]
    assert row["auroc"] == pytest.approx(roc_auc_score(labels, np.r_[test["knn"], rotated["knn"]]))
    wrong = rotated["correct"].to_numpy() == 0
    assert row["error_auroc"] == pytest.approx(roc_auc_score(wrong, rotated["knn"]))
    findings = ood_findings(report)
    best = findings[0]
    assert best.kind == "ood.best_score"
    means = detection.groupby("score")["auroc"].mean()
    assert best.facts["score"] == means.idxmax() and best.value == pytest.approx(means.max())
    assert "Rankings differ between models" in render(best)
    for finding in findings:
        assert render(finding)


def test_unlabelled_splits_get_an_estimate_alone() -> None:
    rng = np.random.default_rng(4)

    def split(name, role, n, labelled=True, sharp=3.0):
        logits = rng.normal(size=(n, 3)) * sharp
        labels = logits.argmax(1) if labelled else None
        if labels is not None:
            flip = rng.random(n) < 0.2
            labels = np.where(flip, (labels + 1) % 3, labels)
        return SplitArrays(name, role, softmax(logits, axis=1), logits, labels)

    report = compute_ood(
        [split("val", "validation", 300), split("test", "test", 300),
         split("field", "deployment", 300, labelled=False, sharp=1.0)],
        reference="test",
    )  # fmt: skip
    assert report.scores == ("msp", "max_logit", "energy")
    assert "no embeddings" in report.notes[0]
    field = report.accuracy.set_index("split").loc["field"]
    assert np.isnan(field["accuracy"]) and 0 < field["atc"] < 0.8
    estimate = next(
        f for f in ood_findings(report) if f.split == "field" and f.kind == "ood.accuracy_estimate"
    )
    assert estimate.severity == "warning" and estimate.reason == "estimated_drop"
    assert render(estimate).startswith("field is unlabelled: its accuracy is estimated at")
    assert np.isnan(report.detection.set_index("split").loc["field", "error_auroc"]).all()


def test_the_review_queue(sample_ood) -> None:
    samples = sample_ood.samples
    queue = review_queue(samples, split="field", reference="test", score="knn", top=30)
    test_knn = samples.loc[samples["split"] == "test", "knn"]
    assert (test_knn > queue.threshold).mean() <= 0.05
    assert (test_knn >= queue.threshold).mean() > 0.05 - 1 / len(test_knn)
    field = samples[samples["split"] == "field"]
    expected = field.sort_values("knn", ascending=False, kind="stable").head(30)
    assert list(queue.queue["sample_id"]) == list(expected["sample_id"])
    assert queue.n_flagged == int((field["knn"] > queue.threshold).sum())
    finding = review_findings(queue)[0]
    assert finding.value == pytest.approx(queue.n_flagged / len(field))
    assert finding.severity == "warning"


def test_the_combined_queue_holds_mostly_shifted_samples(sample: Workspace) -> None:
    queue = compute(get_view("review"), sample)
    assert queue.split == "field" and queue.score == "combined" and len(queue.queue) == 50
    assert (queue.queue["shift"] != "none").mean() > 0.6
    field = sample.split_predictions("field")
    assert (field["shift"] != "none").mean() < 0.3


def test_review_bad_input(sample_ood) -> None:
    samples = sample_ood.samples
    with pytest.raises(ValueError, match=r"`split` to be one of train, val, .*, but got 'nope'"):
        review_queue(samples, split="nope", reference="test")
    with pytest.raises(ValueError, match=r"`score` to be one of msp, .*, combined, but got 'x'"):
        review_queue(samples, split="field", reference="test", score="x")
    with pytest.raises(ValueError, match=r"`false_alarm` between 0 and 1, but got 0"):
        review_queue(samples, split="field", reference="test", false_alarm=0)
    with pytest.raises(ValueError, match=r"`top` to be a positive integer, but got 0"):
        review_queue(samples, split="field", reference="test", top=0)


def gengap(*arguments: str, cache_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gengap_dash.cli.main", *arguments, "--cache-dir", str(cache_dir)],
        capture_output=True, text=True, cwd=ROOT, timeout=900,
    )  # fmt: skip


def test_the_ood_and_review_commands(
    tabular_project: Path, cache_dir: Path, tmp_path: Path
) -> None:
    import json

    done = gengap("ood", str(tabular_project), "--json", cache_dir=cache_dir)
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert set(document["splits"]["noisy"]["knn"]) == {"auroc", "fpr95", "error_auroc"}
    out = tmp_path / "queue.csv"
    arguments = ["--split", "noisy", "--top", "7", "--out", str(out)]
    done = gengap("review", str(tabular_project), *arguments, cache_dir=cache_dir)
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(out)
    assert list(table.columns[:5]) == ["sample_id", "split", "score", "pred", "confidence"]
    assert len(table) == 7 and (table["split"] == "noisy").all()
    assert table["score"].is_monotonic_decreasing
    bad = gengap("review", str(tabular_project), "--top", "0", cache_dir=cache_dir)
    assert bad.returncode == 2 and "--top is 0; expected a positive integer." in bad.stderr
    bad = gengap("review", str(tabular_project), "--split", "nope", cache_dir=cache_dir)
    assert bad.returncode == 2 and "--split is 'nope'" in bad.stderr


def test_report_sections(sample: Workspace, sample_ood) -> None:
    view = get_view("ood")
    html = view.report_section(sample_ood)
    assert "How well each score tells each split from test" in html
    assert view.headline(sample_ood)[0].kind == "ood.best_score"
    review = get_view("review")
    queue = compute(review, sample, review.Options(split="rotated", top=5))
    section = review.report_section(queue)
    assert section.count("<tr") == 6 and "rotated-" in section


def _queue(n: int, n_flagged: int, n_reference: int, false_alarm: float = 0.05) -> ReviewQueue:
    return ReviewQueue(
        split="field", score="msp", reference="test", threshold=0.5, false_alarm=false_alarm,
        n=n, n_flagged=n_flagged, queue=pd.DataFrame({"sample_id": ["a"]}),
        n_reference=n_reference,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("n", "n_flagged", "n_reference", "reason"),
    [
        (1_500_000, 140_981, 1_500_000, "more_flagged"),  # 9.4% of 5%: 1.9x, far past noise
        (200, 19, 200, "few_flagged"),  # 9.5% of 5% on 200 samples: within noise
        (1_000, 210, 1_000, "many_flagged"),  # 21%: over 2x
        (1_000, 50, 1_000, "few_flagged"),
    ],
)
def test_the_queue_says_more_than_chance_only_beyond_sampling_noise(
    n, n_flagged, n_reference, reason
) -> None:
    finding = review_findings(_queue(n, n_flagged, n_reference))[0]
    assert finding.reason == reason
    assert finding.severity == ("ok" if reason == "few_flagged" else "warning")
    if reason == "more_flagged":
        assert "more than chance would flag (1.9 times the false-alarm rate" in render(finding)


def test_under_no_shift_the_queue_rarely_claims_more_than_chance() -> None:
    """600 seeded simulations: split and reference drawn from one distribution (300 and 500
    samples), the threshold at the reference's 95th percentile. A warning is a false alarm."""
    rng = np.random.default_rng(12)
    warnings = 0
    for _ in range(600):
        reference, split = rng.normal(size=500), rng.normal(size=300)
        threshold = float(np.quantile(reference, 0.95, method="higher"))
        queue = _queue(300, int((split > threshold).sum()), 500)
        warnings += review_findings(queue)[0].severity == "warning"
    assert warnings / 600 <= 0.02
