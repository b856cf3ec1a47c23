"""Data and robustness: how fast does the model break under common corruptions, which labels
look wrong, and do held-out samples have copies in the training data?"""

from __future__ import annotations

import streamlit as st

from gengap_dash.ui import data_quality as ui
from gengap_dash.ui.layout import page_header
from gengap_dash.ui.navigation import ensure_app_navigation
from gengap_dash.ui.workspace import current_workspace

ensure_app_navigation(__file__)

workspace = current_workspace()
page_header(
    f"Data and robustness · {workspace.name}",
    "Does the gap come from the data itself: how fast does the model break under common "
    "corruptions, which labels look wrong, and do held-out samples have near-copies in train?",
)
corruptions, labels, leakage = st.tabs(ui.TABS, key="data_robustness_tab")

with corruptions:
    st.subheader("How fast does the model break, and which real shift does each resemble?")
    ui.robustness_section(workspace)

with labels:
    st.subheader("Which labels look wrong, and how much do they move the accuracy?")
    ui.labels_section(workspace)

with leakage:
    st.subheader("Do held-out samples have near-copies in the training data?")
    ui.leakage_section(workspace)
