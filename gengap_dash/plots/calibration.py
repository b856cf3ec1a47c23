"""Calibration figures: reliability diagrams, metric charts with intervals, cohorts, and
temperature scaling before/after. Every function takes results of ``gengap_dash.calibration`` and
returns a ``plotly.graph_objects.Figure``; none computes a metric."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from gengap_dash.bootstrap import Estimate
from gengap_dash.calibration import (
    METRIC_LABELS,
    CalibrationSummary,
    CohortCalibration,
    ReliabilityBins,
    TemperatureComparison,
)
from gengap_dash.plots.style import NEUTRAL, apply_layout, split_colors

ReliabilityLayout = Literal["overlay", "side_by_side"]

DIAGONAL_COLOR = "#9aa3b2"
_PERCENT_METRICS = ("ece", "adaptive_ece", "mce", "rms_ce", "classwise_ece", "accuracy")
_AXIS_TITLES: dict[str, str] = {
    "ece": "ECE (%)",
    "adaptive_ece": "Adaptive ECE (%)",
    "mce": "MCE (%)",
    "rms_ce": "RMS calibration error (%)",
    "classwise_ece": "Classwise ECE (%)",
    "accuracy": "Accuracy (%)",
    "mean_confidence": "Mean confidence (%)",
    "overconfidence": "Confidence − accuracy (points)",
    "brier": "Brier score (0 to 2)",
    "nll": "NLL (nats)",
}
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


def reliability_diagram(
    bins: Mapping[str, ReliabilityBins],
    *,
    colors: Mapping[str, str] | None = None,
    layout: ReliabilityLayout = "overlay",
    title: str = "Reliability diagram: accuracy against confidence, per bin",
    height: int | None = None,
) -> go.Figure:
    """Reliability diagram of one or several splits, with a confidence histogram under it.

    Per bin: accuracy against mean confidence (a point), the gap to the diagonal shaded, and the
    share of samples (the histogram, same x axis). Empty bins are not drawn. Hover shows the
    bin's range, count, accuracy, confidence and gap.

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
    plug-in value overstates the error on small samples).

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
        subplot_titles=[METRIC_LABELS[name] for name in metrics],
        horizontal_spacing=0.04,
        vertical_spacing=0.22 if n_rows > 1 else 0.1,
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
                show_legend=index == 0,
            ):
                fig.add_trace(trace, row=row + 1, col=column + 1)
        fig.update_xaxes(
            title_text=_AXIS_TITLES[name], row=row + 1, col=column + 1, **_value_axis(name)
        )
        if name == "overconfidence":
            fig.add_vline(
                x=0.0, line={"color": DIAGONAL_COLOR, "dash": "dot"}, row=row + 1, col=column + 1
            )
    apply_layout(fig, title=title, height=120 + n_rows * (90 + 26 * len(splits)))
    fig.update_yaxes(**_category_axis(splits))
    fig.update_yaxes(title_text="Split", col=1)
    return fig


def cohort_calibration_chart(
    cohorts: Mapping[str, CohortCalibration],
    *,
    metric: str = "ece",
    colors: Mapping[str, str] | None = None,
    column: str | None = None,
) -> go.Figure:
    """A metric per cohort (one row per cohort, one dot per split), with 95% intervals.

    Cohorts flagged ``too_few`` are drawn as open markers without an interval.

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
        for trace in _estimate_traces(
            [getattr(result.summaries[cohort], metric) for cohort in names],
            [order.index(cohort) + offset for cohort in names],
            metric=metric,
            name=split,
            color=colors[split],
            notes=[f"{cohort}<br>{note}" for cohort, note in zip(names, notes, strict=True)],
            open_markers=[result.too_few[cohort] for cohort in names],
        ):
            fig.add_trace(trace)
    apply_layout(
        fig,
        title=f"{METRIC_LABELS[metric]} by {column or 'cohort'}, with 95% bootstrap intervals",
        x_title=_AXIS_TITLES[metric],
        y_title=column or "Cohort",
        height=max(320, 140 + len(order) * (18 + 14 * len(cohorts))),
    )
    fig.update_yaxes(**_category_axis(order))
    fig.update_xaxes(**_value_axis(metric))
    return fig


def temperature_comparison_chart(
    comparison: TemperatureComparison,
    *,
    metric: str = "ece",
    colors: Mapping[str, str] | None = None,
) -> go.Figure:
    """Per split, a metric before, after temperature scaling and after recalibration.

    Open circle: before; filled circle: after temperature scaling (joined to "before" by a thin
    line); diamond: after the non-parametric recalibration. Bars are 95% intervals.
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
                    f"{split}, {label}<br>temperature-scaling gain: {comparison.verdicts[split]}"
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
    fig.update_yaxes(**_category_axis(splits))
    fig.update_xaxes(**_value_axis(metric))
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
            for trace, row in _reliability_traces(split, split_bins, colors[split], show_legend):
                fig.add_trace(trace, row=row, col=column)
    apply_layout(fig, title=title, height=height or 560)
    fig.update_layout(barmode="overlay", bargap=0.0, margin={"t": 100}, legend={"y": 1.07})
    fig.update_xaxes(range=[0.0, 1.0], tickformat=".0%")
    fig.update_xaxes(title_text="Confidence (%)", row=2)
    fig.update_yaxes(range=[0.0, 1.0], tickformat=".0%", row=1)
    fig.update_yaxes(title_text="Accuracy (%)", row=1, col=1)
    fig.update_yaxes(tickformat=".0%", rangemode="tozero", row=2)
    fig.update_yaxes(title_text="Samples (%)", row=2, col=1)
    return fig


def _reliability_traces(
    split: str, bins: ReliabilityBins, color: str, show_legend: bool
) -> list[tuple[go.BaseTraceType, int]]:
    """The gap bars and the accuracy line (row 1) and the histogram (row 2) of one split."""
    centres = (bins.lower + bins.upper) / 2.0
    widths = bins.upper - bins.lower
    filled = bins.count > 0
    customdata = np.column_stack([bins.lower, bins.upper, bins.count, bins.share, bins.gap])
    gap_bars = go.Bar(
        x=centres[filled],
        y=bins.gap[filled],
        base=bins.accuracy[filled],
        width=widths[filled],
        marker={"color": color, "line": {"width": 0}},
        opacity=0.22,
        name=f"{split}: gap",
        legendgroup=split,
        showlegend=False,
        hoverinfo="skip",
    )
    line = go.Scatter(
        x=bins.mean_confidence,
        y=bins.accuracy,
        mode="lines+markers",
        connectgaps=False,
        line={"color": color, "width": 2},
        marker={"color": color, "size": 8},
        name=split,
        legendgroup=split,
        showlegend=show_legend,
        customdata=customdata,
        hovertemplate=(
            f"<b>{split}</b><br>bin (%{{customdata[0]:.3f}}, %{{customdata[1]:.3f}}]<br>"
            "samples: %{customdata[2]:,.0f} (%{customdata[3]:.1%})<br>"
            "accuracy: %{y:.1%}<br>mean confidence: %{x:.1%}<br>"
            "gap (confidence − accuracy): %{customdata[4]:+.1%}<extra></extra>"
        ),
    )
    histogram = go.Bar(
        x=centres,
        y=bins.share,
        width=widths,
        marker={"color": color, "line": {"width": 0.5, "color": "white"}},
        opacity=0.55,
        name=f"{split}: samples",
        legendgroup=split,
        showlegend=False,
        customdata=customdata,
        hovertemplate=(
            f"<b>{split}</b><br>bin (%{{customdata[0]:.3f}}, %{{customdata[1]:.3f}}]<br>"
            "samples: %{customdata[2]:,.0f} (%{y:.1%})<extra></extra>"
        ),
    )
    return [(gap_bars, 1), (line, 1), (histogram, 2)]


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
    value. ``legend_color`` (if given) colours the legend entry instead of the markers' colour.
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


def _value_axis(metric: str) -> dict[str, object]:
    if metric in _PERCENT_METRICS or metric == "mean_confidence":
        return {"tickformat": ".0%", "rangemode": "tozero"}
    if metric == "overconfidence":
        return {"tickformat": "+.0%"}
    return {"rangemode": "tozero"}


def _hover_format(metric: str) -> str:
    if metric in _PERCENT_METRICS or metric == "mean_confidence":
        return ".1%"
    if metric == "overconfidence":
        return "+.1%"
    return ".3f"


def _format(name: str, value: float) -> str:
    if not np.isfinite(value):
        return "n/a"
    if name in _PERCENT_METRICS or name == "mean_confidence":
        return f"{100.0 * value:.1f}%"
    if name == "overconfidence":
        return f"{100.0 * value:+.1f} points"
    return f"{value:.3f}"


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
