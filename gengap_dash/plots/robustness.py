"""Figures of the robustness view: accuracy and ECE against severity, corruption errors, the
per-feature sensitivity and the bridge to real shift. Figures take results; they compute no
metric."""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from gengap_dash.analysis.robustness.bridge import CLEAN, Bridge
from gengap_dash.analysis.robustness.curves import FeatureSensitivity, SweepCurves
from gengap_dash.findings.robustness import condition_name, corruption_title
from gengap_dash.plots.style import BAD, GOOD, NEUTRAL, SPLIT_ROLE_COLORS, apply_layout

ACCURACY_COLOR = SPLIT_ROLE_COLORS["train"]
ECE_COLOR = "#e76f51"
PERTURBATION_COLORS = ("#1f5fa8", "#e76f51", "#6a994e")


def _band(color: str, alpha: float = 0.18) -> str:
    red, green, blue = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red},{green},{blue},{alpha})"


def severity_curves_figure(curves: SweepCurves, *, columns: int = 3) -> go.Figure:
    """One small panel per corruption: accuracy (solid) and ECE (dotted) in % against severity
    0 (clean) to 5, with their 95% intervals as bands."""
    names = list(dict.fromkeys(curves.curves["corruption"]))
    columns = max(1, min(columns, len(names)))
    rows = math.ceil(len(names) / columns)
    fig = make_subplots(
        rows=rows,
        cols=columns,
        subplot_titles=[corruption_title(name) for name in names],
        shared_yaxes=True,
        horizontal_spacing=0.05,
        vertical_spacing=0.12 if rows > 1 else 0.1,
    )
    clean_accuracy, clean_ece = curves.clean_accuracy, curves.clean_ece
    for index, name in enumerate(names):
        row, col = index // columns + 1, index % columns + 1
        part = curves.curves[curves.curves["corruption"] == name].sort_values("severity")
        x = [0, *part["severity"].tolist()]
        for metric, color, dash, clean in (
            ("accuracy", ACCURACY_COLOR, "solid", clean_accuracy),
            ("ece", ECE_COLOR, "dot", clean_ece),
        ):
            value = 100 * np.array([clean.value, *part[metric]])
            low = 100 * np.array([clean.low, *part[f"{metric}_low"]])
            high = 100 * np.array([clean.high, *part[f"{metric}_high"]])
            label = "Accuracy" if metric == "accuracy" else "ECE"
            fig.add_trace(
                go.Scatter(
                    x=x + x[::-1],
                    y=np.concatenate([high, low[::-1]]),
                    mode="lines",
                    fill="toself",
                    fillcolor=_band(color),
                    line={"width": 0},
                    hoverinfo="skip",
                    showlegend=False,
                ),
                row=row,
                col=col,
            )
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=value,
                    mode="lines+markers",
                    name=label,
                    legendgroup=label,
                    showlegend=index == 0,
                    line={"color": color, "dash": dash, "width": 2},
                    marker={"size": 5, "color": color},
                    customdata=np.stack([low, high], axis=1),
                    hovertemplate=(
                        f"{corruption_title(name)}, severity %{{x}}<br>{label} %{{y:.1f}}% "
                        "(95% CI %{customdata[0]:.1f}–%{customdata[1]:.1f})<extra></extra>"
                    ),
                ),
                row=row,
                col=col,
            )
    fig.update_xaxes(tickvals=[0, 1, 2, 3, 4, 5], ticktext=["clean", "1", "2", "3", "4", "5"])
    fig.update_yaxes(range=[0, 101])
    for row in range(1, rows + 1):
        fig.update_yaxes(title_text="%", row=row, col=1)
    apply_layout(fig, height=max(320, 250 * rows + 40))
    fig.update_layout(
        margin={"t": 84},
        legend={"y": 1.0, "yref": "container", "yanchor": "top", "x": 1.0, "xanchor": "right"},
    )
    return fig


def corruption_error_figure(curves: SweepCurves) -> go.Figure:
    """Corruption error per corruption (mean error over severities / clean error) with its
    interval, largest at the top, and the mCE; a dashed line at 1 (no cost)."""
    errors = curves.errors.sort_values("corruption_error", kind="stable", na_position="first")
    finite = errors["corruption_error"].notna().any()
    column, low, high, axis = (
        ("corruption_error", "low", "high", "Corruption error (x the clean error)")
        if finite
        else ("accuracy_drop", "drop_low", "drop_high", "Mean accuracy drop (points)")
    )
    scale = 1.0 if finite else 100.0
    values = scale * errors[column].to_numpy(float)
    lows = scale * errors[low].to_numpy(float)
    highs = scale * errors[high].to_numpy(float)
    reference = 1.0 if finite else 0.0
    colors = [BAD if v > 2 * reference and finite else NEUTRAL for v in values]
    fig = go.Figure(
        go.Bar(
            x=values,
            y=[corruption_title(name) for name in errors["corruption"]],
            orientation="h",
            marker_color=colors,
            error_x={
                "type": "data",
                "symmetric": False,
                "array": np.maximum(highs - values, 0),
                "arrayminus": np.maximum(values - lows, 0),
                "color": "#1d2433",
            },
            customdata=np.stack([lows, highs], axis=1),
            hovertemplate="%{y}: %{x:.2f} (95% CI %{customdata[0]:.2f}–%{customdata[1]:.2f})"
            "<extra></extra>",
            showlegend=False,
        )
    )
    fig.add_vline(x=reference, line_dash="dash", line_color=GOOD)
    mce = curves.mean_corruption_error
    if finite and np.isfinite(mce.value):
        fig.add_vline(
            x=mce.value,
            line_dash="dot",
            line_color=BAD,
            annotation_text=f"mean {mce.value:.2f}",
            annotation_position="top",
        )
    apply_layout(fig, x_title=axis, height=max(260, 44 * len(errors) + 110))
    return fig


def sensitivity_figure(sensitivity: FeatureSensitivity, *, top: int = 15) -> go.Figure:
    """Accuracy drop (points) per feature, one bar per perturbation, for the ``top`` features
    whose worst perturbation costs the most."""
    table = sensitivity.table
    order = (
        table.groupby("feature", sort=False)["drop"].max().sort_values(ascending=False).head(top)
    )
    features = list(order.index)[::-1]
    fig = go.Figure()
    kinds = list(dict.fromkeys(table["perturbation"]))
    for index, kind in enumerate(kinds):
        part = table[table["perturbation"] == kind].set_index("feature").reindex(features)
        values = 100 * part["drop"].to_numpy(float)
        fig.add_trace(
            go.Bar(
                x=values,
                y=[str(f) for f in features],
                orientation="h",
                name=corruption_title(kind),
                marker_color=PERTURBATION_COLORS[index % len(PERTURBATION_COLORS)],
                error_x={
                    "type": "data",
                    "symmetric": False,
                    "array": np.maximum(100 * part["high"].to_numpy(float) - values, 0),
                    "arrayminus": np.maximum(values - 100 * part["low"].to_numpy(float), 0),
                },
                hovertemplate="%{y}: %{x:.1f} points<extra>" + corruption_title(kind) + "</extra>",
            )
        )
    fig.add_vline(x=0, line_color="#c5cad3")
    fig.update_layout(barmode="group")
    apply_layout(
        fig,
        x_title=f"Accuracy drop at severity {sensitivity.severity} (points)",
        height=max(300, 26 * len(features) * max(1, len(kinds)) // 2 + 140),
    )
    return fig


def bridge_figure(bridge: Bridge) -> go.Figure:
    """Heatmap: real splits (rows) x corruptions (columns); each cell the MMD² at the closest
    severity divided by the split's MMD² to clean data (0: identical, 1: no closer than clean),
    labelled with that severity; the closest cell of each row outlined."""
    distances = bridge.distances
    corrupted = distances[distances["corruption"] != CLEAN]
    names = list(dict.fromkeys(corrupted["corruption"]))
    splits = [match.split for match in bridge.matches]
    z = np.full((len(splits), len(names)), np.nan)
    text = np.full((len(splits), len(names)), "", dtype=object)
    hover = np.full((len(splits), len(names)), "", dtype=object)
    for i, match in enumerate(bridge.matches):
        rows = corrupted[corrupted["split"] == match.split]
        for j, name in enumerate(names):
            candidates = rows[rows["corruption"] == name]
            if not len(candidates):
                continue
            best = candidates.loc[candidates["mmd2"].idxmin()]
            # a split that MMD² cannot tell from clean data: every cell "no closer than clean"
            share = float(best["mmd2"]) / match.clean_mmd2 if match.clean_mmd2 > 0 else 1.0
            z[i, j] = share
            text[i, j] = f"s{int(best['severity'])}"
            hover[i, j] = (
                f"{match.split} vs {condition_name(name, int(best['severity']))}: MMD² "
                f"{float(best['mmd2']):.4f} ({share:.2f} of its MMD² to clean data, "
                f"{match.clean_mmd2:.4f})"
            )
    fig = go.Figure(
        go.Heatmap(
            z=np.clip(z, 0, 1.5),
            x=[corruption_title(name) for name in names],
            y=splits,
            text=text,
            texttemplate="%{text}",
            customdata=hover,
            hovertemplate="%{customdata}<extra></extra>",
            colorscale="Blues_r",
            zmin=0,
            zmax=1.5,
            colorbar={"title": {"text": "÷ MMD² to clean", "side": "right"}},
        )
    )
    for i, match in enumerate(bridge.matches):
        if match.corruption == CLEAN or match.corruption not in names:
            continue
        j = names.index(match.corruption)
        fig.add_shape(
            type="rect",
            x0=j - 0.5,
            x1=j + 0.5,
            y0=i - 0.5,
            y1=i + 0.5,
            line={"color": BAD, "width": 3},
        )
    apply_layout(fig, height=max(260, 56 * len(splits) + 150))
    fig.update_xaxes(showgrid=False, tickangle=-30)
    fig.update_yaxes(showgrid=False, autorange="reversed")
    return fig


def example_mosaic(examples: dict[str, list[np.ndarray]], *, cell: int = 64) -> np.ndarray:
    """One picture of a sample under every corruption: rows = corruptions, columns = severities
    0..5, each image enlarged (nearest neighbour) to about ``cell`` pixels, 2-px white gaps.

    Args:
        examples: corruption -> images ``(H, W)`` or ``(H, W, C)`` ``uint8``, one per severity.

    Returns:
        ``(rows * (cell + 2), columns * (cell + 2), 3)`` ``uint8`` RGB.
    """
    first = next(iter(examples.values()))[0]
    height, width = first.shape[:2]
    factor = max(1, cell // max(height, width))
    tile_h, tile_w = height * factor + 2, width * factor + 2
    columns = len(next(iter(examples.values())))
    mosaic = np.full((len(examples) * tile_h, columns * tile_w, 3), 255, dtype=np.uint8)
    for i, images in enumerate(examples.values()):
        for j, image in enumerate(images):
            rgb = image[..., None].repeat(3, axis=-1) if image.ndim == 2 else image[..., :3]
            if rgb.shape[-1] == 1:
                rgb = rgb.repeat(3, axis=-1)
            big = rgb.repeat(factor, axis=0).repeat(factor, axis=1)
            top, left = i * tile_h + 1, j * tile_w + 1
            mosaic[top : top + big.shape[0], left : left + big.shape[1]] = big
    return mosaic
