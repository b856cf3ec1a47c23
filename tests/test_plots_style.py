"""Split colours: distinguishable for up to 12 splits, the same for a split on every page."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from gengap_dash.plots.style import EXTRA_COLORS, SPLIT_ROLE_COLORS, split_colors


def lab(color: str) -> np.ndarray:
    """sRGB hex -> CIELAB (D65), by the textbook formulas."""
    rgb = np.array([int(color[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    matrix = np.array(
        [[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]
    )
    xyz = matrix @ linear / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def test_lab_matches_a_known_value():
    np.testing.assert_allclose(lab("#ff0000"), [53.24, 80.09, 67.20], atol=0.05)


ROLES_12 = {
    "train": "train",
    "val": "validation",
    "test": "test",
    **{f"shift_{i}": "shifted" for i in range(6)},
    **{f"field_{i}": "deployment" for i in range(3)},
}


def test_twelve_splits_get_twelve_clearly_different_colours():
    colors = split_colors(ROLES_12)
    assert len(set(colors.values())) == 12
    distances = [
        np.linalg.norm(lab(a) - lab(b)) for a, b in itertools.combinations(colors.values(), 2)
    ]
    assert min(distances) >= 23.0  # CIE76: 2.3 is a just-noticeable difference
    assert max(lab(color)[0] for color in colors.values()) <= 65.5  # legible as text on white
    shifted = [colors[f"shift_{i}"] for i in range(4)]
    # the four shifted splits: no two share a hue family any more
    assert min(np.linalg.norm(lab(a) - lab(b)) for a, b in itertools.combinations(shifted, 2)) > 30


def test_first_split_of_a_role_keeps_the_role_colour_and_order_decides_the_rest():
    colors = split_colors(ROLES_12)
    assert colors["train"] == SPLIT_ROLE_COLORS["train"]
    assert colors["shift_0"] == SPLIT_ROLE_COLORS["shifted"]
    assert colors["field_0"] == SPLIT_ROLE_COLORS["deployment"]
    assert [colors[f"shift_{i}"] for i in range(1, 6)] == list(EXTRA_COLORS[:5])
    # stable: the same project gives the same colours, on every page
    assert split_colors(dict(ROLES_12)) == colors


@pytest.mark.parametrize("n_splits", [13, 20])
def test_more_than_twelve_splits_still_get_a_colour(n_splits):
    colors = split_colors({f"s{i}": "shifted" for i in range(n_splits)})
    assert len(colors) == n_splits and all(c.startswith("#") for c in colors.values())
