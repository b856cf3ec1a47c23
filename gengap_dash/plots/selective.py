"""Selective-prediction figures: risk-coverage curves per split. Takes results of
``gengap_dash.analysis.calibration.selective`` and returns a ``plotly.graph_objects.Figure``;
computes no metric."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go

from gengap_dash.analysis.calibration.selective import DEFAULT_COVERAGE, RiskCoverage
from gengap_dash.plots.style import NEUTRAL, apply_layout, split_colors


def risk_coverage_chart(
    curves: Mapping[str, RiskCoverage],
    *,
    colors: Mapping[str, str] | None = None,
    coverage: float | None = DEFAULT_COVERAGE,
    title: str = "Risk-coverage: error rate when abstaining on the least confident samples",
) -> go.Figure:
    """Risk-coverage curves, one per split, with the AURC in the legend.

    Reading it: at coverage 90% the model answers its 90% most confident samples and abstains on
    the rest; the curve's height there is the error rate among the answered ones.

    Args:
        curves: split -> curve (``selective.risk_coverage_curve``), in project order.
        colors: split -> colour (``plots.style.split_colors(roles)``).
        coverage: where to draw a vertical reference line (``None``: none).
    """
    if not curves:
        raise ValueError("Expected `curves` for at least one split, but got none.")
    if colors is None:
        colors = split_colors(dict.fromkeys(curves, "other"))
    missing = [split for split in curves if split not in colors]
    if missing:
        raise ValueError(f"Expected a colour for every split, but got none for {missing}.")
    fig = go.Figure()
    for split, curve in curves.items():
        fig.add_trace(
            go.Scatter(
                x=curve.coverage,
                y=curve.risk,
                mode="lines",
                name=f"{split} (AURC {100.0 * curve.aurc:.1f}%)",
                line={"color": colors[split], "width": 2},
                customdata=np.column_stack([curve.threshold]),
                hovertemplate=(
                    f"<b>{split}</b><br>answering the %{{x:.1%}} most confident<br>"
                    "(confidence ≥ %{customdata[0]:.3f})<br>error rate: %{y:.1%}<extra></extra>"
                ),
            )
        )
    if coverage is not None:
        fig.add_vline(
            x=coverage,
            line={"color": NEUTRAL, "dash": "dot"},
            annotation_text=f"{100.0 * coverage:.0f}% coverage",
            annotation_position="top left",
        )
    apply_layout(
        fig,
        title=title,
        x_title="Coverage: share of samples answered (%)",
        y_title="Error rate among answered samples (%)",
        height=440,
    )
    fig.update_layout(
        legend={"orientation": "v", "x": 1.02, "xanchor": "left", "y": 1.0, "yanchor": "top"},
        margin={"r": 200},
    )
    fig.update_xaxes(range=[0.0, 1.0], tickformat=".0%")
    fig.update_yaxes(tickformat=".0%", rangemode="tozero")
    return fig
