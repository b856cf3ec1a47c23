"""The cached workspace: opened once per project and server, inference shown with progress."""

from __future__ import annotations

import time
from pathlib import Path

import streamlit as st

from gengap_dash.project.errors import ProjectError
from gengap_dash.project.spec import load_project
from gengap_dash.store.cache import default_cache_dir
from gengap_dash.ui.layout import escape_markdown
from gengap_dash.ui.project import project_picker
from gengap_dash.workspace import Workspace


@st.cache_resource(show_spinner=False, max_entries=8)
def _open_workspace(path: str, sources: tuple, cache_dir: str) -> Workspace:
    """One workspace per version of the project's files and per cache folder: ``sources`` (the
    size and modification time of every file the project reads) is part of the key, so replacing
    a table or the weights while the server runs opens the project afresh."""
    return Workspace.from_file(path, cache_dir=cache_dir)


def _sources_signature(path: Path) -> tuple:
    """(file, size, mtime) of the project file, its tables, weights and source files (images
    named in a table are left out: stat-ing every one on each rerun would be slow; the on-disk
    cache key covers them)."""
    signature = []
    for file in load_project(path).source_files():
        try:
            stat = file.stat()
            signature.append((str(file), stat.st_size, stat.st_mtime_ns))
        except OSError:
            signature.append((str(file), None, None))
    return tuple(signature)


def current_workspace() -> Workspace:
    """The session's workspace, every split's model outputs in the cache (inference runs here,
    with progress, for splits that miss); stops the page with ``st.error`` on bad input (the
    message names the file, key or column)."""
    path = project_picker()
    try:
        resolved = path / "project.yaml" if path.is_dir() else path
        workspace = _open_workspace(str(path), _sources_signature(path), str(default_cache_dir()))
        missing = workspace.missing_splits()
        if missing:
            _compute_with_progress(workspace, missing)
        # with a warm cache nothing is loaded here: a page that reads cached view results never
        # touches the arrays; one that needs them loads (and verifies) them on first use
    except ProjectError as error:  # the progress box is gone already: the error stands alone
        st.error(f"**This project cannot be opened.** {error}")
        st.caption(
            "Fix the project file (see docs/project-file.md) or pick another project in the "
            "sidebar. Nothing was written to the cache for the failing split."
        )
        st.stop()
    _sidebar_summary(workspace, resolved)
    for note in workspace.notes:  # columns left out, cache entries found stale and recomputed
        st.caption(f":material/info: {escape_markdown(note)}")
    return workspace


def _compute_with_progress(workspace: Workspace, missing: list[str]) -> None:
    """Inference with a progress box; the box is removed when inference fails, so that no
    stale "Starting inference" bar stays above the error."""
    holder = st.empty()
    try:
        with holder.container():
            _progress_box(workspace, missing)
    except Exception:
        holder.empty()
        raise


def _progress_box(workspace: Workspace, missing: list[str]) -> None:
    started = time.perf_counter()
    with st.status(
        f"Running the model once on {len(missing)} split(s); later visits load from the cache.",
        expanded=True,
    ) as status:
        bar = st.progress(0.0, text="Starting inference")
        order = {name: index for index, name in enumerate(missing)}

        def report(split: str, done: int, total: int) -> None:
            index = order.get(split, 0)
            fraction = (index + done / max(total, 1)) / len(missing)
            bar.progress(min(fraction, 1.0), text=f"{split}: {done:,} of {total:,} samples")

        workspace.compute(progress=report)
        status.update(
            label=f"Inference done in {time.perf_counter() - started:.1f} s and cached.",
            state="complete",
            expanded=False,
        )


def _sidebar_summary(workspace: Workspace, path: Path) -> None:
    with st.sidebar:
        st.markdown(f"**{workspace.name}**")
        roles = workspace.split_roles
        st.caption(
            f"{len(roles)} splits · {workspace.n_classes} classes · "
            + ("model + cached inference" if workspace.has_model else "brought predictions")
        )
