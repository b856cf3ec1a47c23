"""Learning curves: when did the gap open, would early stopping have caught it, would more data
close it?"""

from __future__ import annotations

import streamlit as st

from gengap_dash.analysis.learning_curves import (
    KIND_SEVERITY,
    curves_takeaway,
    gap_takeaway,
    held_out_metrics,
    patience_sweep,
    patience_takeaway,
    run_findings,
    smooth_curves,
)
from gengap_dash.findings import render
from gengap_dash.findings.learning_curves import verdict_text
from gengap_dash.plots.learning_curves import gap_figure, learning_curves_figure, patience_figure
from gengap_dash.project.errors import ProjectError
from gengap_dash.ui.layout import explained_chart, page_header, verdict_box
from gengap_dash.ui.learning_curves import (
    compare_runs_section,
    controls,
    current_spec,
    data_size_section,
    diagnosis_cards,
    diagnosis_for,
    logs_error,
    no_held_out_message,
    no_logs_message,
    notes_area,
    run_figures,
    training_runs,
)
from gengap_dash.ui.navigation import ensure_app_navigation

ensure_app_navigation(__file__)

spec = current_spec()
page_header(
    f"Learning curves · {spec.name}",
    "When did the gap between train and validation open, would early stopping have caught it, "
    "and would more data close it?",
)
logs = spec.training_logs
if logs is None:
    no_logs_message(spec)
    st.stop()
try:
    runs, key = training_runs(logs)
except ProjectError as error:
    logs_error(error)
    st.stop()
names = [run.name for run in runs if held_out_metrics(run)]
if not names:
    no_held_out_message(runs)
    st.stop()

chosen = controls(runs, names)
run, metric = chosen.run, chosen.metric
diagnosis = diagnosis_for(
    runs, key, run.name, metric, patience=chosen.patience, checkpoint=logs.checkpoint_epoch
)
analysis = diagnosis.analysis
kind = "uncertain" if diagnosis.noisy else diagnosis.kind
verdict_box(verdict_text(run_findings(diagnosis)), KIND_SEVERITY[diagnosis.kind], kind=kind)
diagnosis_cards(diagnosis)
notes_area(runs, diagnosis)

smoothed = smooth_curves(analysis.curves, weight=chosen.smoothing) if chosen.smoothing else None
figure = run_figures(key, chosen, logs.checkpoint_epoch)  # built once per choices
explained_chart(
    figure(
        "curves",
        lambda: learning_curves_figure(
            analysis,
            smoothed=smoothed,
            log_y=chosen.log_y,
            checkpoint_epoch=diagnosis.checkpoint_epoch,
        ),
    ),
    shows=f"{metric.replace('_', ' ').capitalize()} per {diagnosis.x_axis} for each logged split "
    "(smoothed line, raw values faint behind). Vertical lines: best held-out point (green), onset "
    "of overfitting (red), early stop (purple), loaded checkpoint (black).",
    takeaway=render(curves_takeaway(diagnosis)),
    key="lc_curves_chart",
)
left, right = st.columns(2)
with left:
    if analysis.curves.gap is None:
        st.info(f"{run.name} logs no train {metric}, so there is no gap curve to draw.")
    else:
        explained_chart(
            figure("gap", lambda: gap_figure(analysis, smoothed=smoothed)),
            shows="The held-out value minus the train value, signed so that worse is up. A gap "
            "that keeps growing while the held-out curve stalls or worsens is overfitting.",
            takeaway=render(gap_takeaway(analysis)),
            key="lc_gap_chart",
        )
with right:
    sweep = patience_sweep(analysis.curves)
    explained_chart(
        figure(
            "patience", lambda: patience_figure(sweep, analysis.curves, patience=chosen.patience)
        ),
        shows="For each patience, the held-out value that EarlyStopping with restore_best_weights "
        f"keeps (hover for where it stops), against training to the last {diagnosis.x_axis} "
        "(dashed). The star is the patience chosen above.",
        takeaway=render(patience_takeaway(sweep, analysis.curves)),
        key="lc_patience_chart",
    )

compare, more_data = st.columns(2)
with compare:
    compare_runs_section(runs, key, names, metric, smoothing=chosen.smoothing, log_y=chosen.log_y)
with more_data:
    data_size_section(runs, key, metric)
