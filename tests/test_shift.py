"""The shift view: label-shift estimation recovers planted class proportions, cluster tables
equal a pandas groupby, the sample's shifted splits are detected, findings are data (wording
once per kind), bad input is named, and the ``shift`` and ``embed`` commands."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gengap_dash.analysis.embedding_map import (
    EmbeddingMap,
    fit_map,
    map_separation,
    membership_weights,
    place_by_neighbours,
    stratified_sample,
)
from gengap_dash.analysis.shift import (
    SplitArrays,
    cluster_table,
    compute_shift,
    estimate_label_shift,
)
from gengap_dash.analysis.shift.findings import map_findings, shift_findings
from gengap_dash.findings.model import Finding
from gengap_dash.findings.render import render
from gengap_dash.views.registry import compute, get_view
from gengap_dash.views.shift import split_arrays
from gengap_dash.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def sample_shift(sample: Workspace):
    return compute(get_view("shift"), sample)


def confusion_draws(labels: np.ndarray, confusion: np.ndarray, rng) -> np.ndarray:
    """A prediction per label from ``confusion[y] = p(pred | y)``."""
    cumulative = confusion.cumsum(axis=1)
    return (rng.random(labels.size)[:, None] > cumulative[labels]).sum(axis=1)


def test_label_shift_recovers_planted_proportions() -> None:
    rng = np.random.default_rng(0)
    confusion = np.array([[0.8, 0.1, 0.1], [0.15, 0.75, 0.1], [0.05, 0.15, 0.8]])
    val_labels = rng.integers(0, 3, 3000)
    planted = np.array([0.6, 0.3, 0.1])
    target_labels = rng.choice(3, 4000, p=planted)
    result = estimate_label_shift(
        val_labels,
        confusion_draws(val_labels, confusion, rng),
        confusion_draws(target_labels, confusion, rng),
        3,
        target_labels=target_labels,
        n_resamples=300,
    )
    assert np.all(result.low <= planted) and np.all(planted <= result.high)
    np.testing.assert_allclose(result.estimated, planted, atol=0.03)
    assert result.estimated.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(result.observed, np.bincount(target_labels) / 4000)
    assert result.total_variation == pytest.approx(
        0.5 * np.abs(result.estimated - result.reference).sum()
    )


def test_label_shift_without_change_stays_near_validation() -> None:
    rng = np.random.default_rng(1)
    confusion = np.array([[0.9, 0.1], [0.2, 0.8]])
    labels = rng.integers(0, 2, 2000)
    target = rng.integers(0, 2, 2000)
    result = estimate_label_shift(
        labels, confusion_draws(labels, confusion, rng), confusion_draws(target, confusion, rng), 2,
        n_resamples=200,
    )  # fmt: skip
    assert np.all(result.low <= 0.5) and np.all(result.high >= 0.5)
    assert np.isnan(result.observed).all()


def test_label_shift_bad_input() -> None:
    with pytest.raises(
        ValueError, match=r"`target_predictions` in \[0, 3\), but got values from 0 to 5"
    ):
        estimate_label_shift(np.array([0, 1]), np.array([0, 1]), np.array([0, 5]), 3)
    with pytest.raises(ValueError, match=r"`validation_labels` to be non-empty"):
        estimate_label_shift(np.array([], int), np.array([], int), np.array([0]), 3)


def test_cluster_table_equals_a_groupby() -> None:
    rng = np.random.default_rng(2)
    clusters = {"a": rng.integers(0, 3, 50), "b": rng.integers(0, 3, 40)}
    labels = {"a": rng.integers(0, 2, 50), "b": rng.integers(0, 2, 40)}
    preds = {"a": rng.integers(0, 2, 50), "b": rng.integers(0, 2, 40)}
    correct = {k: preds[k] == labels[k] for k in clusters}
    table = cluster_table(
        clusters, correct=correct, labels=labels, predictions=preds, class_names=["x", "y"],
        n_clusters=3,
    )  # fmt: skip
    for split in clusters:
        frame = pd.DataFrame(
            {"cluster": clusters[split], "wrong": ~correct[split], "y": labels[split]}
        )
        grouped = frame.groupby("cluster")
        mine = table[table["split"] == split].set_index("cluster")
        np.testing.assert_allclose(mine["share"], grouped.size() / len(frame))
        np.testing.assert_allclose(mine["error_rate"], grouped["wrong"].mean())
        top = grouped["y"].agg(lambda s: s.value_counts().sort_index().idxmax())
        assert list(mine["top_class"]) == [["x", "y"][k] for k in top]


def test_the_sample_shifted_splits_are_detected(sample_shift) -> None:
    report = sample_shift
    assert report.reference == "test" and report.features == "embeddings"
    assert [item.split for item in report.splits] == [
        "rotated", "blurred", "noisy", "low_contrast", "field",
    ]  # fmt: skip
    for item in report.splits:
        assert item.mmd.p_value < 0.01
        assert item.mmd.p_value >= 1 / (1 + report.n_permutations)
        assert item.domain.low > 0.5
    findings = shift_findings(report)
    verdicts = {f.split: f for f in findings if f.kind == "shift.split"}
    assert verdicts["rotated"].severity == "critical"
    assert verdicts["rotated"].value == report.split("rotated").domain.auc
    assert verdicts["rotated"].threshold == 0.75
    over_time = report.over_time
    assert set(over_time["split"]) == {"field"} and len(over_time) == 6
    assert over_time["n"].sum() == report.split("field").n
    assert (over_time["adjusted_p_value"] >= over_time["p_value"]).all()


def test_every_shift_finding_kind_has_a_sentence(sample_shift) -> None:
    findings = shift_findings(sample_shift)
    kinds = {f.kind for f in findings}
    assert {"shift.split", "shift.cluster", "shift.label_shift_check", "shift.over_time"} <= kinds
    rotated = next(f for f in findings if f.kind == "shift.split" and f.split == "rotated")
    assert render(rotated).startswith("rotated has clearly moved away from test: a classifier")
    check = next(f for f in findings if f.kind == "shift.label_shift_check")
    assert check.facts["splits"] == ["rotated", "blurred", "noisy", "low_contrast", "field"]
    assert "misses the true class mix of rotated, blurred" in render(check)
    moved = Finding(
        "shift.label_shift", "info", split="field", value=0.2, low=0.15, high=0.25,
        facts={"class_name": "7", "reference_share": 0.1, "observed_share": float("nan")},
    )  # fmt: skip
    assert render(moved) == (
        "Without labels, class 7 is estimated at 20.0% (15.0 to 25.0) of field, against 10.0% "
        "of validation (black-box shift estimation). The estimate assumes only the class mix "
        "changed."
    )
    empty = shift_findings(type(sample_shift)(**{**sample_shift.__dict__, "splits": ()}))
    assert render(empty[0]).startswith("There is no shifted or deployment split")


def test_two_halves_of_one_split_are_not_flagged(sample: Workspace) -> None:
    arrays = {a.name: a for a in split_arrays(sample)}
    test = arrays["test"]
    rng = np.random.default_rng(0)
    order = rng.permutation(test.n)
    half = test.n // 2

    def part(rows, name, role):
        return SplitArrays(name, role, test.probs[rows], test.logits[rows], test.labels[rows],
                           test.embeddings[rows], test.sample_ids[rows])  # fmt: skip

    report = compute_shift(
        [part(order[:half], "a", "test"), part(order[half:], "b", "shifted")],
        reference="a", class_names=sample.class_names, n_permutations=200, n_resamples=100,
    )  # fmt: skip
    verdict = next(f for f in shift_findings(report) if f.kind == "shift.split")
    assert verdict.severity == "ok", render(verdict)


def make_split(name: str, role: str, n: int, width: int, rng, *, nan: bool = False) -> SplitArrays:
    probs = rng.dirichlet(np.ones(3), n)
    embeddings = rng.normal(size=(n, width))
    if nan:
        embeddings[2, 1] = np.nan
    return SplitArrays(name, role, probs, np.log(probs), rng.integers(0, 3, n), embeddings)


@pytest.mark.parametrize(
    ("drift", "options", "message"),
    [
        ({"width": 5}, {}, r"same width in every split, but got test: 4, drift: 5"),
        ({"nan": True}, {}, r"1 rows of split 'drift' hold NaN or infinity \(first: row 2\)"),
        ({"n": 3}, {"n_clusters": 2}, r"'drift' to have at least 5 samples for a shift test"),
        ({}, {"reference": "val"}, r"`reference` to be one of test, drift, but got 'val'"),
    ],
)
def test_bad_input_is_named(drift: dict, options: dict, message: str) -> None:
    rng = np.random.default_rng(3)
    splits = [
        make_split("test", "test", 30, 4, rng),
        make_split("drift", "shifted", drift.get("n", 30), drift.get("width", 4), rng,
                   nan=drift.get("nan", False)),
    ]  # fmt: skip
    with pytest.raises(ValueError, match=message):
        compute_shift(splits, **{"reference": "test", "class_names": ["a", "b", "c"], **options})


def test_without_embeddings_the_softmax_outputs_are_used() -> None:
    rng = np.random.default_rng(4)
    splits = [make_split("test", "test", 60, 4, rng), make_split("drift", "shifted", 60, 4, rng)]
    splits = [SplitArrays(s.name, s.role, s.probs, s.logits, s.labels) for s in splits]
    report = compute_shift(splits, reference="test", class_names=["a", "b", "c"], n_clusters=2,
                           n_permutations=50, n_resamples=50)  # fmt: skip
    assert report.features == "softmax outputs" and "no embeddings" in report.notes[0]


def test_the_pca_map_and_its_finding(sample: Workspace) -> None:
    embeddings = {name: sample.embeddings(name) for name in sample.split_names}
    result = fit_map(embeddings, method="pca", reference="test")
    assert result.coordinates.shape == (sum(len(e) for e in embeddings.values()), 2)
    from sklearn.decomposition import PCA

    pooled = np.vstack(list(embeddings.values())).astype(np.float32)
    reference = PCA(n_components=2, random_state=0).fit(pooled).transform(pooled)
    np.testing.assert_allclose(np.abs(result.coordinates), np.abs(reference), rtol=1e-3, atol=1e-3)
    separation = map_separation(result)
    assert separation["test"] == 0.0
    finding = map_findings(result)[0]
    assert finding.split == max((k for k in separation if k != "test"), key=separation.get)
    assert finding.value == separation[finding.split]
    assert "On the PCA map" in render(finding)


def test_map_separation_is_zero_when_mixed_and_one_when_apart() -> None:
    rng = np.random.default_rng(5)
    points = np.vstack([rng.normal(size=(400, 2)), rng.normal(size=(400, 2)),
                        rng.normal(size=(400, 2)) + 20.0]).astype(np.float32)  # fmt: skip
    result = EmbeddingMap("pca", points, ("ref", "same", "far"), np.array([0, 400, 800, 1200]),
                          np.ones(1200, bool), reference="ref")  # fmt: skip
    separation = map_separation(result)
    assert separation["ref"] == 0.0 and separation["far"] == 1.0
    assert separation["same"] < 0.1


def test_the_fitting_sample_is_stratified() -> None:
    picks = stratified_sample([100_000, 1_000, 50], total=10_000, seed=0)
    assert [p.size for p in picks] == [200 + 9_474, 200 + 75, 50]  # 9,550 shared 99,800 : 800
    assert all(np.unique(p).size == p.size for p in picks)
    assert [p.size for p in stratified_sample([10, 20], total=100)] == [10, 20]


def test_membership_weights_solve_umaps_equation() -> None:
    rng = np.random.default_rng(0)
    distances = np.sort(rng.uniform(0.5, 3.0, size=(50, 15)), axis=1)
    weights = membership_weights(distances)
    # sigma solves sum_{j >= 1} exp(-d_j / sigma) = log2(k); the weights are exp(-d / sigma)
    sigma = -distances / np.log(weights)
    assert np.allclose(sigma, sigma[:, :1])
    assert np.allclose(np.exp(-distances[:, 1:] / sigma[:, :1]).sum(axis=1), np.log2(15))
    assert (weights > 0).all() and (weights <= 1).all()
    assert (np.diff(weights, axis=1) <= 0).all()  # nearer neighbours weigh more


def test_placement_is_the_weighted_mean_of_the_nearest_fitted_points() -> None:
    rng = np.random.default_rng(1)
    fitted = rng.normal(size=(40, 5))
    coordinates = rng.normal(size=(40, 2))
    points = np.vstack([rng.normal(size=(7, 5)), fitted[3:4]])  # the last is a fitted point
    placed = place_by_neighbours(fitted, coordinates, points, n_neighbors=6)
    distances = np.linalg.norm(points[:, None] - fitted[None], axis=2)  # brute force
    nearest = np.argsort(distances, axis=1)[:, :6]
    d = np.take_along_axis(distances, nearest, axis=1)
    w = membership_weights(d)
    expected = (w[:, :, None] * coordinates[nearest]).sum(axis=1) / w.sum(axis=1, keepdims=True)
    assert np.allclose(placed[:7], expected[:7], atol=1e-5)
    assert np.allclose(placed[7], coordinates[3])  # a copy of a fitted point lands on it


def test_placement_matches_umaps_transform() -> None:
    """Against umap-learn on a small case: equal to the start of ``UMAP.transform`` (its
    membership graph's weighted mean), and near its refined result."""
    import warnings

    import umap
    from umap.umap_ import init_graph_transform

    rng = np.random.default_rng(2)
    centres = rng.normal(size=(4, 8)) * 6
    labels = rng.integers(0, 4, 400)
    data = centres[labels] + rng.normal(size=(400, 8))
    fit, new = data[:300], data[300:]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = umap.UMAP(n_neighbors=15, random_state=0, init="pca").fit(fit)
        refined = model.transform(new)
        model.transform_mode = "graph"
        graph = model.transform(new).tocsr()
    start = init_graph_transform(graph, model.embedding_)
    placed = place_by_neighbours(fit, model.embedding_, new, n_neighbors=15)
    extent = np.ptp(model.embedding_, axis=0).max()
    assert np.abs(placed - start).max() < 1e-3 * extent
    assert np.median(np.linalg.norm(placed - refined, axis=1)) < 0.05 * extent
    # every new point lands in its own cluster: nearest fitted cluster centre on the map
    map_centres = np.stack([model.embedding_[labels[:300] == c].mean(axis=0) for c in range(4)])
    own = np.linalg.norm(placed[:, None] - map_centres[None], axis=2).argmin(axis=1)
    assert (own == labels[300:]).mean() >= 0.99


def test_the_map_rejects_different_widths() -> None:
    with pytest.raises(ValueError, match=r"one width in every split, but got a: 3, b: 4"):
        fit_map({"a": np.zeros((5, 3)), "b": np.zeros((5, 4))}, method="pca")
    with pytest.raises(ValueError, match=r"`method` to be 'umap' or 'pca', but got 'tsne'"):
        fit_map({"a": np.zeros((5, 3))}, method="tsne")


def gengap(*arguments: str, cache_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gengap_dash.cli.main", *arguments, "--cache-dir", str(cache_dir)],
        capture_output=True, text=True, cwd=ROOT, timeout=900,
    )  # fmt: skip


def test_the_shift_command(tabular_project: Path, cache_dir: Path) -> None:
    done = gengap(
        "shift", str(tabular_project), "--json", "--permutations", "99", cache_dir=cache_dir
    )
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    noisy = document["splits"]["noisy"]
    assert {"mmd2", "mmd_p_value", "domain_auc", "ks_p_values", "label_shift", "clusters"} <= set(
        noisy
    )
    assert {"value", "low", "high"} == set(noisy["domain_auc"])
    assert set(noisy["ks_p_values"]) == {"class_0", "class_1", "class_2"}
    assert noisy["mmd_p_value"] >= 1 / 100
    assert {f["kind"] for f in document["findings"]} >= {"shift.split"}
    bad = gengap("shift", str(tabular_project), "--reference", "nope", cache_dir=cache_dir)
    assert bad.returncode == 2
    assert "--reference is 'nope'; expected one of the project's splits" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_the_embed_command(tabular_project: Path, cache_dir: Path) -> None:
    done = gengap("embed", str(tabular_project), "--method", "pca", "--json", cache_dir=cache_dir)
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["method"] == "pca" and document["n_points"] > 0


def test_report_sections(sample: Workspace, sample_shift) -> None:
    view = get_view("shift")
    html = view.report_section(sample_shift)
    assert "Can a classifier tell each split from test?" in html
    assert render(view.findings(sample_shift)[0]).split(":")[0] in html
    embed = get_view("embed")
    pca = compute(embed, sample, embed.Options(method="pca"))
    section = embed.report_section(pca)
    assert "PCA map of the embeddings" in section and "two main directions" in section
    assert embed.to_json(pca)["parameters"]["fit_samples"] == len(pca.coordinates)


def test_a_large_map_sends_a_binned_density_and_a_sample_of_points() -> None:
    from gengap_dash.plots.feature_space import DENSITY_BINS, map_figure

    rng = np.random.default_rng(0)
    n = 30_000
    big = EmbeddingMap(
        method="umap", coordinates=rng.normal(size=(n, 2)).astype(np.float32),
        splits=("test", "shifted"), offsets=np.array([0, 20_000, n]),
        fitted=np.zeros(n, dtype=bool),
    )  # fmt: skip
    seen: list[int] = []

    def hover(rows: np.ndarray) -> np.ndarray:
        seen.append(rows.size)
        return rows.astype(str)

    figure = map_figure(big, max_points=5_000, hover=hover)
    density, *points = figure.data
    assert density.type == "heatmap" and np.asarray(density.z).shape == (DENSITY_BINS,) * 2
    counts = np.nan_to_num(np.expm1(np.asarray(density.z, dtype=float)))
    expected, _, _ = np.histogram2d(*big.coordinates.T.astype(np.float64), bins=DENSITY_BINS)
    assert np.allclose(counts, expected.T, atol=1e-3)  # numpy's 2-D histogram, rows = y bins
    assert sum(len(trace.x) for trace in points) == 5_000 and seen == [5_000]
    assert all(trace.type == "scattergl" for trace in points)
    assert "5,000 of 30,000 points" in figure.layout.title.text


def test_fit_map_hands_the_points_beyond_the_fitted_sample_to_a_placer() -> None:
    """The Ray engine's hook: ``fit_map(placer=...)`` gets the fitted sample, its coordinates
    and the other points, and the map is the same as with the local placement."""
    from gengap_dash.analysis.embedding_map import fit_map, place_by_neighbours

    rng = np.random.default_rng(8)
    embeddings = {"a": rng.normal(size=(300, 8)), "b": rng.normal(1.0, 1.0, size=(200, 8))}
    calls = []

    def placer(fitted_points, fitted_coordinates, points, n_neighbors):
        calls.append((fitted_points.shape, fitted_coordinates.shape, points.shape, n_neighbors))
        return place_by_neighbours(
            fitted_points, fitted_coordinates, points, n_neighbors=n_neighbors
        )

    handed = fit_map(embeddings, fit_samples=200, placer=placer)
    local = fit_map(embeddings, fit_samples=200)
    n_fitted = int(handed.fitted.sum())
    assert 0 < n_fitted < 500
    assert calls == [((n_fitted, 8), (n_fitted, 2), (500 - n_fitted, 8), 15)]
    np.testing.assert_allclose(handed.coordinates, local.coordinates, atol=1e-6)
