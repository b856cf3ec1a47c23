"""Findings: structured verdicts (``model``) and the one place that words them (``render``).

Formatters shared by every template live in ``findings/words.py``; each view's templates live in
``findings/<view>.py``.
"""

from gengap_dash.findings.model import SEVERITY_RANK, Finding, Severity, by_severity, worst
from gengap_dash.findings.render import render, render_all, sentence, to_json

__all__ = [
    "SEVERITY_RANK",
    "Finding",
    "Severity",
    "by_severity",
    "render",
    "render_all",
    "sentence",
    "to_json",
    "worst",
]
