"""Strict JSON values."""

from __future__ import annotations

import json
import math

import numpy as np

from gengap_dash.store.json_values import finite_or_none, json_safe


def test_non_finite_floats_become_null_at_any_depth() -> None:
    data = {"a": float("nan"), "b": [1.5, float("inf"), {"c": -math.inf}], "d": (2.0, "x")}
    safe = json_safe(data)
    assert safe == {"a": None, "b": [1.5, None, {"c": None}], "d": [2.0, "x"]}
    assert json.loads(json.dumps(safe, allow_nan=False)) == safe


def test_finite_or_none_takes_numpy_scalars() -> None:
    assert finite_or_none(np.float32(0.25)) == 0.25
    assert isinstance(finite_or_none(np.float64(1.0)), float)
    assert finite_or_none(np.nan) is None
