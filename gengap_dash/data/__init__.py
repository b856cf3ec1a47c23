"""gengap_dash.data."""
