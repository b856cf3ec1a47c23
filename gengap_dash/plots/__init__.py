"""Figure functions: analysis results in, ``plotly.graph_objects.Figure`` out."""
