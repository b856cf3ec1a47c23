"""Which project the dashboard shows: ``--project``, ``GENGAP_PROJECT``, the URL, or the sidebar."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import streamlit as st

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
SAMPLE_PROJECT = REPOSITORY_ROOT / "sample_data" / "digits" / "project.yaml"
_STATE_KEY = "gengap_project_path"


def startup_project() -> Path:
    """The project given at start-up: ``-- --project PATH``, else ``$GENGAP_PROJECT``, else the
    bundled sample."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--project", default=None)
    known, _ = parser.parse_known_args(sys.argv[1:])
    if known.project:
        return Path(known.project).expanduser()
    if os.environ.get("GENGAP_PROJECT"):
        return Path(os.environ["GENGAP_PROJECT"]).expanduser()
    return SAMPLE_PROJECT


def current_project_path() -> Path:
    """The project this session shows (kept across pages and in the URL, so links share it)."""
    if _STATE_KEY not in st.session_state:
        from_url = st.query_params.get("project")
        st.session_state[_STATE_KEY] = str(from_url or startup_project())
    path = st.session_state[_STATE_KEY]
    if st.query_params.get("project") != path:
        st.query_params["project"] = path
    return Path(path)


def project_picker() -> Path:
    """The sidebar field that switches project; returns the current project path."""
    current = current_project_path()
    with st.sidebar:
        typed = st.text_input(
            "Project file",
            value=str(current),
            key="gengap_project_input",
            help="Path to a project.yaml (or its folder) on the machine running the dashboard.",
        )
        if typed.strip() and typed.strip() != str(current):
            st.session_state[_STATE_KEY] = typed.strip()
            st.query_params["project"] = typed.strip()
            st.rerun()
        if current != SAMPLE_PROJECT and st.button("Back to the sample project"):
            st.session_state[_STATE_KEY] = str(SAMPLE_PROJECT)
            st.query_params["project"] = str(SAMPLE_PROJECT)
            st.rerun()
    return current
