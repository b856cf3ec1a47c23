"""The app's navigation, and the guard that keeps every page inside it.

Streamlit also discovers the ``pages/`` folder on its own. On a freshly started server, a first
request straight to a sub-page (a shared link) would run that page under that automatic
navigation: no wide layout, a sidebar listing file names. :func:`ensure_app_navigation` at the
top of each page detects this and hands the request to the app's own navigation, which then runs
the requested page as intended.
"""

from __future__ import annotations

import threading
from pathlib import Path

import streamlit as st

_PAGES = (  # file in pages/, title, icon, url path
    ("overview.py", "Gap scorecard", ":material/query_stats:", "overview"),
    ("learning_curves.py", "Learning curves", ":material/show_chart:", "learning-curves"),
    ("calibration.py", "Calibration", ":material/tune:", "calibration"),
)
_run_state = threading.local()  # one Streamlit script run per thread


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
            url_path=url_path,
            default=file == default_page,
        )
        for file, title, icon, url_path in _PAGES
    ]
    return st.navigation(pages)


def run_app(*, default_page: str = "overview.py") -> None:
    """Configure the page and run the selected page inside the app's navigation."""
    st.set_page_config(page_title="gengap-dash", page_icon=":material/query_stats:", layout="wide")
    _run_state.inside = True
    try:
        build_navigation(default_page=default_page).run()
    finally:
        _run_state.inside = False


def ensure_app_navigation(page_file: str) -> None:
    """Call first in every page with its ``__file__``: outside the app's navigation, run the
    app on this page instead, then stop."""
    if getattr(_run_state, "inside", False):
        return
    run_app(default_page=Path(page_file).name)
    st.stop()
