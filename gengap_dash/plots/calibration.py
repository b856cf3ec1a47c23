"""Calibration figures: reliability diagrams, metric charts with intervals, cohorts, and
temperature scaling before/after. Every function takes results of
``gengap_dash.analysis.calibration`` and
returns a ``plotly.graph_objects.Figure``; none computes a metric."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from gengap_dash.analysis.calibration.cohorts import CohortCalibration
from gengap_dash.analysis.calibration.findings import SPARSE_BIN
from gengap_dash.analysis.calibration.report import (
    METRIC_LABELS,
    METRIC_NAMES,
    METRIC_UNITS,
    CalibrationSummary,
    ReliabilityBins,
)
from gengap_dash.analysis.calibration.temperature import TemperatureComparison
from gengap_dash.findings.calibration import GAIN_VERDICT_LABELS
from gengap_dash.findings.words import number, percent, points
from gengap_dash.plots.style import NEUTRAL, apply_layout, split_colors
from gengap_dash.stats.bootstrap import Estimate

ReliabilityLayout = Literal["overlay", "side_by_side"]

DIAGONAL_COLOR = "#9aa3b2"

MIN_RELIABLE_BIN = SPARSE_BIN
"""Reliability-diagram bins with fewer samples than this are drawn faded: their accuracy is a
guess (a 95% Wilson interval of about +-30 points at 10 samples)."""

FADED_OPACITY = 0.3
MIN_MARKER_SIZE = 4.0
MAX_MARKER_SIZE = 14.0
_PERCENT_METRICS = tuple(name for name in METRIC_NAMES if METRIC_UNITS[name] == "percent")
_UNIT_SUFFIX = {"percent": " (%)", "points": " (points)", "nats": " (nats)", "number": ""}
_AXIS_TITLES: dict[str, str] = {
    **{name: METRIC_LABELS[name] + _UNIT_SUFFIX[METRIC_UNITS[name]] for name in METRIC_NAMES},
    "overconfidence": "Confidence − accuracy (points)",
    "brier": "Brier score (0 to 2)",
}
"""Axis titles: the registry's label and unit (``gengap_dash.metrics.registry``)."""
_PANEL_TITLES: dict[str, str] = {
    **_AXIS_TITLES,
    "rms_ce": "RMS error (%)",
    "overconfidence": "Overconfidence (points)",
    "brier": "Brier (0 to 2)",
}
"""Axis titles short enough for a panel of the metrics chart on a narrow screen."""
_CHART_METRICS = (
    "ece",
    "adaptive_ece",
    "mce",
    "rms_ce",
    "classwise_ece",
    "overconfidence",
    "brier",
    "nll",
)

BAR_WIDTH = 0.03
"""Width of a reliability diagram's gap bars, and of its histogram bars with equal-mass bins, in
confidence units (3% of the axis), whatever the bin's own width: an equal-mass bin can span
most of the axis, and a bar as wide as the bin would hide the others. For panels side by side;
a diagram alone (overlaid) is several times wider and uses :data:`WIDE_BAR_WIDTH`."""

WIDE_BAR_WIDTH = 0.012
"""The same width for a diagram that has the figure's whole width to itself (about the same
number of pixels as :data:`BAR_WIDTH` in one of four panels side by side)."""

_AXIS_PADDING = 0.02
"""Room left around the data, as a share of an axis's span, so that no marker is cut in half."""


def reliability_diagram(
    bins: Mapping[str, ReliabilityBins],
    *,
    colors: Mapping[str, str] | None = None,
    layout: ReliabilityLayout = "overlay",
    title: str = "Reliability diagram: accuracy against confidence, per bin",
    height: int | None = None,
) -> go.Figure:
    """Reliability diagram of one or several splits, with a confidence histogram under it.

    Per bin: accuracy against mean confidence (a point) and the gap to the diagonal (a narrow
    bar at the bin's mean confidence, from the point up or down to the diagonal). Under it, the
    share of samples per bin: with equal-width bins a histogram whose bars span the bins; with
    equal-mass bins (of any width, and of equal share by construction) narrow bars at each
    bin's mean confidence, of width :data:`BAR_WIDTH` (:data:`WIDE_BAR_WIDTH` for a single
    panel). Empty bins are not drawn. Side by side,
    the panels share their scales and only the first is labelled. Hover shows the bin's range,
    count, accuracy, confidence and gap.

    Args:
        bins: split -> reliability bins (``CalibrationSummary.reliability``), in project order.
        colors: split -> colour (``plots.style.split_colors(roles)``); defaults to the palette.
        layout: ``"overlay"`` (one diagram) or ``"side_by_side"`` (one column per split).
    """
    if layout not in ("overlay", "side_by_side"):
        raise ValueError(
            f"Expected `layout` to be one of 'overlay', 'side_by_side', but got {layout!r}."
        )
    _check_not_empty(bins, "bins")
    colors = _colors(bins, colors)
    if layout == "overlay":
        panels = [("", dict(bins))]
    else:
        panels = [(split, {split: split_bins}) for split, split_bins in bins.items()]
    return _reliability_figure(panels, colors, title=title, height=height)


def temperature_reliability_diagrams(
    comparison: TemperatureComparison,
    *,
    colors: Mapping[str, str] | None = None,
    splits: Sequence[str] | None = None,
    include_recalibrated: bool = True,
    height: int | None = None,
) -> go.Figure:
    """Reliability diagrams before and after temperature scaling (and recalibration), side by side.

    Args:
        comparison: from ``calibration.temperature_scaling_comparison``.
        splits: the splits to overlay in each panel (default: all).
        include_recalibrated: add a third panel for the non-parametric recalibration.
    """
    chosen = list(splits) if splits is not None else list(comparison.before)
    unknown = [split for split in chosen if split not in comparison.before]
    if unknown or not chosen:
        raise ValueError(
            f"Expected `splits` among {list(comparison.before)}, but got {list(chosen)}."
        )
    colors = _colors(comparison.before, colors)
    temperature = f"{comparison.temperature.temperature:.3g}"
    panels = [
        ("Before", {split: comparison.before[split].reliability for split in chosen}),
        (
            f"After temperature scaling (T = {temperature})",
            {split: comparison.after[split].reliability for split in chosen},
        ),
    ]
    if include_recalibrated:
        method = _method_name(comparison.recalibration.method)
        panels.append(
            (
                f"After {method.lower()}",
                {split: comparison.recalibrated[split].reliability for split in chosen},
            )
        )
    return _reliability_figure(
        panels,
        colors,
        title=f"Reliability before and after recalibration (fit on {comparison.fit_split})",
        height=height,
    )


def calibration_metrics_chart(
    summaries: Mapping[str, CalibrationSummary],
    *,
    colors: Mapping[str, str] | None = None,
    metrics: Sequence[str] = _CHART_METRICS,
    title: str = "Calibration metrics per split, with 95% bootstrap intervals",
) -> go.Figure:
    """One small panel per metric: each split's value (dot) and 95% interval (bar).

    The intervals of the binned errors are bias-corrected, so a bar may lie below its dot (the
    plug-in value overstates the error on small samples). Each row is labelled with its split,
    in the split's colour (no legend); each panel's axis title names its metric and unit, with
    few, level ticks, so that the panels stay readable on a narrow screen.

    Args:
        summaries: split -> summary, in project order.
        colors: split -> colour (``plots.style.split_colors(roles)``).
        metrics: metric names (see ``calibration.METRIC_NAMES``).
    """
    _check_not_empty(summaries, "summaries")
    _check_metrics(metrics)
    colors = _colors(summaries, colors)
    n_columns = min(4, len(metrics))
    n_rows = -(-len(metrics) // n_columns)
    fig = make_subplots(
        rows=n_rows,
        cols=n_columns,
        shared_yaxes=True,
        horizontal_spacing=0.05,
        vertical_spacing=0.2 if n_rows > 1 else 0.1,
    )
    splits = list(summaries)
    for index, name in enumerate(metrics):
        row, column = divmod(index, n_columns)
        for position, split in enumerate(splits):
            summary = summaries[split]
            for trace in _estimate_traces(
                [getattr(summary, name)],
                [float(position)],
                metric=name,
                name=split,
                color=colors[split],
                notes=[f"n = {summary.n_samples:,}"],
                show_legend=False,
            ):
                fig.add_trace(trace, row=row + 1, col=column + 1)
        estimates = [getattr(summary, name) for summary in summaries.values()]
        fig.update_xaxes(
            title_text=_PANEL_TITLES[name],
            row=row + 1,
            col=column + 1,
            **_value_axis(name, estimates),
        )
        if name == "overconfidence":
            fig.add_vline(
                x=0.0, line={"color": DIAGONAL_COLOR, "dash": "dot"}, row=row + 1, col=column + 1
            )
    height = (60 if title else 20) + n_rows * (110 + 26 * len(splits))
    apply_layout(fig, title=title, height=height)
    fig.update_layout(showlegend=False)
    fig.update_xaxes(nticks=3, tickangle=0, title_font={"size": 12})
    labels = [f'<span style="color:{colors[split]}">{split}</span>' for split in splits]
    fig.update_yaxes(**{**_category_axis(splits), "ticktext": labels})
    return fig


def cohort_calibration_chart(
    cohorts: Mapping[str, CohortCalibration],
    *,
    metric: str = "ece",
    colors: Mapping[str, str] | None = None,
    column: str | None = None,
) -> go.Figure:
    """A metric per cohort (one row per cohort, one dot per split), with 95% intervals.

    Cohorts flagged ``too_few`` are drawn as open markers without an interval; the legend shows
    each split as a filled marker in its colour and, when some cohort is too small, one more
    entry for the open marker.

    Args:
        cohorts: split -> per-cohort results, in project order.
        metric: the metric to show (see ``calibration.METRIC_NAMES``).
        colors: split -> colour.
        column: the metadata column's name, for the title and axis.
    """
    _check_not_empty(cohorts, "cohorts")
    _check_metrics([metric])
    colors = _colors(cohorts, colors)
    order: list[str] = []
    for result in cohorts.values():
        order.extend(cohort for cohort in result.cohorts if cohort not in order)
    offsets = _offsets(len(cohorts))
    fig = go.Figure()
    estimates: list[Estimate] = []
    for offset, (split, result) in zip(offsets, cohorts.items(), strict=True):
        names = list(result.cohorts)
        notes = [
            f"n = {result.summaries[cohort].n_samples:,}"
            + (
                f"; too few samples (< {result.min_samples:,}): no interval"
                if result.too_few[cohort]
                else ""
            )
            for cohort in names
        ]
        values = [getattr(result.summaries[cohort], metric) for cohort in names]
        estimates += values
        for trace in _estimate_traces(
            values,
            [order.index(cohort) + offset for cohort in names],
            metric=metric,
            name=split,
            color=colors[split],
            notes=[f"{cohort}<br>{note}" for cohort, note in zip(names, notes, strict=True)],
            open_markers=[result.too_few[cohort] for cohort in names],
            legend_color=colors[split],
        ):
            fig.add_trace(trace)
    small = [result.min_samples for result in cohorts.values() if any(result.too_few.values())]
    if small:
        fig.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="markers",
                name=f"too few samples (< {max(small):,}): no interval",
                legendgroup="too few",
                marker={
                    "color": NEUTRAL,
                    "size": 10,
                    "symbol": "circle-open",
                    "line": {"width": 2, "color": NEUTRAL},
                },
                hoverinfo="skip",
            )
        )
    apply_layout(
        fig,
        title=f"{METRIC_LABELS[metric]} by {column or 'cohort'}, with 95% bootstrap intervals",
        x_title=_AXIS_TITLES[metric],
        y_title=column or "Cohort",
        height=max(320, 140 + len(order) * (18 + 14 * len(cohorts))),
    )
    _legend_under_axes(fig)
    fig.update_yaxes(**_category_axis(order))
    fig.update_xaxes(**_value_axis(metric, estimates))
    return fig


def temperature_comparison_chart(
    comparison: TemperatureComparison,
    *,
    metric: str = "ece",
    colors: Mapping[str, str] | None = None,
) -> go.Figure:
    """Per split, a metric before, after temperature scaling and after recalibration.

    Open circle: before; filled circle: after temperature scaling (joined to "before" by a thin
    line); diamond: after the non-parametric recalibration. Bars are 95% intervals. Markers
    are never clipped: an ECE of 0 sits just right of the axis, whole.
    """
    _check_metrics([metric])
    colors = _colors(comparison.before, colors)
    splits = list(comparison.before)
    method = _method_name(comparison.recalibration.method)
    temperature = f"{comparison.temperature.temperature:.3g}"
    stages = (
        (comparison.before, "circle-open", "before", -0.22),
        (comparison.after, "circle", f"after T = {temperature}", 0.0),
        (comparison.recalibrated, "diamond", f"after {method.lower()}", 0.22),
    )
    fig = go.Figure()
    for position, split in enumerate(splits):
        fig.add_trace(
            go.Scatter(
                x=[
                    getattr(comparison.before[split], metric).value,
                    getattr(comparison.after[split], metric).value,
                ],
                y=[position - 0.22, position],
                mode="lines",
                line={"color": colors[split], "width": 1},
                showlegend=False,
                hoverinfo="skip",
            )
        )
    for summaries, symbol, label, offset in stages:
        for position, split in enumerate(splits):
            for trace in _estimate_traces(
                [getattr(summaries[split], metric)],
                [position + offset],
                metric=metric,
                name=label,
                color=colors[split],
                notes=[
                    f"{split}, {label}<br>temperature scaling: "
                    f"{GAIN_VERDICT_LABELS[comparison.verdicts[split]]}"
                ],
                symbol=symbol,
                show_legend=position == 0,
                legend_color=NEUTRAL,
            ):
                fig.add_trace(trace)
    apply_layout(
        fig,
        title=(
            f"{METRIC_LABELS[metric]} before and after temperature scaling "
            f"(T = {temperature}, fit on {comparison.fit_split})"
        ),
        x_title=_AXIS_TITLES[metric],
        y_title="Split",
        height=max(320, 160 + 48 * len(splits)),
    )
    _legend_under_axes(fig)
    fig.update_yaxes(**_category_axis(splits))
    estimates = [getattr(summaries[split], metric) for summaries, *_ in stages for split in splits]
    fig.update_xaxes(**_value_axis(metric, estimates))
    return fig


# --------------------------------------------------------------------------------------------
# Private steps
# --------------------------------------------------------------------------------------------


def _reliability_figure(
    panels: list[tuple[str, dict[str, ReliabilityBins]]],
    colors: Mapping[str, str],
    *,
    title: str,
    height: int | None,
) -> go.Figure:
    """Diagrams on top, histograms under them, one column per panel. Side by side, the panels
    read as one grid: every histogram shares the largest share as its top, and only the first
    column carries tick labels, so that none runs into its neighbour on a narrow screen."""
    n_panels = len(panels)
    fig = make_subplots(
        rows=2,
        cols=n_panels,
        shared_xaxes=True,
        row_heights=[0.74, 0.26],
        vertical_spacing=0.05,
        horizontal_spacing=0.05 if n_panels > 1 else 0.0,
        subplot_titles=[name for name, _ in panels] + [""] * n_panels,
    )
    bar_width = BAR_WIDTH if n_panels > 1 else WIDE_BAR_WIDTH
    in_legend: set[str] = set()
    for index, (_, panel_bins) in enumerate(panels):
        column = index + 1
        fig.add_trace(
            go.Scatter(
                x=[0.0, 1.0],
                y=[0.0, 1.0],
                mode="lines",
                line={"color": DIAGONAL_COLOR, "dash": "dash", "width": 1.5},
                name="perfect calibration",
                legendgroup="diagonal",
                showlegend=index == 0,
                hoverinfo="skip",
            ),
            row=1,
            col=column,
        )
        for split, split_bins in panel_bins.items():
            show_legend = split not in in_legend
            in_legend.add(split)
            for trace, row in _reliability_traces(
                split, split_bins, colors[split], show_legend, bar_width=bar_width
            ):
                fig.add_trace(trace, row=row, col=column)
    tops = [
        (_histogram_bars(bins, bar_width=bar_width)[2] + bins.share).max(initial=0.0)
        for _, panel in panels
        for bins in panel.values()
    ]
    top = 1.1 * max(tops, default=0.0) or 1.0
    has_panel_titles = any(name for name, _ in panels)
    apply_layout(fig, title=title, height=height or 560)
    fig.update_layout(
        barmode="overlay",
        bargap=0.0,
        margin={"t": (48 if title else 16) + (26 if has_panel_titles else 0)},
    )
    # panel titles small enough that neighbours do not run into each other on a narrow screen
    longest = max(len(name) for name, _ in panels)
    fig.update_annotations(font={"size": 13 if longest <= 24 else 12})
    _legend_under_axes(fig)
    # Plain numbers (the axis titles carry the %), few of them on narrow panels: a panel's
    # last tick label must not run into the next panel's first.
    ticks = [0.0, 0.25, 0.5, 0.75, 1.0] if n_panels <= 2 else [0.0, 0.5, 1.0]
    fig.update_xaxes(
        range=_padded(0.0, 1.0), tickvals=ticks, ticktext=[f"{100 * t:.0f}" for t in ticks]
    )
    fig.update_xaxes(title_text="Confidence (%)", row=2)
    accuracy_ticks = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    fig.update_yaxes(
        range=_padded(0.0, 1.0),
        tickvals=accuracy_ticks,
        ticktext=[f"{100 * t:.0f}" for t in accuracy_ticks],
        row=1,
    )
    fig.update_yaxes(title_text="Accuracy (%)", row=1, col=1)
    fig.update_yaxes(range=[0.0, top], tickformat=".0%", nticks=4, row=2)
    fig.update_yaxes(title_text="Samples (%)", row=2, col=1)
    for column in range(2, n_panels + 1):
        fig.update_yaxes(showticklabels=False, col=column)
    return fig


def _reliability_traces(
    split: str, bins: ReliabilityBins, color: str, show_legend: bool, *, bar_width: float
) -> list[tuple[go.BaseTraceType, int]]:
    """The gap bars and the accuracy line (row 1) and the histogram (row 2) of one split.

    Gap bars stand at the bin's mean confidence, ``bar_width`` wide, from the accuracy to
    the diagonal. The histogram is laid out by :func:`_histogram_bars`.
    """
    filled = bins.count >= MIN_RELIABLE_BIN  # gap bars only where the accuracy means something
    customdata = np.column_stack([bins.lower, bins.upper, bins.count, bins.share, bins.gap])
    bin_range = "bin (%{customdata[0]:.4~f}, %{customdata[1]:.4~f}]"
    gap_bars = go.Bar(
        x=bins.mean_confidence[filled],
        y=bins.gap[filled],
        base=bins.accuracy[filled],
        width=bar_width,
        marker={"color": color, "line": {"width": 0}},
        opacity=0.35,
        name=f"{split}: gap",
        legendgroup=split,
        showlegend=False,
        hoverinfo="skip",
    )
    # Each bin's accuracy with its 95% Wilson interval; the marker's area grows with the bin's
    # count. The line joins only the bins of at least MIN_RELIABLE_BIN samples, and the smaller
    # bins are faded (marker and interval), so that the eye follows the bins that hold data and
    # not the few-sample bins that swing from 0% to 100% by chance.
    reliable = bins.count >= MIN_RELIABLE_BIN
    low = np.asarray(bins.accuracy_low, dtype=np.float64)
    high = np.asarray(bins.accuracy_high, dtype=np.float64)
    customdata = np.column_stack([customdata, low, high])
    sizes = np.asarray(marker_sizes(bins.count))
    hovertemplate = (
        f"<b>{split}</b><br>{bin_range}<br>"
        "samples: %{customdata[2]:,.0f} (%{customdata[3]:.1%})<br>"
        "accuracy: %{y:.1%} (95% interval %{customdata[5]:.1%} to %{customdata[6]:.1%})<br>"
        "mean confidence: %{x:.1%}<br>"
        "gap (confidence − accuracy): %{customdata[4]:+.1%}<extra></extra>"
    )
    line = go.Scatter(
        x=bins.mean_confidence[reliable],
        y=bins.accuracy[reliable],
        mode="lines",
        line={"color": color, "width": 1.5},
        name=split,
        legendgroup=split,
        showlegend=show_legend,
        hoverinfo="skip",
    )
    points = []
    for chosen, opacity, suffix in (
        (reliable, 1.0, "bins"),
        (~reliable, FADED_OPACITY, "small bins"),
    ):
        shade = _with_alpha(color, opacity)
        points.append(
            go.Scatter(
                x=bins.mean_confidence[chosen],
                y=bins.accuracy[chosen],
                mode="markers",
                cliponaxis=False,
                marker={
                    "color": shade,
                    "size": sizes[chosen].tolist(),
                    "line": {"width": 1, "color": "white"},
                },
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": np.nan_to_num(high - bins.accuracy)[chosen].tolist(),
                    "arrayminus": np.nan_to_num(bins.accuracy - low)[chosen].tolist(),
                    "color": shade,
                    "thickness": 1.2,
                    "width": 0,
                },
                name=f"{split}: {suffix}",
                legendgroup=split,
                showlegend=False,
                customdata=customdata[chosen],
                hovertemplate=hovertemplate,
            )
        )
    positions, widths, bases = _histogram_bars(bins, bar_width=bar_width)
    histogram = go.Bar(
        x=positions,
        y=bins.share,
        base=bases,
        width=widths,
        marker={"color": color, "line": {"width": 0.5, "color": "white"}},
        opacity=0.55,
        name=f"{split}: samples",
        legendgroup=split,
        showlegend=False,
        customdata=customdata,
        hovertemplate=(
            f"<b>{split}</b><br>{bin_range}<br>"
            "samples: %{customdata[2]:,.0f} (%{y:.1%})<extra></extra>"
        ),
    )
    return [(gap_bars, 1), (line, 1), (points[0], 1), (points[1], 1), (histogram, 2)]


def _with_alpha(color: str, alpha: float) -> str:
    """``"#rrggbb"`` -> ``"rgba(r, g, b, alpha)"`` (other colour strings are returned as is)."""
    if alpha >= 1.0 or not (color.startswith("#") and len(color) == 7):
        return color
    red, green, blue = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red}, {green}, {blue}, {alpha})"


def marker_sizes(counts: np.ndarray) -> list[float]:
    """Marker diameters in pixels whose area grows with the bin's count: 4 px for a single
    sample up to 14 px for the largest bin shown."""
    counts = np.asarray(counts, dtype=np.float64)
    largest = counts.max(initial=0.0)
    if largest <= 0:
        return [MIN_MARKER_SIZE] * counts.shape[0]
    scaled = np.sqrt(np.maximum(counts, 0.0) / largest)
    return (MIN_MARKER_SIZE + (MAX_MARKER_SIZE - MIN_MARKER_SIZE) * scaled).tolist()


def _legend_under_axes(fig: go.Figure, *, gap: int = 62) -> None:
    """A horizontal legend ``gap`` pixels under the plot area (below the x axis title),
    left-aligned, on a wide screen or a narrow one.

    The bottom margin is reserved for the legend up front (about 26 px per row of at most
    :data:`_LEGEND_ITEMS_PER_ROW` entries): the legend's place is a fraction of the plot area's
    height, and if plotly had to grow the margin itself the plot area would shrink and the
    legend would ride up into the axis title."""
    entries = sum(1 for trace in fig.data if trace.showlegend is not False and trace.name)
    rows = max(1, -(-entries // _LEGEND_ITEMS_PER_ROW))
    margin = fig.layout.margin
    bottom = gap + 26 * rows
    fig.update_layout(margin={"b": bottom})
    plot_height = fig.layout.height - margin.t - bottom
    fig.update_layout(
        legend={
            "orientation": "h",
            "x": 0.0,
            "xanchor": "left",
            "y": -gap / plot_height,
            "yanchor": "top",
        }
    )


_LEGEND_ITEMS_PER_ROW = 6


def _histogram_bars(
    bins: ReliabilityBins, *, bar_width: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where each bin's histogram bar goes: ``(positions, widths, bases)``, each ``(n_bins,)``.

    Equal-width bins: a histogram, each bar spanning its bin, from 0. Equal-mass bins: a bar of
    ``bar_width`` per bin, so that a bin spanning most of the axis does not become a block
    that hides the rest; bins whose mean confidences lie closer together than that width (the
    many bins near 100% of a confident model) are stacked into one bar at their middle, so the
    bar's height is the share of samples at about that confidence and no bin hides behind
    another. Every bin's mean confidence lies under its bar. Layout only: no value changes.
    """
    centres = (bins.lower + bins.upper) / 2.0
    bases = np.zeros(bins.n_bins)
    if bins.strategy == "uniform":
        return centres, bins.upper - bins.lower, bases
    filled = bins.count > 0
    positions = np.where(filled, bins.mean_confidence, centres)
    order = [int(index) for index in np.argsort(positions, kind="stable") if filled[index]]
    stacks: list[list[int]] = []
    for index in order:
        if stacks and positions[index] - positions[stacks[-1][0]] < bar_width:
            stacks[-1].append(index)
        else:
            stacks.append([index])
    stacked = positions.copy()
    for stack in stacks:
        middle = (positions[stack[0]] + positions[stack[-1]]) / 2.0
        height = 0.0
        for index in stack:
            stacked[index], bases[index] = middle, height
            height += bins.share[index]
    return stacked, np.full(bins.n_bins, bar_width), bases


def _estimate_traces(
    estimates: Sequence[Estimate],
    positions: Sequence[float],
    *,
    metric: str,
    name: str,
    color: str,
    notes: Sequence[str],
    symbol: str = "circle",
    open_markers: Sequence[bool] | None = None,
    show_legend: bool = True,
    legend_color: str | None = None,
) -> list[go.Scatter]:
    """Intervals as horizontal segments and values as markers, at numeric rows ``positions``.

    Segments rather than error bars, because a bias-corrected interval need not contain its
    value. Markers are not clipped at the axes. ``legend_color`` (if given) draws the legend
    entry apart, as a filled ``symbol`` in that colour, whatever the markers look like.
    """
    segment_x: list[float | None] = []
    segment_y: list[float | None] = []
    texts = []
    for estimate, position, note in zip(estimates, positions, notes, strict=True):
        if np.isfinite(estimate.low) and np.isfinite(estimate.high):
            segment_x += [estimate.low, estimate.high, None]
            segment_y += [position, position, None]
            interval = f"95% interval {_format(metric, estimate.low)} to "
            interval += _format(metric, estimate.high)
        else:
            interval = "no interval"
        texts.append(
            f"{note}<br>{METRIC_LABELS[metric]}: {_format(metric, estimate.value)}<br>{interval}"
        )
    symbols = [
        f"{symbol}-open" if is_open and not symbol.endswith("-open") else symbol
        for is_open in (open_markers or [False] * len(estimates))
    ]
    segments = go.Scatter(
        x=segment_x,
        y=segment_y,
        mode="lines",
        line={"color": color, "width": 3},
        opacity=0.55,
        name=name,
        legendgroup=name,
        showlegend=False,
        hoverinfo="skip",
    )
    markers = go.Scatter(
        x=[estimate.value for estimate in estimates],
        y=list(positions),
        mode="markers",
        name=name,
        legendgroup=name,
        showlegend=show_legend,
        marker={
            "color": color,
            "size": 10,
            "symbol": symbols,
            "line": {"width": 2, "color": color},
        },
        text=texts,
        hovertemplate="<b>" + name + "</b><br>%{text}<extra></extra>",
        cliponaxis=False,
    )
    if legend_color is not None:
        markers.update(showlegend=False)
        legend = go.Scatter(
            x=[None],
            y=[None],
            mode="markers",
            name=name,
            legendgroup=name,
            showlegend=show_legend,
            marker={"color": legend_color, "size": 10, "symbol": symbol},
        )
        return [segments, markers, legend]
    return [segments, markers]


def _offsets(count: int) -> list[float]:
    """Vertical offsets that spread ``count`` series around a row (within ±0.3)."""
    if count == 1:
        return [0.0]
    return list(np.linspace(-0.3, 0.3, count))


def _category_axis(labels: Sequence[str]) -> dict[str, object]:
    """A numeric y axis that reads like a categorical one, first label on top."""
    return {
        "tickmode": "array",
        "tickvals": list(range(len(labels))),
        "ticktext": list(labels),
        "range": [len(labels) - 0.5, -0.5],
        "showgrid": False,
        "zeroline": False,
    }


def _value_axis(metric: str, estimates: Sequence[Estimate]) -> dict[str, object]:
    """Tick format and range of a metric's axis: from 0 (or below, for overconfidence) to the
    largest value or interval end, with :data:`_AXIS_PADDING` on both sides."""
    ends = [
        bound
        for estimate in estimates
        for bound in (estimate.value, estimate.low, estimate.high)
        if np.isfinite(bound)
    ]
    low, high = min([0.0, *ends]), max([0.0, *ends])
    if high - low <= 0.0:
        high = 0.05 if metric in _PERCENT_METRICS or metric == "mean_confidence" else 0.01
    axis: dict[str, object] = {"range": _padded(low, high)}
    if metric in _PERCENT_METRICS or metric == "mean_confidence":
        axis["tickformat"] = ".0%"
    elif metric == "overconfidence":
        axis["tickformat"] = "+.0%"
    return axis


def _padded(low: float, high: float) -> list[float]:
    pad = _AXIS_PADDING * (high - low)
    return [low - pad, high + pad]


def _hover_format(metric: str) -> str:
    if metric in _PERCENT_METRICS or metric == "mean_confidence":
        return ".1%"
    if metric == "overconfidence":
        return "+.1%"
    return ".3f"


def _format(name: str, value: float) -> str:
    unit = METRIC_UNITS[name]
    if unit == "percent":
        return percent(value)
    if unit == "points":
        return points(value).replace("pts", "points").replace(" pt", " point")
    return number(value)


def _method_name(method: str) -> str:
    return "Histogram binning" if method == "histogram" else "Isotonic regression"


def _colors(splits: Mapping[str, object], colors: Mapping[str, str] | None) -> dict[str, str]:
    if colors is not None:
        missing = [split for split in splits if split not in colors]
        if missing:
            raise ValueError(f"Expected a colour for every split, but got none for {missing}.")
        return dict(colors)
    return split_colors(dict.fromkeys(splits, "other"))


def _check_not_empty(values: Mapping[str, object], name: str) -> None:
    if not values:
        raise ValueError(f"Expected `{name}` for at least one split, but got none.")


def _check_metrics(metrics: Sequence[str]) -> None:
    unknown = [name for name in metrics if name not in METRIC_LABELS]
    if unknown or not metrics:
        raise ValueError(f"Expected metrics among {list(METRIC_LABELS)}, but got {list(metrics)}.")
