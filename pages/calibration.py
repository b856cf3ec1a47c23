"""Calibration: can the model's confidence be trusted on each split and cohort, and does a
correction fitted on validation data survive distribution shift?"""

from __future__ import annotations

import streamlit as st

from gengap_dash.plots.style import split_colors
from gengap_dash.ui import calibration as ui
from gengap_dash.ui.layout import explained_chart, page_header, verdict_box
from gengap_dash.ui.navigation import ensure_app_navigation
from gengap_dash.ui.workspace import current_workspace

ensure_app_navigation(__file__)

workspace = current_workspace()
page_header(
    f"Calibration · {workspace.name}",
    "When the model says it is 90% sure, is it right 90% of the time, on every split and cohort? "
    "And does a correction fitted on validation data survive distribution shift?",
)
chosen = ui.controls(workspace)
if not chosen.splits:
    st.info("Pick at least one split above to see its calibration.")
    st.stop()
roles, colors = workspace.split_roles, split_colors(workspace.split_roles)
reports = ui.reports_for(workspace, chosen)
verdict_box(*ui.headline(reports, roles))
overview, reliability, temperature, by_cohort, selective = st.tabs(ui.TABS, key="calibration_tab")

with overview:
    st.subheader("How far is confidence from accuracy on each split?")
    ui.show_wide_table(ui.metrics_table(reports), index="Metric")
    st.caption(ui.settings_caption(chosen))
    explained_chart(
        ui.metrics_figure(workspace, chosen, colors),
        shows=ui.METRICS_SHOWS,
        takeaway=ui.metrics_takeaway(reports, roles),
        key="calibration_metrics_chart",
    )

with reliability:
    st.subheader("Reliability diagrams: accuracy against confidence")
    ui.reliability_section(reports, chosen, ui.diagram_layout(), colors, roles, workspace)

with temperature:
    st.subheader("Temperature scaling: does a fix fitted on validation survive shift?")
    method = st.radio(
        "Non-parametric recalibration to compare with", list(ui.RECALIBRATIONS),
        format_func=ui.RECALIBRATIONS.get, horizontal=True, key="calibration_recalibration",
        help="Maps each confidence to the accuracy seen at that confidence on validation. More "
        "flexible than one temperature, so it can fit validation better and transfer worse.",
    )  # fmt: skip
    comparison = ui.comparison_for(workspace, chosen, method)  # None: the reason is shown
    if comparison is not None:
        ui.temperature_cards(comparison)
        ui.transfer_list(comparison)
        ui.show_table(ui.temperature_table(comparison), pinned="Split")
        explained_chart(
            ui.temperature_figure(comparison, colors),
            shows=ui.TEMPERATURE_SHOWS,
            takeaway=comparison.recalibration_note,
            key="calibration_temperature_chart",
        )
        diagram_splits = st.multiselect(
            "Splits in the before/after diagrams", list(comparison.before),
            default=ui.default_diagram_splits(comparison, roles), key="calibration_diagram_splits",
        )  # fmt: skip
        if diagram_splits:
            explained_chart(
                ui.temperature_diagrams_figure(comparison, colors, diagram_splits),
                shows=ui.DIAGRAMS_SHOWS,
                takeaway=ui.temperature_diagrams_takeaway(comparison, diagram_splits),
                key="calibration_temperature_diagrams",
            )

with by_cohort:
    st.subheader("Is the model's confidence worse in some cohorts?")
    column, metric = ui.cohort_controls(workspace)  # None: no metadata column (explained)
    cohorts = ui.cohorts_for(workspace, chosen, column) if column else None  # None: explained
    if column and cohorts is not None:
        explained_chart(
            ui.cohort_figure(workspace, chosen, cohorts, column, metric, colors),
            shows=ui.cohort_shows(column),
            takeaway=ui.cohort_takeaway(cohorts, metric, column),
            key="calibration_cohort_chart",
        )
        ui.show_table(ui.cohort_table(cohorts, metric, column), pinned="Split")

with selective:
    st.subheader("Selective prediction: what if the model may abstain?")
    curves = ui.curves_for(workspace, chosen.splits)
    explained_chart(
        ui.risk_coverage_figure(workspace, chosen.splits, colors),
        shows=ui.SELECTIVE_SHOWS,
        takeaway=ui.selective_takeaway(curves, roles),
        key="calibration_risk_coverage",
    )
    ui.show_table(ui.selective_table(curves), pinned="Split")

with st.expander("How to read this page"):
    st.markdown(ui.READING_GUIDE)
