"""HTML pieces the views' report sections share: a figure with its takeaway, findings as
coloured boxes, a table. Every user string is escaped."""

from __future__ import annotations

import html

import pandas as pd
import plotly.graph_objects as go

from gengap_dash.findings.model import Finding
from gengap_dash.findings.render import render


def figure_block(figure: go.Figure, *, takeaway: str, shows: str) -> str:
    """A figure, what to take from it and what it shows (the report loads plotly.js once)."""
    chart = figure.to_html(full_html=False, include_plotlyjs=False)
    return (
        f"<div class='figure'>{chart}<p class='takeaway'>{html.escape(takeaway)}</p>"
        f"<p class='caption'>{html.escape(shows)}</p></div>"
    )


def findings_block(findings: list[Finding]) -> str:
    """Findings as coloured boxes, most severe first as given."""
    return "".join(
        f"<div class='verdict {html.escape(finding.severity)}'>{html.escape(render(finding))}</div>"
        for finding in findings
    )


def table_block(frame: pd.DataFrame, *, caption: str = "") -> str:
    """A table (cells escaped) with an optional caption."""
    table = frame.to_html(index=False, escape=True, border=0, na_rep="")
    note = f"<p class='caption'>{html.escape(caption)}</p>" if caption else ""
    return f"<div class='table'>{table}</div>{note}"


def paragraph(text: str, *, css: str = "") -> str:
    klass = f" class='{html.escape(css)}'" if css else ""
    return f"<p{klass}>{html.escape(text)}</p>"
