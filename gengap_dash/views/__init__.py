"""gengap_dash.views."""
