"""A self-contained HTML report built from the same analysis and figure functions as the pages.

Every user string (project, split and column names) is escaped; plotly.js is embedded once, so
the file opens offline.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import datetime, timezone

import plotly.graph_objects as go

from gengap_dash.analysis.scorecard import (
    compute_scorecard,
    gap_chart_takeaway,
    metric_chart_takeaway,
)
from gengap_dash.findings.tables import scorecard_table
from gengap_dash.plots.scorecard import gap_figure, metric_by_split_figure
from gengap_dash.plots.style import split_colors
from gengap_dash.workspace import Workspace

ReportSection = Callable[[Workspace], str]
"""A function that renders one more section (a view's own) as HTML."""

_STYLE = """
body{font-family:Inter,Segoe UI,Helvetica Neue,Arial,sans-serif;color:#1d2433;max-width:1180px;
margin:32px auto;padding:0 24px;line-height:1.5}
h1{margin-bottom:4px}h2{margin-top:40px;border-bottom:1px solid #e2e6ee;padding-bottom:6px}
.lead{color:#4a5568;font-style:italic}.takeaway{font-weight:600}.caption{color:#6b7280;font-size:.9em}
.verdict{padding:10px 14px;border-radius:8px;margin:6px 0}
.critical{background:#fdecec}.warning{background:#fff6e0}.ok{background:#e8f6f1}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:24px}
table{border-collapse:collapse;font-size:.88em;width:100%}
th,td{border-bottom:1px solid #e2e6ee;padding:6px 8px;text-align:left}th{background:#f4f6fa}
"""


def build_report(
    workspace: Workspace,
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    extra_sections: tuple[ReportSection, ...] = (),
) -> str:
    """The report as one HTML document."""
    scorecard = compute_scorecard(workspace.split_data(), n_resamples=n_resamples, seed=seed)
    colors = split_colors(workspace.split_roles)
    escape = html.escape
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>gengap-dash report: {escape(workspace.name)}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>Generalization gap report: {escape(workspace.name)}</h1>",
        f"<p class='lead'>{escape(workspace.spec.description)}</p>"
        if workspace.spec.description
        else "",
        f"<p class='caption'>Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by "
        f"gengap-dash from {len(workspace.split_names)} splits. Intervals are 95% bootstrap "
        f"intervals ({scorecard.n_resamples:,} resamples, seed {scorecard.seed}).</p>",
        "<h2>Verdict</h2>",
        f"<p class='takeaway'>{escape(scorecard.headline())}</p>",
    ]
    for verdict in scorecard.verdicts():
        parts.append(f"<div class='verdict {verdict.severity}'>{escape(verdict.text)}</div>")
    parts.append("<h2>The gap at a glance</h2><div class='grid'>")
    parts.append(
        _figure_block(
            metric_by_split_figure(scorecard, "accuracy", colors=colors),
            metric_chart_takeaway(scorecard, metric="accuracy"),
            "Accuracy on every split with its 95% interval; dashed lines mark train and "
            "validation.",
            include_plotlyjs=True,
        )
    )
    parts.append(
        _figure_block(
            gap_figure(scorecard, "accuracy", reference="validation", colors=colors),
            gap_chart_takeaway(scorecard, metric="accuracy", reference="validation"),
            "How many accuracy points each split loses against validation, with its interval.",
            include_plotlyjs=False,
        )
    )
    parts.append("</div><h2>Scorecard</h2>")
    parts.append(scorecard_table(scorecard).to_html(index=False, escape=True, border=0))
    for section in extra_sections:
        parts.append(section(workspace))
    parts.append("</body></html>")
    return "\n".join(parts)


def _figure_block(figure: go.Figure, takeaway: str, shows: str, *, include_plotlyjs: bool) -> str:
    chart = figure.to_html(
        full_html=False, include_plotlyjs="inline" if include_plotlyjs else False
    )
    return (
        f"<div>{chart}<p class='takeaway'>{html.escape(takeaway)}</p>"
        f"<p class='caption'>{html.escape(shows)}</p></div>"
    )
