"""plots/feature_space.py: what the browser is sent stays small at any number of predictions."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gengap_dash.plots.feature_space import score_histogram_figure


def test_score_histograms_are_binned_here_not_in_the_browser() -> None:
    rng = np.random.default_rng(0)
    values = {
        "test": rng.normal(0, 1, 200_000),
        "field": np.concatenate([rng.normal(2, 1, 99_998), [np.nan, np.inf]]),
    }
    figure = score_histogram_figure(
        pd.DataFrame(), values, threshold=1.5, score="energy", colors={"test": "#111111"}
    )
    assert len(figure.to_json()) < 50_000, "bins, not 300,000 scores"
    test, field = figure.data
    assert test.type == field.type == "bar" and len(test.x) == 50
    edges = np.linspace(min(values["test"].min(), 1.5), np.nanmax(values["field"][:-2]), 51)
    expected = np.histogram(values["test"], bins=edges)[0] / 200_000
    np.testing.assert_allclose(test.y, expected)
    np.testing.assert_allclose(np.sum(field.y), 1.0)  # shares of the finite scores
    assert test.marker.color == "#111111"


def test_the_threshold_is_inside_the_axis_and_one_value_is_drawn() -> None:
    figure = score_histogram_figure(
        pd.DataFrame(), {"test": np.full(10, 3.0)}, threshold=9.0, score="msp"
    )
    (bars,) = figure.data
    half = bars.width / 2
    assert bars.x[0] - half <= 3.0 < 9.0 <= bars.x[-1] + half + 1e-9
    assert np.isclose(np.sum(bars.y), 1.0)
