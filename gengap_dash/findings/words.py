"""The formatters every sentence, table and caption uses: one way to write a percentage, a
change in points, an interval, a count or a plural, so units, signs and plurals are right by
construction. Nothing else in the project formats a number for people."""

from __future__ import annotations

import math


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def percent(value: float | None, *, digits: int = 1) -> str:
    """A fraction as a percentage: ``0.9312 -> "93.1%"``; ``"n/a"`` when not finite."""
    if not _finite(value):
        return "n/a"
    return f"{100 * value:.{digits}f}%"


def points(change: float | None, *, digits: int = 1, signed: bool = True) -> str:
    """A change of a fraction in percentage points: ``-0.213 -> "-21.3 pts"``."""
    if not _finite(change):
        return "n/a"
    sign = "+" if signed else ""
    number = f"{100 * change:{sign}.{digits}f}"
    return f"{number} {'pt' if number.lstrip('+-') == '1' else 'pts'}"


def number(value: float | None, *, digits: int = 3) -> str:
    """A plain number with ``digits`` significant decimals (``"0.112"``)."""
    if not _finite(value):
        return "n/a"
    return f"{value:.{digits}f}"


def interval(
    low: float | None, high: float | None, *, unit: str = "number", digits: int | None = None
) -> str:
    """``"(95.6 to 98.3)"`` for ``unit="percent"``, ``"(+3.9 to +6.6)"`` for ``"points"``,
    ``"(0.091 to 0.135)"`` otherwise; ``""`` when either end is not finite."""
    if not (_finite(low) and _finite(high)):
        return ""
    if unit == "percent":
        d = 1 if digits is None else digits
        return f"({100 * low:.{d}f} to {100 * high:.{d}f})"
    if unit == "points":
        d = 1 if digits is None else digits
        return f"({100 * low:+.{d}f} to {100 * high:+.{d}f})"
    d = 3 if digits is None else digits
    return f"({low:.{d}f} to {high:.{d}f})"


def with_interval(value_text: str, low: float | None, high: float | None, *, unit: str) -> str:
    """``value_text`` followed by its interval in the same unit (the value alone without one)."""
    bounds = interval(low, high, unit=unit)
    return f"{value_text} {bounds}" if bounds else value_text


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """``"1 run"``, ``"3 runs"``, ``"1,200 samples"``."""
    word = singular if count == 1 else (plural_form or f"{singular}s")
    return f"{count:,} {word}"


def join_names(names: list[str] | tuple[str, ...], *, conjunction: str = "and") -> str:
    """``"a"``, ``"a and b"``, ``"a, b and c"``."""
    names = list(names)
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} {conjunction} {names[-1]}"
