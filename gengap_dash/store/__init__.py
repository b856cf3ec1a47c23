"""gengap_dash.store."""
