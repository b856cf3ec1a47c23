"""Risk-coverage curves against brute force, the sentence builder, and the figure."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from gengap_dash.analysis.calibration import selective
from gengap_dash.analysis.calibration.findings import selective_finding
from gengap_dash.findings.render import render
from gengap_dash.plots.selective import risk_coverage_chart
from gengap_dash.plots.style import split_colors
from gengap_dash.project.errors import ProjectError


def brute_force(confidences: np.ndarray, hits: np.ndarray) -> tuple[float, np.ndarray]:
    """AURC and risk at every k, averaged over every order of tied samples (small n only)."""
    n = len(confidences)
    aurcs, risks = [], []
    for order in itertools.permutations(range(n)):
        order = np.array(order)
        if np.all(np.diff(confidences[order]) <= 0):  # most confident first
            errors = np.cumsum(1 - hits[order])
            risks.append(errors / np.arange(1, n + 1))
            aurcs.append(risks[-1].mean())
    return float(np.mean(aurcs)), np.mean(risks, axis=0)


@pytest.mark.parametrize("seed", range(4))
def test_curve_matches_brute_force_with_ties(seed):
    rng = np.random.default_rng(seed)
    confidences = rng.choice([0.5, 0.7, 0.9], size=7)  # many ties
    hits = rng.integers(0, 2, 7).astype(float)
    curve = selective.risk_coverage_curve(confidences, hits)
    aurc, risks = brute_force(confidences, hits)
    assert curve.aurc == pytest.approx(aurc)
    for k in range(1, 8):
        assert selective.risk_at_coverage(curve, k / 7) == pytest.approx(risks[k - 1])


def test_curve_matches_a_direct_computation_without_ties():
    rng = np.random.default_rng(10)
    confidences = rng.random(400)
    hits = (rng.random(400) < confidences).astype(float)
    order = np.argsort(-confidences)
    direct = np.cumsum(1 - hits[order]) / np.arange(1, 401)
    curve = selective.risk_coverage_curve(confidences, hits, n_points=400)
    np.testing.assert_allclose(curve.risk, direct)
    np.testing.assert_allclose(curve.coverage, np.arange(1, 401) / 400)
    np.testing.assert_allclose(curve.threshold, confidences[order])
    assert curve.aurc == pytest.approx(direct.mean())
    assert curve.error_rate == pytest.approx(1 - hits.mean())
    best = np.cumsum(np.sort(1 - hits)) / np.arange(1, 401)  # every error last
    assert curve.optimal_aurc == pytest.approx(best.mean())
    assert curve.excess_aurc == pytest.approx(direct.mean() - best.mean())
    assert curve.excess_aurc > 0


def test_a_large_curve_keeps_few_knots_and_stays_exact_at_every_tenth_of_a_percent():
    rng = np.random.default_rng(12)
    n = 20_000
    confidences = rng.random(n)
    hits = (rng.random(n) < confidences).astype(float)
    curve = selective.risk_coverage_curve(confidences, hits)
    assert curve.kept.shape == (selective.MAX_KNOTS,) == curve.errors.shape
    order = np.argsort(-confidences)
    direct = np.cumsum(1 - hits[order]) / np.arange(1, n + 1)
    assert curve.aurc == pytest.approx(direct.mean())  # from every knot, before thinning
    for coverage in (0.001, 0.25, 0.5, 0.9, 0.999, 1.0):
        k = round(coverage * n)
        assert selective.risk_at_coverage(curve, coverage) == pytest.approx(direct[k - 1])
    # between two kept coverages, the interpolation stays within one sample's error of exact
    k = 18_011
    assert selective.risk_at_coverage(curve, k / n) == pytest.approx(direct[k - 1], abs=1e-3)


def test_curve_does_not_depend_on_sample_order():
    rng = np.random.default_rng(11)
    confidences = np.round(rng.random(300), 1)
    hits = rng.integers(0, 2, 300)
    order = rng.permutation(300)
    first = selective.risk_coverage_curve(confidences, hits)
    second = selective.risk_coverage_curve(confidences[order], hits[order])
    assert first.aurc == pytest.approx(second.aurc, rel=1e-12)
    np.testing.assert_allclose(first.risk, second.risk, rtol=1e-12)


def test_extreme_curves():
    confidences = np.linspace(0.2, 1.0, 50)
    perfect = selective.risk_coverage_curve(confidences, np.ones(50))
    assert perfect.aurc == 0.0 and perfect.optimal_aurc == 0.0 and perfect.n_errors == 0
    wrong = selective.risk_coverage_curve(confidences, np.zeros(50))
    assert wrong.aurc == pytest.approx(1.0) and wrong.excess_aurc == pytest.approx(0.0)
    ranked = selective.risk_coverage_curve(confidences, confidences > 0.5)  # errors least confident
    assert ranked.excess_aurc == pytest.approx(0.0, abs=1e-12)
    single = selective.risk_coverage_curve(np.array([0.8]), np.array([True]))
    assert single.risk[-1] == 0.0 and single.n_samples == 1


def test_risk_at_coverage_interpolates_between_samples():
    confidences = np.array([0.9, 0.8, 0.7, 0.6])
    hits = np.array([1, 0, 1, 0])
    curve = selective.risk_coverage_curve(confidences, hits)
    assert selective.risk_at_coverage(curve, 0.5) == pytest.approx(0.5)
    assert selective.risk_at_coverage(curve, 1.0) == pytest.approx(0.5)
    assert selective.risk_at_coverage(curve, 0.375) == pytest.approx(0.5 / 1.5)  # 1.5 samples kept
    frame = curve.to_frame()
    assert list(frame.columns) == ["coverage", "risk", "threshold"]
    assert frame["threshold"].iloc[-1] == 0.6
    assert curve.to_dict()["aurc"] == pytest.approx(curve.aurc)


def _curve_with_risk(risk_at_90: float, n: int = 1000) -> selective.RiskCoverage:
    """A curve whose 90% most confident samples have exactly the given error rate."""
    confidences = np.linspace(1.0, 0.1, n)
    hits = np.ones(n)
    kept = int(0.9 * n)
    hits[: round(risk_at_90 * kept)] = 0
    return selective.risk_coverage_curve(confidences, hits)


def test_sentence_compares_the_test_split_with_the_worst_other():
    curves = {
        "train": _curve_with_risk(0.001),
        "val": _curve_with_risk(0.02),
        "test": _curve_with_risk(0.021),
        "rotated": _curve_with_risk(0.148),
        "blurred": _curve_with_risk(0.05),
    }
    roles = {
        "train": "train",
        "val": "validation",
        "test": "test",
        "rotated": "shifted",
        "blurred": "shifted",
    }
    finding = selective_finding(curves, roles)
    assert (finding.split, finding.reference, finding.reason) == (
        "rotated",
        "test",
        "clearly_worse",
    )
    assert finding.value == selective.risk_at_coverage(curves["rotated"], 0.9)
    assert finding.facts["reference_risk"] == selective.risk_at_coverage(curves["test"], 0.9)
    reference = finding.facts["reference_risk"]
    assert finding.threshold == pytest.approx(max(1.5 * reference, reference + 0.01))
    assert render(finding).startswith(
        "Keeping the 90% most confident predictions, error is 2.1% on test but 14.8% on rotated."
    )
    close = {"test": curves["test"], "val": curves["val"]}
    assert render(selective_finding(close, roles)).startswith(
        "Keeping the 90% most confident predictions, error is 2.1% on test and 2.0% on val."
    )
    alone = selective_finding({"test": curves["test"]}, roles, coverage=0.9)
    assert alone.reason == "reference_only" and alone.split is None
    assert render(alone) == (
        "Keeping the 90% most confident predictions, error on test is 2.1% "
        "(against 1.9% when the model answers everything)."
    )
    without_roles = render(selective_finding({"a": curves["rotated"], "b": curves["test"]}))
    assert "error is 14.8% on a and 2.1% on b." in without_roles
    lowest = min(curves, key=lambda split: curves[split].aurc)
    highest = max(curves, key=lambda split: curves[split].aurc)
    assert render(finding).endswith(
        f"Averaged over every coverage (AURC), error is lowest on {lowest} "
        f"({100 * curves[lowest].aurc:.2f}%) and highest on {highest} "
        f"({100 * curves[highest].aurc:.2f}%)."
    )


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            lambda: selective.risk_coverage_curve([0.5, 0.6], [1]),
            ValueError,
            r"1-D arrays of the same length, but got shapes \(2,\) and \(1,\)",
        ),
        (
            lambda: selective.risk_coverage_curve(["a"], [1]),
            ValueError,
            r"`confidences` to hold real numbers, but got dtype <U1",
        ),
        (
            lambda: selective.risk_coverage_curve([0.5], ["x"]),
            ValueError,
            r"`hits` to be 0/1 or boolean, but got dtype <U1",
        ),
        (
            lambda: selective.risk_coverage_curve([0.5], [3]),
            ValueError,
            r"`hits` to be 0/1 or boolean, but got other values",
        ),
        (
            lambda: selective.risk_coverage_curve([], []),
            ProjectError,
            r"at least one sample for a risk-coverage curve, but got none",
        ),
        (
            lambda: selective.risk_coverage_curve([np.nan], [1]),
            ProjectError,
            r"finite `confidences`, but got NaN or infinite values",
        ),
        (
            lambda: selective.risk_coverage_curve([0.5], [1], n_points=0),
            ValueError,
            r"`n_points` to be a positive integer, but got 0",
        ),
        (
            lambda: selective.risk_at_coverage(_curve_with_risk(0.1), 0.0),
            ValueError,
            r"`coverage` in \(0, 1\], but got 0.0",
        ),
        (
            lambda: selective.risk_at_coverage(_curve_with_risk(0.1), 1.5),
            ValueError,
            r"`coverage` in \(0, 1\], but got 1.5",
        ),
        (
            lambda: selective_finding({}),
            ValueError,
            r"at least one split, but got none",
        ),
        (
            lambda: risk_coverage_chart({}),
            ValueError,
            r"`curves` for at least one split, but got none",
        ),
        (
            lambda: risk_coverage_chart({"a": _curve_with_risk(0.1)}, colors={"b": "#000"}),
            ValueError,
            r"a colour for every split, but got none for \['a'\]",
        ),
    ],
)
def test_errors_name_the_argument_and_the_value(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_risk_coverage_chart():
    curves = {"test": _curve_with_risk(0.02), "rotated": _curve_with_risk(0.15)}
    colors = split_colors({"test": "test", "rotated": "shifted"})
    fig = risk_coverage_chart(curves, colors=colors)
    assert [trace.name for trace in fig.data] == [
        f"test (AURC {100 * curves['test'].aurc:.1f}%)",
        f"rotated (AURC {100 * curves['rotated'].aurc:.1f}%)",
    ]
    assert fig.data[1].line.color == colors["rotated"]
    np.testing.assert_allclose(fig.data[0].y, curves["test"].risk)
    assert fig.layout.xaxis.title.text == "Coverage: share of samples answered (%)"
    assert fig.layout.yaxis.title.text == "Error rate among answered samples (%)"
    assert fig.layout.title.text.startswith("Risk-coverage")
    assert fig.layout.shapes[0].x0 == 0.9
    assert not risk_coverage_chart(curves, coverage=None).layout.shapes
