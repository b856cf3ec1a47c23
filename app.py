"""gengap-dash: the dashboard's entry point.

streamlit run app.py                                     # the bundled sample project
streamlit run app.py -- --project path/to/project.yaml   # another project
streamlit run app.py -- --projects-dir path/to/projects  # every project.yaml under a folder
gengap serve PROJECT | gengap serve --projects-dir DIR   # the same, bound to 127.0.0.1

The server serves only these projects: a viewer's path (sidebar, ``?project=``) must lie inside
them. ``--allow-any-project-path`` lifts that for single-user local use; never on a shared server.
"""

from __future__ import annotations

from gengap_dash.ui.navigation import build_navigation, run_app

__all__ = ["build_navigation", "run_app"]

run_app()
