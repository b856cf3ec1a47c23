"""gengap_dash.project."""
