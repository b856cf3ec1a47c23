"""Streamlit glue for the learning-curves page: the project file, the cached runs and analyses,
the summary cards and the notes on the logs.

The page needs no inference, so it reads the project file only (not the workspace): it opens at
once, and broken training logs stop this page alone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import plotly.graph_objects as go
import streamlit as st

from gengap_dash.analysis.learning_curves import (
    DATA_SIZE_SEVERITY,
    DEFAULT_PATIENCE,
    DataSizeAnalysis,
    RunDiagnosis,
    align_runs,
    checkpoint_for,
    data_size_analysis,
    data_size_findings,
    data_size_takeaway,
    diagnose_run,
    held_out_metrics,
    overlay_takeaway,
    smooth_curves,
)
from gengap_dash.data.training_logs import (
    TrainingRun,
    TrainingRuns,
    load_training_runs,
    logs_signature,
    metric_label,
)
from gengap_dash.findings import render
from gengap_dash.findings.learning_curves import verdict_text
from gengap_dash.findings.words import plural, position, significant
from gengap_dash.plots.learning_curves import data_size_figure, runs_overlay_figure
from gengap_dash.project.errors import ProjectError
from gengap_dash.project.spec import ProjectSpec, TrainingLogsSpec, load_project
from gengap_dash.ui.analysis import figure_once
from gengap_dash.ui.layout import escape_markdown, explained_chart, verdict_box
from gengap_dash.ui.project import project_picker

LOGS_SNIPPET = """\
training_logs:
  runs: [logs/metrics.csv]        # files or folders of runs: CSV, JSON lines, Lightning's
                                  # metrics.csv, TensorBoard event files, trainer_state.json
  checkpoint_epoch: 60            # optional: the epoch of the loaded weights (first run)
  metric_names: {eval_top1: validation/accuracy}  # optional: names outside the conventions
  train_sizes: {small_run: 200}   # optional: runs trained on fewer samples (data-size curve)
"""
"""The project-file snippet shown when a project has no training logs."""


@st.cache_resource(show_spinner=False, max_entries=8)
def _load_spec(path: str, modified_ns: int) -> ProjectSpec:
    """One parsed project file per path and version (its mtime is part of the key)."""
    return load_project(path)


def current_spec() -> ProjectSpec:
    """The project chosen in the sidebar, parsed; stops the page with ``st.error`` when the
    project file itself is bad (bad training logs are the page's own business)."""
    path = project_picker()
    resolved = path / "project.yaml" if path.is_dir() else path
    try:
        modified = resolved.stat().st_mtime_ns if resolved.is_file() else 0
        spec = _load_spec(str(resolved), modified)
    except ProjectError as error:
        st.error(f"**This project cannot be opened.** {error}")
        st.caption("Fix the project file (see docs/project-file.md) or pick another project.")
        st.stop()
    with st.sidebar:
        st.markdown(f"**{spec.name}**")
        logs = spec.training_logs
        st.caption(
            f"{plural(len(logs.runs), 'training-log path')}"
            if logs
            else "no training logs in the project"
        )
    return spec


@st.cache_resource(show_spinner="Reading the training logs...", max_entries=16)
def _load_runs(key: str, _logs: TrainingLogsSpec) -> TrainingRuns:
    """Parsed runs, shared by every session (they are never modified), one per logs version."""
    return load_training_runs(
        _logs.runs, metric_names=_logs.metric_names, train_sizes=_logs.train_sizes
    )


def training_runs(logs: TrainingLogsSpec) -> tuple[TrainingRuns, str]:
    """The project's runs and the key of their version (paths, file times and sizes, options).

    Raises:
        ProjectError: a missing or unreadable log, or one without a recognisable metric.
    """
    options = (
        logs_signature(logs.runs),
        sorted((name, tuple(target)) for name, target in logs.metric_names.items()),
        sorted(logs.train_sizes.items()),
    )
    key = hashlib.sha256(repr(options).encode()).hexdigest()[:24]
    return _load_runs(key, logs), key


@st.cache_data(show_spinner=False, max_entries=256)
def _diagnosis(
    _runs: TrainingRuns,
    key: str,
    run_name: str,
    metric: str,
    patience: int,
    checkpoint: float | None,
) -> RunDiagnosis:
    return diagnose_run(
        _runs[run_name],
        metric=metric,
        patience=patience,
        checkpoint_epoch=checkpoint_for(_runs, run_name, checkpoint),
    )


def diagnosis_for(
    runs: TrainingRuns,
    key: str,
    run_name: str,
    metric: str,
    *,
    patience: int,
    checkpoint: int | None,
) -> RunDiagnosis:
    """The run's diagnosis on ``metric``, cached per logs version and options."""
    return _diagnosis(runs, key, run_name, metric, patience, checkpoint)


@st.cache_data(show_spinner=False, max_entries=64)
def _data_size(_runs: TrainingRuns, key: str, metric: str) -> tuple[DataSizeAnalysis | None, str]:
    try:
        return data_size_analysis(_runs, metric=metric), ""
    except ValueError:
        pass
    try:  # the chosen metric is not shared by the sized runs: their default one
        return data_size_analysis(_runs), ""
    except ValueError as error:
        return None, str(error)


def data_size_for(runs: TrainingRuns, key: str, metric: str) -> tuple[DataSizeAnalysis | None, str]:
    """The data-size analysis on ``metric`` (else the sized runs' default metric) and, when
    there is none although runs have sizes, why."""
    return _data_size(runs, key, metric)


@dataclass(frozen=True)
class Controls:
    """The page's choices: the run diagnosed, its metric, the display smoothing, the
    early-stopping patience and the y scale."""

    run: TrainingRun
    metric: str
    smoothing: float
    patience: int
    log_y: bool


def controls(runs: TrainingRuns, names: list[str]) -> Controls:
    """One row of widgets (wrapping on narrow screens): run, metric, smoothing, patience, log
    scale. The metric options are those the chosen run logs for a held-out split."""
    row = st.container(horizontal=True, vertical_alignment="bottom", gap="medium")
    longest = max((len(run_label(runs[name])) for name in names), default=10)
    name = row.selectbox(
        "Run",
        names,
        key="lc_run",
        # Wide enough for the longest label ("train_size_100 (100 samples)"), not truncated.
        width=min(max(210, 8 * longest + 70), 480),
        format_func=lambda name: run_label(runs[name]),
        help="The run diagnosed below.",
    )
    run = runs[name]
    metrics = held_out_metrics(run)
    if st.session_state.get("lc_metric") not in metrics:
        st.session_state.pop("lc_metric", None)  # the new run does not log it
    metric = row.segmented_control(
        "Metric",
        metrics,
        default=metrics[0],
        required=True,
        key="lc_metric",
        format_func=lambda metric: metric.replace("_", " "),
    )
    smoothing = row.slider(
        "Smoothing",
        0.0,
        0.99,
        0.6,
        0.01,
        key="lc_smoothing",
        width=190,
        help="TensorBoard's exponential moving average, for display only; the raw curve stays "
        "faint behind. The analysis always uses the raw values.",
    )
    patience = row.slider(
        "Early-stopping patience",
        1,
        30,
        DEFAULT_PATIENCE,
        key="lc_patience",
        width=190,
        help="Checks without improvement before EarlyStopping would stop training.",
    )
    log_y = row.toggle("Log scale", key="lc_log_y", help="A logarithmic metric axis.")
    return Controls(run, metric or metrics[0], float(smoothing), int(patience), bool(log_y))


def run_figures(
    key: str, chosen: Controls, checkpoint: int | None
) -> Callable[[str, Callable[[], go.Figure]], go.Figure]:
    """``figure(name, build)``: the diagnosed run's figure ``name``, built once per server
    process for the logs version ``key`` and the page's choices (a second viewer gets it
    ready-made)."""
    choices = (key, chosen.run.name, chosen.metric, chosen.patience, checkpoint,
               chosen.smoothing, chosen.log_y)  # fmt: skip
    return lambda name, build: figure_once((name, *choices), build)


def run_label(run: TrainingRun) -> str:
    """``"train_size_100 (100 samples)"``: a run's name, with its training-set size if known."""
    return run.name if run.train_size is None else f"{run.name} ({run.train_size:,} samples)"


_ONSET_WORDS = {
    "validation_minimum": "{held} rose after it",
    "gap_widening": "the gap widened after it",
    None: "no lasting turn for the worse",
}


def diagnosis_cards(diagnosis: RunDiagnosis) -> None:
    """The diagnosis' numbers at a glance: best, onset, early stop, final gap, checkpoint."""
    unit = diagnosis.x_axis
    held = metric_label(diagnosis.reference_split, diagnosis.metric)
    lower_better = diagnosis.mode == "min"
    row = st.container(horizontal=True, gap="small")
    cards = [row] * 5
    cards[0].metric(
        f"Best {unit}",
        position(diagnosis.best_epoch),
        f"{held} {significant(diagnosis.best_value)}",
        delta_color="off",
        delta_arrow="off",
        help=f"Where {held} is at its best (the green dotted line).",
        border=True,
        width="stretch",
    )
    cards[1].metric(
        "Overfitting began",
        "not found"
        if diagnosis.onset_epoch is None
        else f"{unit} {position(diagnosis.onset_epoch)}",
        _ONSET_WORDS[diagnosis.analysis.onset_rule].format(held=held),
        delta_color="off",
        delta_arrow="off",
        help="Where the held-out curve turned worse, or the gap began to widen for good while "
        "the held-out curve stalled (the red dashed line).",
        border=True,
        width="stretch",
    )
    kept = diagnosis.stopped_value - diagnosis.final_validation
    stopped = diagnosis.stop_epoch is not None
    cards[2].metric(
        f"Early stop (patience {diagnosis.patience})",
        f"{unit} {position(diagnosis.stop_epoch)}" if stopped else "never",
        f"{'-' if kept < 0 else '+'}{significant(abs(kept))} vs final" if stopped else None,
        delta_color="off" if kept == 0 else ("inverse" if lower_better else "normal"),
        help=f"Where EarlyStopping on {held} would have stopped (the purple line). It keeps "
        f"{held} {significant(diagnosis.stopped_value)} (restore_best_weights) against "
        f"{significant(diagnosis.final_validation)} when training to the last {unit}; the "
        "arrow is green when stopping early is better.",
        border=True,
        width="stretch",
    )
    cards[3].metric(
        "Final gap",
        significant(diagnosis.final_gap),
        f"at {unit} {position(diagnosis.final_epoch)}",
        delta_color="off",
        delta_arrow="off",
        help=f"{held} minus train {diagnosis.metric} at the last {unit} (signed so that "
        "worse is positive).",
        border=True,
        width="stretch",
    )
    if diagnosis.checkpoint_epoch is not None:
        cards[4].metric(
            "Loaded checkpoint",
            f"{unit} {position(diagnosis.checkpoint_epoch)}",
            None
            if diagnosis.checkpoint_value is None
            else f"{held} {significant(diagnosis.checkpoint_value)}",
            delta_color="off",
            delta_arrow="off",
            help="training_logs.checkpoint_epoch: the epoch of the weights the other pages "
            "evaluate (the black line).",
            border=True,
        )


def notes_area(runs: TrainingRuns, diagnosis: RunDiagnosis | None) -> None:
    """What was read, and what was dropped, merged or guessed while reading and aligning the
    logs: one line, and the notes in an expander when there are any."""
    notes = list(runs.all_notes())
    if diagnosis is not None:
        notes += [f"{diagnosis.run_name}: {note}" for note in diagnosis.notes]
    formats = ", ".join(sorted({run.format.replace("_", " ") for run in runs}))
    read = f"Read {plural(len(runs), 'run')} from the training logs ({formats})."
    if not notes:
        st.caption(f"{read} Nothing was dropped, merged or guessed: the logs are used as they are.")
        return
    st.caption(f"{read} {plural(len(notes), 'note')} on what was dropped, merged or guessed:")
    with st.expander(
        f"How the logs were cleaned ({plural(len(notes), 'note')})", icon=":material/rule:"
    ):
        st.markdown("\n".join(f"- {escape_markdown(note)}" for note in notes))


def compare_runs_section(
    runs: TrainingRuns, key: str, names: list[str], metric: str, *, smoothing: float, log_y: bool
) -> None:
    """The chosen runs' curves of ``metric`` overlaid, with the best and worst run named."""
    st.subheader("Compare runs")
    compared = st.multiselect(
        "Runs to overlay", names, default=names[:10], key="lc_compare", wrap=True,
        help="Each run gets a colour; its train curve is dotted, its validation curve solid.",
    )  # fmt: skip
    curves = align_runs([runs[name] for name in compared], metric)
    if not curves:
        st.caption(f"Select runs that log {metric.replace('_', ' ')} to overlay them.")
        return
    smoothed = [smooth_curves(c, weight=smoothing) for c in curves] if smoothing > 0 else None
    explained_chart(
        figure_once(
            ("overlay", key, tuple(compared), metric, smoothing, log_y),
            lambda: runs_overlay_figure(curves, log_y=log_y, smoothed=smoothed),
        ),
        shows=f"{metric.replace('_', ' ').capitalize()} of every selected run: one colour per "
        "run, dotted for train, solid for validation, dashed for test.",
        takeaway=render(overlay_takeaway(curves)),
        key="lc_overlay_chart",
    )


def data_size_section(runs: TrainingRuns, key: str, metric: str) -> None:
    """The data-size learning curve with its power law and verdict, or how to get one."""
    st.subheader("Would more data close the gap?")
    analysis, problem = data_size_for(runs, key, metric)
    if analysis is None:
        st.info(
            problem
            or "A data-size learning curve needs runs trained on 3 or more training-set sizes: "
            "name them train_size_N (e.g. logs/data_size/train_size_200.csv), or give their "
            "sizes in training_logs.train_sizes.",
            icon=":material/info:",
        )
        return
    verdict_box(
        verdict_text(data_size_findings(analysis)),
        DATA_SIZE_SEVERITY[analysis.kind],
        kind=analysis.kind,
    )
    explained_chart(
        figure_once(("data size", key, metric), lambda: data_size_figure(analysis)),
        shows=(
            "The train and held-out values of runs trained on different numbers of samples, "
            + (
                "each at its best held-out epoch (what early stopping keeps), "
                if analysis.at == "best"
                else "each at its last epoch, "
            )
            + "against the training-set size (log scale), with a power law fitted to the "
            "held-out error and the train level it would have to reach."
        ),
        takeaway=render(data_size_takeaway(analysis)),
        key="lc_data_size_chart",
    )


def logs_error(error: ProjectError) -> None:
    """Why the training logs cannot be read (this page only; the others do not need them)."""
    st.error(f"**The training logs cannot be read.** {escape_markdown(str(error))}")
    st.caption(
        "Fix `training_logs` in the project file (see docs/project-file.md). The other pages do "
        "not use the logs and keep working."
    )


def no_held_out_message(runs: TrainingRuns) -> None:
    """Why there is nothing to diagnose: no run logs a held-out metric (and the runs' notes)."""
    st.error(
        "**No run logs a validation or test metric**, so there is nothing to compare the train "
        "curve with. Log names like val_loss, or map yours in training_logs.metric_names."
    )
    notes_area(runs, None)


def no_logs_message(spec: ProjectSpec) -> None:
    """A plain explanation (not an error) of how to add training logs to the project."""
    st.info(
        f"**{escape_markdown(spec.name)} has no training logs yet.** The learning curves show "
        "when the gap between train and validation opened, where early stopping would have "
        "stopped, and whether more data would help. Add a `training_logs` entry to the project "
        f"file ({escape_markdown(str(spec.path))}):",
        icon=":material/info:",
    )
    st.code(LOGS_SNIPPET, language="yaml")
    st.caption(
        "Metric names such as train_loss, val_loss, val/acc or eval_accuracy are recognised; a "
        "folder of runs named train_size_N (or training_logs.train_sizes) adds the data-size "
        "learning curve. See docs/project-file.md."
    )
