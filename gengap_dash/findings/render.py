"""The one place that turns findings into English.

Each view's findings module (``findings/<view>.py``) registers one template per finding kind
with :func:`sentence`; :func:`render` looks the kind up. Templates use the formatters of
``findings/words.py`` so that units, signs and plurals are right by construction.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable

from gengap_dash.findings.model import Finding

Template = Callable[[Finding], str]
_TEMPLATES: dict[str, Template] = {}
_TEMPLATE_MODULES: tuple[str, ...] = ()
"""Modules that register templates, imported on first render (each view adds its own)."""


def sentence(kind: str) -> Callable[[Template], Template]:
    """Register the template of one finding kind (a decorator)."""

    def register(template: Template) -> Template:
        if kind in _TEMPLATES and _TEMPLATES[kind] is not template:
            raise ValueError(f"Finding kind {kind!r} already has a template.")
        _TEMPLATES[kind] = template
        return template

    return register


def register_template_module(module: str) -> None:
    """Name a module whose import registers templates (called by each view module)."""
    global _TEMPLATE_MODULES
    if module not in _TEMPLATE_MODULES:
        _TEMPLATE_MODULES = (*_TEMPLATE_MODULES, module)


def render(finding: Finding) -> str:
    """The sentence of ``finding``.

    Raises:
        KeyError: for a kind with no registered template (a programming error, caught by the
            test that renders every kind).
    """
    if finding.kind not in _TEMPLATES:
        for module in _TEMPLATE_MODULES:
            importlib.import_module(module)
    try:
        template = _TEMPLATES[finding.kind]
    except KeyError:
        raise KeyError(f"No sentence template for finding kind {finding.kind!r}.") from None
    return template(finding)


def render_all(findings: Iterable[Finding]) -> list[str]:
    return [render(finding) for finding in findings]


def to_json(findings: Iterable[Finding]) -> list[dict]:
    """Findings in the JSON form every ``--json`` output carries (with their ``text``)."""
    return [finding.to_dict(text=render(finding)) for finding in findings]


def registered_kinds() -> tuple[str, ...]:
    for module in _TEMPLATE_MODULES:
        importlib.import_module(module)
    return tuple(sorted(_TEMPLATES))
