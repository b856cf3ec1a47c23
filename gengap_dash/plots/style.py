"""One look for every figure: split colours and the shared layout."""

from __future__ import annotations

from collections.abc import Mapping

import plotly.graph_objects as go

SPLIT_ROLE_COLORS: dict[str, str] = {
    "train": "#1f5fa8",
    "validation": "#2a9d8f",
    "test": "#6a4c93",
    "shifted": "#e76f51",
    "deployment": "#c9184a",
}
"""The base colour of each split role."""

_EXTRA_SHIFTED_COLORS = ("#e76f51", "#f4a261", "#d62828", "#bc6c25", "#9c6644", "#ff7f51")
_EXTRA_DEPLOYMENT_COLORS = ("#c9184a", "#ff4d6d", "#800f2f")
_EXTRA_OTHER_COLORS = ("#1f5fa8", "#4895ef", "#2a9d8f", "#6a4c93", "#3a0ca3")

NEUTRAL = "#8d99ae"
GOOD = "#2a9d8f"
BAD = "#d62828"
FONT_FAMILY = "Inter, Segoe UI, Helvetica Neue, Arial, sans-serif"


def split_colors(split_roles: Mapping[str, str]) -> dict[str, str]:
    """A colour per split, stable for a project: splits of one role get shades of the role's hue.

    Args:
        split_roles: split name -> role, in project order.
    """
    colors: dict[str, str] = {}
    used: dict[str, int] = {}
    for name, role in split_roles.items():
        index = used.get(role, 0)
        used[role] = index + 1
        if role == "shifted":
            palette = _EXTRA_SHIFTED_COLORS
        elif role == "deployment":
            palette = _EXTRA_DEPLOYMENT_COLORS
        elif index == 0:
            palette = (SPLIT_ROLE_COLORS.get(role, NEUTRAL),)
        else:
            palette = _EXTRA_OTHER_COLORS
        colors[name] = palette[index % len(palette)]
    return colors


def apply_layout(
    fig: go.Figure,
    *,
    title: str | None = None,
    x_title: str | None = None,
    y_title: str | None = None,
    height: int = 420,
) -> go.Figure:
    """Apply the house layout (white background, readable fonts, legend on top)."""
    fig.update_layout(
        template="plotly_white",
        title={"text": title, "x": 0.0, "xanchor": "left", "font": {"size": 16}} if title else None,
        font={"family": FONT_FAMILY, "size": 13, "color": "#1d2433"},
        height=height,
        margin={"l": 60, "r": 24, "t": 64 if title else 28, "b": 56},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "right", "x": 1.0},
        hoverlabel={"font": {"family": FONT_FAMILY}},
    )
    if x_title is not None:
        fig.update_xaxes(title_text=x_title)
    if y_title is not None:
        fig.update_yaxes(title_text=y_title)
    fig.update_xaxes(showline=True, linecolor="#c5cad3", gridcolor="#eef0f4", zeroline=False)
    fig.update_yaxes(showline=True, linecolor="#c5cad3", gridcolor="#eef0f4", zeroline=False)
    return fig
