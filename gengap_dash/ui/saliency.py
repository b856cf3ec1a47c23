"""Widgets and cached lookups of the saliency page (no maths: everything comes from
``gengap_dash.views.saliency``, the plots and the findings)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import streamlit as st

from gengap_dash.analysis.attribution import SaliencyShift, SampleMaps, image_maps
from gengap_dash.analysis.attribution.findings import METHOD_NAMES, shift_summary
from gengap_dash.analysis.attribution.selection import choose_samples
from gengap_dash.findings.render import render
from gengap_dash.project.errors import ProjectError
from gengap_dash.views import saliency as view
from gengap_dash.workspace import Workspace

TABS = ("One sample, every method", "One method, many samples", "Under shift", "Can it be trusted?")
TABULAR_TABS = ("Features by split", "Can it be trusted?")
CHOICES = {
    "confident_mistakes": "Most confident mistakes",
    "worst_errors": "Worst errors (highest loss)",
    "class": "A class",
    "cohort": "A cohort",
    "ids": "Sample ids",
}
OPTIONS = view.SaliencyOptions()
SIGN_NOTE = (
    "Saliency, SmoothGrad and Grad-CAM maps are absolute (how much a pixel matters, yellow to "
    "red); Integrated Gradients and Occlusion maps are signed (red: evidence for the explained "
    "class, blue: against it). Each map is scaled to its own largest value; pixels are drawn as "
    "they are (nearest neighbour), so an 8x8 input stays 8x8 blocks."
)
NO_MODEL = (
    "Attributions need the model itself: this project brings its predictions (a predictions "
    "file), so there is no model to take gradients of. Give the model in the project file "
    "(model.factory + weights, or model.torchscript) to see what it looks at."
)


@st.cache_resource(show_spinner=False, max_entries=256)
def _sample_maps(
    _workspace: Workspace, fingerprint: str, split: str, ids: tuple[str, ...], method: str
) -> SampleMaps:
    return view.sample_maps(_workspace, split, ids, method, OPTIONS)


@st.cache_resource(show_spinner=False, max_entries=8)
def _cached_shift(_workspace: Workspace, fingerprint: str) -> SaliencyShift | None:
    return view.cached_shift(_workspace, OPTIONS)


def methods(workspace: Workspace) -> tuple[str, ...]:
    return view.available_methods(workspace)


def choose(workspace: Workspace, *, key: str, n: int) -> tuple[str, list[str]]:
    """Split and samples picked in the sidebar of a tab (query parameters carry a selection
    made on another page: ``?split=rotated&samples=rotated-00012``)."""
    params = st.query_params
    names = workspace.split_names
    wanted = params.get("split")
    default = names.index(wanted) if wanted in names else _first_shifted(workspace)
    left, middle, right = st.columns([1, 1, 2])
    split = left.selectbox("Split", names, index=default, key=f"{key}_split")
    rows = workspace.split_predictions(split)
    linked = [s for s in (params.get("samples") or "").split(",") if s]
    how_names = list(CHOICES)
    how = middle.selectbox(
        "Samples",
        how_names,
        index=how_names.index("ids") if linked else 0,
        format_func=CHOICES.get,
        key=f"{key}_how",
    )
    label = column = value = None
    ids: Sequence[str] = ()
    if how == "class":
        label = right.selectbox(
            "Class",
            range(workspace.n_classes),
            format_func=lambda k: workspace.class_names[k],
            key=f"{key}_class",
        )
    elif how == "cohort":
        if not workspace.spec.metadata:
            right.info("The project lists no metadata columns to form cohorts from.")
            return split, []
        column = right.selectbox("Column", list(workspace.spec.metadata), key=f"{key}_column")
        value = right.selectbox(
            "Value", sorted(rows[column].astype(str).unique()), key=f"{key}_value"
        )
    elif how == "ids":
        text = right.text_input(
            "Sample ids (comma-separated)", value=",".join(linked), key=f"{key}_ids"
        )
        ids = [s.strip() for s in text.split(",") if s.strip()]
    try:
        chosen = choose_samples(rows, how, n=n, label=label, column=column, value=value, ids=ids)
    except ValueError as error:
        st.error(str(error))
        return split, []
    return split, chosen


def _first_shifted(workspace: Workspace) -> int:
    roles = [workspace.split_roles[name] for name in workspace.split_names]
    return roles.index("shifted") if "shifted" in roles else 0


def ready(workspace: Workspace, split: str, ids: list[str], methods: Sequence[str], *, key: str):
    """The maps of ``ids`` by each method: straight from the cache, or after a click (then
    computed with a status box). ``None`` until they are there."""
    try:
        cached = all(view.maps_cached(workspace, split, ids, m, OPTIONS) for m in methods)
    except ProjectError as error:
        st.error(str(error))
        return None
    if not cached and not st.button(
        f"Compute {len(methods) * len(ids)} maps", key=f"{key}_compute", type="primary"
    ):
        st.caption("Attributions run on demand (they need gradients through the model) and are "
                   "cached on disk, so a second look is instant.")  # fmt: skip
        return None
    fingerprint = workspace.fingerprint()
    found = {}
    try:
        with st.status("Computing attributions...", expanded=False) as status:
            for method in methods:
                status.update(label=f"{METHOD_NAMES[method]} on {len(ids)} samples of {split}")
                found[method] = _sample_maps(workspace, fingerprint, split, tuple(ids), method)
            status.update(label="Attributions ready", state="complete")
    except ProjectError as error:
        st.error(str(error))
        return None
    return found


def sample_title(maps: SampleMaps, index: int, class_names: Sequence[str]) -> str:
    label = class_names[int(maps.labels[index])]
    pred = class_names[int(maps.preds[index])]
    confidence = f"{100 * maps.confidences[index]:.0f}%"
    mark = "✓" if label == pred else "✗"
    return f"{maps.sample_ids[index]}: label {label}, predicted {pred} ({confidence}) {mark}"


def pixel_images(maps: SampleMaps) -> tuple[np.ndarray, np.ndarray]:
    """``(n, H, W)`` inputs and maps (channels summed)."""
    return image_maps(maps.inputs), image_maps(maps.maps)


def shift_cached(workspace: Workspace) -> SaliencyShift | None:
    return _cached_shift(workspace, workspace.fingerprint())


def run_shift(workspace: Workspace) -> SaliencyShift | None:
    """The shift analysis with a progress bar (after a click when it is not cached)."""
    found = shift_cached(workspace)
    if found is not None:
        return found
    holder = st.empty()
    with holder.container():
        st.caption(
            f"Compares {OPTIONS.n_samples} samples (or pairs) per split with "
            f"{', '.join(METHOD_NAMES[m] for m in methods(workspace))}, plus the randomization "
            "test and deletion curves. It runs once and is cached."
        )
        clicked = st.button("Run the shift analysis", key="saliency_run_shift", type="primary")
    if not clicked:
        return None
    holder.empty()
    bar = st.progress(0.0, text="Starting...")
    try:
        result = view.shift_result(
            workspace, OPTIONS, progress=lambda what, done: bar.progress(done, text=what)
        )
    except ProjectError as error:
        st.error(str(error))
        return None
    bar.empty()
    _cached_shift.clear()
    return result


def findings_for(result: SaliencyShift, kinds: Sequence[str]) -> list:
    from gengap_dash.analysis.attribution.findings import saliency_findings

    return [f for f in saliency_findings(result) if f.kind in kinds]


def takeaway(findings: list, fallback: str) -> str:
    return render(findings[0]) if findings else fallback


def shift_table(result: SaliencyShift) -> pd.DataFrame:
    return view.shift_table(result)


SHIFT_SHOWS = (
    "For each shifted split (paired with its clean source through the `{column}` column) and "
    "method: the share of the clean map's top-{top}% pixels that stay in the shifted map's top-"
    "{top}%, with its 95% interval. Grey band: the same statistic between two clean runs of the "
    "methods (the noise floor: the same image with imperceptible noise)."
)
SANITY_SHOWS = (
    "Model-parameter randomization test (Adebayo et al., 2018): the rank correlation between each "
    "method's maps for the trained model and for the model with its top layers' weights "
    "randomized, from the last layer down to all of them. A method that still draws the same map "
    "with random weights (above the dashed line) shows the input, not what the model learned."
)
DELETION_SHOWS = (
    "Deletion curves on {split}: the probability of the explained class as each method's most-"
    "attributed pixels are set to black, against a random order (dashed). The faster it falls "
    "(the smaller the area under the curve), the more faithful the map."
)


def one_sample_section(workspace: Workspace) -> None:
    """One sample, every method, side by side on the input."""
    from gengap_dash.analysis.attribution.findings import sample_agreement
    from gengap_dash.plots.saliency import sample_methods_figure
    from gengap_dash.ui.layout import explained_chart

    split, ids = choose(workspace, key="one", n=24)
    if not ids:
        return
    sample = st.selectbox("Sample", ids, key="one_sample")
    found = ready(workspace, split, [sample], methods(workspace), key="one")
    if not found:
        return
    names = workspace.class_names
    first = next(iter(found.values()))
    image = pixel_images(first)[0][0]
    maps = {method: pixel_images(found[method])[1][0] for method in found}
    finding = sample_agreement(
        maps,
        sample_id=first.sample_ids[0],
        label=names[int(first.labels[0])],
        predicted=names[int(first.preds[0])],
        confidence=float(first.confidences[0]),
    )
    figure = sample_methods_figure(
        image, maps, {m: found[m].signed for m in found}, title=sample_title(first, 0, names)
    )
    explained_chart(figure, shows=SIGN_NOTE, takeaway=render(finding), key="saliency_one")
    notes = [found[method].note for method in found if found[method].note]
    if notes:
        st.caption(" ".join(notes))


def grid_section(workspace: Workspace) -> None:
    """One method, many samples."""
    from gengap_dash.analysis.attribution.findings import grid_concentration
    from gengap_dash.plots.saliency import map_grid_figure
    from gengap_dash.ui.layout import explained_chart

    method = st.selectbox(
        "Method", methods(workspace), format_func=METHOD_NAMES.get, key="grid_method"
    )
    split, ids = choose(workspace, key="grid", n=16)
    found = ready(workspace, split, ids, [method], key="grid") if ids else None
    if not found:
        return
    names = workspace.class_names
    maps = found[method]
    images, pixels = pixel_images(maps)
    titles = [
        f"{maps.sample_ids[k]} ({names[int(maps.labels[k])]}→{names[int(maps.preds[k])]})"
        for k in range(len(maps.sample_ids))
    ]
    explained_chart(
        map_grid_figure(images, pixels, titles, signed=maps.signed),
        shows=SIGN_NOTE + " Tiles: sample id (label→prediction), one colour scale for the grid.",
        takeaway=render(grid_concentration(maps.maps, method=method)),
        key="saliency_grid",
    )


def shift_section(workspace: Workspace) -> None:
    """Does attention move under shift? (paired maps, or class averages where not paired)."""
    from gengap_dash.plots import saliency as plots
    from gengap_dash.ui.layout import explained_chart

    result = run_shift(workspace)
    if result is None:
        return
    headline(result)
    if result.pairs:
        explained_chart(
            plots.shift_overlap_figure(result),
            shows=SHIFT_SHOWS.format(top=round(100 * result.top_k), column=result.pair_column),
            takeaway=render(shift_summary(result)),
            key="saliency_shift",
        )
        method = st.selectbox(
            "Method", result.methods, format_func=METHOD_NAMES.get, key="shift_method"
        )
        if any(pair.groups for pair in result.pairs):
            explained_chart(
                plots.group_overlap_figure(result, method),
                shows="The same overlap by group (severity), per shifted split; dashed: the "
                "noise floor.",
                takeaway=group_takeaway(result, method),
                key="saliency_groups",
            )
    unpaired = sorted({item.split for item in result.average_shift})
    if unpaired:
        left, right = st.columns(2)
        split = left.selectbox("Unpaired split", unpaired, key="average_split")
        method = right.selectbox(
            "Method", result.methods, format_func=METHOD_NAMES.get, key="average_method"
        )
        chosen = [
            f
            for f in findings_for(result, ["saliency.average_shift"])
            if f.split == split and f.facts["method"] == method
        ]
        explained_chart(
            plots.class_average_figure(result, split, method, workspace.class_names),
            shows=f"Where samples are not paired: the mean |attribution| map of each class on "
            f"{result.reference} (top) and on {split} (bottom), on one colour scale.",
            takeaway=takeaway(chosen, ""),
            key="saliency_average",
        )
    show_table(shift_table(result))
    for note in result.notes:
        st.caption(note)


def features_section(workspace: Workspace) -> None:
    """Tabular: which features the model leans on per split, and the strip plot."""
    from gengap_dash.plots import saliency as plots
    from gengap_dash.ui.layout import explained_chart

    result = run_shift(workspace)
    if result is None:
        return
    headline(result)
    method = st.selectbox(
        "Method", result.methods, format_func=METHOD_NAMES.get, key="features_method"
    )
    moved = [f for f in findings_for(result, ["saliency.feature_ranking"])
             if f.facts["method"] == method]  # fmt: skip
    explained_chart(
        plots.feature_importance_figure(result, method),
        shows=f"Mean |attribution| of each feature on each split, sorted by {result.reference}'s.",
        takeaway=takeaway(moved, "Only the reference split was compared."),
        key="saliency_features",
    )
    splits = [item.split for item in result.features if item.method == method]
    split = st.selectbox("Split of the strip plot", splits, key="features_split")
    explained_chart(
        plots.feature_strip_figure(result, split, method),
        shows="Each dot is a sample: its signed attribution to the feature (x), coloured by the "
        "feature's value (red: high, blue: low, standardised within the feature).",
        takeaway=takeaway(
            [f for f in moved if f.split == split], render_top(result, split, method)
        ),
        key="saliency_strip",
    )


def trust_section(workspace: Workspace) -> None:
    """The randomization test and the deletion curves."""
    from gengap_dash.plots import saliency as plots
    from gengap_dash.ui.layout import explained_chart

    result = shift_cached(workspace)
    if result is None:
        st.info("Run the shift analysis first (the other tab): the trust checks run with it.")
        return
    sanity = findings_for(result, ["saliency.sanity"])
    explained_chart(
        plots.sanity_figure(result),
        shows=SANITY_SHOWS,
        takeaway=takeaway(sanity, ""),
        key="saliency_sanity",
    )
    explained_chart(
        plots.deletion_figure(result, result.reference),
        shows=DELETION_SHOWS.format(split=result.reference),
        takeaway=takeaway(findings_for(result, ["saliency.deletion"]), ""),
        key="saliency_deletion",
    )


def headline(result: SaliencyShift) -> None:
    from gengap_dash.ui.layout import verdict_box
    from gengap_dash.views.registry import get_view

    for finding in get_view("saliency").headline(result):
        verdict_box(render(finding), finding.severity)


def group_takeaway(result: SaliencyShift, method: str) -> str:
    from gengap_dash.analysis.attribution.findings import group_trend

    return render(group_trend(result, method))


def render_top(result: SaliencyShift, split: str, method: str) -> str:
    from gengap_dash.analysis.attribution.findings import top_features

    return render(top_features(result, split, method))


def show_table(frame: pd.DataFrame) -> None:
    st.dataframe(frame, hide_index=True, width="stretch")
