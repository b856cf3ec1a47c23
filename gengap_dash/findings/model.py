"""Findings are data: a verdict, headline or takeaway as a frozen record, words apart.

Analysis code decides (kind, severity, the numbers and the threshold that decided); the
``findings`` package alone turns a finding into a sentence (:func:`gengap_dash.findings.render`),
so the page, ``--json`` and the report say the same thing, and a change of threshold is caught by
a test of the data, not of prose.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["ok", "info", "warning", "critical"]
SEVERITIES: tuple[Severity, ...] = ("ok", "info", "warning", "critical")
SEVERITY_RANK: dict[str, int] = {name: rank for rank, name in enumerate(SEVERITIES)}


@dataclass(frozen=True)
class Finding:
    """One structured verdict.

    Attributes:
        kind: what was found, namespaced by view, e.g. ``"scorecard.overfitting"``; each kind has
            one sentence template in ``gengap_dash.findings``.
        severity: ``"ok"``, ``"info"``, ``"warning"`` or ``"critical"``.
        split: the split it is about (``None`` for the whole project).
        metric: the metric name (as in ``gengap_dash.metrics``), if any.
        value: the number that decided, in the metric's own scale (a fraction for accuracy).
        low, high: its 95% interval, where there is one.
        threshold: the documented threshold it was compared with, where there is one.
        reason: a short machine-readable reason code (``"gap_above_threshold"``).
        reference: the split it was compared against, if any.
        facts: further numbers or names the sentence needs (JSON-serialisable).
        view: the view that produced it (``"scorecard"``, ``"calibration"``...).
    """

    kind: str
    severity: Severity
    split: str | None = None
    metric: str | None = None
    value: float | None = None
    low: float | None = None
    high: float | None = None
    threshold: float | None = None
    reason: str = ""
    reference: str | None = None
    facts: Mapping[str, Any] = field(default_factory=dict)
    view: str = ""

    def __post_init__(self) -> None:
        if self.severity not in SEVERITY_RANK:
            raise ValueError(
                f"Expected `severity` to be one of {', '.join(SEVERITIES)}, but got "
                f"{self.severity!r}."
            )
        if not self.kind:
            raise ValueError("Expected a non-empty `kind`.")

    @property
    def rank(self) -> int:
        """0 for ``ok`` up to 3 for ``critical`` (for sorting)."""
        return SEVERITY_RANK[self.severity]

    def to_dict(self, *, text: str | None = None) -> dict[str, Any]:
        """The JSON form: ``kind, severity, split, metric, value, low, high, threshold, reason,
        reference, facts, text``; non-finite numbers become ``None``."""
        from gengap_dash.store.json_values import json_safe

        payload = {
            "kind": self.kind,
            "severity": self.severity,
            "view": self.view,
            "split": self.split,
            "metric": self.metric,
            "value": self.value,
            "low": self.low,
            "high": self.high,
            "threshold": self.threshold,
            "reason": self.reason,
            "reference": self.reference,
            "facts": dict(self.facts),
        }
        if text is not None:
            payload["text"] = text
        return json_safe(payload)


def worst(findings: Iterable[Finding]) -> Finding | None:
    """The most severe finding (the first of equals), or ``None`` for none."""
    best: Finding | None = None
    for finding in findings:
        if best is None or finding.rank > best.rank:
            best = finding
    return best


def by_severity(findings: Iterable[Finding]) -> list[Finding]:
    """Most severe first; the order among equals is kept."""
    return sorted(findings, key=lambda finding: -finding.rank)
