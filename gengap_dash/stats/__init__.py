"""gengap_dash.stats."""
