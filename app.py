"""gengap-dash: the dashboard's entry point.

streamlit run app.py                                   # the bundled sample project
streamlit run app.py -- --project path/to/project.yaml # another project
"""

from __future__ import annotations

from gengap_dash.ui.navigation import build_navigation, run_app

__all__ = ["build_navigation", "run_app"]

run_app()
