"""gengap_dash.engine."""
