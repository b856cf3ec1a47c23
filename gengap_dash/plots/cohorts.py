"""Figures of the cohorts and slices views. Each takes an analysis result and returns a plotly
figure; none computes a metric."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from gengap_dash.plots.style import BAD, GOOD, NEUTRAL, apply_layout

_TOO_FEW = "#d9dde4"


def _pts(values: np.ndarray) -> np.ndarray:
    return 100.0 * np.asarray(values, dtype=np.float64)


def _short(text: str, limit: int = 28) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def gap_heatmap(table, *, splits: Sequence[str] | None = None) -> go.Figure:
    """Cohort x split heatmap of the gap to the same cohort on the reference split, in points;
    cells under ``min_count`` samples are grey and say so."""
    chosen = [s for s in (splits or table.splits) if s != table.reference]
    rows = [table.split_index(s) for s in chosen]
    present = np.flatnonzero(table.n[rows].sum(axis=0) > 0) if rows else np.array([], int)
    z = _pts(table.gap[np.ix_(rows, present)]) if rows else np.zeros((0, 0))
    n = table.n[np.ix_(rows, present)] if rows else np.zeros((0, 0), int)
    unit_kind = getattr(table, "unit", "nats" if table.metric == "nll" else "percent")
    in_points = unit_kind in ("percent", "points")
    if not in_points:
        z = z / 100.0
    text = np.where(
        np.isfinite(z),
        np.vectorize(lambda v: f"{v:+.1f}" if in_points else f"{v:+.3f}")(np.nan_to_num(z)),
        np.where(n > 0, "too few", "none"),
    )
    limit = float(np.nanmax(np.abs(z))) if np.any(np.isfinite(z)) else 1.0
    cohorts = [_short(table.cohorts[k]) for k in present]
    fig = go.Figure()
    fig.add_trace(
        go.Heatmap(
            z=np.where(np.isfinite(z), np.nan, 0.0) if z.size else z,
            x=cohorts,
            y=chosen,
            colorscale=[[0, _TOO_FEW], [1, _TOO_FEW]],
            showscale=False,
            hoverinfo="skip",
        )
    )
    unit = "pts" if in_points else ""
    direction = getattr(table, "direction", "lower" if table.metric == "nll" else "higher")
    # red where the cohort got worse: a fall for "higher is better", a rise for "lower is
    # better"; a metric without a better direction gets a scale with no red/blue verdict
    colorscale = {"higher": "RdBu", "lower": "RdBu_r"}.get(direction, "PuOr")
    fig.add_trace(
        go.Heatmap(
            z=z,
            x=cohorts,
            y=chosen,
            text=text,
            texttemplate="%{text}",
            customdata=n,
            zmin=-limit,
            zmax=limit,
            colorscale=colorscale,
            colorbar={"title": {"text": f"gap ({unit})" if unit else "gap"}},
            hovertemplate="%{y} · %{x}<br>gap %{z:+."
            + ("1" if in_points else "3")
            + "f} "
            + unit
            + "<br>n = %{customdata}"
            "<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed")
    column = " × ".join(table.columns)
    apply_layout(fig, x_title=column, y_title="split", height=max(260, 60 + 34 * len(chosen)))
    fig.update_xaxes(showgrid=False)
    fig.update_yaxes(showgrid=False)
    return fig


def cohort_metric_figure(
    table, *, colors: Mapping[str, str], splits: Sequence[str] | None = None
) -> go.Figure:
    """The metric of each cohort on each chosen split with its 95% interval; cells under
    ``min_count`` samples are left out."""
    fig = go.Figure()
    unit_kind = getattr(table, "unit", "nats" if table.metric == "nll" else "percent")
    scale = 100.0 if unit_kind in ("percent", "points") else 1.0
    digits = ".1f" if scale == 100.0 else ".3f"
    for split in splits or table.splits:
        i = table.split_index(split)
        ok = table.enough[i]
        x = [table.cohorts[k] for k in np.flatnonzero(ok)]
        value = table.value[i, ok] * scale
        fig.add_trace(
            go.Scatter(
                x=x,
                y=value,
                mode="markers",
                name=split,
                marker={"color": colors.get(split, NEUTRAL), "size": 9},
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": table.high[i, ok] * scale - value,
                    "arrayminus": value - table.low[i, ok] * scale,
                    "thickness": 1.3,
                },
                customdata=table.n[i, ok],
                hovertemplate=f"{split} · %{{x}}<br>%{{y:{digits}}}<br>n = %{{customdata}}"
                "<extra></extra>",
            )
        )
    name = getattr(table, "label", table.metric)
    label = {"percent": f"{name} (%)", "points": f"{name} (points)", "nats": f"{name} (nats)"}.get(
        unit_kind, name
    )
    apply_layout(fig, x_title=" × ".join(table.columns), y_title=label, height=400)
    fig.update_layout(scattermode="group")
    return fig


def decomposition_figure(decompositions) -> go.Figure:
    """Each split's accuracy change against the reference as two stacked parts (cohort mix,
    inside cohorts) with the total and its interval as a marker."""
    splits = [d.split for d in decompositions]
    mix = _pts([d.mix for d in decompositions])
    performance = _pts([d.performance for d in decompositions])
    total = _pts([d.total for d in decompositions])
    low = _pts([d.total_low for d in decompositions])
    high = _pts([d.total_high for d in decompositions])
    fig = go.Figure()
    fig.add_trace(
        go.Bar(y=splits, x=performance, orientation="h", name="inside cohorts",
               marker_color=BAD, hovertemplate="%{y}: inside cohorts %{x:+.1f} pts<extra></extra>")
    )  # fmt: skip
    fig.add_trace(
        go.Bar(y=splits, x=mix, orientation="h", name="cohort mix", marker_color="#f4a261",
               hovertemplate="%{y}: cohort mix %{x:+.1f} pts<extra></extra>")
    )  # fmt: skip
    fig.add_trace(
        go.Scatter(
            y=splits, x=total, mode="markers", name="total change (95% CI)",
            marker={"color": "#1d2433", "symbol": "diamond", "size": 10},
            error_x={"type": "data", "symmetric": False, "array": high - total,
                     "arrayminus": total - low, "thickness": 1.3},
            hovertemplate="%{y}: total %{x:+.1f} pts<extra></extra>",
        )
    )  # fmt: skip
    fig.update_layout(barmode="relative")
    fig.add_vline(x=0, line_color="#8d99ae")
    reference = decompositions[0].reference if decompositions else ""
    apply_layout(
        fig, x_title=f"accuracy change against {reference} (points)", y_title=None,
        height=max(260, 80 + 40 * len(splits)),
    )  # fmt: skip
    fig.update_yaxes(autorange="reversed")
    return fig


def decomposition_cohort_figure(decomposition) -> go.Figure:
    """Per cohort, its mix term and its inside-cohort term with 95% intervals (they add up to
    the split's change)."""
    d = decomposition
    fig = go.Figure()
    for name, values, lows, highs, color in (
        ("inside the cohort", d.cohort_performance, d.cohort_performance_low,
         d.cohort_performance_high, BAD),
        ("its share (mix)", d.cohort_mix, d.cohort_mix_low, d.cohort_mix_high, "#f4a261"),
    ):  # fmt: skip
        v = _pts(values)
        fig.add_trace(
            go.Bar(
                x=[_short(c) for c in d.cohorts], y=v, name=name, marker_color=color,
                error_y={"type": "data", "symmetric": False, "array": _pts(highs) - v,
                         "arrayminus": v - _pts(lows), "thickness": 1.2},
                hovertemplate="%{x}: %{y:+.2f} pts<extra>" + name + "</extra>",
            )
        )  # fmt: skip
    fig.add_hline(y=0, line_color="#8d99ae")
    apply_layout(
        fig, x_title=" × ".join(d.columns),
        y_title=f"points of {d.split}'s change vs {d.reference}", height=380,
    )  # fmt: skip
    fig.update_layout(barmode="group")
    return fig


def slices_figure(search, *, reference: str | None = None, top: int = 10) -> go.Figure:
    """The best slices' error with 95% intervals against the split's error; with ``reference``,
    the same slice's error on that split as a hollow marker."""
    chosen = list(search.slices[:top])
    names = [f"{rank}. {_short(s.name, 60)}" for rank, s in enumerate(chosen, start=1)]
    error = _pts([s.error for s in chosen])
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            y=names, x=error, mode="markers", name=f"on {search.split}",
            marker={"color": BAD, "size": 10},
            error_x={"type": "data", "symmetric": False,
                     "array": _pts([s.high for s in chosen]) - error,
                     "arrayminus": error - _pts([s.low for s in chosen]), "thickness": 1.3},
            customdata=np.array([[s.n, s.p_adjusted] for s in chosen]).reshape(-1, 2),
            hovertemplate="%{y}<br>error %{x:.1f}%<br>n = %{customdata[0]}"
            "<br>adjusted p = %{customdata[1]:.3g}<extra></extra>",
        )
    )  # fmt: skip
    if reference is not None:
        other = [s.by_split.get(reference) for s in chosen]
        fig.add_trace(
            go.Scatter(
                y=names, x=[100 * o.error if o is not None and o.n else None for o in other],
                mode="markers", name=f"same slice on {reference}",
                marker={"color": GOOD, "size": 10, "symbol": "circle-open", "line": {"width": 2}},
                hovertemplate="%{y}<br>on " + reference + ": %{x:.1f}%<extra></extra>",
            )
        )  # fmt: skip
    fig.add_vline(
        x=100 * search.error, line_dash="dash", line_color="#1d2433",
        annotation_text=f"{search.split} overall", annotation_position="top",
    )  # fmt: skip
    apply_layout(fig, x_title="error rate (%)", height=max(300, 90 + 36 * len(chosen)))
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(margin={"l": 20})
    return fig


def confusion_figure(confusions, split: str, *, normalised: bool = True) -> go.Figure:
    """The confusion matrix of ``split`` (row-normalised in %, or counts)."""
    i = confusions.splits.index(split)
    counts = confusions.counts[i]
    z = 100 * confusions.rates()[i] if normalised else counts
    classes = list(confusions.classes)
    fig = go.Figure(
        go.Heatmap(
            z=z, x=classes, y=classes, colorscale="Blues", customdata=counts,
            text=np.vectorize(lambda v: f"{v:.0f}")(np.nan_to_num(z)), texttemplate="%{text}",
            colorbar={"title": {"text": "% of row" if normalised else "count"}},
            hovertemplate="true %{y} → predicted %{x}<br>%{z:.1f}<br>count %{customdata}"
            "<extra></extra>",
        )
    )  # fmt: skip
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(type="category")
    apply_layout(fig, x_title="predicted class", y_title="true class", height=440)
    return fig


def confusion_change_figure(confusions, split: str) -> go.Figure:
    """Change of each confusion rate on ``split`` against the reference, in points (the
    diagonal is the change in recall)."""
    i = confusions.splits.index(split)
    z = 100 * confusions.change[i]
    limit = float(np.nanmax(np.abs(z))) if np.any(np.isfinite(z)) else 1.0
    classes = list(confusions.classes)
    fig = go.Figure(
        go.Heatmap(
            z=z, x=classes, y=classes, zmin=-limit, zmax=limit, colorscale="RdBu_r",
            text=np.vectorize(lambda v: f"{v:+.0f}")(np.nan_to_num(z)), texttemplate="%{text}",
            colorbar={"title": {"text": "change (pts)"}},
            hovertemplate="true %{y} → predicted %{x}<br>%{z:+.1f} pts<extra></extra>",
        )
    )  # fmt: skip
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(type="category")
    apply_layout(fig, x_title="predicted class", y_title="true class", height=440)
    return fig


def over_time_figure(over_time, *, splits: Sequence[str], colors: Mapping[str, str]) -> go.Figure:
    """Accuracy per time window of each split with 95% intervals and counts; the reference
    split's accuracy as a band; a dotted line where a significant change began."""
    table = over_time.table
    fig = go.Figure()
    r = table.split_index(table.reference)
    fig.add_hrect(
        y0=100 * table.split_low[r], y1=100 * table.split_high[r], fillcolor=GOOD, opacity=0.15,
        line_width=0, annotation_text=f"{table.reference} (95% CI)",
        annotation_position="bottom left",
    )  # fmt: skip
    for split in splits:
        i = table.split_index(split)
        ok = table.n[i] > 0
        value = 100 * table.value[i, ok]
        fig.add_trace(
            go.Scatter(
                x=[table.cohorts[k] for k in np.flatnonzero(ok)], y=value,
                mode="lines+markers", name=split, line={"color": colors.get(split, NEUTRAL)},
                error_y={"type": "data", "symmetric": False,
                         "array": 100 * table.high[i, ok] - value,
                         "arrayminus": value - 100 * table.low[i, ok], "thickness": 1.0},
                customdata=table.n[i, ok],
                hovertemplate=f"{split} · %{{x}}<br>%{{y:.1f}}%<br>n = %{{customdata}}"
                "<extra></extra>",
            )
        )  # fmt: skip
    for change in over_time.changes:
        if change.split in splits and min(change.p_adjusted, change.trend_p_adjusted) < 0.05:
            color = colors.get(change.split, NEUTRAL)
            fig.add_vline(x=change.window, line_dash="dot", line_color=color)
            fig.add_annotation(
                x=change.window, y=1.0, yref="paper", text=f"{change.split}: change",
                showarrow=False, xanchor="left", yanchor="bottom", font={"color": color},
            )  # fmt: skip
    apply_layout(fig, x_title=f"{over_time.column} window", y_title="accuracy (%)", height=420)
    fig.update_xaxes(type="category")
    return fig


def recall_gap_figure(fairness, classes: Sequence[str]) -> go.Figure:
    """Per class, the largest recall difference between two cohorts with its 95% interval."""
    gap = _pts(fairness.recall_gap)
    fig = go.Figure(
        go.Bar(
            x=list(classes), y=gap, marker_color="#6a4c93",
            error_y={"type": "data", "symmetric": False,
                     "array": _pts(fairness.recall_high) - gap,
                     "arrayminus": gap - _pts(fairness.recall_low), "thickness": 1.2},
            customdata=np.array([fairness.recall_best, fairness.recall_worst]).T,
            hovertemplate="class %{x}: %{y:.1f} pts<br>best %{customdata[0]}, worst "
            "%{customdata[1]}<extra></extra>",
        )
    )  # fmt: skip
    fig.update_xaxes(type="category")
    apply_layout(
        fig, x_title="class", y_title=f"recall gap across cohorts on {fairness.split} (pts)",
        height=360,
    )  # fmt: skip
    return fig
