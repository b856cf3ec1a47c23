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


def significant(value: float | None, *, digits: int = 3) -> str:
    """A metric value with ``digits`` significant digits: ``0.0991 -> "0.0991"``, ``0.14873 ->
    "0.149"``, ``123.4 -> "123.4"``, ``12345 -> "12,345"``; ``"n/a"`` when missing."""
    if not _finite(value):
        return "n/a"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.1f}"
    return f"{value:.{digits}g}"


def position(value: float | None) -> str:
    """An epoch or step as people write it: ``13.0 -> "13"``, ``2.5 -> "2.5"``; ``"n/a"``."""
    if not _finite(value):
        return "n/a"
    return str(int(value)) if float(value).is_integer() else f"{value:.3g}"


def count(n: float | None) -> str:
    """A (possibly fitted) count rounded to two significant digits from 100 up: ``1234.5 ->
    "1,200"``, ``87.2 -> "87"``; ``"∞"`` when infinite."""
    if n is None or math.isnan(n):
        return "n/a"
    if math.isinf(n):
        return "∞"
    if n < 100:
        return f"{round(n):,}"
    digits = math.floor(math.log10(n)) - 1
    return f"{round(n, -digits):,.0f}"


def ratio(value: float | None) -> str:
    """A multiple: ``2.54 -> "2.5x"``, ``123.4 -> "123x"``."""
    if not _finite(value):
        return "n/a"
    return f"{value:.1f}x" if value < 10 else f"{value:,.0f}x"


def relative(fraction: float | None) -> str:
    """A relative change as a percentage, one decimal under 10%: ``0.043 -> "4.3%"``,
    ``0.52 -> "52%"``; ``"∞%"`` when infinite."""
    if fraction is None or math.isnan(fraction):
        return "n/a"
    if math.isinf(fraction):
        return "∞%"
    value = 100 * fraction
    return f"{value:.1f}%" if abs(value) < 10 else f"{value:.0f}%"


def capital(text: str) -> str:
    """The sentence's first letter in upper case (``"validation loss" -> "Validation loss"``)."""
    return text[:1].upper() + text[1:]


def decimal(value: float | None, *, digits: int = 1) -> str:
    """A number with fixed decimals and no negative zero: ``8.63 -> "8.6"``, ``-0.04 ->
    "0.0"``; ``"n/a"`` when not finite."""
    if not _finite(value):
        return "n/a"
    text = f"{float(value):.{digits}f}"
    return f"{0.0:.{digits}f}" if float(text) == 0.0 else text


def confidence_label(confidence: float) -> str:
    """``0.95 -> "95% CI"``."""
    return f"{100 * confidence:g}% CI"


def compact(
    value: float | None, low: float | None = None, high: float | None = None, *, unit: str
) -> str:
    """A value and its interval in a narrow table cell, the unit left to the row label:
    ``"16.3 (13.0–19.0)"`` (percent), ``"+1.6 (+0.3–+2.9)"`` (points), ``"0.149
    (0.051–0.275)"`` (number, nats); the value alone without an interval; ``"n/a"``."""
    if not _finite(value):
        return "n/a"
    scale, spec = {"percent": (100, ".1f"), "points": (100, "+.1f")}.get(unit, (1, ".3f"))
    text = f"{scale * value:{spec}}"
    if _finite(low) and _finite(high):
        text += f" ({scale * low:{spec}}–{scale * high:{spec}})"
    return text
