"""Cohorts and slices: where is the gap, is it a changed mix or worse performance, which
slices and confusions carry it, when did it start, and which samples to look at?"""

from __future__ import annotations

import streamlit as st

from gengap_dash.analysis.cohorts import findings as verdicts
from gengap_dash.findings.render import render
from gengap_dash.plots import cohorts as plots
from gengap_dash.plots.style import split_colors
from gengap_dash.ui import cohorts as ui
from gengap_dash.ui.analysis import figure_of
from gengap_dash.ui.layout import explained_chart, page_header
from gengap_dash.ui.navigation import ensure_app_navigation
from gengap_dash.ui.workspace import current_workspace

ensure_app_navigation(__file__)

workspace = current_workspace()
page_header(
    f"Cohorts and slices · {workspace.name}",
    "Where is the gap: which cohorts, slices and classes carry the loss, is it a changed mix "
    "or worse performance inside cohorts, when did it start, and which samples to look at?",
)
options = ui.controls(workspace)
result = ui.cohorts_for(workspace, options)
table, colors = result.table, split_colors(workspace.split_roles)
ui.headline(result)
st.markdown(ui.column_note(result))
tabs = dict(zip(ui.TABS, st.tabs(ui.TABS, key="cohorts_tab"), strict=True))

with tabs["Cohorts"]:
    explained_chart(
        figure_of(result, ("heatmap",), lambda: plots.gap_heatmap(table)),
        shows=ui.heatmap_shows(table),
        takeaway=render(verdicts.heatmap_takeaway(table)),
        key="cohorts_heatmap",
    )
    weakest = verdicts.weakest_cohort_finding(table)
    explained_chart(
        figure_of(
            result,
            ("metric", sorted(colors.items())),
            lambda: plots.cohort_metric_figure(table, colors=colors),
        ),
        shows=ui.metric_shows(table),
        takeaway=render(weakest) if weakest else "No cohort has enough samples to compare.",
        key="cohorts_metric",
    )
    ui.show_table(ui.cohort_frame(table))
    ui.cohort_gallery(workspace, table, result.classes)

with tabs["Mix or performance"]:
    ui.decomposition_section(result)

with tabs["Weak slices"]:
    ui.slices_section(workspace, table)

with tabs["Confusions"]:
    ui.confusions_section(result)

with tabs["Over time"]:
    ui.over_time_section(result, colors)

with tabs["Fairness"]:
    ui.fairness_section(result)

with tabs["Errors"]:
    rows, title = ui.gallery_selection(workspace, result, ui.slices_for(workspace, None))
    ui.gallery(workspace, rows, title, result.classes)

with st.expander("How to read this page"):
    st.markdown(ui.READING_GUIDE)
