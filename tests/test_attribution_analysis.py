"""The saliency view's pure maths against references (scipy, pandas, numpy), hand-computed
cases, its intervals and its verdicts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from gengap_dash.analysis.attribution import (
    class_average_maps,
    deletion_auc,
    deletion_orders,
    pixel_maps,
    rank_correlation,
    top_k_mask,
    top_k_overlap,
)
from gengap_dash.analysis.attribution.findings import (
    MOVED_FAR,
    SANITY_FAIL_SIMILARITY,
    grid_concentration,
    saliency_findings,
    saliency_headline,
    sample_agreement,
    sanity_verdict,
    shift_summary,
)
from gengap_dash.analysis.attribution.results import (
    Deletion,
    FeatureShift,
    NoiseFloor,
    PairComparison,
    SaliencyShift,
    SanityCheck,
)
from gengap_dash.analysis.attribution.selection import choose_samples
from gengap_dash.analysis.attribution.statistics import (
    average_map_distance,
    compare_pairs,
    mean_estimate,
    paired_difference,
)
from gengap_dash.analysis.attribution.tabular import feature_importance, feature_shift
from gengap_dash.findings.render import render, to_json
from gengap_dash.stats.bootstrap import Estimate, estimate, make_rng, split_stream


def test_pixel_maps_sum_channels_and_keep_tabular_maps() -> None:
    maps = np.arange(2 * 3 * 2 * 2, dtype=float).reshape(2, 3, 2, 2)
    np.testing.assert_allclose(pixel_maps(maps), maps.sum(axis=1).reshape(2, 4))
    np.testing.assert_allclose(pixel_maps(np.ones((3, 5))), np.ones((3, 5)))
    with pytest.raises(ValueError, match=r"Expected maps of shape \(n, C, H, W\) or \(n, F\)"):
        pixel_maps(np.ones(4))


def test_rank_correlation_equals_scipy_on_magnitudes() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(6, 1, 4, 4))
    b = a + rng.normal(scale=0.8, size=a.shape)
    b[0, 0, 0, :2] = b[0, 0, 0, 2:]  # ties
    expected = [spearmanr(np.abs(a[i]).ravel(), np.abs(b[i]).ravel()).statistic for i in range(6)]
    np.testing.assert_allclose(rank_correlation(a, b), expected, rtol=1e-12)
    np.testing.assert_allclose(rank_correlation(a, -a), 1.0)  # magnitudes: the sign is ignored
    assert np.isnan(rank_correlation(np.ones((1, 4)), np.arange(4.0)[None]))[0]
    with pytest.raises(ValueError, match="Expected maps of the same shape"):
        rank_correlation(np.ones((2, 4)), np.ones((2, 5)))


def test_top_k_overlap_by_hand() -> None:
    a = np.array([[5.0, 4.0, 3.0, 2.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0]])
    b = np.array([[0.0, 4.0, 9.0, 2.0, 1.0, 0.0, 8.0, 0.0, 0.0, 0.0]])
    # top-30%: a -> {0, 1, 2}; b -> {2, 6, 1}: two of three shared
    assert top_k_mask(a, 0.3).nonzero()[1].tolist() == [0, 1, 2]
    np.testing.assert_allclose(top_k_overlap(a, b, fraction=0.3), [2 / 3])
    np.testing.assert_allclose(top_k_overlap(a, -a, fraction=0.3), [1.0])
    np.testing.assert_allclose(top_k_overlap(a, b, fraction=1.0), [1.0])
    with pytest.raises(ValueError, match=r"Expected `top_k` to be a fraction in \(0, 1\]"):
        top_k_overlap(a, b, fraction=0.0)


def test_deletion_auc_is_the_trapezoid_rule_and_orders_follow_magnitude() -> None:
    fractions = np.array([0.0, 0.1, 0.5, 1.0])
    curves = np.array([[1.0, 0.5, 0.2, 0.0], [0.9, 0.9, 0.9, 0.9]])
    expected = [np.trapezoid(row, fractions) for row in curves]
    np.testing.assert_allclose(deletion_auc(curves, fractions), expected)
    assert deletion_orders(np.array([[0.1, -3.0, 2.0]])).tolist() == [[1, 2, 0]]
    with pytest.raises(ValueError, match="Expected `fractions` to increase strictly"):
        deletion_auc(curves, fractions[::-1])
    with pytest.raises(ValueError, match=r"Expected confidences of shape \(n, 3\)"):
        deletion_auc(curves, fractions[:3])


def test_class_average_maps_equal_a_pandas_groupby() -> None:
    rng = np.random.default_rng(1)
    maps = rng.normal(size=(20, 6))
    labels = rng.integers(0, 3, size=20)
    labels[labels == 2] = 0  # class 2 has no sample
    expected = pd.DataFrame(np.abs(maps)).groupby(labels).mean()
    found = class_average_maps(maps, labels, 3)
    np.testing.assert_allclose(found[[0, 1]], expected.loc[[0, 1]].to_numpy())
    assert np.isnan(found[2]).all()


def test_mean_estimate_is_the_bootstrap_engines_mean() -> None:
    values = np.random.default_rng(2).random(50)
    found = mean_estimate(np.append(values, np.nan), seed=4, position=2, n_resamples=300)
    reference, _ = estimate(values[:, None], lambda s, n: s[..., 0] / n, n_resamples=300,
                            rng=make_rng(split_stream(4, 2)))  # fmt: skip
    assert found == reference
    assert found.value == pytest.approx(values.mean())
    assert np.isnan(mean_estimate(np.array([np.nan]), seed=0, position=0).value)


def test_paired_difference_and_its_interval() -> None:
    a = np.array([0.2, 0.3, 0.1, 0.25])
    found = paired_difference(a, a + 0.1, seed=0, position=0, n_resamples=200)
    assert found.value == pytest.approx(-0.1)
    assert found.low == pytest.approx(-0.1) and found.high == pytest.approx(-0.1)
    with pytest.raises(ValueError, match="Expected paired values of one shape"):
        paired_difference(a, a[:2], seed=0, position=0)


def test_compare_pairs_by_group() -> None:
    correlations = np.array([0.9, 0.8, 0.1, 0.2])
    overlaps = np.array([1.0, 0.5, 0.0, 0.5])
    pair = compare_pairs(correlations, overlaps, split="rotated", method="saliency",
                         groups=[1, 1, 3, 3], group_column="severity", seed=0, position=3,
                         n_resamples=200)  # fmt: skip
    assert pair.n_pairs == 4 and pair.topk_overlap.value == pytest.approx(0.5)
    assert [g.group for g in pair.groups] == ["1", "3"]
    assert pair.groups[0].topk_overlap.value == pytest.approx(0.75)
    assert pair.groups[1].rank_correlation.value == pytest.approx(0.15)
    assert pair.group_column == "severity"


def test_average_map_distance_is_zero_for_the_same_maps_and_grows_when_they_move() -> None:
    rng = np.random.default_rng(3)
    labels = np.repeat(np.arange(3), 30)
    centres = rng.random((3, 16)) + 0.1
    maps = centres[labels] * rng.uniform(0.8, 1.2, size=(90, 16))
    reference = class_average_maps(maps, labels, 3)
    same = average_map_distance(reference, maps, labels, split="a", method="m", seed=0,
                                position=0, n_resamples=100)  # fmt: skip
    assert same.distance.value == pytest.approx(0.0, abs=1e-12)
    assert same.distance.low >= 0.0
    moved = maps[:, ::-1]
    far = average_map_distance(reference, moved, labels, split="a", method="m", seed=0,
                               position=0, n_resamples=100)  # fmt: skip
    assert far.distance.value > 0.5
    assert far.distance.low <= far.distance.value <= far.distance.high


def test_feature_importance_and_ranking_change() -> None:
    maps = np.array([[1.0, -2.0, 0.5], [-1.0, 4.0, 0.5]])
    np.testing.assert_allclose(feature_importance(maps), [1.0, 3.0, 0.5])
    reference = np.array([1.0, 3.0, 0.5])
    same = feature_shift(maps, maps, reference, split="a", method="m")
    assert same.ranking_correlation == pytest.approx(1.0)
    flipped = feature_shift(maps, maps, reference[::-1], split="a", method="m")
    assert flipped.ranking_correlation == pytest.approx(
        spearmanr([1.0, 3.0, 0.5], [0.5, 3.0, 1.0]).statistic
    )
    with pytest.raises(ValueError, match="Expected tabular maps of shape"):
        feature_importance(np.ones((2, 1, 2, 2)))


def test_choose_samples() -> None:
    rows = pd.DataFrame({
        "sample_id": ["a", "b", "c", "d"], "label": [0, 1, 1, 0], "pred": [0, 0, 1, 1],
        "confidence": [0.9, 0.8, 0.6, 0.95], "loss": [0.1, 1.6, 0.5, 3.0],
        "site": ["x", "y", "x", "x"],
    })  # fmt: skip
    assert choose_samples(rows, "worst_errors", n=2) == ["d", "b"]
    assert choose_samples(rows, "confident_mistakes") == ["d", "b"]
    assert choose_samples(rows, "class", label=1) == ["b", "c"]
    assert choose_samples(rows, "cohort", column="site", value="x") == ["d", "c", "a"]
    assert choose_samples(rows, "ids", ids=["c", "a"]) == ["c", "a"]
    with pytest.raises(ValueError, match="Sample id 'zz' is not in this split"):
        choose_samples(rows, "ids", ids=["zz"])
    with pytest.raises(ValueError, match="Expected `column` to be a metadata column"):
        choose_samples(rows, "cohort", column="nope", value="x")
    with pytest.raises(ValueError, match="Expected `n` to be a positive integer, but got 0"):
        choose_samples(rows, "worst_errors", n=0)


def _estimate(value: float, width: float = 0.02) -> Estimate:
    return Estimate(value, value - width, value + width)


def shift_result(*, overlap: float, floor: float, similarity: float, auc_gap: float):
    fractions = np.linspace(0, 1, 3)
    return SaliencyShift(
        kind="image", reference="test", methods=("gradcam",), signed={"gradcam": False},
        top_k=0.2, target="predicted", pair_column="source_id", image_shape=(1, 8, 8),
        pairs=(PairComparison("rotated", "gradcam", 50, _estimate(0.3), _estimate(overlap)),),
        noise_floor=(NoiseFloor("gradcam", 50, _estimate(0.9), _estimate(floor), "noise"),),
        sanity=(SanityCheck("gradcam", 20, (1, 4), (_estimate(0.4), _estimate(similarity)), 4),),
        deletion=(Deletion("test", "gradcam", 20, fractions, fractions, fractions,
                           _estimate(0.2), _estimate(0.5), _estimate(auc_gap)),),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("overlap", "floor", "severity", "reason"),
    [
        (0.34, 0.78, "critical", "attention_moved_far"),
        (0.60, 0.78, "warning", "attention_moved"),
        (0.72, 0.78, "ok", "attention_stable"),  # within the margin
        (0.75, 0.78, "ok", "attention_stable"),  # intervals overlap
    ],
)
def test_attention_shift_verdicts(overlap, floor, severity, reason) -> None:
    result = shift_result(overlap=overlap, floor=floor, similarity=0.1, auc_gap=-0.2)
    finding = next(f for f in saliency_findings(result) if f.kind == "saliency.attention_shift")
    assert (finding.severity, finding.reason) == (severity, reason)
    assert finding.value == overlap and finding.facts["floor"] == floor
    if reason == "attention_moved_far":
        assert floor - overlap > MOVED_FAR
        assert render(finding) == (
            "On rotated, Grad-CAM's top-20% region overlaps the clean map of the same sample "
            "(test) by 34% (32 to 36), against 78% (76 to 80) between clean runs: the model "
            "looks elsewhere on rotated samples."
        )


def test_sanity_and_deletion_verdicts() -> None:
    assert sanity_verdict(SANITY_FAIL_SIMILARITY) is True
    assert sanity_verdict(SANITY_FAIL_SIMILARITY + 0.01) is False
    assert sanity_verdict(float("nan")) is False
    failing = shift_result(overlap=0.3, floor=0.8, similarity=0.95, auc_gap=0.01)
    kinds = {f.kind: f for f in saliency_findings(failing)}
    assert kinds["saliency.sanity"].reason == "fails_randomization"
    assert kinds["saliency.deletion"].reason == "not_better_than_random"
    passing = shift_result(overlap=0.3, floor=0.8, similarity=0.1, auc_gap=-0.3)
    kinds = {f.kind: f for f in saliency_findings(passing)}
    assert kinds["saliency.sanity"].reason == "passes_randomization"
    assert kinds["saliency.deletion"].reason == "faithful"
    # the headline is the shift of a method that passes the randomization test
    assert saliency_headline(passing)[0].kind == "saliency.attention_shift"
    assert saliency_headline(failing)[0].kind == "saliency.sanity"


def test_every_finding_kind_renders() -> None:
    result = shift_result(overlap=0.3, floor=0.8, similarity=0.9, auc_gap=0.1)
    features = FeatureShift("noisy", "integrated_gradients", 3, np.array([1.0, 2.0]), 0.2,
                            np.zeros((3, 2)), np.zeros((3, 2)))  # fmt: skip
    reference = FeatureShift("test", "integrated_gradients", 3, np.array([2.0, 1.0]), 1.0,
                             np.zeros((3, 2)), np.zeros((3, 2)))  # fmt: skip
    tabular = SaliencyShift(kind="tabular", reference="test", methods=("integrated_gradients",),
                            signed={}, top_k=0.2, target="label", pair_column=None,
                            image_shape=(2,), features=(reference, features),
                            feature_names=("age", "dose"))  # fmt: skip
    found = [*saliency_findings(result), *saliency_findings(tabular)]
    maps = {"saliency": np.arange(16.0).reshape(4, 4), "gradcam": np.arange(16.0).reshape(4, 4)}
    found.append(sample_agreement(maps, sample_id="s1", label="3", predicted="8", confidence=0.9))
    found.append(grid_concentration(np.ones((2, 1, 4, 4)), method="gradcam"))
    found.append(shift_summary(result))
    payload = to_json(found)
    assert {item["kind"] for item in payload} >= {
        "saliency.attention_shift", "saliency.sanity", "saliency.deletion",
        "saliency.feature_ranking", "saliency.sample", "saliency.grid",
    }  # fmt: skip
    texts = {item["kind"]: item["text"] for item in payload}
    assert "top feature is dose instead of age" in texts["saliency.feature_ranking"]
    assert texts["saliency.sample"].startswith("s1 is a 3 that the model calls 8 at 90%")
    assert "agree on where the evidence is (mean rank correlation 1.00)" in texts["saliency.sample"]
    assert texts["saliency.shift_summary"] == (
        "In 1 of 1 split-and-method pairs the top-20% region moves beyond the noise floor: "
        "shifted maps keep 30% to 30% of the clean map's top-20% pixels, against 80% to 80% "
        "between clean runs; the least is Grad-CAM on rotated."
    )
    assert texts["saliency.grid"].startswith("On average 25% of each Grad-CAM map's attribution")
