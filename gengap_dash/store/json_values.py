"""Values for strict JSON: NaN and infinities become ``null``."""

from __future__ import annotations

import math
from typing import Any


def finite_or_none(value: float) -> float | None:
    """``value`` as a plain float, or None when it is NaN or infinite."""
    value = float(value)
    return value if math.isfinite(value) else None


def json_safe(data: Any) -> Any:
    """``data`` with every non-finite float replaced by None, recursively (dicts, lists, tuples)."""
    if isinstance(data, dict):
        return {key: json_safe(item) for key, item in data.items()}
    if isinstance(data, list | tuple):
        return [json_safe(item) for item in data]
    if isinstance(data, float):
        return finite_or_none(data)
    return data
