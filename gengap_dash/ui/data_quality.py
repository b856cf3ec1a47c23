"""Streamlit glue of the "Data and robustness" page: the label audit and leakage sections
(widgets, galleries, downloads). No maths here: results come from the views through
``ui/analysis.view_result``, thresholds are applied by ``analysis.leakage.at_threshold``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from gengap_dash.analysis.labels import findings as label_verdicts
from gengap_dash.analysis.leakage import DEFAULT_THRESHOLD, at_threshold, pairs
from gengap_dash.analysis.leakage import findings as leakage_verdicts
from gengap_dash.findings.labels import audit_table, suspects_csv
from gengap_dash.findings.leakage import leakage_table, pairs_table
from gengap_dash.findings.render import render
from gengap_dash.findings.words import percent, plural
from gengap_dash.plots import data_quality as plots
from gengap_dash.plots.style import split_colors
from gengap_dash.ui.analysis import view_result
from gengap_dash.ui.layout import explained_chart, verdict_box
from gengap_dash.views.cohorts import sample_inputs, upscale
from gengap_dash.views.registry import get_view
from gengap_dash.workspace import Workspace

TABS = ["Corruption sweeps", "Label audit", "Leakage"]
PAGE_SIZE = 24
ALL_SPLITS = "(all splits)"

LABEL_SHARE_SHOWS = (
    "Per split: the share of labels that cleanlab's confident learning flags as likely wrong, "
    "with its 95% Wilson interval (hover for counts). The training split (hatched) is "
    "in-sample: the model has memorised part of its noise, so its share is a lower bound."
)
LABEL_COHORT_SHOWS = (
    "The same share per cohort of the chosen metadata column and per split, with 95% Wilson "
    "intervals: a cohort far above its split is where to start relabelling."
)
LABEL_ACCURACY_SHOWS = (
    "Per split: accuracy on every sample (grey) and on the samples that are not suspects "
    "(green), with 95% Wilson intervals."
)
TWIN_SHARE_SHOWS = (
    "Per held-out split: the share of samples whose nearest training sample is an exact copy of "
    "its input or a near-twin (cosine similarity of the embeddings, centred on the training "
    "mean, at or above the threshold), with 95% Wilson intervals; hover for counts."
)
TWIN_ACCURACY_SHOWS = (
    "Per held-out split: accuracy on the samples without a twin in train (grey) and on those "
    "with one (red; drawn from 10 twins on), with 95% Wilson intervals. Red far above grey: "
    "the split's score is flattered by near-copies of training data."
)
SIMILARITY_SHOWS = (
    "The split's samples most similar to train, ranked: each one's cosine similarity to its "
    "nearest training sample (exact copies at 1); red at or above the dashed threshold. Copies "
    "form a plateau near 1; a clear drop after it is where to put the threshold."
)


def robustness_section(workspace: Workspace) -> None:
    """The corruption sweeps (built by the robustness view's own module)."""
    try:
        from gengap_dash.ui.robustness import render_robustness_section
    except ImportError:
        st.info("Corruption sweeps: being built")
        return
    render_robustness_section(workspace)


# -- label audit ----------------------------------------------------------------------------------


def labels_section(workspace: Workspace) -> None:
    """Shares per split and cohort, accuracy with and without the suspects, the suspects."""
    audit = view_result("labels", workspace)
    colors = split_colors(workspace.split_roles)
    top = label_verdicts.headline_finding(audit)
    if top is None:
        st.info("No split could be audited.")
        return
    verdict_box(render(top), top.severity)
    explained_chart(
        plots.label_share_figure(audit, colors=colors),
        shows=LABEL_SHARE_SHOWS,
        takeaway=render(label_verdicts.share_takeaway(audit) or top),
        key="labels_share",
    )
    columns = list(dict.fromkeys(audit.cohorts["column"]))
    if columns:
        column = st.selectbox("Cohorts of", columns, key="labels_cohort_column")
        finding = label_verdicts.cohort_takeaway(audit, column)
        explained_chart(
            plots.label_cohort_figure(audit, column, colors=colors),
            shows=LABEL_COHORT_SHOWS,
            takeaway=render(finding) if finding else "No cohort has 20 samples or more.",
            key="labels_cohorts",
        )
    change = label_verdicts.accuracy_takeaway(audit)
    explained_chart(
        plots.label_accuracy_figure(audit),
        shows=LABEL_ACCURACY_SHOWS,
        takeaway=render(change) if change else render(top),
        key="labels_accuracy",
    )
    st.dataframe(audit_table(audit), hide_index=True, width="stretch")
    _suspects_gallery(workspace, audit)


def _suspects_gallery(workspace: Workspace, audit) -> None:
    st.subheader("Suspects, lowest label quality first")
    st.download_button(
        f"Download the {plural(len(audit.suspects), 'suspect')} (CSV)",
        suspects_csv(audit).encode(),
        file_name="gengap_label_suspects.csv",
        mime="text/csv",
        key="labels_download",
    )
    if audit.suspects.empty:
        st.success("No label looks wrong.")
        return
    splits = list(dict.fromkeys(audit.suspects["split"]))
    left, right = st.columns([3, 2])
    chosen = left.selectbox("Split", [ALL_SPLITS, *splits], key="labels_gallery_split")
    shown = (
        audit.suspects
        if chosen == ALL_SPLITS
        else audit.suspects[audit.suspects["split"] == chosen]
    )
    pages = max(1, int(np.ceil(len(shown) / PAGE_SIZE)))
    page = right.number_input(f"Page (of {pages})", 1, pages, 1, key="labels_gallery_page")
    chunk = shown.iloc[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    names = audit.class_names
    captions = [
        f"{sid} · given {names[int(y)]} → predicted {names[int(p)]} · {percent(c, digits=0)} · "
        f"quality {q:.3f}"
        for sid, y, p, c, q in zip(
            chunk["sample_id"],
            chunk["label"],
            chunk["pred"],
            chunk["confidence"],
            chunk["label_quality"],
            strict=True,
        )
    ]
    _show_samples(workspace, chunk, captions, chunk[["split", "sample_id"]])


def _show_samples(workspace: Workspace, chunk: pd.DataFrame, captions, header) -> None:
    """Thumbnails (image projects) or rows with their features (tabular)."""
    images, rows = [], []
    for split, part in chunk.groupby("split", sort=False):
        kind, inputs = sample_inputs(workspace, str(split), part["row"].to_numpy())
        if kind == "image":
            images.extend(inputs)
        elif kind == "tabular":
            rows.append(inputs)
    if images:
        columns = st.columns(6)
        for index, (image, caption) in enumerate(zip(images, captions, strict=True)):
            columns[index % 6].image(upscale(image, size=96), caption=caption, clamp=True)
        return
    table = header.reset_index(drop=True).assign(what=list(captions))
    if rows:
        table = pd.concat([table, pd.concat(rows, ignore_index=True)], axis=1)
    st.dataframe(table, hide_index=True, width="stretch")


# -- leakage --------------------------------------------------------------------------------------


def leakage_section(workspace: Workspace) -> None:
    """Threshold slider, share with a twin, accuracy with and without, pairs side by side."""
    view = get_view("leakage")
    reason = view.unavailable(workspace)
    if reason:
        st.info(reason)
        return
    threshold = st.slider(
        "Near-twin from cosine similarity",
        0.95,
        1.0,
        DEFAULT_THRESHOLD,
        0.001,
        format="%.3f",
        key="leakage_threshold",
        help="Cosine similarity of the embeddings (centred on the training mean) from which a "
        "held-out sample counts as a near-copy of its nearest training sample.",
    )
    result = at_threshold(view_result("leakage", workspace), float(threshold))
    for note in result.notes:
        st.caption(note)
    top = leakage_verdicts.headline_finding(result)
    if top is None:
        st.info("There is no held-out split to compare with train.")
        return
    verdict_box(render(top), top.severity)
    colors = split_colors(workspace.split_roles)
    explained_chart(
        plots.twin_share_figure(result, colors=colors),
        shows=TWIN_SHARE_SHOWS,
        takeaway=render(leakage_verdicts.share_takeaway(result) or top),
        key="leakage_share",
    )
    flattered = leakage_verdicts.accuracy_takeaway(result)
    explained_chart(
        plots.twin_accuracy_figure(result),
        shows=TWIN_ACCURACY_SHOWS,
        takeaway=render(flattered or top),
        key="leakage_accuracy",
    )
    st.dataframe(leakage_table(result), hide_index=True, width="stretch")
    names = [s.split for s in result.summaries]
    split = st.selectbox("Pairs of split", names, index=names.index(top.split), key="leakage_split")
    if result.method != "none":
        explained_chart(
            plots.similarity_figure(result, split),
            shows=SIMILARITY_SHOWS,
            takeaway=render(leakage_verdicts.similarity_takeaway(result, split)),
            key="leakage_similarity",
        )
    _pairs_gallery(workspace, result, split)


def _pairs_gallery(workspace: Workspace, result, split: str) -> None:
    frame = pairs(result, split, result.threshold)
    st.subheader(f"Pairs: {split} and its twin in train, most similar first")
    if frame.empty:
        st.success(f"No sample of {split} has a twin in train at this threshold.")
        return
    st.caption(f"{plural(len(frame), 'pair')}; showing up to {PAGE_SIZE}.")
    frame = frame.head(PAGE_SIZE)
    names = workspace.class_names
    kind, held = sample_inputs(workspace, split, frame["row"].to_numpy())
    trains = [
        sample_inputs(workspace, str(s), np.array([r]))[1]
        for s, r in zip(frame["train_split"], frame["train_row"], strict=True)
    ]
    table = pairs_table(frame, names)
    if kind == "image":
        columns = st.columns(4)
        gap = None
        for index, row in enumerate(table.itertuples(index=False)):
            image, twin = held[index], trains[index][0]
            gap = np.full(
                (image.shape[0], max(1, image.shape[1] // 8), *image.shape[2:]), 255, dtype=np.uint8
            )
            caption = f"{row.Sample} ({row.Label}) | {row[3]} ({row[4]}) · {row.Similarity}"
            columns[index % 4].image(
                upscale(np.concatenate([image, gap, twin], axis=1), size=96),
                caption=caption,
                clamp=True,
            )
        return
    if kind == "tabular":
        features = [
            pd.concat([held.iloc[[i]], trains[i]], ignore_index=True) for i in range(len(frame))
        ]
        ids = [[a, b] for a, b in zip(frame["sample_id"], frame["train_id"], strict=True)]
        rows = pd.concat(features, ignore_index=True)
        rows.insert(0, "sample", [x for pair in ids for x in pair])
        rows.insert(1, "pair", np.repeat(np.arange(1, len(frame) + 1), 2))
        st.dataframe(table, hide_index=True, width="stretch")
        st.dataframe(rows, hide_index=True, width="stretch")
        return
    st.dataframe(table, hide_index=True, width="stretch")
