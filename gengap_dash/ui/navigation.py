"""The app's navigation, the guard that keeps every page inside it, and the error boundary.

Deep links: Streamlit 1.67 decides once per server process, before the first script run, whether
the app "uses the pages directory" (a ``pages/`` folder next to ``app.py``). Until some run calls
``st.navigation``, a request is resolved against that folder, by file name. Every page's URL path
is therefore its file's stem (``learning_curves`` for ``pages/learning_curves.py``): a first
request straight to a sub-page on a fresh server finds the same page under either navigation
(no "Page not found" notice), and :func:`ensure_app_navigation` at the top of each page hands
the run to the app's own navigation (wide layout, the app's titles).

Errors: :func:`run_app` runs the page inside a boundary. Bad input (``ProjectError``,
``ValueError``) is shown with ``st.error`` and its one-line reason; anything else shows
"Internal error (reference ...)" while the traceback goes to the server's log under that
reference. Viewers never see a traceback (the shipped config also sets
``client.showErrorDetails = "none"``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path

import streamlit as st

_PAGES = (  # file in pages/, title, icon (the URL path is the file's stem, see above)
    ("overview.py", "Gap scorecard", ":material/query_stats:"),
    ("learning_curves.py", "Learning curves", ":material/show_chart:"),
    ("calibration.py", "Calibration", ":material/tune:"),
    ("cohorts.py", "Cohorts and slices", ":material/grid_view:"),
    ("saliency.py", "Saliency", ":material/visibility:"),
    ("feature_space.py", "Feature space and shift", ":material/scatter_plot:"),
    ("data_robustness.py", "Data and robustness", ":material/dataset:"),
)
_run_state = threading.local()  # one Streamlit script run per thread
PAGE_RUNS_AT_ONCE = max(2, os.cpu_count() or 2)
"""Pages rendered at the same time; further sessions wait their turn (at most
:data:`PAGE_RUN_WAIT` seconds). Twenty sessions opened at once otherwise make twenty script
threads contend for the interpreter, and the server's event loop (health checks, websocket
traffic) waits seconds for its turn (``benchmarks/server_load.py``)."""
PAGE_RUN_WAIT = 30.0
"""Seconds a page waits for its turn before it runs anyway (a long inference or sweep on one
page must not hold every other viewer back for minutes)."""
_page_runs = threading.BoundedSemaphore(PAGE_RUNS_AT_ONCE)
_LOG = logging.getLogger("gengap_dash.ui")
_MAX_REASON_CHARS = 500


def build_navigation(*, default_page: str = "overview.py") -> st.navigation:
    """The pages, in the order a reader meets them (paths relative to ``app.py``).

    Args:
        default_page: the file shown when the request names no page.
    """
    pages = [
        st.Page(
            f"pages/{file}",
            title=title,
            icon=icon,
            url_path=Path(file).stem,
            default=file == default_page,
        )
        for file, title, icon in _PAGES
    ]
    return st.navigation(pages)


def run_app(*, default_page: str = "overview.py") -> None:
    """Configure the page and run the selected page inside the app's navigation and the error
    boundary (see :func:`show_page_errors`)."""
    st.set_page_config(page_title="gengap-dash", page_icon=":material/query_stats:", layout="wide")
    _run_state.inside = True
    try:
        page = build_navigation(default_page=default_page)
        with show_page_errors(page.title), _page_turn():
            page.run()
    finally:
        _run_state.inside = False


@contextlib.contextmanager
def _page_turn() -> Iterator[None]:
    """Hold one of the :data:`PAGE_RUNS_AT_ONCE` page runs (or go ahead after
    :data:`PAGE_RUN_WAIT` seconds without one)."""
    acquired = _page_runs.acquire(timeout=PAGE_RUN_WAIT)
    try:
        yield
    finally:
        if acquired:
            _page_runs.release()


@contextlib.contextmanager
def show_page_errors(where: str) -> Iterator[None]:
    """Catch what a page raises: bad input as ``st.error`` with its one-line reason, anything
    else as an internal error with a reference that is logged with the traceback.

    Streamlit's own control flow (``st.stop``, ``st.rerun``, ``st.switch_page``) derives from
    ``BaseException`` and passes through untouched.

    Args:
        where: the page's title, for the log.
    """
    try:
        yield
    except ValueError as error:  # ProjectError included: bad input
        reason = _one_line(error)
        _LOG.info("bad input on page %s: %s", where, reason)
        st.error(f"**This cannot be shown.** {_escape(reason)}", icon=":material/error:")
    except Exception as error:  # noqa: BLE001 - the boundary: logged, never shown
        reference = secrets.token_hex(4)
        _LOG.error("internal error (reference %s) on page %s", reference, where, exc_info=error)
        st.error(
            f"**Internal error (reference {reference}).** The page could not be shown. The "
            "operator can find the details in the server's log under this reference.",
            icon=":material/error:",
        )


def ensure_app_navigation(page_file: str) -> None:
    """Call first in every page with its ``__file__``: outside the app's navigation (the first
    request to a fresh server, resolved against the ``pages/`` folder), run the app instead,
    which resolves the same page by its URL path, then stop.

    Args:
        page_file: the page's ``__file__`` (kept for the pages' calls; the request's page name
            decides which page runs).
    """
    if getattr(_run_state, "inside", False):
        return
    # The default page stays the overview: the default page's URL path is "", so making this
    # page the default would hide it from the request's page name ("Page not found").
    run_app()
    st.stop()


def _one_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = lines[0] if lines else type(error).__name__
    return text if len(text) <= _MAX_REASON_CHARS else text[: _MAX_REASON_CHARS - 3] + "..."


def _escape(text: str) -> str:
    for character in ("\\", "*", "_", "`", "#", "<", ">", "[", "]", "$", "|"):
        text = text.replace(character, "\\" + character)
    return text
