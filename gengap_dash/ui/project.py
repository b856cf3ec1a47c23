"""Which project the dashboard shows: one the operator serves, picked by the viewer.

The operator's choice (``--project``, ``--projects-dir``, ``GENGAP_PROJECT``, the sample) is
read once per server (:func:`served_projects`); a path from the sidebar or ``?project=`` is only
ever resolved against it (see :mod:`gengap_dash.project.roots`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import streamlit as st

from gengap_dash.project.errors import ProjectError
from gengap_dash.project.roots import ServedProjects

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
SAMPLE_PROJECT = REPOSITORY_ROOT / "sample_data" / "digits" / "project.yaml"
_STATE_KEY = "gengap_project_path"
_INPUT_KEY = "gengap_project_input"
_CHOICE_KEY = "gengap_project_choice"


def served_projects() -> ServedProjects:
    """The projects this server serves, from its command line and environment."""
    return _served(tuple(sys.argv[1:]), _environment_key())


def _environment_key() -> tuple[str | None, ...]:
    return tuple(
        os.environ.get(name)
        for name in ("GENGAP_PROJECT", "GENGAP_PROJECTS_DIR", "GENGAP_ALLOW_ANY_PROJECT_PATH")
    )


@st.cache_resource(show_spinner=False, max_entries=4, ttl=30)
def _served(argv: tuple[str, ...], environment: tuple[str | None, ...]) -> ServedProjects:
    return ServedProjects.from_arguments(argv, os.environ, sample=SAMPLE_PROJECT)


@st.cache_data(show_spinner=False, max_entries=4, ttl=30)
def _listed(_served_projects: ServedProjects, key: tuple) -> list[str]:
    return [str(path) for path in _served_projects.listed()]


def startup_project() -> Path:
    """The project shown when a session names none."""
    served = served_projects()
    return served.default if served.default is not None else SAMPLE_PROJECT


def current_project_path() -> Path:
    """The project this session shows (kept across pages and in the URL, so links share it).

    Raises:
        ProjectError: the session asks for a project this server does not serve.
    """
    served = served_projects()
    if _STATE_KEY not in st.session_state:
        st.session_state[_STATE_KEY] = str(st.query_params.get("project") or "")
    requested = st.session_state[_STATE_KEY]
    path = served.resolve(requested)
    if requested and st.query_params.get("project") != requested:
        st.query_params["project"] = requested
    return path


def project_picker() -> Path:
    """The sidebar that switches project among the served ones; returns the current project.

    A requested project that is not served stops the page with ``st.error`` (which says nothing
    about the path) and leaves the picker in the sidebar.
    """
    served = served_projects()
    try:
        current: Path | None = current_project_path()
        refusal = None
    except ProjectError as error:
        current, refusal = None, str(error)
    with st.sidebar:
        _picker(served, current)
    if refusal is not None or current is None:
        st.error(f"**This project cannot be opened.** {refusal}", icon=":material/block:")
        st.stop()
    return current


def _picker(served: ServedProjects, current: Path | None) -> None:
    listed = [Path(p) for p in _listed(served, (served.roots, served.default))]
    labels = {served.label(path): str(path) for path in listed}
    if len(listed) > 1:
        names = list(labels)
        current_label = served.label(current) if current in listed else None
        if st.session_state.get(_CHOICE_KEY) != current_label:
            st.session_state[_CHOICE_KEY] = current_label  # follows a switch made elsewhere
        st.selectbox(
            "Project", names, key=_CHOICE_KEY, placeholder="Pick a project",
            on_change=_on_choice, args=(labels,), help="The projects this server serves.",
        )  # fmt: skip
    if _INPUT_KEY not in st.session_state:
        st.session_state[_INPUT_KEY] = st.session_state.get(_STATE_KEY) or str(current or "")
    st.text_input(
        "Project file",
        key=_INPUT_KEY,
        on_change=_on_typed,
        help="Path to a project.yaml (or its folder) inside the folders this server serves.",
    )
    if served.default is not None and current != served.default:
        st.button("Back to the default project", on_click=_switch, args=(str(served.default),))


def _on_choice(labels: dict[str, str]) -> None:
    chosen = st.session_state.get(_CHOICE_KEY)
    if chosen in labels:
        _switch(labels[chosen])


def _on_typed() -> None:
    typed = str(st.session_state.get(_INPUT_KEY) or "").strip()
    if typed:
        _switch(typed)


def _switch(path: str) -> None:
    """Show ``path`` from the next run on (a widget callback: Streamlit reruns afterwards)."""
    st.session_state[_STATE_KEY] = path
    st.session_state[_INPUT_KEY] = path
    st.query_params["project"] = path
