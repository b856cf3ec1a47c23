"""Gap scorecard: how big is the generalization gap, where is it, and what kind is it?"""

from __future__ import annotations

import streamlit as st

from gengap_dash.analysis.scorecard import (
    gap_chart_takeaway,
    headline,
    metric_takeaway,
    scorecard_findings,
)
from gengap_dash.findings import render
from gengap_dash.metrics.classification import SCORECARD_METRICS
from gengap_dash.plots.scorecard import (  # the table and the cards
    GAP_COLUMN,
    gap_figure,
    metric_by_split_figure,
    scorecard_table,
)
from gengap_dash.plots.style import split_colors
from gengap_dash.ui.analysis import cached_figure, said, scorecard_for
from gengap_dash.ui.layout import explained_chart, page_header, verdict_box, verdict_list
from gengap_dash.ui.navigation import ensure_app_navigation
from gengap_dash.ui.scorecard import accuracy_cards, how_to_read
from gengap_dash.ui.workspace import current_workspace

ensure_app_navigation(__file__)

workspace = current_workspace()
page_header(
    f"Gap scorecard · {workspace.name}",
    "How much worse is the model away from its training data, where, and is it overfitting, "
    "underfitting or distribution shift?",
)
if workspace.spec.description:
    st.caption(workspace.spec.description)

scorecard = scorecard_for(workspace)
colors = split_colors(workspace.split_roles)

top = headline(scorecard)
verdict_box(render(top), top.severity, kind="uncertain" if top.severity == "info" else "")
verdict_list(said(scorecard_findings(scorecard)))

accuracy_cards(scorecard)

labels = {definition.label: definition.name for definition in SCORECARD_METRICS}
chosen = st.segmented_control(
    "Metric", list(labels), default="Accuracy", key="overview_metric",
    help="Every chart and sentence below follows this metric.",
)  # fmt: skip
metric = labels.get(chosen or "Accuracy", "accuracy")
definition = next(d for d in SCORECARD_METRICS if d.name == metric)

gap_reference = st.radio(
    "Gap chart: compare against", ["validation", "train"], horizontal=True,
    key="overview_reference",
    help="Validation shows what the model loses beyond held-out data; train shows the whole "
    "generalization gap.",
)  # fmt: skip
left, right = st.columns(2)
with left:
    explained_chart(
        cached_figure(metric_by_split_figure, scorecard, metric, colors=colors),
        shows=f"{definition.label} on every split with its 95% bootstrap interval (the bar "
        "around each dot). Dashed lines mark the train and validation levels. "
        + definition.description,
        takeaway=render(metric_takeaway(scorecard, metric=metric)),
        key="overview_metric_chart",
    )
with right:
    explained_chart(
        cached_figure(gap_figure, scorecard, metric, reference=gap_reference, colors=colors),
        shows=f"How much worse each split is than {gap_reference} on {definition.label.lower()} "
        "(positive = worse, as in the table), with its 95% interval. Bars whose interval stays "
        "clear of zero are real differences, not sampling noise; a pair with a verdict takes "
        "its colour.",
        takeaway=render(gap_chart_takeaway(scorecard, metric=metric, reference=gap_reference)),
        key="overview_gap_chart",
    )

st.subheader("Scorecard")
all_intervals = st.toggle(
    "Every metric's interval", key="overview_all_intervals",
    help="Show the 95% interval of every metric, not only of accuracy (a wider table).",
)  # fmt: skip
st.dataframe(
    scorecard_table(scorecard, intervals="all" if all_intervals else "accuracy"),
    hide_index=True,
    width="stretch",
    column_config={
        "Split": st.column_config.TextColumn(pinned=True),
        "n": st.column_config.NumberColumn(format="%d", width="small"),
        GAP_COLUMN: st.column_config.TextColumn(
            help="How much worse the split's accuracy is than the split named in the cell (the "
            "reference of its verdict), in points with the 95% interval; positive = worse."
        ),
    },
)
st.caption(
    f"Values with 95% bootstrap intervals ({scorecard.n_resamples:,} resamples, seed "
    f"{scorecard.seed}). Gaps are in accuracy points, positive = worse than the reference named "
    "in each cell. Definitions and verdict thresholds: docs/scorecard.md."
)
how_to_read(scorecard)
