"""Streamlit glue of the cohorts page: widgets, thin caches over ``registry.compute`` (the
on-disk result cache), tables and the gallery of errors. No maths here."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from gengap_dash.analysis.cohorts import CohortsResult
from gengap_dash.analysis.cohorts.coding import PERIOD_NAMES
from gengap_dash.analysis.cohorts.metrics import COHORT_METRICS
from gengap_dash.findings.render import render
from gengap_dash.findings.words import percent, plural
from gengap_dash.project.errors import ProjectError
from gengap_dash.ui.analysis import cached_on_disk, figure_of, remember_origin
from gengap_dash.ui.layout import escape_markdown, explained_chart, verdict_box
from gengap_dash.views import registry
from gengap_dash.views.cohorts import (
    CohortsOptions,
    cluster_rows,
    cohort_rows,
    confusion_rows,
    eligible_columns,
    gallery_sample,
    hub_frames,
    sample_inputs,
    slice_rows,
    upscale,
)
from gengap_dash.views.slices import SlicesOptions, SlicesResult, slice_progress
from gengap_dash.workspace import Workspace

TABS = ["Cohorts", "Mix or performance", "Weak slices", "Confusions", "Over time", "Fairness",
        "Errors"]  # fmt: skip
PAGE_SIZE = 24
AUTO = "(the column whose cohorts differ most)"
NONE = "(none)"
DEFAULT_SEARCH = "(deployment, else the worst split)"


def heatmap_shows(table) -> str:
    """What the heatmap shows, in the table's metric and direction."""
    from gengap_dash.views.cohorts import heatmap_shows as shows

    return shows(table)


def metric_shows(table) -> str:
    """What the per-cohort metric chart shows."""
    return (
        f"{table.label} of each cohort on each split, with its 95% bootstrap interval (one "
        "bootstrap per split; cells with too few samples are left out). "
        f"{COHORT_METRICS[table.metric].description}"
    )


DECOMPOSITION_SHOWS = (
    "Each split's accuracy change against the reference, split into the part due to a "
    "different cohort mix (orange) and the part due to worse accuracy inside cohorts (red); "
    "the diamond is the total with its 95% interval. The parts add up to the total exactly "
    "(symmetric Kitagawa decomposition, docs/cohorts.md)."
)
DECOMPOSITION_COHORT_SHOWS = (
    "For the chosen split, each cohort's two terms: what its change of share contributed (mix) "
    "and what its change of accuracy contributed (inside the cohort), with 95% intervals."
)
SLICES_SHOWS = (
    "The weak slices found on the searched split (filled dots, with 95% intervals) against the "
    "split's overall error (dashed line); hollow dots: the same slice on the reference split, "
    "so a slice that is weak only under shift stands out."
)
CONFUSION_SHOWS = (
    "Left: the confusion matrix of the chosen split, each row as a share of its true class. "
    "Right: how each share changed against the reference split, in points (red: grew)."
)
TIME_SHOWS = (
    "Accuracy per time window on each chosen split with 95% intervals (hover for counts); the "
    "green band is the reference split's accuracy with its interval; a dotted line marks where "
    "a change began (one-change-point permutation test, adjusted over splits)."
)
RECALL_SHOWS = (
    "Per class: the largest difference in recall between two cohorts on the chosen split (the "
    "equal-opportunity gap), with its 95% interval; hover for the two cohorts."
)


def _guarded(function, *args):
    """Run a cached computation; bad input stops the page with a readable ``st.error``."""
    try:
        return function(*args)
    except (ProjectError, ValueError) as error:
        st.error(f"**The cohort analysis cannot run with these settings.** {error}")
        st.stop()


@st.cache_resource(show_spinner="Computing the cohort table (bootstrap intervals)...",
                   max_entries=32)  # fmt: skip
def _cohorts(_workspace: Workspace, fingerprint: str, options: CohortsOptions) -> CohortsResult:
    view = registry.get_view("cohorts")
    result = registry.compute(view, _workspace, options)
    remember_origin(result, _workspace, view, options)  # its figures are kept beside it
    return result


@st.cache_resource(show_spinner=False, max_entries=16)
def _slices(_workspace: Workspace, fingerprint: str, options: SlicesOptions) -> SlicesResult:
    view = registry.get_view("slices")
    bar = st.progress(0.0, text="Searching weak slices...")

    def report(fraction: float, note: str) -> None:
        bar.progress(min(1.0, fraction), text=f"Searching weak slices: {note}")

    with slice_progress(report):
        result = registry.compute(view, _workspace, options)
    bar.empty()
    return result


@st.cache_resource(show_spinner=False, max_entries=4)
def _columns(_workspace: Workspace, fingerprint: str) -> list[str]:
    # kept on disk too: finding them reads every split (seconds at a million rows)
    return cached_on_disk(
        "cohort_columns",
        {"fingerprint": fingerprint, "metadata": list(_workspace.spec.metadata)},
        _workspace,
        lambda: eligible_columns(_workspace, hub_frames(_workspace)),
    )


def controls(workspace: Workspace) -> CohortsOptions:
    """The cohort column(s), the reference split and the binning, as options of the view."""
    columns = _columns(workspace, workspace.fingerprint())
    left, middle, metric_box, right, far = st.columns([3, 3, 2, 2, 2])
    first = left.selectbox("Cohorts of", [AUTO, *columns], key="cohorts_by")
    second = middle.selectbox(
        "Crossed with", [NONE, *[c for c in columns if c != first]], key="cohorts_by2",
        disabled=first == AUTO,
    )  # fmt: skip
    held_out = [s for s, role in workspace.split_roles.items() if role != "train"]
    default = next((s for s in held_out if workspace.split_roles[s] == "validation"), None)
    reference = right.selectbox(
        "Reference split", held_out or workspace.split_names,
        index=(held_out.index(default) if default in held_out else 0), key="cohorts_reference",
    )  # fmt: skip
    bins = far.number_input("Bins (numeric)", 2, 20, 5, key="cohorts_bins")
    metric = metric_box.selectbox(
        "Metric", list(COHORT_METRICS), format_func=lambda name: COHORT_METRICS[name].label,
        key="cohorts_table_metric",
        help="The cohort table's and heatmap's metric, with 95% bootstrap intervals; the other "
        "tabs are about accuracy.",
    )  # fmt: skip
    by = () if first == AUTO else ((first,) if second == NONE else (first, second))
    return CohortsOptions(by=by, reference=reference, n_bins=int(bins), metric=metric)


def cohorts_for(workspace: Workspace, options: CohortsOptions) -> CohortsResult:
    return _guarded(_cohorts, workspace, workspace.fingerprint(), options)


def slices_for(workspace: Workspace, split: str | None) -> SlicesResult:
    return _guarded(_slices, workspace, workspace.fingerprint(), SlicesOptions(split=split))


def headline(result: CohortsResult) -> None:
    findings = registry.get_view("cohorts").findings(result)
    if findings:
        verdict_box(render(findings[0]), findings[0].severity)
    for finding in findings[1:]:  # splits left out for want of labels, said in place
        if finding.kind == "data.unlabelled":
            st.info(render(finding))


def column_note(result: CohortsResult) -> str:
    column = " × ".join(result.table.columns)
    if result.chosen_automatically:
        return f"Showing cohorts of **{column}**, the column whose cohorts differ most."
    return f"Showing cohorts of **{column}**."


def time_caption(result: CohortsResult) -> str:
    over = result.over_time
    if over is None:
        return ""
    return f"Windows: one {PERIOD_NAMES.get(over.period, over.period)} each."


def cohort_frame(table) -> pd.DataFrame:
    from gengap_dash.findings.cohorts import cohort_frame as frame_of

    return frame_of(table)


def splits_with_time(result: CohortsResult) -> list[str]:
    from gengap_dash.views.cohorts import splits_with_time as with_time

    return with_time(result)


def default_time_splits(result: CohortsResult) -> list[str]:
    """The reference and the deployment split(s), else every split with times."""
    table = result.table
    chosen = [s for s in splits_with_time(result)
              if s == table.reference or table.roles[s] == "deployment"]  # fmt: skip
    return chosen or splits_with_time(result)


def show_table(frame: pd.DataFrame, *, max_rows: int = 12) -> None:
    st.dataframe(frame, hide_index=True, width="stretch",
                 height=38 + 35 * max(1, min(len(frame), max_rows)))  # fmt: skip


# -- the gallery of errors ----------------------------------------------------------------------


GALLERY_KINDS = ["a weak slice", "a cohort cell", "an embedding cluster", "a confusion cell"]


def gallery_selection(workspace: Workspace, result: CohortsResult, slices: SlicesResult):
    """Widgets that pick a weak slice, a cohort cell, an embedding cluster or a confusion cell;
    its hub rows and a title."""
    kind = st.radio("Samples of", GALLERY_KINDS, horizontal=True, key="cohorts_gallery_kind")
    left, right = st.columns(2)
    if kind == "a weak slice":
        return slice_choice(workspace, slices, left, right, key="cohorts_gallery")
    if kind == "an embedding cluster":
        return cluster_choice(workspace, slices, left, right, key="cohorts_gallery")
    table = result.table
    if kind == "a cohort cell":
        return cohort_choice(workspace, table, left, right, key="cohorts_gallery")
    classes = list(result.classes)
    split = left.selectbox("Split", list(table.splits), key="cohorts_gallery_confusion_split",
                           index=len(table.splits) - 1)  # fmt: skip
    grown = result.confusions.grown(split, top=10) if split != result.confusions.reference else []
    cells = [f"true {classes[t]} → predicted {classes[p]}" for t, p in grown] or [
        f"true {classes[0]} → predicted {classes[min(1, len(classes) - 1)]}"
    ]
    chosen = right.selectbox("Confusion (grew most first)", cells, key="cohorts_gallery_cell")
    t, p = grown[cells.index(chosen)] if grown else (0, min(1, len(classes) - 1))
    return confusion_rows(workspace, split, t, p), f"{chosen} on {split}"


def slice_choice(workspace: Workspace, slices: SlicesResult, left, right, *, key: str,
                 optional: bool = False):  # fmt: skip
    """A weak slice and a split (``optional``: "(none)" first, for an inline gallery)."""
    if not slices.search.slices:
        if not optional:
            st.info("No weak slice was found, so there is none to show.")
        return None, ""
    names = [s.name for s in slices.search.slices]
    chosen = left.selectbox("Samples of the slice", [NONE, *names] if optional else names,
                            key=f"{key}_slice")  # fmt: skip
    if chosen == NONE:
        return None, ""
    found = slices.search.slices[names.index(chosen)]
    splits = list(found.by_split)
    split = right.selectbox("On split", splits, key=f"{key}_slice_split",
                            index=splits.index(slices.search.split))  # fmt: skip
    return slice_rows(workspace, found.predicates, split), f"{chosen} on {split}"


def cluster_choice(workspace: Workspace, slices: SlicesResult, left, right, *, key: str,
                   optional: bool = False):  # fmt: skip
    """An embedding cluster and a split; its hub rows."""
    clusters = slices.clusters
    if clusters is None or not clusters.members:
        if not optional:
            st.info(slices.clusters_note or "There are no embedding clusters to show.")
        return None, ""
    names = [cluster_name(c, clusters.split) for c in clusters.clusters]
    chosen = left.selectbox("Samples of the cluster", [NONE, *names] if optional else names,
                            key=f"{key}_cluster")  # fmt: skip
    if chosen == NONE:
        return None, ""
    cluster = clusters.clusters[names.index(chosen)]
    splits = [s for s in clusters.members if cluster.n.get(s, 0) > 0] or list(clusters.members)
    split = right.selectbox(
        "On split", splits, key=f"{key}_cluster_split",
        index=splits.index(clusters.split) if clusters.split in splits else 0,
    )  # fmt: skip
    rows = cluster_rows(workspace, clusters, cluster.index, split)
    return rows, f"cluster {cluster.index} on {split}"


def cluster_name(cluster, split: str) -> str:
    """``"cluster 1 (error 41.0% on field; mostly class 8; source = scanner B)"``."""
    parts = []
    if split in cluster.error:
        parts.append(f"error {percent(cluster.error[split])} on {split}")
    if cluster.classes:
        parts.append(f"mostly class {cluster.classes[0][0]}")
    if cluster.metadata:
        parts.append(f"{cluster.metadata[0][0]} = {cluster.metadata[0][1]}")
    return f"cluster {cluster.index}" + (f" ({'; '.join(parts)})" if parts else "")


def cohort_gallery(workspace: Workspace, table, classes) -> None:
    """Under the cohort table: pick a cohort and a split to see its samples in place."""
    left, right = st.columns(2)
    rows, title = cohort_choice(workspace, table, left, right, key="cohorts_cell_gallery",
                                optional=True)  # fmt: skip
    gallery(workspace, rows, title, classes, key="cohorts_cell_gallery")


def cohort_choice(workspace: Workspace, table, left, right, *, key: str, optional: bool = False):
    """A cohort of the table and a split; its hub rows."""
    cohorts = list(table.cohorts)
    cohort = left.selectbox("Samples of the cohort", [NONE, *cohorts] if optional else cohorts,
                            key=f"{key}_cohort")  # fmt: skip
    if cohort == NONE:
        return None, ""
    split = right.selectbox("On split", list(table.splits), key=f"{key}_split",
                            index=len(table.splits) - 1)  # fmt: skip
    options = CohortsOptions(by=table.columns, n_bins=int(st.session_state.get("cohorts_bins", 5)))
    return cohort_rows(workspace, options, table.columns, split, cohort), f"{cohort} on {split}"


def gallery(workspace: Workspace, rows: pd.DataFrame | None, title: str, classes, *,
            key: str = "cohorts_gallery") -> None:  # fmt: skip
    """The selected samples, worst loss first, paged; thumbnails (images) or feature rows
    (tabular) with label, prediction, confidence and loss; a CSV of all their sample ids. A
    large selection shows a fixed-seed sample of at most ``GALLERY_CAP`` of them."""
    if rows is None:
        return
    errors_only = st.toggle("Errors only", value=True, key=f"{key}_errors")
    selected = rows[~rows["correct"].astype(bool)] if errors_only else rows
    wrong = int((~rows["correct"].astype(bool)).sum())
    rate = percent(wrong / len(rows)) if len(rows) else "n/a"
    shown = gallery_sample(selected)
    capped = (
        f" Showing a fixed sample of {len(shown):,} of the {len(selected):,}."
        if len(shown) < len(selected)
        else ""
    )
    st.markdown(
        f"**{escape_markdown(title)}**: {plural(len(rows), 'sample')}, "
        f"{plural(wrong, 'error')} ({rate}); worst loss first.{capped}"
    )
    st.download_button(
        "Download the sample ids (CSV)", selected[["split", "sample_id", "label", "pred", "loss"]]
        .to_csv(index=False).encode(), file_name="gengap_selection.csv", mime="text/csv",
        key=f"{key}_download",
    )  # fmt: skip
    if shown.empty:
        st.info("No sample to show here.")
        return
    pages = max(1, int(np.ceil(len(shown) / PAGE_SIZE)))
    page = st.number_input(f"Page (of {pages})", 1, pages, 1, key=f"{key}_page")
    chunk = shown.iloc[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    split = str(chunk["split"].iloc[0])
    kind, inputs = _guarded(sample_inputs, workspace, split, chunk["row"].to_numpy())
    captions = [
        f"{sid} · true {classes[int(y)]} → {classes[int(p)]} · {percent(c, digits=0)} · "
        f"loss {loss:.2f}"
        for sid, y, p, c, loss in zip(chunk["sample_id"], chunk["label"], chunk["pred"],
                                      chunk["confidence"], chunk["loss"], strict=True)
    ]  # fmt: skip
    if kind == "image":
        columns = st.columns(6)
        for index, (image, caption) in enumerate(zip(inputs, captions, strict=True)):
            columns[index % 6].image(upscale(image, size=96), caption=caption, clamp=True)
        return
    table = chunk[["sample_id", "label", "pred", "confidence", "loss"]].reset_index(drop=True)
    table["label"] = [classes[int(v)] for v in table["label"]]
    table["pred"] = [classes[int(v)] for v in table["pred"]]
    if kind == "tabular":
        table = pd.concat([table, inputs.reset_index(drop=True)], axis=1)
    show_table(table, max_rows=PAGE_SIZE)


READING_GUIDE = """
- **Cohorts**: a metadata column's values (numeric columns in quantile bins, dates by period),
  each split's metric per cohort with a 95% bootstrap interval, and the gap to the same cohort
  on the reference split. Cells with fewer samples than the minimum are shown as "too few".
- **Mix or performance**: a split can lose accuracy because it holds more of a hard cohort
  (mix) or because the model got worse inside cohorts (performance). The two parts add up to
  the change exactly.
- **Weak slices**: combinations of up to three metadata values where the model errs most,
  ranked by SliceLine's score of error excess and size; p-values are adjusted for the number
  of slices tested (Benjamini-Hochberg).
- **Errors**: the samples behind any weak slice, cohort cell, embedding cluster or confusion
  cell, worst loss first (a fixed sample of at most 240 when there are more), with a CSV of
  all their ids. The slice and cluster tables, and the cohort table, open the same gallery
  in place.
"""


# -- the tabs -------------------------------------------------------------------------------------


def decomposition_section(result: CohortsResult) -> None:
    """Mix or performance: the split-level chart, its table and one split per cohort."""
    from gengap_dash.analysis.cohorts import findings as verdicts
    from gengap_dash.findings.cohorts import decomposition_cohort_frame, decomposition_frame
    from gengap_dash.plots import cohorts as plots

    if not result.decompositions:
        st.info("There is no split to compare with the reference.")
        return
    worst = verdicts.decomposition_takeaway(result.decompositions, result.table.roles)
    explained_chart(
        figure_of(
            result, ("decomposition",), lambda: plots.decomposition_figure(result.decompositions)
        ),
        shows=DECOMPOSITION_SHOWS,
        takeaway=render(worst),
        key="cohorts_decomposition",
    )
    show_table(decomposition_frame(result.decompositions))
    names = [d.split for d in result.decompositions]
    chosen = st.selectbox(
        "Per cohort, for split", names, index=names.index(worst.split),
        key="cohorts_decomposition_split",
    )  # fmt: skip
    one = result.decompositions[names.index(chosen)]
    explained_chart(
        figure_of(
            result, ("decomposition", chosen), lambda: plots.decomposition_cohort_figure(one)
        ),
        shows=DECOMPOSITION_COHORT_SHOWS,
        takeaway=render(verdicts.decomposition_finding(one)),
        key="cohorts_decomposition_cohorts",
    )
    show_table(decomposition_cohort_frame(one))


def slices_section(workspace: Workspace, table) -> None:
    """Weak slices of a chosen split, and the embedding clusters."""
    from gengap_dash.analysis.cohorts import findings as verdicts
    from gengap_dash.findings.slices import clusters_frame, slices_frame
    from gengap_dash.plots import cohorts as plots

    searched = st.selectbox(
        "Split to search", [DEFAULT_SEARCH, *workspace.split_names], key="cohorts_slices_split"
    )
    slices = slices_for(workspace, None if searched == DEFAULT_SEARCH else searched)
    findings = verdicts.slice_findings(slices.search, slices.clusters)
    if slices.search.slices:
        explained_chart(
            plots.slices_figure(slices.search, reference=table.reference),
            shows=SLICES_SHOWS,
            takeaway=render(findings[0]),
            key="cohorts_slices",
        )
        show_table(slices_frame(slices.search, splits=[table.reference]))
        left, right = st.columns(2)
        rows, title = slice_choice(workspace, slices, left, right, key="cohorts_slice_gallery",
                                   optional=True)  # fmt: skip
        gallery(workspace, rows, title, workspace.class_names, key="cohorts_slice_gallery")
    else:
        st.success(render(findings[0]))
    st.caption(
        f"{slices.search.n_tested:,} slices of at least {slices.search.min_support} samples "
        f"tested on {slices.search.split} over {', '.join(slices.search.columns)}."
    )
    st.subheader("Embedding clusters as automatic cohorts")
    if slices.clusters is None:
        st.info(slices.clusters_note)
        return
    show_table(clusters_frame(slices.clusters), max_rows=8)
    for finding in findings[1:]:
        st.markdown(render(finding))
    left, right = st.columns(2)
    rows, title = cluster_choice(workspace, slices, left, right, key="cohorts_cluster_gallery",
                                 optional=True)  # fmt: skip
    gallery(workspace, rows, title, workspace.class_names, key="cohorts_cluster_gallery")


def confusions_section(result: CohortsResult) -> None:
    """The confusion matrix of a chosen split and its change against the reference."""
    from gengap_dash.analysis.cohorts import findings as verdicts
    from gengap_dash.findings.cohorts import confusion_frame
    from gengap_dash.plots import cohorts as plots

    table = result.table
    others = [s for s in table.splits if s != table.reference]
    split = st.selectbox("Split", others, index=len(others) - 1, key="cohorts_confusion_split")
    finding = verdicts.confusion_finding(result, split)
    left, right = st.columns(2)
    with left:
        explained_chart(
            figure_of(
                result,
                ("confusion", split),
                lambda: plots.confusion_figure(result.confusions, split),
            ),
            shows=CONFUSION_SHOWS,
            takeaway=render(finding) if finding else "No confusion grew.",
            key="cohorts_confusion",
        )
    with right:
        st.plotly_chart(
            figure_of(
                result,
                ("confusion change", split),
                lambda: plots.confusion_change_figure(result.confusions, split),
            ),
            key="cohorts_confusion_change",
        )
    show_table(confusion_frame(result.confusions, split))


def over_time_section(result: CohortsResult, colors) -> None:
    """Accuracy per time window of chosen splits, with the change test's sentence."""
    from gengap_dash.analysis.cohorts import findings as verdicts
    from gengap_dash.plots import cohorts as plots

    if result.over_time is None:
        st.info(" ".join(result.notes))
        return
    shown = st.multiselect(
        "Splits", splits_with_time(result), default=default_time_splits(result),
        key="cohorts_time_splits",
    )  # fmt: skip
    explained_chart(
        figure_of(
            result,
            ("over time", shown, sorted(colors.items())),
            lambda: plots.over_time_figure(result.over_time, splits=shown, colors=colors),
        ),
        shows=f"{TIME_SHOWS} {time_caption(result)}",
        takeaway=render(verdicts.over_time_takeaway(result, shown)),
        key="cohorts_time",
    )


def fairness_section(result: CohortsResult) -> None:
    """The widest between-cohort differences per split, and per-class recall gaps."""
    from gengap_dash.analysis.cohorts import findings as verdicts
    from gengap_dash.findings.cohorts import fairness_frame
    from gengap_dash.plots import cohorts as plots

    show_table(fairness_frame(result))
    splits = list(result.table.splits)
    split = st.selectbox(
        "Per-class recall gaps on", splits, index=len(splits) - 1, key="cohorts_fair_split"
    )
    fair = next(f for f in result.fairness if f.split == split)
    finding = verdicts.fairness_finding(result, split)
    explained_chart(
        figure_of(
            result, ("recall gaps", split), lambda: plots.recall_gap_figure(fair, result.classes)
        ),
        shows=RECALL_SHOWS,
        takeaway=render(finding)
        if finding
        else "Fewer than two cohorts have enough samples on this split.",
        key="cohorts_recall",
    )
