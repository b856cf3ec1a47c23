"""Figures of the saliency view. Maps are drawn as heatmaps, one cell per input pixel (nearest
neighbour: an 8x8 digit stays 8x8 blocks), on one colour scale per figure: absolute maps from 0
(transparent) to the figure's largest value, signed maps on a diverging scale centred at 0."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from gengap_dash.analysis.attribution.findings import (
    METHOD_NAMES,
    SANITY_FAIL_SIMILARITY,
)
from gengap_dash.analysis.attribution.results import ExampleMaps, SaliencyShift
from gengap_dash.plots.style import BAD, NEUTRAL, apply_layout

ABSOLUTE_SCALE = [
    [0.0, "rgba(255,255,204,0.0)"],
    [0.15, "rgba(254,217,118,0.45)"],
    [0.5, "rgba(253,141,60,0.8)"],
    [1.0, "rgba(189,0,38,0.95)"],
]
SIGNED_SCALE = [
    [0.0, "rgba(33,102,172,0.95)"],
    [0.35, "rgba(103,169,207,0.6)"],
    [0.5, "rgba(247,247,247,0.0)"],
    [0.65, "rgba(239,138,98,0.6)"],
    [1.0, "rgba(178,24,43,0.95)"],
]
METHOD_COLORS = {
    "saliency": "#1f5fa8",
    "integrated_gradients": "#2a9d8f",
    "smoothgrad": "#6a4c93",
    "gradcam": "#e76f51",
    "occlusion": "#bc6c25",
    "feature_ablation": "#c9184a",
}


def _name(method: str) -> str:
    return METHOD_NAMES.get(method, method)


def _image_trace(image: np.ndarray, *, show_scale: bool = False) -> go.Heatmap:
    return go.Heatmap(
        z=np.asarray(image, dtype=np.float64)[::-1],
        colorscale="Greys",
        showscale=show_scale,
        hoverinfo="skip",
        zsmooth=False,
    )


def _map_trace(
    values: np.ndarray,
    *,
    signed: bool,
    limit: float,
    show_scale: bool,
    name: str,
    scale_x: float = 1.02,
) -> go.Heatmap:
    values = np.asarray(values, dtype=np.float64)[::-1]
    return go.Heatmap(
        z=values,
        zmin=-limit if signed else 0.0,
        zmax=limit,
        colorscale=SIGNED_SCALE if signed else ABSOLUTE_SCALE,
        showscale=show_scale,
        zsmooth=False,
        name=name,
        colorbar={
            "title": {"text": "signed" if signed else "absolute", "side": "right"},
            "x": scale_x,
            "len": 0.9,
            "thickness": 12,
        },
        hovertemplate="row %{y}, column %{x}: %{z:.3g}<extra>" + name + "</extra>",
    )


def _limit(maps: Sequence[np.ndarray]) -> float:
    largest = max((float(np.nanmax(np.abs(m))) for m in maps if np.size(m)), default=0.0)
    return largest if largest > 0 else 1.0


def _square_axes(fig: go.Figure, rows: int, cols: int) -> None:
    for r in range(1, rows + 1):
        for c in range(1, cols + 1):
            fig.update_xaxes(
                showticklabels=False,
                showgrid=False,
                showline=False,
                constrain="domain",
                row=r,
                col=c,
            )
            fig.update_yaxes(
                showticklabels=False,
                showgrid=False,
                showline=False,
                scaleanchor=fig.get_subplot(r, c).xaxis.plotly_name.replace("axis", ""),
                row=r,
                col=c,
            )


def sample_methods_figure(
    image: np.ndarray,
    maps: Mapping[str, np.ndarray],
    signed: Mapping[str, bool],
    *,
    title: str = "",
) -> go.Figure:
    """One sample, every method: the input, then each method's map overlaid on it.

    Args:
        image: ``(H, W)`` the input (channels summed).
        maps: method -> ``(H, W)`` map (channels summed).
        signed: method -> whether its map carries a sign. Absolute maps share one scale, signed
            maps another (each scaled to its own largest magnitude, which the hover shows).
    """
    methods = list(maps)
    fig = make_subplots(
        rows=1,
        cols=len(methods) + 1,
        horizontal_spacing=0.025,
        subplot_titles=[
            "input",
            *[
                _name(m).replace(" ", "<br>", 1) + ("<br>(signed)" if signed[m] else "")
                for m in methods
            ],
        ],
    )
    fig.add_trace(_image_trace(image), row=1, col=1)
    shown_abs = shown_signed = False
    for col, method in enumerate(methods, start=2):
        fig.add_trace(_image_trace(image), row=1, col=col)
        is_signed = bool(signed[method])
        show = (is_signed and not shown_signed) or (not is_signed and not shown_abs)
        fig.add_trace(
            _map_trace(
                maps[method] / _limit([maps[method]]),
                signed=is_signed,
                limit=1.0,
                show_scale=show,
                name=_name(method),
                scale_x=1.01 if not is_signed else 1.08,
            ),
            row=1,
            col=col,
        )
        shown_signed |= is_signed
        shown_abs |= not is_signed
    _square_axes(fig, 1, len(methods) + 1)
    apply_layout(fig, title=title or None, height=360)
    fig.update_layout(margin={"l": 10, "r": 130, "t": 100 if title else 70, "b": 10})
    fig.update_annotations(font_size=12)
    return fig


def map_grid_figure(
    images: np.ndarray,
    maps: np.ndarray,
    titles: Sequence[str],
    *,
    signed: bool,
    columns: int = 8,
) -> go.Figure:
    """One method, many samples: each map overlaid on its input, on one colour scale.

    Args:
        images: ``(n, H, W)`` inputs; maps: ``(n, H, W)``; titles: one per sample.
    """
    n = len(images)
    columns = max(1, min(columns, n))
    rows = int(np.ceil(n / columns))
    fig = make_subplots(
        rows=rows,
        cols=columns,
        horizontal_spacing=0.01,
        vertical_spacing=0.08 / max(1, rows) + 0.03,
        subplot_titles=list(titles),
    )
    limit = _limit(list(maps))
    for k in range(n):
        r, c = k // columns + 1, k % columns + 1
        fig.add_trace(_image_trace(images[k]), row=r, col=c)
        fig.add_trace(
            _map_trace(maps[k], signed=signed, limit=limit, show_scale=k == 0, name=titles[k]),
            row=r,
            col=c,
        )
    _square_axes(fig, rows, columns)
    apply_layout(fig, height=40 + 170 * rows)
    fig.update_layout(margin={"l": 10, "r": 80, "t": 40, "b": 10})
    fig.update_annotations(font_size=11)
    return fig


def example_grid_figure(example: ExampleMaps) -> go.Figure:
    """A few samples of a split: input, the paired clean sample's map (if any) and the map."""
    n = len(example.sample_ids)
    rows = 3 if example.paired_maps is not None else 2
    labels = ["input", "clean map", "map here"] if rows == 3 else ["input", "map"]
    titles = []
    for r in range(rows):
        for k in range(n):
            titles.append(f"{example.sample_ids[k]}" if r == 0 else labels[r])
    fig = make_subplots(
        rows=rows, cols=n, subplot_titles=titles, horizontal_spacing=0.02, vertical_spacing=0.06
    )
    limit = _limit([example.maps] + ([example.paired_maps] if rows == 3 else []))
    for k in range(n):
        fig.add_trace(_image_trace(example.images[k]), row=1, col=k + 1)
        if rows == 3:
            fig.add_trace(
                _map_trace(
                    example.paired_maps[k],
                    signed=False,
                    limit=limit,
                    show_scale=False,
                    name="clean",
                ),
                row=2,
                col=k + 1,
            )
        fig.add_trace(
            _map_trace(
                np.abs(example.maps[k]),
                signed=False,
                limit=limit,
                show_scale=k == 0,
                name=example.split,
            ),
            row=rows,
            col=k + 1,
        )
    _square_axes(fig, rows, n)
    apply_layout(fig, title=f"{_name(example.method)} on {example.split}", height=130 * rows + 80)
    fig.update_annotations(font_size=11)
    return fig


def shift_overlap_figure(result: SaliencyShift) -> go.Figure:
    """Top-k overlap of shifted and clean maps per split (bars, 95% intervals), one colour per
    method, and the range of the methods' noise floors (grey band)."""
    fig = go.Figure()
    for method in result.methods:
        items = [p for p in result.pairs if p.method == method]
        if not items:
            continue
        values = np.array([p.topk_overlap.value for p in items])
        fig.add_trace(
            go.Bar(
                x=[p.split for p in items],
                y=values,
                name=_name(method),
                marker_color=METHOD_COLORS.get(method, NEUTRAL),
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": [p.topk_overlap.high - p.topk_overlap.value for p in items],
                    "arrayminus": [p.topk_overlap.value - p.topk_overlap.low for p in items],
                },
                hovertemplate="%{x}: %{y:.0%}<extra>" + _name(method) + "</extra>",
            )
        )
    apply_layout(
        fig,
        x_title="shifted split",
        y_title=f"top-{round(100 * result.top_k)}% overlap with the clean map",
        height=420,
    )
    floors = [f.topk_overlap.value for f in result.noise_floor if np.isfinite(f.topk_overlap.value)]
    if floors:
        fig.add_hrect(
            y0=min(floors) - 0.005,
            y1=max(floors) + 0.005,
            fillcolor=NEUTRAL,
            opacity=0.35,
            line_width=0,
            annotation_text="between two clean runs (noise floor)",
            annotation_position="bottom left",
        )
    fig.update_layout(barmode="group")
    fig.update_yaxes(tickformat=".0%", range=[0, 1.05])
    return fig


def group_overlap_figure(result: SaliencyShift, method: str) -> go.Figure:
    """Top-k overlap by group (e.g. severity) for each paired split, for one method."""
    fig = go.Figure()
    for pair in (p for p in result.pairs if p.method == method):
        if not pair.groups:
            continue
        fig.add_trace(
            go.Scatter(
                x=[g.group for g in pair.groups],
                y=[g.topk_overlap.value for g in pair.groups],
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": [g.topk_overlap.high - g.topk_overlap.value for g in pair.groups],
                    "arrayminus": [g.topk_overlap.value - g.topk_overlap.low for g in pair.groups],
                },
                mode="lines+markers",
                name=pair.split,
            )
        )
    floor = result.floor(method)
    if floor is not None:
        fig.add_hline(
            y=floor.topk_overlap.value,
            line_dash="dash",
            line_color=NEUTRAL,
            annotation_text="clean runs",
            annotation_position="top left",
        )
    column = next((p.group_column for p in result.pairs if p.group_column), "group")
    apply_layout(
        fig,
        x_title=column,
        y_title=f"top-{round(100 * result.top_k)}% overlap ({_name(method)})",
        height=380,
    )
    fig.update_yaxes(tickformat=".0%", range=[0, 1.05])
    fig.update_xaxes(type="category")
    return fig


def sanity_figure(result: SaliencyShift) -> go.Figure:
    """Similarity of each method's maps to the trained model's as layers are randomized from the
    top; methods above the dashed threshold at the last step fail."""
    fig = go.Figure()
    for check in result.sanity:
        fig.add_trace(
            go.Scatter(
                x=list(check.steps),
                y=[s.value for s in check.similarity],
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": [s.high - s.value for s in check.similarity],
                    "arrayminus": [s.value - s.low for s in check.similarity],
                },
                mode="lines+markers",
                name=_name(check.method),
                line={"color": METHOD_COLORS.get(check.method, NEUTRAL)},
            )
        )
    fig.add_hline(
        y=SANITY_FAIL_SIMILARITY,
        line_dash="dash",
        line_color=BAD,
        annotation_text="fails above",
        annotation_position="top left",
    )
    apply_layout(
        fig,
        x_title="top layers randomized (of the model's parametric layers)",
        y_title="rank correlation with the trained model's maps",
        height=400,
    )
    fig.update_yaxes(range=[-0.2, 1.05])
    fig.update_xaxes(dtick=1)
    return fig


def deletion_figure(result: SaliencyShift, split: str) -> go.Figure:
    """Deletion curves on ``split``: the probability of the explained class as each method's
    most-attributed pixels are removed, and a random order (dashed)."""
    fig = go.Figure()
    random_shown = False
    for method in result.methods:
        item = result.deletion_of(split, method)
        if item is None:
            continue
        fig.add_trace(
            go.Scatter(
                x=item.fractions,
                y=item.mean_curve,
                mode="lines+markers",
                name=f"{_name(method)} (AUC {item.auc.value:.2f})",
                line={"color": METHOD_COLORS.get(method, NEUTRAL)},
            )
        )
        if not random_shown:
            fig.add_trace(
                go.Scatter(
                    x=item.fractions,
                    y=item.random_curve,
                    mode="lines",
                    name=f"random order (AUC {item.random_auc.value:.2f})",
                    line={"color": NEUTRAL, "dash": "dash"},
                )
            )
            random_shown = True
    unit = "features" if result.kind == "tabular" else "pixels"
    apply_layout(
        fig,
        x_title=f"share of the most-attributed {unit} removed",
        y_title="probability of the explained class",
        height=400,
    )
    fig.update_xaxes(tickformat=".0%")
    fig.update_yaxes(range=[0, 1.02])
    return fig


def class_average_figure(
    result: SaliencyShift, split: str, method: str, class_names: Sequence[str]
) -> go.Figure:
    """Class-average |attribution| maps: the reference's (top row) and ``split``'s (bottom)."""
    height, width = result.image_shape[-2:]
    reference = result.class_maps[f"{result.reference}|{method}"]
    here = result.class_maps[f"{split}|{method}"]
    k = reference.shape[0]
    titles = [*class_names[:k], *[""] * k]
    fig = make_subplots(
        rows=2,
        cols=k,
        subplot_titles=titles,
        horizontal_spacing=0.01,
        vertical_spacing=0.05,
        row_titles=[result.reference, split],
    )
    limit = _limit([np.nan_to_num(reference), np.nan_to_num(here)])
    for row, maps in enumerate((reference, here), start=1):
        for c in range(k):
            fig.add_trace(
                _map_trace(
                    np.nan_to_num(maps[c]).reshape(height, width),
                    signed=False,
                    limit=limit,
                    show_scale=row == 1 and c == 0,
                    name=f"class {class_names[c]}",
                ),
                row=row,
                col=c + 1,
            )
    _square_axes(fig, 2, k)
    apply_layout(fig, height=300)
    fig.update_layout(plot_bgcolor="white", margin={"l": 10, "r": 90, "t": 40, "b": 10})
    return fig


def feature_importance_figure(result: SaliencyShift, method: str) -> go.Figure:
    """Mean |attribution| per feature on each split (horizontal bars, features sorted by the
    reference's importance)."""
    items = [f for f in result.features if f.method == method]
    reference = next(f for f in items if f.split == result.reference)
    order = np.argsort(reference.importance)
    names = [result.feature_names[i] for i in order]
    fig = go.Figure()
    for item in items:
        fig.add_trace(
            go.Bar(
                y=names,
                x=item.importance[order],
                orientation="h",
                name=item.split,
                hovertemplate="%{y}: %{x:.3g}<extra>" + item.split + "</extra>",
            )
        )
    apply_layout(fig, x_title=f"mean |attribution| ({_name(method)})", height=120 + 28 * len(names))
    fig.update_layout(barmode="group")
    return fig


def feature_strip_figure(result: SaliencyShift, split: str, method: str) -> go.Figure:
    """Per feature, each sample's attribution (x) coloured by the feature's value (standardised
    within the feature)."""
    item = next(f for f in result.features if f.split == split and f.method == method)
    order = np.argsort(item.importance)
    rng = np.random.default_rng(0)
    xs, ys, colors, texts = [], [], [], []
    for rank, feature in enumerate(order):
        values = item.values[:, feature]
        spread = values.std() or 1.0
        xs.append(item.attributions[:, feature])
        ys.append(rank + rng.uniform(-0.25, 0.25, len(values)))
        colors.append((values - values.mean()) / spread)
        texts.append(values)
    fig = go.Figure(
        go.Scatter(
            x=np.concatenate(xs),
            y=np.concatenate(ys),
            mode="markers",
            marker={
                "color": np.clip(np.concatenate(colors), -2.5, 2.5),
                "colorscale": "RdBu_r",
                "size": 6,
                "opacity": 0.75,
                "colorbar": {"title": {"text": "feature value (z)"}, "thickness": 12},
            },
            customdata=np.concatenate(texts),
            hovertemplate="attribution %{x:.3g}, value %{customdata:.3g}<extra></extra>",
        )
    )
    apply_layout(
        fig, x_title=f"attribution ({_name(method)}, signed)", height=120 + 28 * len(order)
    )
    fig.update_yaxes(
        tickvals=list(range(len(order))), ticktext=[result.feature_names[i] for i in order]
    )
    fig.add_vline(x=0, line_color="#c5cad3")
    return fig
