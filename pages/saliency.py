"""Saliency: what does the model look at, does that change under shift, and can the maps be
trusted?"""

from __future__ import annotations

import streamlit as st

from gengap_dash.ui import saliency as ui
from gengap_dash.ui.layout import page_header
from gengap_dash.ui.navigation import ensure_app_navigation
from gengap_dash.ui.workspace import current_workspace

ensure_app_navigation(__file__)

workspace = current_workspace()
page_header(
    f"Saliency · {workspace.name}",
    "Which input pixels (or features) does the model's prediction rest on, does that change on "
    "shifted data, and can each attribution method be trusted here?",
)
if not workspace.has_model:
    st.info(ui.NO_MODEL)
    st.stop()

if ui.view.is_tabular(workspace):
    features, trust = st.tabs(ui.TABULAR_TABS, key="saliency_tab")
    with features:
        ui.features_section(workspace)
else:
    one, grid, shift, trust = st.tabs(ui.TABS, key="saliency_tab")
    with one:
        ui.one_sample_section(workspace)
    with grid:
        ui.grid_section(workspace)
    with shift:
        ui.shift_section(workspace)
with trust:
    ui.trust_section(workspace)
