"""Analysis results for the pages: a thin Streamlit layer over the on-disk result cache.

``registry.compute`` reads a view's result from disk (or computes and stores it); this layer only
keeps it in memory per server process, keyed by the result's content key (small and hashable,
never the arrays), so a second viewer or a rerun costs nothing, and a restarted server reads it
from disk instead of recomputing.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from gengap_dash.analysis.scorecard import Scorecard
from gengap_dash.findings import Finding, render
from gengap_dash.store.keys import hash_key
from gengap_dash.views.registry import compute, get_view, result_cache, result_key
from gengap_dash.workspace import Workspace


@st.cache_resource(
    show_spinner="Reading the analysis from the cache (computing it the first time)...",
    max_entries=64,
)
def _result(name: str, key: str, _workspace: Workspace, options: Any) -> Any:
    return compute(get_view(name), _workspace, options)


def view_result(name: str, workspace: Workspace, options: Any = None) -> Any:
    """The result of the view called ``name`` on ``workspace`` with ``options`` (its defaults
    when ``None``); cached results that were found corrupt and recomputed are noted in a
    caption."""
    view = get_view(name)
    options = view.Options() if options is None else options
    result = _result(name, result_key(view, workspace, options), workspace, options)
    for note in result_cache(workspace).notes:
        st.caption(note)
    return result


def cached_on_disk(
    name: str, key_parts: dict[str, Any], workspace: Workspace, make: Callable[[], Any]
) -> Any:
    """``make()``'s result, kept in the workspace's on-disk result cache under ``name`` and the
    hash of ``key_parts`` (for a page's analysis that depends on widget choices beyond a view's
    options, e.g. the splits a comparison covers)."""
    cache = result_cache(workspace)
    key = hash_key({"name": name, **key_parts})
    found, result = cache.load(name, key)
    if not found:
        result = make()
        cache.store(name, key, result)
    return result


_FIGURES: dict[int, dict[str, go.Figure]] = {}
_FIGURES_LOCK = threading.Lock()


def cached_figure(
    build: Callable[..., go.Figure], source: Any, *args: Any, **kwargs: Any
) -> go.Figure:
    """``build(source, *args, **kwargs)``, built once per server process for as long as
    ``source`` (a view result held by the result cache) lives.

    Building a figure (plotly validates every property) costs far more server time than sending
    it; a second viewer of the same page and options gets the figure already built. The figure
    is shared: callers must not change it (``st.plotly_chart`` only reads it). ``args`` and
    ``kwargs`` are compared by their ``repr`` (small values: metric names, colours, options).
    """
    arguments = f"{build.__module__}.{build.__qualname__}{args!r}{sorted(kwargs.items())!r}"
    with _FIGURES_LOCK:
        figure = _FIGURES.get(id(source), {}).get(arguments)
    if figure is not None:
        return figure
    figure = build(source, *args, **kwargs)
    with _FIGURES_LOCK:
        if id(source) not in _FIGURES:
            try:
                weakref.finalize(source, _forget_figures, id(source))
            except TypeError:  # not weak-referenceable (a dict, a tuple): not kept
                return figure
            _FIGURES[id(source)] = {}
        _FIGURES[id(source)][arguments] = figure
    return figure


def _forget_figures(source_id: int) -> None:
    with _FIGURES_LOCK:
        _FIGURES.pop(source_id, None)


def scorecard_for(workspace: Workspace, *, n_resamples: int = 1000, seed: int = 0) -> Scorecard:
    """The workspace's scorecard, computed once per project version and options."""
    view = get_view("scorecard")
    return view_result("scorecard", workspace, view.Options(n_resamples=n_resamples, seed=seed))


@dataclass(frozen=True)
class Said:
    """A finding with its sentence, for ``ui.layout.verdict_list``."""

    severity: str
    text: str
    kind: str


def said(findings: list[Finding]) -> list[Said]:
    """The findings with their sentences (rendered once, by ``gengap_dash.findings``)."""
    return [Said(finding.severity, render(finding), finding.kind) for finding in findings]
