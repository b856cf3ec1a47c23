"""store/codec.py: results round-trip losslessly through JSON; nothing but gengap_dash
dataclasses can be rebuilt."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pytest

from gengap_dash.findings.model import Finding
from gengap_dash.stats.bootstrap import Estimate
from gengap_dash.store.codec import NotEncodable, decode, encode


def round_trip(value):
    return decode(json.loads(json.dumps(encode(value), allow_nan=False)))


def test_plain_values_and_non_finite_floats_round_trip() -> None:
    value = {
        "a": [1, 2.5, None, True, "x"],
        3: (float("nan"), float("inf"), -float("inf")),
        ("k", 1): frozenset({1, 2}),
    }
    back = round_trip(value)
    assert back["a"] == [1, 2.5, None, True, "x"]
    assert np.isnan(back[3][0]) and back[3][1] == float("inf") and back[3][2] == -float("inf")
    assert isinstance(back[3], tuple)
    assert back[("k", 1)] == frozenset({1, 2})


def test_numpy_arrays_keep_dtype_shape_and_values() -> None:
    array = np.arange(12, dtype=np.float32).reshape(3, 4) / 7
    back = round_trip({"array": array, "ints": np.array([1, 2], dtype=np.int64)})
    assert back["array"].dtype == np.float32 and back["array"].shape == (3, 4)
    np.testing.assert_array_equal(back["array"], array)
    assert back["ints"].dtype == np.int64
    assert round_trip(np.float32(1.5)) == np.float32(1.5)
    assert isinstance(round_trip(np.int64(3)), np.int64)


def test_frames_and_series_round_trip() -> None:
    frame = pd.DataFrame({"split": ["a", "b"], "n": [1, 2], "value": [0.5, np.nan]})
    back = round_trip(frame)
    pd.testing.assert_frame_equal(back, frame)
    series = pd.Series([1.0, 2.0], index=["x", "y"], name="acc")
    pd.testing.assert_series_equal(round_trip(series), series)


def test_gengap_dataclasses_round_trip_nested() -> None:
    finding = Finding(
        "scorecard.shift", "warning", split="rotated", value=0.2, low=0.1, high=0.3,
        facts={"reference": "test"},
    )  # fmt: skip
    value = {"estimate": Estimate(0.9, 0.85, 0.95), "findings": (finding,)}
    back = round_trip(value)
    assert back["estimate"] == Estimate(0.9, 0.85, 0.95)
    assert back["findings"][0] == finding


@dataclass(frozen=True)
class _Foreign:
    x: int = 1
    y: list = field(default_factory=list)


def test_foreign_dataclasses_and_objects_are_not_encoded() -> None:
    with pytest.raises(NotEncodable, match="gengap_dash dataclass"):
        encode(_Foreign())
    with pytest.raises(NotEncodable, match="type object"):
        encode(object())
    with pytest.raises(NotEncodable, match="dtype object"):
        encode(np.array([{"a": 1}], dtype=object))


@pytest.mark.parametrize(
    "document",
    [
        {"__dataclass__": "os:system", "fields": {}},
        {"__dataclass__": "subprocess:Popen", "fields": {"args": "true"}},
        {"__dataclass__": "gengap_dash.findings.model:worst", "fields": {}},
        {"__what__": 1},
    ],
)
def test_decoding_refuses_anything_it_did_not_write(document) -> None:
    with pytest.raises(ValueError):
        decode(document)


def test_arrays_are_never_unpickled() -> None:
    import base64
    import io

    payload = io.BytesIO()
    np.save(payload, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    forged = {"__ndarray__": base64.b64encode(payload.getvalue()).decode()}
    with pytest.raises(ValueError, match="pickle"):
        decode(forged)


def test_numeric_arrays_are_raw_bytes_and_other_arrays_npy() -> None:
    numeric = encode(np.array([[1.5, 2.0]], dtype=">f8"))
    assert set(numeric) == {"__array__", "dtype", "shape"} and numeric["shape"] == [1, 2]
    back = decode(numeric)
    assert back.dtype == np.dtype(">f8") and back.flags.writeable
    np.testing.assert_array_equal(back, [[1.5, 2.0]])
    fortran = np.asfortranarray(np.arange(6, dtype=np.int16).reshape(2, 3))
    np.testing.assert_array_equal(round_trip(fortran), fortran)
    assert round_trip(np.zeros((0, 3), dtype=bool)).shape == (0, 3)
    times = np.array(["2026-01-05", "2026-03-02"], dtype="datetime64[D]")
    np.testing.assert_array_equal(round_trip(times), times)
    assert "__ndarray__" in encode(np.array(["a", "bc"]))  # strings keep the .npy form
    np.testing.assert_array_equal(round_trip(np.array(["a", "bc"])), ["a", "bc"])


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"__array__": "AAAA", "dtype": "|O", "shape": [1]}, "dtype"),
        ({"__array__": "AAAA", "dtype": "<f8", "shape": [2]}, "does not match"),
        ({"__array__": "", "dtype": "<f8", "shape": [-1]}, "does not match"),
        ({"__array__": "AAAA", "dtype": "[('a', '<f8')]", "shape": [1]}, "."),
    ],
)
def test_raw_arrays_refuse_objects_and_wrong_sizes(document, message) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        decode(document)
