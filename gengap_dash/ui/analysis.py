"""Analysis results cached per project version and options (small hashable keys, no arrays)."""

from __future__ import annotations

import streamlit as st

from gengap_dash.analysis.scorecard import Scorecard, compute_scorecard
from gengap_dash.workspace import Workspace


@st.cache_data(show_spinner="Computing the scorecard (bootstrap intervals)...", max_entries=16)
def _scorecard(_workspace: Workspace, fingerprint: str, n_resamples: int, seed: int) -> Scorecard:
    return compute_scorecard(_workspace.split_data(), n_resamples=n_resamples, seed=seed)


def scorecard_for(workspace: Workspace, *, n_resamples: int = 1000, seed: int = 0) -> Scorecard:
    """The workspace's scorecard, computed once per project version and options."""
    return _scorecard(workspace, workspace.fingerprint(), n_resamples, seed)
