"""Figures for the learning-curves view: curves, the gap, several runs, data size.

Every function takes results of :mod:`gengap_dash.analysis.learning_curves` and returns a
``plotly.graph_objects.Figure``; none computes a metric (smoothing is done by
:func:`~gengap_dash.analysis.learning_curves.smooth_curves` and passed in).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from gengap_dash.analysis.learning_curves import AlignedCurves, DataSizeAnalysis, MetricAnalysis
from gengap_dash.findings.learning_curves import runs_title
from gengap_dash.plots.style import BAD, NEUTRAL, SPLIT_ROLE_COLORS, apply_layout

RAW_OPACITY = 0.28
"""Opacity of the raw curve drawn behind its smoothed line."""

SPLIT_DASHES: dict[str, str] = {"train": "dot", "validation": "solid", "test": "dash"}
"""Line dash per split when several runs share a figure (colour then tells the run)."""

SPLIT_DASH_WORDS: dict[str, str] = {"train": "dotted", "validation": "solid", "test": "dashed"}

RUN_COLORS: tuple[str, ...] = (
    "#1f5fa8", "#e76f51", "#2a9d8f", "#6a4c93", "#c9184a", "#f4a261", "#3a0ca3", "#8d6e63",
    "#43aa8b", "#b5838d",
)  # fmt: skip
"""Colours of overlaid runs, in order."""

MARKER_COLORS: dict[str, str] = {
    "best": "#2b9348",
    "onset": BAD,
    "stop": "#7b2cbf",
    "checkpoint": "#1d2433",
}
"""Colours of the vertical marker lines."""

FOCUS_SKIP = 0.1
"""When the y axis focuses, it is fitted to the points after the first 10% of the x range."""

FOCUS_MIN_GAIN = 2.0
"""It focuses only when that makes the rest of the curves at least twice as tall."""

_MARKER_DASHES = {"best": "dot", "onset": "dash", "stop": "dashdot", "checkpoint": "solid"}


@dataclass(frozen=True)
class _Marker:
    x: float
    kind: str
    text: str


def learning_curves_figure(
    analysis: MetricAnalysis,
    *,
    smoothed: AlignedCurves | None = None,
    log_y: bool = False,
    checkpoint_epoch: float | None = None,
    show_markers: bool = True,
    focus: bool = True,
    title: str | None = None,
) -> go.Figure:
    """Train against validation (and test) for one metric, with the analysis' markers.

    Args:
        analysis: from :func:`~gengap_dash.analysis.learning_curves.analyze_metric`.
        smoothed: the same curves smoothed for display; the raw curves are then drawn faint
            behind them.
        log_y: a logarithmic y axis.
        checkpoint_epoch: the loaded checkpoint's x, marked when given.
        show_markers: mark the best epoch, the onset of overfitting and the early stop.
        focus: on a linear axis, fit the y range to the curves after their steep start when
            the start would squash the rest (see :data:`FOCUS_SKIP`); a subtitle says so.
        title: the figure title; by default names the run and the metric.
    """
    curves = analysis.curves
    fig = go.Figure()
    for split in curves.splits:
        values = curves.values(split)
        color = SPLIT_ROLE_COLORS.get(split, NEUTRAL)
        smooth = smoothed.values(split) if smoothed is not None else None
        _add_curve(fig, curves.x, values, smooth, name=split, color=color, unit=curves.x_axis)
    markers = _analysis_markers(analysis, checkpoint_epoch) if show_markers else []
    if not show_markers and checkpoint_epoch is not None:
        markers = [_Marker(float(checkpoint_epoch), "checkpoint", "checkpoint")]
    _add_markers(fig, markers, unit=curves.x_axis, x=curves.x)
    metric = curves.metric.replace("_", " ")
    apply_layout(
        fig,
        title=title or f"{curves.run_name}: {' vs '.join(curves.splits)} {metric}",
        x_title=curves.x_axis.capitalize(),
        y_title=metric.capitalize() + (" (log scale)" if log_y else ""),
    )
    if log_y:
        fig.update_yaxes(type="log")
    elif focus:
        _focus_y(fig, [(curves.x, curves.values(split)) for split in curves.splits], curves.x_axis)
    return fig


def gap_figure(
    analysis: MetricAnalysis,
    *,
    smoothed: AlignedCurves | None = None,
    title: str | None = None,
) -> go.Figure:
    """The gap between held-out and train (worse is up), with the onset of overfitting.

    Args:
        analysis: from :func:`~gengap_dash.analysis.learning_curves.analyze_metric`; its
            curves must hold train and a held-out split.
        smoothed: the same curves smoothed for display; the raw gap is then drawn faint.
        title: the figure title.
    """
    curves = analysis.curves
    gap = curves.gap
    if gap is None:
        raise ValueError(
            f"Expected curves with train and a held-out split for a gap figure, but run "
            f"{curves.run_name!r} logs {curves.metric} for {', '.join(curves.splits)} only."
        )
    smooth_gap = smoothed.gap if smoothed is not None else None
    fig = go.Figure()
    _add_curve(
        fig, curves.x, gap, smooth_gap, name="gap", color=BAD, unit=curves.x_axis
    )  # fmt: skip
    fig.add_hline(y=0, line={"color": NEUTRAL, "width": 1, "dash": "dot"})
    markers = []
    if analysis.onset_epoch is not None:
        markers.append(_Marker(analysis.onset_epoch, "onset", "overfitting onset"))
    _add_markers(fig, markers, unit=curves.x_axis, x=curves.x)
    held = curves.reference_split or "validation"
    metric = curves.metric.replace("_", " ")
    difference = f"{held} − train" if curves.mode == "min" else f"train − {held}"
    apply_layout(
        fig,
        title=title or f"{curves.run_name}: generalization gap in {metric}",
        x_title=curves.x_axis.capitalize(),
        y_title=f"{difference} {metric} (worse ↑)",
    )
    fig.update_layout(
        showlegend=False,  # one curve, named by the title
        title_subtitle_text=f"Above the dotted zero line, {held} is worse than train",
        title_subtitle_font={"size": 12, "color": NEUTRAL},
        margin_t=84,
    )
    return fig


def runs_overlay_figure(
    curves: Sequence[AlignedCurves],
    *,
    smoothed: Sequence[AlignedCurves] | None = None,
    splits: Sequence[str] = ("train", "validation"),
    log_y: bool = False,
    focus: bool = True,
    title: str | None = None,
) -> go.Figure:
    """Several runs of one metric on one figure: a colour per run, a dash per split.

    Args:
        curves: aligned curves of the same metric, one per run.
        smoothed: the same curves smoothed for display (same order), or None.
        splits: the splits to draw (those a run does not log are skipped).
        log_y: a logarithmic y axis.
        focus: on a linear axis, fit the y range to the curves after their steep start (see
            :func:`learning_curves_figure`).
        title: the figure title.
    """
    if not curves:
        raise ValueError("Expected at least one run's curves to overlay, but got none.")
    if smoothed is not None and len(smoothed) != len(curves):
        raise ValueError(
            f"Expected `smoothed` to hold {len(curves)} curves like `curves`, but got "
            f"{len(smoothed)}."
        )
    fig = go.Figure()
    for index, run_curves in enumerate(curves):
        color = RUN_COLORS[index % len(RUN_COLORS)]
        for split in splits:
            values = run_curves.values(split)
            if values is None:
                continue
            smooth = smoothed[index].values(split) if smoothed is not None else None
            _add_curve(
                fig,
                run_curves.x,
                values,
                smooth,
                name=f"{run_curves.run_name} · {split}",
                color=color,
                unit=run_curves.x_axis,
                dash=SPLIT_DASHES.get(split, "solid"),
                group=run_curves.run_name,
                show_legend=False,
            )
        fig.add_trace(  # one legend entry per run, toggling all its curves
            go.Scatter(
                x=[None],
                y=[None],
                mode="lines",
                name=run_curves.run_name,
                legendgroup=run_curves.run_name,
                line={"color": color, "width": 2.5},
            )
        )
    metric = curves[0].metric.replace("_", " ")
    axes = {c.x_axis for c in curves}
    unit = next(iter(axes)) if len(axes) == 1 else "point"
    x_title = unit.capitalize() if len(axes) == 1 else "Epoch or step (per run)"
    apply_layout(
        fig,
        title=title or runs_title(curves[0].metric, len(curves)),
        x_title=x_title,
        y_title=metric.capitalize() + (" (log scale)" if log_y else ""),
    )
    styles = " · ".join(
        f"{SPLIT_DASH_WORDS[s]}: {s}"
        for s in splits
        if any(c.values(s) is not None for c in curves)
    )
    fig.update_layout(title_subtitle_text=styles.capitalize(), margin_t=84)
    fig.update_layout(title_subtitle_font={"size": 12, "color": NEUTRAL})
    _legend_below(fig)
    if log_y:
        fig.update_yaxes(type="log")
    elif focus:
        _focus_y(fig, [(c.x, c.values(s)) for c in curves for s in splits], unit)
    return fig


def patience_figure(
    sweep: pd.DataFrame,
    curves: AlignedCurves,
    *,
    patience: int | None = None,
    title: str | None = None,
) -> go.Figure:
    """What early stopping keeps for each patience, against training to the end.

    Args:
        sweep: from :func:`~gengap_dash.analysis.learning_curves.patience_sweep`.
        curves: the curves the sweep was computed on (for the names and the axis unit).
        patience: the patience chosen in the view, marked when given.
        title: the figure title.
    """
    held = curves.reference_split or "validation"
    color = SPLIT_ROLE_COLORS.get(held, NEUTRAL)
    unit = curves.x_axis
    metric = curves.metric.replace("_", " ")
    stops = [("never" if np.isnan(v) else _x(v)) for v in sweep["stop_epoch"]]
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=sweep["patience"],
            y=sweep["kept_value"],
            mode="lines+markers",
            line={"color": color, "width": 2.5, "shape": "hv"},
            marker={"size": 6},
            name="kept by early stopping",
            customdata=np.column_stack([stops, [_x(v) for v in sweep["best_epoch"]]]),
            hovertemplate=(
                f"patience %{{x}}: stops at {unit} %{{customdata[0]}}<br>keeps %{{y:.4g}} "
                f"({unit} %{{customdata[1]}})<extra></extra>"
            ),
        )
    )
    final = float(sweep["final_value"].iloc[0])
    fig.add_trace(
        go.Scatter(
            x=[sweep["patience"].min(), sweep["patience"].max()],
            y=[final, final],
            mode="lines",
            line={"color": NEUTRAL, "width": 2, "dash": "dash"},
            name=f"training to the last {unit}",
            hovertemplate=f"last {unit}: %{{y:.4g}}<extra></extra>",
        )
    )
    chosen = sweep[sweep["patience"] == patience] if patience is not None else sweep.iloc[:0]
    if len(chosen):
        row = chosen.iloc[0]
        stop = (
            "never stops"
            if np.isnan(row["stop_epoch"])
            else f"stops at {unit} {_x(row['stop_epoch'])}"
        )
        fig.add_trace(
            go.Scatter(
                x=[row["patience"]],
                y=[row["kept_value"]],
                mode="markers",
                marker={"color": MARKER_COLORS["stop"], "size": 14, "symbol": "star"},
                name=f"patience {int(row['patience'])}",
                hoverinfo="skip",
            )
        )
        fig.add_annotation(
            x=float(row["patience"]),
            y=float(row["kept_value"]),
            text=f"patience {int(row['patience'])}: {stop},<br>keeps {_value(row['kept_value'])}",
            showarrow=True,
            arrowcolor=MARKER_COLORS["stop"],
            ax=30 if row["patience"] <= sweep["patience"].median() else -30,
            ay=-36 if curves.mode == "min" else 36,
            xanchor="left" if row["patience"] <= sweep["patience"].median() else "right",
            align="left",
            font={"size": 11, "color": MARKER_COLORS["stop"]},
            bgcolor="rgba(255,255,255,0.8)",
        )
    apply_layout(
        fig,
        title=title or f"{curves.run_name}: early stopping by patience",
        x_title="Patience (checks without improvement)",
        y_title=f"{held.capitalize()} {metric} kept",
    )
    fig.update_layout(
        showlegend=False,  # labelled directly: the subtitle names the dashed line
        title_subtitle_text=f"Dashed: training to the last {unit} ({_value(final)})",
        title_subtitle_font={"size": 12, "color": NEUTRAL},
        margin_t=84,
    )
    return fig


def _legend_below(fig: go.Figure, *, title: str | None = None) -> None:
    """A horizontal legend under the x axis (for legends too long for the title row)."""
    fig.update_layout(
        legend={
            "orientation": "h",
            "x": 0.0,
            "xanchor": "left",
            "y": -0.2,
            "yanchor": "top",
            "title": {"text": title or "", "side": "top left"},
        },
        height=fig.layout.height + 50,
        margin_b=110,
    )


def data_size_figure(
    analysis: DataSizeAnalysis,
    *,
    log_x: bool = True,
    log_y: bool = False,
    title: str | None = None,
) -> go.Figure:
    """Train and held-out metrics against training-set size, with the fitted power law.

    Args:
        analysis: from :func:`~gengap_dash.analysis.learning_curves.data_size_analysis`.
        log_x: a logarithmic size axis.
        log_y: a logarithmic metric axis.
        title: the figure title.
    """
    held = analysis.reference_split
    held_color = SPLIT_ROLE_COLORS.get(held, NEUTRAL)
    train_color = SPLIT_ROLE_COLORS["train"]
    points = analysis.points
    fig = go.Figure()
    for column, split, color in (("train", "train", train_color), ("held_out", held, held_color)):
        fig.add_trace(
            go.Scatter(
                x=points["train_size"],
                y=points[column],
                mode="markers",
                name=f"{split} (each run)",
                legendgroup=split,
                showlegend=False,
                marker={"color": color, "size": 7, "opacity": 0.45, "symbol": "circle-open"},
                customdata=points["run"],
                hovertemplate="%{customdata}<br>n=%{x:,}<br>%{y:.4g}<extra></extra>",
            )
        )
    fig.add_trace(
        go.Scatter(
            x=analysis.sizes,
            y=analysis.train_values,
            mode="lines+markers",
            name="train",
            legendgroup="train",
            line={"color": train_color, "width": 2},
            marker={"size": 9},
            hovertemplate="train<br>n=%{x:,}<br>%{y:.4g}<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=analysis.sizes,
            y=analysis.held_out_values,
            mode="markers",
            name=held,
            legendgroup=held,
            marker={"color": held_color, "size": 10},
            hovertemplate=f"{held}<br>n=%{{x:,}}<br>%{{y:.4g}}<extra></extra>",
        )
    )
    fit = analysis.fit
    fig.add_trace(
        go.Scatter(
            x=analysis.curve_sizes,
            y=analysis.curve_values,
            mode="lines",
            name=f"power-law fit (n^-{fit.b:.2f})",
            line={"color": held_color, "width": 2, "dash": "dash"},
            hovertemplate="fit<br>n=%{x:,.0f}<br>%{y:.4g}<extra></extra>",
        )
    )
    if analysis.train_level is not None:
        # traces rather than shapes, so that they sit right on log axes too
        fig.add_trace(
            go.Scatter(
                x=[analysis.curve_sizes[0], analysis.curve_sizes[-1]],
                y=[analysis.train_level, analysis.train_level],
                mode="lines",
                name="train level (target)",
                line={"color": train_color, "width": 1, "dash": "dot"},
                hovertemplate="train level %{y:.4g}<extra></extra>",
            )
        )
    if analysis.size_needed is not None and np.isfinite(analysis.size_needed):
        fig.add_trace(
            go.Scatter(
                x=[analysis.size_needed],
                y=[analysis.train_level],
                mode="markers+text",
                name="size needed",
                text=[f"~{analysis.size_needed:,.0f} needed"],
                textposition="top left",
                marker={"color": MARKER_COLORS["stop"], "size": 12, "symbol": "star"},
                hovertemplate="fit reaches the train level<br>n≈%{x:,.0f}<extra></extra>",
            )
        )
    metric = analysis.metric.replace("_", " ")
    at = "final" if analysis.at == "final" else "best-epoch"
    apply_layout(
        fig,
        title=title or f"{metric.capitalize()} against training-set size",
        x_title="Training samples" + (" (log scale)" if log_x else ""),
        y_title=f"{at.capitalize()} {metric}" + (" (log scale)" if log_y else ""),
    )
    _legend_below(fig)
    if log_x:
        ticks = _size_ticks(analysis.sizes, float(analysis.curve_sizes[-1]))
        fig.update_xaxes(
            type="log", tickvals=ticks, ticktext=[f"{t:,.0f}" for t in ticks], minor_showgrid=False
        )
    if log_y:
        fig.update_yaxes(type="log")
    return fig


def _size_ticks(sizes: np.ndarray, top: float) -> list[float]:
    """The measured sizes, then doublings of the largest up to ``top`` (at most 12 ticks)."""
    ticks = sorted({float(s) for s in sizes})
    while ticks[-1] * 2 <= top * 1.001 and len(ticks) < 12:
        ticks.append(ticks[-1] * 2)
    return ticks


def _focus_y(
    fig: go.Figure, curves: Sequence[tuple[np.ndarray, np.ndarray | None]], unit: str
) -> None:
    """Fit the y axis to the points after the first ``FOCUS_SKIP`` of each curve's x range when
    the steep start would squash them to less than ``1 / FOCUS_MIN_GAIN`` of the height, and say
    so in a subtitle (a double click on the chart shows everything)."""
    every, later, start_ends = [], [], []
    for x, values in curves:
        if values is None:
            continue
        finite = np.isfinite(values)
        if finite.sum() < 10:
            continue
        x_finite, y_finite = np.asarray(x)[finite], np.asarray(values)[finite]
        cut = x_finite.min() + FOCUS_SKIP * (x_finite.max() - x_finite.min())
        every.append(y_finite)
        later.append(y_finite[x_finite >= cut])
        start_ends.append(float(x_finite[x_finite < cut].max(initial=x_finite.min())))
    if not later:
        return
    every_values, later_values = np.concatenate(every), np.concatenate(later)
    low, high = float(later_values.min()), float(later_values.max())
    span = high - low
    full = float(every_values.max() - every_values.min())
    if span <= 0 or full < FOCUS_MIN_GAIN * span:
        return
    pad = 0.08 * span
    fig.update_yaxes(range=[low - pad, high + pad])
    above = every_values.max() > high + pad
    below = every_values.min() < low - pad
    where = "top and bottom" if above and below else ("top" if above else "bottom")
    note = (
        f"Zoomed past the steep start ({unit}s ≤ {_x(max(start_ends))} run off the {where}); "
        "double-click to see all"
    )
    before = fig.layout.title.subtitle.text
    fig.update_layout(
        title_subtitle_text=f"{before}. {note}" if before else note,
        title_subtitle_font={"size": 12, "color": NEUTRAL},
        margin_t=84,
    )


def _add_curve(
    fig: go.Figure,
    x: np.ndarray,
    values: np.ndarray,
    smooth: np.ndarray | None,
    *,
    name: str,
    color: str,
    unit: str,
    dash: str = "solid",
    group: str | None = None,
    show_legend: bool = True,
) -> None:
    """A raw curve, and its smoothed line in front of it when given."""
    hover = f"{name}<br>{unit} %{{x}}<br>%{{y:.4g}}<extra></extra>"
    group = group or name
    if smooth is None:
        fig.add_trace(
            go.Scatter(
                x=x,
                y=values,
                mode="lines+markers" if len(x) <= 60 else "lines",
                name=name,
                legendgroup=group,
                showlegend=show_legend,
                connectgaps=True,
                line={"color": color, "width": 2, "dash": dash},
                marker={"size": 5},
                hovertemplate=hover,
            )
        )
        return
    fig.add_trace(
        go.Scatter(
            x=x,
            y=values,
            mode="lines",
            name=f"{name} (raw)",
            legendgroup=group,
            showlegend=False,
            connectgaps=True,
            opacity=RAW_OPACITY,
            line={"color": color, "width": 1, "dash": dash},
            hovertemplate=f"{name} (raw)<br>{unit} %{{x}}<br>%{{y:.4g}}<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=smooth,
            mode="lines",
            name=name,
            legendgroup=group,
            showlegend=show_legend,
            connectgaps=True,
            line={"color": color, "width": 2.5, "dash": dash},
            hovertemplate=f"{name} (smoothed)<br>{unit} %{{x}}<br>%{{y:.4g}}<extra></extra>",
        )
    )


def _analysis_markers(analysis: MetricAnalysis, checkpoint_epoch: float | None) -> list[_Marker]:
    markers = []
    if analysis.best_epoch is not None:
        markers.append(_Marker(analysis.best_epoch, "best", "best"))
    if analysis.onset_epoch is not None:
        markers.append(_Marker(analysis.onset_epoch, "onset", "overfitting onset"))
    stopping = analysis.early_stopping
    if stopping is not None and stopping.stop_epoch is not None:
        markers.append(
            _Marker(stopping.stop_epoch, "stop", f"early stop (patience {stopping.patience})")
        )
    if checkpoint_epoch is not None:
        markers.append(_Marker(float(checkpoint_epoch), "checkpoint", "checkpoint"))
    return markers


def _add_markers(fig: go.Figure, markers: list[_Marker], *, unit: str, x: np.ndarray) -> None:
    """Vertical lines with labels stacked at the top, so that coinciding markers stay legible;
    labels of markers in the right quarter of the x range sit left of their line."""
    low, high = (float(np.min(x)), float(np.max(x))) if len(x) else (0.0, 1.0)
    for row, marker in enumerate(markers):
        right = high > low and marker.x > low + 0.75 * (high - low)
        color = MARKER_COLORS[marker.kind]
        fig.add_shape(
            type="line",
            xref="x",
            yref="paper",
            x0=marker.x,
            x1=marker.x,
            y0=0,
            y1=1,
            line={"color": color, "width": 1.5, "dash": _MARKER_DASHES[marker.kind]},
        )
        fig.add_annotation(
            x=marker.x,
            y=1 - 0.075 * row,
            xref="x",
            yref="paper",
            text=f"{marker.text} ({unit} {_x(marker.x)})",
            showarrow=False,
            xanchor="right" if right else "left",
            yanchor="top",
            xshift=-4 if right else 4,
            font={"size": 11, "color": color},
            bgcolor="rgba(255,255,255,0.75)",
        )


def _value(value: float) -> str:
    return f"{value:.3g}"


def _x(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.3g}"
