"""Streamlit glue of the robustness section ("Data and robustness" page, section 1): the
options, the sweep on demand with a progress bar, the charts with computed takeaways and the
bridge table. No maths here: everything comes from the robustness view's result."""

from __future__ import annotations

import streamlit as st

from gengap_dash.analysis.robustness import RobustnessResult
from gengap_dash.findings.render import render
from gengap_dash.findings.robustness import corruption_title
from gengap_dash.plots import robustness as plots
from gengap_dash.project.errors import ProjectError
from gengap_dash.ui.analysis import said
from gengap_dash.ui.layout import explained_chart, verdict_box, verdict_list
from gengap_dash.views import registry
from gengap_dash.views import robustness as view_module
from gengap_dash.workspace import Workspace


class _Miss(Exception):
    """The result is not in the on-disk cache yet (never cached by Streamlit)."""


@st.cache_resource(show_spinner=False, max_entries=8)
def _cached(key: str, _workspace: Workspace, options) -> RobustnessResult:
    found, result = registry.cached(registry.get_view("robustness"), _workspace, options)
    if not found:
        raise _Miss
    return result


def _lookup(workspace: Workspace, options) -> RobustnessResult | None:
    view = registry.get_view("robustness")
    try:
        return _cached(registry.result_key(view, workspace, options), workspace, options)
    except _Miss:
        return None


def controls(workspace: Workspace) -> view_module.RobustnessOptions:
    """The split to sweep, as options of the view."""
    names = workspace.split_names
    default = view_module.default_split(workspace)
    left, right = st.columns([2, 3])
    split = left.selectbox(
        "Split to corrupt", names, index=names.index(default), key="robustness_split"
    )
    what = "feature perturbations" if view_module.is_tabular(workspace) else "corruptions"
    right.caption(
        f"Every one of the {len(view_module.available_corruptions(workspace))} {what} runs at 5 "
        f"severities on up to {view_module.DEFAULT_MAX_SAMPLES:,} samples of the split, through "
        "the project's own transform and model; each run is cached on disk."
    )
    return view_module.RobustnessOptions(split="" if split == default else split)


def _run(workspace: Workspace, options) -> RobustnessResult | None:
    """Compute the sweep with a progress bar; ``None`` (with an error shown) on bad input."""
    bar = st.progress(0.0, text="Reading the split's inputs...")
    try:
        with view_module.robustness_progress(
            lambda fraction, note: bar.progress(min(1.0, fraction), text=note.capitalize())
        ):
            result = registry.compute(registry.get_view("robustness"), workspace, options)
    except (ProjectError, ValueError) as error:
        bar.empty()
        st.error(f"**The corruption sweep cannot run.** {error}")
        return None
    bar.empty()
    _cached.clear()
    return result


def render_robustness_section(workspace: Workspace) -> None:
    """The whole robustness section: options, the sweep (after a click when it is not cached),
    the curves, corruption errors, sensitivity (tabular) and the bridge to real shift."""
    view = registry.get_view("robustness")
    reason = view.unavailable(workspace)
    if reason:
        st.info(reason)
        return
    options = controls(workspace)
    result = _lookup(workspace, options)
    if result is None:
        n_runs = 5 * len(view_module.available_corruptions(workspace))
        st.caption(
            f"The sweep runs the model {n_runs} times (more for tabular projects: once per "
            "feature and perturbation too) and is then cached, so later visits open instantly."
        )
        if not st.button("Run the corruption sweep", key="robustness_run", type="primary"):
            return
        result = _run(workspace, options)
        if result is None:
            return
    show_result(workspace, result)


def show_result(workspace: Workspace, result: RobustnessResult) -> None:
    """The charts, tables and verdicts of a computed sweep."""
    findings = registry.get_view("robustness").findings(result)
    by_kind: dict[str, list] = {}
    for finding in findings:
        by_kind.setdefault(finding.kind, []).append(finding)
    summary = by_kind["robustness.summary"][0]
    verdict_box(render(summary), summary.severity)
    explained_chart(
        plots.severity_curves_figure(result.curves),
        shows=view_module.CURVES_SHOWS,
        takeaway=render(by_kind["robustness.weakest"][0]),
        key="robustness_curves",
    )
    calibration = by_kind.get("robustness.calibration", [])
    if calibration:
        verdict_list(said(calibration))
    explained_chart(
        plots.corruption_error_figure(result.curves),
        shows=view_module.ERRORS_SHOWS,
        takeaway=render(summary),
        key="robustness_errors",
    )
    _table(view_module.errors_frame(result))
    if result.sensitivity is not None and "robustness.feature_sensitivity" in by_kind:
        st.markdown("**Which features is the model most sensitive to?**")
        explained_chart(
            plots.sensitivity_figure(result.sensitivity),
            shows=view_module.SENSITIVITY_SHOWS,
            takeaway=render(by_kind["robustness.feature_sensitivity"][0]),
            key="robustness_sensitivity",
        )
        with st.expander("Every feature and perturbation"):
            _table(view_module.sensitivity_frame(result), rows=15)
    st.markdown("**The bridge to real shift: which corruption does each real split resemble?**")
    if result.bridge is not None and result.bridge.matches:
        explained_chart(
            plots.bridge_figure(result.bridge),
            shows=view_module.BRIDGE_SHOWS,
            takeaway=render(view_module.bridge_takeaway(findings)),
            key="robustness_bridge",
        )
        _table(view_module.bridge_frame(result))
        st.caption(view_module.BRIDGE_TABLE_CAPTION)
        verdict_list(said(by_kind.get("robustness.bridge", [])))
    else:
        st.info(result.bridge_note or "No real shifted split to compare with.")
    if result.kind == "image":
        _examples(workspace, result)
    for note in result.notes:
        st.caption(note)


def _examples(workspace: Workspace, result: RobustnessResult) -> None:
    with st.expander("What the corruptions look like (one sample of the swept split)"):
        try:
            examples = _example_images(
                workspace, workspace.fingerprint(), result.split, result.seed
            )
        except ProjectError as error:
            st.caption(str(error))
            return
        names = ", ".join(corruption_title(name) for name in examples)
        st.image(
            plots.example_mosaic(examples),
            caption=f"Rows: {names}. Columns: clean, then severities 1 to 5.",
        )


@st.cache_resource(show_spinner=False, max_entries=8)
def _example_images(_workspace: Workspace, fingerprint: str, split: str, seed: int):
    return view_module.corruption_examples(_workspace, split, seed=seed)


def _table(frame, *, rows: int = 12) -> None:
    st.dataframe(frame, hide_index=True, width="stretch",
                 height=38 + 35 * max(1, min(len(frame), rows)))  # fmt: skip
