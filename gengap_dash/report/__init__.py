"""gengap_dash.report.builder."""
