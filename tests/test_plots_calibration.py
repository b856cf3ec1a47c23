"""How the calibration figures are laid out (``gengap_dash/plots/calibration.py``): equal-mass
reliability diagrams stay readable, panels share their scales, no marker is clipped, legends say
what the markers mean. The values themselves are checked in ``test_calibration.py``."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest
from scipy.special import softmax

from gengap_dash.analysis.calibration import cohorts as cal_cohorts
from gengap_dash.analysis.calibration import report as cal_report
from gengap_dash.analysis.calibration import temperature as cal_temperature
from gengap_dash.plots import calibration as plots
from gengap_dash.plots.style import split_colors


def confident_model(n: int, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Confidences of a very confident model (most above 99%, a tail down to 20%) and hits."""
    rng = np.random.default_rng(seed)
    confidences = np.where(
        rng.random(n) < 0.85, 1.0 - rng.exponential(0.002, n), rng.uniform(0.2, 0.99, n)
    ).clip(0.2, 1.0)
    hits = (rng.random(n) < confidences - 0.05).astype(float)
    return confidences, hits


@pytest.fixture(scope="module")
def equal_mass() -> cal_report.ReliabilityBins:
    return cal_report.reliability_bins(
        *confident_model(3000, seed=1), n_bins=15, strategy="quantile"
    )


@pytest.fixture(scope="module")
def equal_width() -> cal_report.ReliabilityBins:
    return cal_report.reliability_bins(
        *confident_model(3000, seed=1), n_bins=15, strategy="uniform"
    )


def values(data) -> np.ndarray:
    return np.asarray(data, dtype=float)


def bars(fig: go.Figure, suffix: str, split: str = "test") -> go.Bar:
    return next(
        trace for trace in fig.data if trace.type == "bar" and trace.name == f"{split}: {suffix}"
    )


@pytest.mark.parametrize(
    ("layout", "width"),
    [("overlay", plots.WIDE_BAR_WIDTH), ("side_by_side", plots.BAR_WIDTH)],
)
def test_equal_mass_bins_draw_narrow_bars_at_the_mean_confidence(equal_mass, layout, width):
    assert equal_mass.upper[0] - equal_mass.lower[0] > 0.5  # the first bin spans most of the axis
    # one diagram alone (wide: thinner bars, in confidence units), or two panels side by side
    splits = {"test": equal_mass} if layout == "overlay" else {"test": equal_mass, "b": equal_mass}
    fig = plots.reliability_diagram(splits, layout=layout)
    gaps = bars(fig, "gap")
    filled = equal_mass.count > 0
    np.testing.assert_allclose(values(gaps.x), equal_mass.mean_confidence[filled])
    np.testing.assert_allclose(values(gaps.base), equal_mass.accuracy[filled])
    top_of_gaps = values(gaps.base) + values(gaps.y)
    np.testing.assert_allclose(top_of_gaps, equal_mass.mean_confidence[filled])
    assert gaps.width == width  # not the bin's width

    histogram = bars(fig, "samples")
    np.testing.assert_allclose(values(histogram.y), equal_mass.share)
    np.testing.assert_allclose(values(histogram.width), width)
    x, base = values(histogram.x), values(histogram.base)
    # every bin's mean confidence lies under its own bar
    assert (np.abs(x - equal_mass.mean_confidence) <= width / 2 + 1e-12).all()
    # bars at the same place are stacked, segment on segment, never hidden behind each other
    for position in np.unique(x):
        at = np.flatnonzero(x == position)
        tops = np.cumsum(equal_mass.share[at])
        np.testing.assert_allclose(base[at], np.concatenate([[0.0], tops[:-1]]))
    # the many bins near 100% of a confident model make one tall bar: its height is their share
    tallest = x == x[np.argmax(base + equal_mass.share)]
    assert tallest.sum() >= 5 and (equal_mass.mean_confidence[tallest] > 0.98).all()
    top = (base + equal_mass.share).max()
    assert top == pytest.approx(equal_mass.share[tallest].sum())
    assert top > 0.5  # most samples of this model are above 98% confident
    histogram_axis = fig.layout[f"yaxis{len(splits) + 1}"]
    assert histogram_axis.range[1] >= top  # the histogram's scale shows the whole stack


def test_equal_width_bins_keep_a_histogram_spanning_the_bins(equal_width):
    fig = plots.reliability_diagram({"test": equal_width})
    histogram = bars(fig, "samples")
    np.testing.assert_allclose(values(histogram.x), (equal_width.lower + equal_width.upper) / 2)
    np.testing.assert_allclose(values(histogram.width), equal_width.upper - equal_width.lower)
    np.testing.assert_allclose(values(histogram.base), 0.0)
    np.testing.assert_allclose(values(histogram.y), equal_width.share)
    gaps = bars(fig, "gap")
    filled = equal_width.count > 0
    np.testing.assert_allclose(values(gaps.x), equal_width.mean_confidence[filled])
    assert gaps.width == plots.WIDE_BAR_WIDTH


def test_empty_bins_stay_empty():
    confidences = np.array([0.05, 0.07, 0.95, 0.96, 0.97, 0.99])
    hits = np.array([0.0, 1.0, 1.0, 1.0, 0.0, 1.0])
    bins = cal_report.reliability_bins(confidences, hits, n_bins=10)
    assert (bins.count == 0).sum() == 8
    fig = plots.reliability_diagram({"test": bins})
    # both non-empty bins hold fewer than MIN_RELIABLE_BIN samples: faded points, no gap bar,
    # no line through them; the 8 empty bins are not drawn at all
    assert len(bars(fig, "gap").x) == 0
    line = next(trace for trace in fig.data if trace.name == "test")
    assert len(line.y) == 0
    small = next(trace for trace in fig.data if trace.name == "test: small bins")
    assert np.isnan(values(small.y)).sum() == 8 and np.isfinite(values(small.y)).sum() == 2
    histogram = values(bars(fig, "samples").y)
    assert (histogram[bins.count == 0] == 0).all()


def test_side_by_side_panels_share_scales_and_label_the_first_only(equal_mass, equal_width):
    bins = {"test": equal_width, "rotated": equal_mass}
    fig = plots.reliability_diagram(bins, layout="side_by_side")
    layout = fig.layout
    # rows: accuracy (y, y2) and samples (y3, y4)
    assert layout.yaxis3.range == layout.yaxis4.range
    assert layout.yaxis3.range[1] >= max(equal_width.share.max(), 0.5)
    assert layout.yaxis.range == layout.yaxis2.range
    assert layout.yaxis.range[0] < 0.0 < 1.0 < layout.yaxis.range[1]  # room for points at 0 and 1
    assert layout.yaxis.showticklabels is not False and layout.yaxis3.showticklabels is not False
    assert layout.yaxis2.showticklabels is False and layout.yaxis4.showticklabels is False
    # the legend sits under the axes: when it wraps on a narrow screen it cannot hit the title
    assert layout.legend.y < 0 and layout.legend.yanchor == "top"


def test_temperature_panel_titles_fit_side_by_side():
    logits, labels = {}, {}
    for index, split in enumerate(("val", "rotated")):
        rng = np.random.default_rng(index)
        logits[split] = 3.0 * rng.normal(size=(800, 4))
        labels[split] = np.argmax(logits[split] / 3.0 + rng.gumbel(size=(800, 4)), axis=1)
    comparison = cal_temperature.temperature_scaling_comparison(
        logits, labels, roles={"val": "validation", "rotated": "shifted"}, n_resamples=50
    )
    fig = plots.temperature_reliability_diagrams(comparison)
    assert {annotation.font.size for annotation in fig.layout.annotations} == {12}

    chart = plots.temperature_comparison_chart(comparison)
    markers = [trace for trace in chart.data if trace.mode == "markers" and trace.x[0] is not None]
    assert markers and all(trace.cliponaxis is False for trace in markers)
    low, high = chart.layout.xaxis.range
    values = [trace.x[0] for trace in markers]
    assert min(values) == pytest.approx(0.0, abs=1e-9)  # histogram binning on its own fit data
    assert low < 0.0 and high > max(values)  # the ECE of 0 is a whole marker, not a half
    assert chart.layout.legend.y < 0


def test_cohort_legend_shows_every_split_filled_and_the_small_cohorts_apart():
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(600, 3)) * 2.0
    labels = np.argmax(softmax(logits, axis=1) + rng.random((600, 3)), axis=1)
    cohorts = np.where(np.arange(600) < 30, "a_tiny", "big")  # the first cohort is too small
    result = cal_cohorts.calibration_by_cohort(
        labels, logits, cohorts, outputs_are="logits", n_resamples=50
    )
    assert result.too_few["a_tiny"] and result.cohorts[0] == "a_tiny"
    colors = split_colors({"test": "test", "rotated": "shifted"})
    chart = plots.cohort_calibration_chart({"test": result, "rotated": result}, colors=colors)
    entries = [trace for trace in chart.data if trace.showlegend is not False]
    by_name = {trace.name: trace for trace in entries}
    for split in ("test", "rotated"):
        assert by_name[split].marker.symbol == "circle"  # filled, whatever the first cohort
        assert by_name[split].marker.color == colors[split]
    small = by_name["too few samples (< 100): no interval"]
    assert small.marker.symbol == "circle-open"
    assert len(entries) == 3
    # the data markers themselves still draw the small cohort open
    drawn = [t for t in chart.data if t.mode == "markers" and t.x[0] is not None]
    assert list(drawn[0].marker.symbol) == ["circle-open", "circle"]
    assert all(trace.cliponaxis is False for trace in drawn)

    big_only = cal_cohorts.calibration_by_cohort(
        labels[30:], logits[30:], cohorts[30:], outputs_are="logits", n_resamples=50
    )
    chart = plots.cohort_calibration_chart({"test": big_only}, colors=colors)
    assert not any("too few" in (trace.name or "") for trace in chart.data)


def test_the_metrics_chart_labels_rows_by_split_and_panels_by_metric():
    rng = np.random.default_rng(5)
    summaries = {}
    for split in ("val", "rotated"):
        logits = rng.normal(size=(400, 3)) * 2.0
        labels = rng.integers(0, 3, 400)
        summaries[split] = cal_report.calibration_report(
            labels, logits, outputs_are="logits", n_resamples=50
        )
    colors = split_colors({"val": "validation", "rotated": "shifted"})
    fig = plots.calibration_metrics_chart(summaries, colors=colors, title="")
    layout = fig.to_plotly_json()["layout"]
    assert layout["showlegend"] is False  # the rows name the splits
    assert not layout.get("annotations")  # no panel titles on top of the axis titles
    ticks = layout["yaxis"]["ticktext"]
    assert [f'<span style="color:{colors[s]}">{s}</span>' for s in ("val", "rotated")] == ticks
    titles = [
        value["title"]["text"]
        for key, value in layout.items()
        if key.startswith("xaxis") and value.get("title", {}).get("text")
    ]
    assert titles == [
        "ECE (%)",
        "Adaptive ECE (%)",
        "MCE (%)",
        "RMS error (%)",
        "Classwise ECE (%)",
        "Overconfidence (points)",
        "Brier (0 to 2)",
        "NLL (nats)",
    ]
    for key, axis in layout.items():
        if key.startswith("xaxis"):
            assert axis["nticks"] == 3 and axis["tickangle"] == 0
            assert axis["range"][0] < 0.0 or key == "xaxis6"  # overconfidence may go below 0


def test_reliability_points_show_wilson_intervals_sized_and_faded_by_count():
    """Small bins read as guesses: each accuracy carries its 95% Wilson interval, the marker
    grows with the bin's count and bins under MIN_RELIABLE_BIN samples are faded."""
    equal_width = cal_report.reliability_bins(*confident_model(300, seed=2), n_bins=15)
    fig = plots.reliability_diagram({"test": equal_width})
    big = next(t for t in fig.data if t.name == "test: bins")
    small = next(t for t in fig.data if t.name == "test: small bins")
    sparse = equal_width.count < plots.MIN_RELIABLE_BIN
    filled = equal_width.count > 0
    assert (sparse & filled).any() and (~sparse).any()  # the sample has both kinds
    for trace, chosen in ((big, ~sparse), (small, sparse)):
        y = values(trace.y)
        np.testing.assert_allclose(y, equal_width.accuracy[chosen])
        ok = np.isfinite(y)
        np.testing.assert_allclose(
            (y + values(trace.error_y.array))[ok], equal_width.accuracy_high[chosen][ok]
        )
        np.testing.assert_allclose(
            (y - values(trace.error_y.arrayminus))[ok], equal_width.accuracy_low[chosen][ok]
        )
        sizes = values(trace.marker.size)
        np.testing.assert_allclose(sizes, np.asarray(plots.marker_sizes(equal_width.count))[chosen])
    assert big.marker.color.startswith("#") and small.marker.color.startswith("rgba(")
    assert small.marker.color.endswith(f", {plots.FADED_OPACITY})")  # faded, interval too
    assert small.error_y.color == small.marker.color
    line = next(t for t in fig.data if t.name == "test")
    np.testing.assert_allclose(values(line.y), equal_width.accuracy[~sparse])  # no zigzag
    all_sizes = np.asarray(plots.marker_sizes(equal_width.count))
    order = np.argsort(equal_width.count)
    assert np.all(np.diff(all_sizes[order]) >= 0)  # a bigger bin never gets a smaller marker
    # the widest interval belongs to a small bin, the narrowest to the biggest bin
    widths = (equal_width.accuracy_high - equal_width.accuracy_low)[filled]
    assert sparse[filled][np.argmax(widths)]
    assert np.argmin(widths) == np.argmax(equal_width.count[filled])


def test_marker_sizes_grow_with_the_square_root_of_the_count():
    sizes = plots.marker_sizes(np.array([0, 1, 25, 100]))
    assert sizes[0] == plots.MIN_MARKER_SIZE and sizes[-1] == plots.MAX_MARKER_SIZE
    span = plots.MAX_MARKER_SIZE - plots.MIN_MARKER_SIZE
    assert sizes[2] == pytest.approx(plots.MIN_MARKER_SIZE + span * 0.5)
    assert plots.marker_sizes(np.zeros(3)) == [plots.MIN_MARKER_SIZE] * 3
