"""gengap_dash.findings."""
