"""A safe, lossless JSON encoding of analysis results (no pickle).

Results are frozen dataclasses holding numbers, strings, numpy arrays, pandas frames and nested
results. They are written as JSON: numeric arrays as raw bytes with their dtype and shape, other
plain arrays (strings) as ``.npy`` bytes (``allow_pickle=False``), frames as
Parquet bytes, dataclasses by their qualified name. Decoding rebuilds only dataclasses defined in
``gengap_dash`` itself, so a cache file can never make the reader import or run other code.

Large arrays and frames can be kept out of the JSON: given a ``blobs`` list, :func:`encode`
appends their bytes to it and writes a reference (``{"__blob__": i, ...}``) in their place, and
:func:`decode` takes the same blobs back. ``store/results.py`` writes them to a file beside the
entry, which saves base64 (a third larger, and slow to decode) and parsing megabytes of JSON.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import importlib
import io
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

_TRUSTED_PREFIX = "gengap_dash."
_RAW_KINDS = frozenset("biufcmM")
"""Numpy dtype kinds written as raw bytes (booleans, integers, floats, complex, times)."""
BLOB_MIN_BYTES = 1 << 16
"""Arrays and frames at least this large go to the blobs when a blobs list is given."""
HEAVY = {"heavy": True}
"""Metadata of a dataclass field that a light decode leaves out (``None``): per-sample data that
most readers of the result do not need (``dataclasses.field(metadata=HEAVY)``)."""


class NotEncodable(TypeError):
    """The value holds something this codec does not write (the result is then not cached)."""


def encode(value: Any, blobs: list[bytes] | None = None) -> Any:
    """``value`` as JSON-serialisable data that :func:`decode` turns back into an equal value.

    With ``blobs``, the bytes of arrays and frames of at least :data:`BLOB_MIN_BYTES` are
    appended to it instead of written inline.

    Raises:
        NotEncodable: for objects other than None, bools, numbers, strings, lists, tuples,
            sets, dicts, numpy arrays and scalars, pandas frames and series, datetimes and
            dataclasses of ``gengap_dash``.
    """
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if isinstance(value, np.generic):
        if isinstance(value, np.bool_ | np.integer | np.floating):
            return {"__scalar__": str(value.dtype), "value": encode(value.item(), blobs)}
        raise NotEncodable(f"Expected a numeric numpy scalar, but got {type(value).__name__}.")
    if isinstance(value, list):
        return [encode(item, blobs) for item in value]
    if isinstance(value, tuple):
        return {"__tuple__": [encode(item, blobs) for item in value]}
    if isinstance(value, frozenset | set):
        items = sorted((encode(item, blobs) for item in value), key=repr)
        return {"__set__": items, "frozen": isinstance(value, frozenset)}
    if isinstance(value, dict):
        return {"__dict__": [[encode(k, blobs), encode(v, blobs)] for k, v in value.items()]}
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            raise NotEncodable("Expected a numpy array of plain values, but got dtype object.")
        if value.dtype.kind in _RAW_KINDS and value.dtype.fields is None:
            if blobs is not None and value.nbytes >= BLOB_MIN_BYTES:
                blobs.append(np.ascontiguousarray(value).tobytes())
                return {
                    "__blob__": len(blobs) - 1,
                    "dtype": value.dtype.str,
                    "shape": list(value.shape),
                }
            # Raw bytes with dtype and shape beside them: decoding thousands of small arrays
            # this way is several times faster than parsing an .npy header for each.
            return {
                "__array__": base64.b64encode(np.ascontiguousarray(value).tobytes()).decode(),
                "dtype": value.dtype.str,
                "shape": list(value.shape),
            }
        buffer = io.BytesIO()
        np.save(buffer, value, allow_pickle=False)
        return {"__ndarray__": base64.b64encode(buffer.getvalue()).decode("ascii")}
    if isinstance(value, pd.DataFrame | pd.Series):
        return _encode_pandas(value, blobs)
    if isinstance(value, pd.Timestamp | dt.datetime | dt.date):
        return {"__timestamp__": pd.Timestamp(value).isoformat()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        cls = type(value)
        if not cls.__module__.startswith(_TRUSTED_PREFIX):
            raise NotEncodable(f"Expected a gengap_dash dataclass, but got {cls.__qualname__}.")
        return {
            "__dataclass__": f"{cls.__module__}:{cls.__qualname__}",
            "fields": {
                f.name: encode(getattr(value, f.name), blobs) for f in dataclasses.fields(value)
            },
        }
    raise NotEncodable(f"Cannot encode a value of type {type(value).__name__}.")


def decode(data: Any, blobs: Sequence[memoryview] = (), *, light: bool = False) -> Any:
    """The value that :func:`encode` wrote (``blobs``: the blobs it appended, in order; arrays
    made from a writable buffer share its memory). ``light``: dataclass fields marked
    :data:`HEAVY` are ``None``, not decoded (their blobs are not asked for).

    Raises:
        ValueError: for data this codec did not write (an unknown tag, a class outside
            ``gengap_dash``); the caller treats the cache entry as corrupt.
    """
    if data is None or isinstance(data, bool | int | float | str):
        return data
    if isinstance(data, list):
        return [decode(item, blobs, light=light) for item in data]
    if not isinstance(data, dict) or len(data) == 0:
        raise ValueError(f"Expected an encoded value, but got {type(data).__name__}.")
    if "__float__" in data:
        return float(data["__float__"])
    if "__scalar__" in data:
        return np.dtype(data["__scalar__"]).type(decode(data["value"], blobs))
    if "__tuple__" in data:
        return tuple(decode(item, blobs, light=light) for item in data["__tuple__"])
    if "__set__" in data:
        items = [_hashable(decode(item, blobs)) for item in data["__set__"]]
        return frozenset(items) if data.get("frozen") else set(items)
    if "__dict__" in data:
        pairs = data["__dict__"]
        return {_hashable(decode(k, blobs)): decode(v, blobs, light=light) for k, v in pairs}
    if "__array__" in data:
        return _decode_raw_array(data)
    if "__blob__" in data:
        return _decode_blob(data, blobs)
    if "__ndarray__" in data:
        raw = base64.b64decode(data["__ndarray__"])
        return np.load(io.BytesIO(raw), allow_pickle=False)
    if "__parquet__" in data:
        return _decode_pandas(data, blobs)
    if "__timestamp__" in data:
        return pd.Timestamp(data["__timestamp__"])
    if "__dataclass__" in data:
        return _decode_dataclass(data["__dataclass__"], data["fields"], blobs, light)
    raise ValueError(f"Unknown encoded value with keys {sorted(data)[:3]}.")


def _decode_raw_array(data: dict[str, Any]) -> np.ndarray:
    raw = base64.b64decode(data["__array__"])
    return _array_from(raw, data).copy()


def _decode_blob(data: dict[str, Any], blobs: Sequence[memoryview]) -> np.ndarray:
    array = _array_from(_blob(data["__blob__"], blobs), data)
    return array if array.flags.writeable else array.copy()


def _array_from(raw: bytes | memoryview, data: dict[str, Any]) -> np.ndarray:
    dtype = np.dtype(str(data["dtype"]))
    if dtype.kind not in _RAW_KINDS or dtype.fields is not None or dtype.hasobject:
        raise ValueError(f"Refusing an array of dtype {data['dtype']!r}.")
    shape = tuple(int(size) for size in data["shape"])
    if any(size < 0 for size in shape) or len(raw) != dtype.itemsize * math.prod(shape):
        raise ValueError(f"An array of shape {shape} does not match its {len(raw)} bytes.")
    return np.frombuffer(raw, dtype=dtype).reshape(shape)


def _blob(index: Any, blobs: Sequence[memoryview]) -> memoryview:
    if not (isinstance(index, int) and 0 <= index < len(blobs)):
        raise ValueError(f"A reference to blob {index!r} of {len(blobs)}.")
    return blobs[index]


def _hashable(value: Any) -> Any:
    return tuple(_hashable(item) for item in value) if isinstance(value, list) else value


def _encode_pandas(value: pd.DataFrame | pd.Series, blobs: list[bytes] | None) -> dict[str, Any]:
    is_series = isinstance(value, pd.Series)
    frame = value.to_frame(name="__values__") if is_series else value
    if not all(isinstance(column, str) for column in frame.columns):
        raise NotEncodable("Expected a frame with string column names.")
    buffer = io.BytesIO()
    try:
        frame.to_parquet(buffer, index=True)
    except (ValueError, TypeError, ImportError) as error:  # e.g. mixed-type object columns
        raise NotEncodable(f"Cannot write the frame as Parquet: {error}") from error
    payload = buffer.getvalue()
    if blobs is not None and len(payload) >= BLOB_MIN_BYTES:
        blobs.append(payload)
        inline: Any = {"blob": len(blobs) - 1}
    else:
        inline = base64.b64encode(payload).decode("ascii")
    return {
        "__parquet__": inline,
        "series": is_series,
        "name": encode(value.name) if is_series else None,
    }


def _decode_pandas(data: dict[str, Any], blobs: Sequence[memoryview]) -> pd.DataFrame | pd.Series:
    payload = data["__parquet__"]
    if isinstance(payload, dict):
        frame = pd.read_parquet(pa.BufferReader(_blob(payload.get("blob"), blobs)))
    else:
        frame = pd.read_parquet(io.BytesIO(base64.b64decode(payload)))
    if data.get("series"):
        series = frame["__values__"]
        series.name = decode(data.get("name"))
        return series
    return frame


def _decode_dataclass(
    name: str, fields: dict[str, Any], blobs: Sequence[memoryview], light: bool
) -> Any:
    module_name, _, qualname = str(name).partition(":")
    if not module_name.startswith(_TRUSTED_PREFIX):
        raise ValueError(f"Refusing to rebuild {name!r}: not a gengap_dash class.")
    target: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        target = getattr(target, part, None)
    if not (isinstance(target, type) and dataclasses.is_dataclass(target)):
        raise ValueError(f"{name!r} is not a gengap_dash dataclass.")
    heavy = {f.name for f in dataclasses.fields(target) if f.metadata.get("heavy")} if light else ()
    values = {
        key: None if key in heavy else decode(item, blobs, light=light)
        for key, item in fields.items()
    }
    init = {f.name for f in dataclasses.fields(target) if f.init}
    instance = target(**{key: value for key, value in values.items() if key in init})
    for key, value in values.items():
        if key not in init:
            object.__setattr__(instance, key, value)
    return instance
