"""gengap_dash.analysis."""
