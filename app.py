"""gengap-dash: the dashboard's entry point.

streamlit run app.py                                   # the bundled sample project
streamlit run app.py -- --project path/to/project.yaml # another project
"""

from __future__ import annotations

import streamlit as st


def build_navigation() -> st.navigation:
    """The pages, in the order a reader meets them."""
    pages = [
        st.Page(
            "pages/overview.py",
            title="Gap scorecard",
            icon=":material/query_stats:",
            url_path="overview",
            default=True,
        ),
        st.Page(
            "pages/learning_curves.py",
            title="Learning curves",
            icon=":material/show_chart:",
            url_path="learning-curves",
        ),
        st.Page(
            "pages/calibration.py",
            title="Calibration",
            icon=":material/tune:",
            url_path="calibration",
        ),
    ]
    return st.navigation(pages)


def main() -> None:
    st.set_page_config(page_title="gengap-dash", page_icon=":material/query_stats:", layout="wide")
    build_navigation().run()


main()
