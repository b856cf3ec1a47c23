"""gengap_dash.metrics.classification."""
