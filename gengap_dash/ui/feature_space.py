"""Streamlit glue for the feature-space page: controls, cached results (a thin layer over
``registry.compute``), the map with selection, and the review queue's download.

No UMAP or numba work happens on a page load: the page shows the PCA map (seconds, cached on
disk) until the UMAP map is in the result cache (``gengap embed``, or the button here, which
computes it once with progress); meanwhile a background thread compiles UMAP's numba functions
(once per server process; ``GENGAP_UMAP_WARM_UP=0`` turns it off), so the button does not wait
for compilation. With the UMAP map cached, nothing of UMAP is imported.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from gengap_dash.analysis.embedding_map import EmbeddingMap
from gengap_dash.analysis.ood.findings import ood_findings, review_findings
from gengap_dash.analysis.shift.findings import map_findings, shift_findings
from gengap_dash.findings.ood import SCORE_LABELS, accuracy_table, ood_table
from gengap_dash.findings.render import render
from gengap_dash.findings.shift import shift_table
from gengap_dash.plots.feature_space import (
    accuracy_estimate_figure,
    cluster_share_figure,
    domain_auc_figure,
    label_shift_figure,
    map_figure,
    ood_auroc_figure,
    over_time_figure,
    score_histogram_figure,
)
from gengap_dash.plots.style import split_colors
from gengap_dash.ui.analysis import (
    cached_figure,
    figure_of,
    said,
    stored_view_result,
    view_result,
)
from gengap_dash.ui.layout import explained_chart, verdict_list
from gengap_dash.views.ood import OODOptions
from gengap_dash.views.registry import compute, get_view
from gengap_dash.views.review import QUEUE_SCORES, ReviewOptions, default_review_split
from gengap_dash.views.shift import (
    DOMAIN_AUC_SHOWS,
    REFERENCE_ROLES,
    EmbedView,
    default_reference,
    map_shows,
    warm_umap_in_background,
)
from gengap_dash.workspace import Workspace

TABS = ("Map", "Shift tests", "OOD scores", "Accuracy without labels", "Review queue")
COLOR_BY = ("split", "correct", "confidence", "loss", "label", "predicted class")
SELECTION_ROWS = 200
"""Rows of a lasso or box selection listed under the map."""


def reference_control(workspace: Workspace) -> str:
    """The reference split (test or validation splits; the default first)."""
    choices = [n for n, r in workspace.split_roles.items() if r in REFERENCE_ROLES]
    default = default_reference(workspace)
    choices = choices or [default]
    return str(
        st.selectbox(
            "Reference (in-distribution) split",
            choices,
            index=choices.index(default),
            key="feature_reference",
            help="Every shifted and deployment split is compared with this one.",
        )
    )


def unlabelled_notes(workspace: Workspace) -> None:
    """Say which splits have no labels, and what this page shows of them all the same."""
    from gengap_dash.findings.render import render
    from gengap_dash.findings.unlabelled import unlabelled_findings
    from gengap_dash.views._unlabelled import unlabelled_of

    for finding in unlabelled_findings(
        unlabelled_of(workspace),
        view="ood",
        needs=("measured accuracy", "the error AUROC of each score"),
        shown=("the map", "the shift tests", "the OOD scores", "the accuracy estimated from "
               "confidence (ATC, DoC)", "the review queue"),
    ):  # fmt: skip
        st.info(render(finding))


def current_map(workspace: Workspace, reference: str) -> EmbeddingMap:
    """The UMAP map when cached, else the PCA map (with a button that computes UMAP once)."""
    umap_options = EmbedView.Options()  # the map does not depend on the reference
    result = stored_view_result("embed", workspace, umap_options)
    if result is not None:
        return result
    if os.environ.get("GENGAP_UMAP_WARM_UP", "1") != "0":
        warm_umap_in_background(workspace)  # compile while the PCA map is read
    left, right = st.columns([3, 1])
    left.info(
        "Showing the PCA map (instant). The UMAP map separates neighbourhoods better; it is "
        "computed once (about a minute for 100,000 points) and then cached, or ahead of time "
        "with `gengap embed`.",
        icon=":material/info:",
    )
    if right.button("Compute the UMAP map", key="feature_compute_umap"):
        with st.status("Computing the UMAP map...", expanded=True) as status:
            compute(
                get_view("embed"), workspace, umap_options,
                on_miss=lambda: status.write("Fitting UMAP on a stratified sample of points"),
            )  # fmt: skip
            status.update(label="UMAP map ready", state="complete")
        st.rerun()
    return view_result("embed", workspace, EmbedView.Options(method="pca"))


def per_sample_scores(workspace: Workspace, ood) -> pd.DataFrame:
    """The OOD result's per-sample scores: the page reads the result without them (a light
    read) and asks for them only to build a figure that is not on disk yet."""
    if ood.samples is not None:
        return ood.samples
    return view_result("ood", workspace, OODOptions(reference=ood.reference, k=ood.k)).samples


def color_choices(workspace: Workspace, ood) -> list[str]:
    return [*COLOR_BY, *workspace.spec.metadata, *[f"score: {s}" for s in ood.scores]]


def color_values(workspace: Workspace, ood, choice: str) -> tuple[np.ndarray | None, str]:
    """Per-point values (map order = splits in project order) and their kind."""
    if choice == "split":
        return None, "split"
    if choice.startswith("score: "):
        scores = per_sample_scores(workspace, ood)
        return scores[choice.removeprefix("score: ")].to_numpy(), "continuous"
    table = workspace.predictions()
    names = np.asarray(workspace.class_names)
    labels = table["label"].to_numpy()
    if choice == "label":  # -1: a row without a label (unlabelled splits)
        return np.where(labels >= 0, names[np.maximum(labels, 0)], "no label"), "category"
    if choice == "predicted class":
        return names[table["pred"].to_numpy()], "category"
    if choice == "correct":
        correct = np.where(table["correct"].to_numpy(bool), "correct", "wrong")
        return np.where(labels >= 0, correct, "no label"), "category"
    values = table[choice]
    if pd.api.types.is_numeric_dtype(values) and values.nunique() > 12:
        return values.to_numpy(np.float64), "continuous"
    return values.astype(str).to_numpy(), "category"


def map_section(workspace: Workspace, reference: str, ood) -> None:
    """The map, its colour control, and what a lasso or box selection holds."""
    if not workspace.has_embeddings():
        st.info(EmbedView.NO_EMBEDDINGS + " The shift tests and OOD scores that need no "
                "embeddings are in the other tabs.")  # fmt: skip
        return
    embedding_map = current_map(workspace, reference)
    choice = st.selectbox("Colour by", color_choices(workspace, ood), key="feature_color")
    colors = split_colors(workspace.split_roles)

    def build() -> go.Figure:  # reads the hub table only when the figure is not cached
        values, kind = color_values(workspace, ood, choice)
        table = workspace.predictions()

        def hover(rows: np.ndarray) -> np.ndarray:  # only the drawn points' texts
            drawn = table.iloc[rows]
            return (drawn["split"].astype(str) + " · " + drawn["sample_id"].astype(str)).to_numpy()

        return map_figure(
            embedding_map, color=values, color_kind=kind, color_title=choice, hover=hover,
            colors=colors,
        )  # fmt: skip

    # the scores a map can be coloured by depend on the reference; the rest on the map alone
    figure = figure_of(embedding_map, ("map", choice, reference, sorted(colors.items())), build)
    event = st.plotly_chart(
        figure, width="stretch", key="feature_map", on_select="rerun",
        selection_mode=("lasso", "box"), config={"displaylogo": False},
    )  # fmt: skip
    findings = map_findings(embedding_map, reference=reference)
    if findings:
        st.markdown(f"**What to take from it:** {render(findings[0])}")
    st.caption(map_shows(embedding_map) + " Draw a lasso or a box to list the samples inside.")
    rows = selected_rows(event)
    if rows.size:
        show_selection(workspace, selection_rows(workspace, rows))


def selected_rows(event) -> np.ndarray:
    """Global row indices of the selected points (from the traces' ``customdata``)."""
    try:
        points = event.selection.points  # type: ignore[union-attr]
    except AttributeError:
        return np.array([], dtype=np.int64)
    rows = [p.get("customdata") for p in points if p.get("customdata") is not None]
    flat = [r[0] if isinstance(r, list) else r for r in rows]
    return np.unique(np.asarray(flat, dtype=np.int64))


GALLERY_SIZE = 24
"""Thumbnails (image projects) or input rows (tabular) shown of a selection."""


def selection_rows(workspace: Workspace, rows: np.ndarray) -> pd.DataFrame:
    """The selected rows of ``workspace.predictions()`` (global positions, map order), with
    ``row``: each one's position within its split."""
    table = workspace.predictions()
    within = table.groupby("split", sort=False, observed=True).cumcount().to_numpy()
    return table.iloc[rows].assign(row=within[rows])


def show_selection(workspace: Workspace, selected: pd.DataFrame) -> None:
    """The selection's split and cohort mix, its rows (label, prediction, confidence) and a
    gallery of what the model read (thumbnails or feature rows, at most
    :data:`GALLERY_SIZE`)."""
    from gengap_dash.findings.words import percent
    from gengap_dash.views.cohorts import sample_inputs, upscale

    st.subheader(f"The {len(selected):,} selected samples")
    left, right = st.columns(2)
    mix = selected["split"].astype(str).value_counts(normalize=True).rename("share")
    left.dataframe(
        mix.to_frame(), column_config={"share": st.column_config.NumberColumn(format="percent")}
    )
    if workspace.spec.metadata:
        column = workspace.spec.metadata[0]
        cohort = selected[column].astype(str).value_counts(normalize=True).rename("share")
        right.dataframe(
            cohort.to_frame(),
            column_config={"share": st.column_config.NumberColumn(format="percent")},
        )
    names = np.asarray(workspace.class_names)
    labels = selected["label"].to_numpy()
    named = selected.assign(
        label=np.where(labels >= 0, names[np.maximum(labels, 0)], "no label"),
        pred=names[selected["pred"].to_numpy()],
    )
    st.dataframe(
        named.head(SELECTION_ROWS)[
            ["split", "sample_id", "label", "pred", "confidence", *workspace.spec.metadata]
        ],
        hide_index=True,
        column_config={"confidence": st.column_config.NumberColumn(format="percent")},
    )
    if len(selected) > SELECTION_ROWS:
        st.caption(f"The first {SELECTION_ROWS:,} of {len(selected):,} rows.")
    # the gallery: one split at a time (inputs are read per split), the most selected first
    splits = named["split"].astype(str).value_counts().index.tolist()
    split = splits[0]
    if len(splits) > 1:
        split = st.selectbox("Gallery of split", splits, key="feature_gallery_split")
    chunk = named[named["split"].astype(str) == split].head(GALLERY_SIZE)
    try:
        kind, inputs = sample_inputs(workspace, split, chunk["row"].to_numpy())
    except (OSError, ValueError) as error:  # an unreadable input file: say so, keep the page
        st.caption(f"The inputs of {split} cannot be read for the gallery: {error}")
        return
    if kind == "image":
        st.markdown(f"**What the model saw** ({len(chunk):,} of the selected {split} samples):")
        captions = [
            f"{sid} · {label} → {pred} · {percent(conf, digits=0)}"
            for sid, label, pred, conf in zip(chunk["sample_id"], chunk["label"], chunk["pred"],
                                              chunk["confidence"], strict=True)
        ]  # fmt: skip
        columns = st.columns(6)
        for index, (image, caption) in enumerate(zip(inputs, captions, strict=True)):
            columns[index % 6].image(upscale(image, size=96), caption=caption, clamp=True)
    elif kind == "tabular":
        st.markdown(f"**The model's inputs** ({len(chunk):,} of the selected {split} samples):")
        head = chunk[["sample_id", "label", "pred", "confidence"]].reset_index(drop=True)
        st.dataframe(
            pd.concat([head, inputs.reset_index(drop=True)], axis=1), hide_index=True,
            column_config={"confidence": st.column_config.NumberColumn(format="percent")},
        )  # fmt: skip


def shift_section(shift, colors) -> None:
    verdict_list(said(shift_findings(shift)))
    for note in shift.notes:
        st.caption(note)
    if not shift.splits:
        return
    worst = max(shift.splits, key=lambda item: item.domain.auc)
    verdicts = {f.split: f for f in shift_findings(shift) if f.kind == "shift.split"}
    explained_chart(
        cached_figure(domain_auc_figure, shift, colors=dict(colors)), shows=DOMAIN_AUC_SHOWS,
        takeaway=render(verdicts[worst.split]), key="feature_domain_auc",
    )  # fmt: skip
    st.dataframe(shift_table(shift), hide_index=True)
    names = [item.split for item in shift.splits]
    split = st.selectbox(
        "Split to look into", names, index=names.index(worst.split), key="feature_shift_split"
    )
    item = shift.split(split)
    top = item.top_cluster or {}
    explained_chart(
        cached_figure(cluster_share_figure, shift, split), key="feature_clusters",
        shows="k-means clusters of the embedding space: the share of the reference (grey) and of "
        "the split in each; labels give the split's most common class and error rate there.",
        takeaway=f"Cluster {top.get('cluster')} grows most: {100 * top.get('share', 0):.0f}% of "
        f"{split} against {100 * top.get('reference_share', 0):.0f}% of {shift.reference}.",
    )  # fmt: skip
    if item.label_shift is not None:
        tv = item.label_shift.total_variation
        explained_chart(
            figure_of(shift, ("label shift", split),
                      lambda: label_shift_figure(item, shift.class_names)),
            key="feature_label_shift",
            shows="Class proportions estimated from the predictions alone (black-box shift "
            "estimation, 95% bootstrap intervals), against validation's and, where labels exist, "
            "the true ones. Valid when only the class mix changes.",
            takeaway=f"The estimated class mix of {split} is {100 * tv:.0f}% (total variation) "
            "away from validation's.",
        )  # fmt: skip
    if len(shift.over_time):
        over = [f for f in shift_findings(shift) if f.kind == "shift.over_time"]
        explained_chart(
            cached_figure(over_time_figure, shift), key="feature_over_time",
            takeaway=render(over[0]),
            shows="MMD² of each time window of each deployment split against the reference; "
            "p-values Benjamini-Hochberg-adjusted across windows.",
        )  # fmt: skip


def ood_section(ood) -> None:
    findings = ood_findings(ood)
    verdict_list(said([f for f in findings if f.kind != "ood.accuracy_estimate"]))
    for note in ood.notes:
        st.caption(note)
    best = [f for f in findings if f.kind == "ood.best_score"]
    if best:
        explained_chart(
            cached_figure(ood_auroc_figure, ood), key="feature_ood_auroc", takeaway=render(best[0]),
            shows="AUROC of each per-sample score at telling each shifted or deployment split "
            "(positives) from the reference; 0.5 is chance. Scores are oriented so that higher "
            "means more unusual.",
        )  # fmt: skip
        st.dataframe(ood_table(ood), hide_index=True)


def accuracy_section(ood) -> None:
    estimates = [f for f in ood_findings(ood) if f.kind == "ood.accuracy_estimate"]
    verdict_list(said(estimates))
    worst = max(estimates, key=lambda f: f.rank) if estimates else None
    explained_chart(
        cached_figure(accuracy_estimate_figure, ood), key="feature_accuracy",
        takeaway=render(worst) if worst else "No validation split: ATC and DoC need one.",
        shows="ATC: the share of a split's confidences above a threshold fitted on validation so "
        "that validation's share equals its accuracy. DoC: validation accuracy minus the drop in "
        "mean confidence. Compare each with the measured accuracy to see how far to trust them.",
    )  # fmt: skip
    st.dataframe(accuracy_table(ood), hide_index=True)


def review_controls(workspace: Workspace, reference: str, ood) -> ReviewOptions:
    names = workspace.split_names
    a, b, c, d = st.columns(4)
    split = a.selectbox(
        "Split to review",
        names,
        index=names.index(default_review_split(workspace)),
        key="feature_review_split",
    )
    scores = [s for s in QUEUE_SCORES if s in (*ood.scores, "combined")]
    score = b.selectbox(
        "Ranked by",
        scores,
        index=scores.index("combined"),
        format_func=SCORE_LABELS.get,
        key="feature_review_score",
    )
    alarm = c.slider(
        "False alarms on the reference", 0.01, 0.20, 0.05, 0.01, key="feature_review_alarm",
        help="The threshold flags this share of the reference split.",
    )  # fmt: skip
    top = d.number_input("Rows", 10, 5000, 50, 10, key="feature_review_top")
    return ReviewOptions(
        split=str(split),
        reference=reference,
        score=str(score),
        top=int(top),
        false_alarm=float(alarm),
    )


def review_section(workspace: Workspace, options: ReviewOptions, ood) -> None:
    queue = view_result("review", workspace, options)
    finding = review_findings(queue)[0]
    score, colors = options.score, split_colors(workspace.split_roles)

    def histogram() -> go.Figure:  # the scores are gathered only when the figure is built
        samples = per_sample_scores(workspace, ood)
        if score == "combined":
            from gengap_dash.analysis.ood.review import combined_score

            ref = samples[samples["split"] == queue.reference]
            values = {
                s: combined_score(samples[samples["split"] == s], ref, ood_score=queue.ood_score)
                for s in dict.fromkeys([queue.reference, queue.split])
            }
        else:
            values = {
                s: samples.loc[samples["split"] == s, score].to_numpy()
                for s in dict.fromkeys([queue.reference, queue.split])
            }
        return score_histogram_figure(
            samples, values, threshold=queue.threshold, score=score, colors=colors
        )

    explained_chart(
        figure_of(queue, ("histogram", sorted(colors.items())), histogram),
        key="feature_review_histogram", takeaway=render(finding),
        shows="The score's distribution on the reference and on the split; samples right of the "
        "dashed threshold are flagged. The combined score averages a sample's percentile among "
        "the reference's OOD scores and among its predicted error probabilities (1 − MSP).",
    )  # fmt: skip
    st.dataframe(
        queue.queue,
        hide_index=True,
        column_config={"confidence": st.column_config.NumberColumn(format="percent")},
    )
    columns = ["sample_id", "split", "score", "pred", "confidence"]
    csv = queue.queue[columns + [c for c in queue.queue.columns if c not in columns]].to_csv(
        index=False
    )
    st.download_button(
        "Download the queue (CSV)",
        csv,
        file_name=f"review_{queue.split}.csv",
        mime="text/csv",
        key="feature_review_download",
    )
