"""Feature space and shift: did the data move, where to, how sure are we, and which samples
need a human?"""

from __future__ import annotations

import streamlit as st

from gengap_dash.plots.style import split_colors
from gengap_dash.ui import feature_space as ui
from gengap_dash.ui.analysis import view_result
from gengap_dash.ui.layout import page_header
from gengap_dash.ui.navigation import ensure_app_navigation
from gengap_dash.ui.workspace import current_workspace
from gengap_dash.views.ood import OODOptions
from gengap_dash.views.shift import ShiftOptions

ensure_app_navigation(__file__)

workspace = current_workspace()
page_header(
    f"Feature space and shift · {workspace.name}",
    "Did the data move away from what the model was tested on, where to, how sure are we, "
    "and which samples should a human look at?",
)
ui.unlabelled_notes(workspace)
reference = ui.reference_control(workspace)
ood = view_result("ood", workspace, OODOptions(reference=reference), light=True)
shift = view_result("shift", workspace, ShiftOptions(reference=reference))
colors = split_colors(workspace.split_roles)
the_map, tests, scores, accuracy, review = st.tabs(ui.TABS, key="feature_tab")

with the_map:
    st.subheader("Where does each split land in the model's feature space?")
    ui.map_section(workspace, reference, ood)

with tests:
    st.subheader(f"Did each split move away from {reference}, and how sure are we?")
    ui.shift_section(shift, colors)

with scores:
    st.subheader("Which per-sample score tells shifted data apart, for this model?")
    ui.ood_section(ood)

with accuracy:
    st.subheader("How accurate is the model where there are no labels?")
    ui.accuracy_section(ood)

with review:
    st.subheader("Which samples should a human review first?")
    ui.review_section(workspace, ui.review_controls(workspace, reference, ood), ood)
