"""Streamlit glue shared by the pages: the only part of gengap_dash that imports Streamlit."""
