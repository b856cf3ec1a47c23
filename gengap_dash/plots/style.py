"""One look for every figure: split colours and the shared layout."""

from __future__ import annotations

from collections.abc import Mapping

import plotly.graph_objects as go
import plotly.io as pio

SPLIT_ROLE_COLORS: dict[str, str] = {
    "train": "#1f5fa8",
    "validation": "#2a9d8f",
    "test": "#6a4c93",
    "shifted": "#e76f51",
    "deployment": "#c9184a",
}
"""The base colour of each split role."""

EXTRA_COLORS: tuple[str, ...] = (
    "#8338ec",  # violet
    "#b5838d",  # mauve
    "#b5179e",  # magenta
    "#264653",  # dark slate
    "#6a994e",  # olive green
    "#d00000",  # red
    "#c77dff",  # lilac
)
"""Colours for every split after the first of its role, in order. With the five role colours
they make 12 colours whose every pair differs by at least 23 CIELAB units and whose lightness
stays at most 65 (legible as text on white; tested), so that even twelve splits (for example six
shifted sets) stay apart in every chart and every coloured label."""

NEUTRAL = "#8d99ae"
GOOD = "#2a9d8f"
BAD = "#d62828"
FONT_FAMILY = "Inter, Segoe UI, Helvetica Neue, Arial, sans-serif"


def split_colors(split_roles: Mapping[str, str]) -> dict[str, str]:
    """A colour per split, the same on every page for a project.

    The first split of each role gets its role's colour (:data:`SPLIT_ROLE_COLORS`); every
    further split, whatever its role, the next colour of :data:`EXTRA_COLORS`, so no two of the
    first 12 splits share a colour or get two shades of one hue. Beyond 12 the colours repeat.

    Args:
        split_roles: split name -> role, in project order (pass the whole project's roles, not
            the splits shown, so that a split keeps its colour when others are hidden).
    """
    colors: dict[str, str] = {}
    seen_roles: set[str] = set()
    extra = 0
    for name, role in split_roles.items():
        if role not in seen_roles and role in SPLIT_ROLE_COLORS:
            colors[name] = SPLIT_ROLE_COLORS[role]
        else:
            colors[name] = (*EXTRA_COLORS, *_PALETTE)[extra % (len(EXTRA_COLORS) + len(_PALETTE))]
            extra += 1
        seen_roles.add(role)
    return colors


_PALETTE: tuple[str, ...] = (*SPLIT_ROLE_COLORS.values(), *EXTRA_COLORS)


_TRACE_DEFAULTS = ("scatter", "scattergl", "bar", "histogram", "histogram2d", "heatmap")


def _house_template() -> go.layout.Template:
    """plotly_white's layout and its defaults for the trace types this project draws.

    The full template also carries defaults for some twenty other trace types; assigning it
    deep-copies all of them into every figure, which made up a third of the time to build a
    page's figures at a million predictions. The look is the same.
    """
    white = pio.templates["plotly_white"]
    defaults = white.data.to_plotly_json()
    return go.layout.Template(
        layout=white.layout,
        data={name: defaults[name] for name in _TRACE_DEFAULTS if name in defaults},
    )


HOUSE_TEMPLATE = _house_template()
"""The template of every figure (see :func:`apply_layout`)."""


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
        template=HOUSE_TEMPLATE,
        title={"text": title, "x": 0.0, "xanchor": "left", "font": {"size": 16}} if title else None,
        font={"family": FONT_FAMILY, "size": 13, "color": "#1d2433"},
        height=height,
        margin={"l": 60, "r": 24, "t": 64 if title else 28, "b": 56},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "right", "x": 1.0},
        hoverlabel={"font": {"family": FONT_FAMILY}},
    )
    axes = {"showline": True, "linecolor": "#c5cad3", "gridcolor": "#eef0f4", "zeroline": False}
    fig.update_xaxes(**axes, **({"title_text": x_title} if x_title is not None else {}))
    fig.update_yaxes(**axes, **({"title_text": y_title} if y_title is not None else {}))
    return fig
