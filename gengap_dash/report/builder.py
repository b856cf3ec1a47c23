"""The HTML report: one self-contained file that opens offline, the handout of a review meeting.

Headline findings of every view first, then one section per registered view (its charts,
takeaways and tables), each built by the view's own ``report_section`` from the same results
the pages and the CLI use (read from the on-disk result cache when warm). Every user string is
escaped; plotly.js is embedded once.
"""

from __future__ import annotations

import html
from datetime import datetime, timezone

from plotly.offline import get_plotlyjs

from gengap_dash.findings.model import Finding
from gengap_dash.project.defaults import DEFAULT_CONFIDENCE
from gengap_dash.project.errors import ProjectError
from gengap_dash.views.registry import View, all_views, cached, compute, not_cached_reason
from gengap_dash.views.report_html import findings_block
from gengap_dash.workspace import Workspace

_STYLE = """
body{font-family:Inter,Segoe UI,Helvetica Neue,Arial,sans-serif;color:#1d2433;max-width:1180px;
margin:32px auto;padding:0 24px;line-height:1.5}
h1{margin-bottom:4px}h2{margin-top:44px;border-bottom:1px solid #e2e6ee;padding-bottom:6px}
.lead{color:#4a5568;font-style:italic}.takeaway{font-weight:600}.caption{color:#6b7280;font-size:.9em}
.question{color:#4a5568;margin-top:-4px}
.verdict{padding:10px 14px;border-radius:8px;margin:6px 0}
.critical{background:#fdecec}.warning{background:#fff6e0}.ok{background:#e8f6f1}.info{background:#eaf1fb}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:24px}
.table{overflow-x:auto}
table{border-collapse:collapse;font-size:.88em;width:100%}
th,td{border-bottom:1px solid #e2e6ee;padding:6px 8px;text-align:left}th{background:#f4f6fa}
nav a{margin-right:14px}
"""


def build_report(workspace: Workspace, *, views: list[View] | None = None) -> str:
    """The report of ``workspace`` as one HTML document.

    Args:
        views: the views to include (default: every registered view that can run on the
            project; the others are listed with the reason).
    """
    escape = html.escape
    sections: list[str] = []
    headline: list[Finding] = []
    skipped: dict[str, str] = {}
    for view in views if views is not None else all_views():
        reason = view.unavailable(workspace)
        if reason:
            skipped[view.title] = reason
            continue
        if view.slow:
            found, result = cached(view, workspace)
            if not found:
                skipped[view.title] = not_cached_reason(view)
                continue
        else:
            try:
                result = compute(view, workspace)
            except ProjectError as error:
                skipped[view.title] = str(error)
                continue
        headline.extend(view.headline(result))
        body = view.report_section(result)
        sections.append(
            f"<section id='{escape(view.name)}'><h2>{escape(view.title)}</h2>"
            f"<p class='question'>{escape(view.question)}</p>{body}</section>"
        )
    contents = "".join(
        f"<a href='#{escape(view.name)}'>{escape(view.title)}</a>"
        for view in (views or all_views())
        if view.title not in skipped
    )
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>gengap-dash report: {escape(workspace.name)}</title>",
        f"<style>{_STYLE}</style>",
        f"<script type='text/javascript'>{get_plotlyjs()}</script></head><body>",
        f"<h1>Generalization gap report: {escape(workspace.name)}</h1>",
        f"<p class='lead'>{escape(workspace.spec.description)}</p>"
        if workspace.spec.description
        else "",
        f"<p class='caption'>Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by "
        f"gengap-dash from {len(workspace.split_names)} splits. Intervals are "
        f"{DEFAULT_CONFIDENCE:.0%} bootstrap intervals (docs/statistics.md).</p>",
        f"<nav>{contents}</nav>",
        "<h2>Headline findings</h2>",
        findings_block(headline) or "<p>No view reported a finding.</p>",
        *sections,
    ]
    if skipped:
        parts.append("<h2>Not in this report</h2><ul>")
        parts.extend(
            f"<li><b>{escape(title)}</b>: {escape(reason)}</li>"
            for title, reason in skipped.items()
        )
        parts.append("</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)
