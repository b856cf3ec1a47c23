"""Analysis results for the pages: a thin Streamlit layer over the on-disk result cache.

``registry.compute`` reads a view's result from disk (or computes and stores it); this layer only
keeps it in memory per server process, keyed by the result's content key (small and hashable,
never the arrays), so a second viewer or a rerun costs nothing, and a restarted server reads it
from disk instead of recomputing.
"""

from __future__ import annotations

import functools
import json
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import plotly.io
import streamlit as st

from gengap_dash.analysis.scorecard import Scorecard
from gengap_dash.findings import Finding, render
from gengap_dash.store.keys import hash_key
from gengap_dash.store.results import ResultCache
from gengap_dash.views.registry import cached, compute, get_view, result_cache, result_key
from gengap_dash.workspace import Workspace


@st.cache_resource(
    show_spinner="Reading the analysis from the cache (computing it the first time)...",
    max_entries=64,
)
def _result(name: str, key: str, _workspace: Workspace, options: Any, light: bool) -> Any:
    result = compute(get_view(name), _workspace, options, light=light)
    _remember_origin(result, result_cache(_workspace), f"{name}:{key}")
    return result


def remember_origin(result: Any, workspace: Workspace, view: Any, options: Any) -> None:
    """Note that ``result`` is ``view``'s stored result for ``options`` (for pages that hold
    results in their own caches), so that :func:`cached_figure` keeps its figures on disk."""
    key = result_key(view, workspace, options)
    _remember_origin(result, result_cache(workspace), f"{view.name}:{key}")


def view_result(
    name: str, workspace: Workspace, options: Any = None, *, light: bool = False
) -> Any:
    """The result of the view called ``name`` on ``workspace`` with ``options`` (its defaults
    when ``None``); cached results that were found corrupt and recomputed are noted in a
    caption. ``light``: without its heavy fields when read from the disk cache (per-sample
    data a page reads only to build a figure that is not on disk yet)."""
    view = get_view(name)
    options = view.Options() if options is None else options
    result = _result(name, result_key(view, workspace, options), workspace, options, light)
    for note in result_cache(workspace).notes:
        st.caption(note)
    return result


@st.cache_resource(show_spinner=False, max_entries=16)
def _stored(name: str, key: str, _workspace: Workspace, options: Any) -> tuple[bool, Any]:
    found, result = cached(get_view(name), _workspace, options)
    if found:
        _remember_origin(result, result_cache(_workspace), f"{name}:{key}")
    return found, result


def stored_view_result(name: str, workspace: Workspace, options: Any = None) -> Any | None:
    """The view's result when the on-disk cache already holds it, else None; never computes
    (for slow views whose page offers a button instead). Read once per server process."""
    view = get_view(name)
    options = view.Options() if options is None else options
    if view.unavailable(workspace):
        return None
    key = result_key(view, workspace, options)
    if not result_cache(workspace).path(name, key).is_file():
        return None
    found, result = _stored(name, key, workspace, options)
    if not found:  # the entry was corrupt (discarded): forget the miss, it may be computed
        _stored.clear()
        return None
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
    _remember_origin(result, cache, f"{name}:{key}")
    return result


class SharedFigure(go.Figure):
    """A built figure that every viewer shares: :meth:`to_dict` makes its dict once.

    ``st.plotly_chart`` calls ``to_dict`` on every page view, and plotly deep-copies the whole
    figure each time; a cached figure never changes, so one dict serves every view (plotly's
    JSON writer only drops trace ``uid`` keys from it, which a figure built here has none of).
    """

    def to_dict(self) -> dict[str, Any]:
        made = self.__dict__.get("_shared_dict")
        if made is None:
            made = super().to_dict()
            self.__dict__["_shared_dict"] = made
        return made


def _shared(figure: go.Figure) -> SharedFigure:
    if isinstance(figure, SharedFigure):
        return figure
    return SharedFigure(figure.to_dict(), skip_invalid=False, _validate=False)


_FIGURES: dict[int, OrderedDict[str, go.Figure]] = {}
FIGURES_PER_RESULT = 32
"""Figures kept in memory per result (the least recently used go first), and figures written to
disk per result entry by one server process: a viewer who walks through every combination of a
page's widgets cannot make the server's memory or its cache folder grow without bound."""
_WRITTEN: dict[str, int] = {}  # result entry -> figures this process wrote beside it
_ORIGINS: dict[int, tuple[ResultCache, str]] = {}  # id(result) -> its cache and entry key
_FIGURES_LOCK = threading.Lock()
FIGURES_ENTRY = "figures"
"""The result-cache folder of built figures (their Plotly JSON)."""


def _remember(source: Any) -> bool:
    """Track ``source`` until it is garbage-collected; ``False`` if it cannot be tracked (a
    dict or tuple is not weak-referenceable). The caller holds the lock."""
    if id(source) in _FIGURES:
        return True
    try:
        weakref.finalize(source, _forget_figures, id(source))
    except TypeError:
        return False
    _FIGURES[id(source)] = OrderedDict()
    return True


def _remember_origin(result: Any, cache: ResultCache, entry: str) -> None:
    """Note that ``result`` is the cached entry ``entry`` of ``cache``, so that its figures can
    be kept on disk beside it."""
    with _FIGURES_LOCK:
        if _remember(result):
            _ORIGINS[id(result)] = (cache, entry)


@functools.cache
def figure_code_version() -> str:
    """A digest of the source of the modules that build figures and the words around them
    (``plots``, ``ui``, ``findings``): a figure kept on disk is used only by the same code."""
    root = Path(__file__).resolve().parents[1]
    sources = sorted(
        path for package in ("plots", "ui", "findings") for path in (root / package).rglob("*.py")
    )
    return hash_key({str(path.relative_to(root)): path.read_text() for path in sources})


def cached_figure(
    build: Callable[..., go.Figure], source: Any, *args: Any, **kwargs: Any
) -> go.Figure:
    """``build(source, *args, **kwargs)``, built once per server process for as long as
    ``source`` (a view result held by the result cache) lives, and kept on disk beside a
    result read from the result cache.

    Building a figure (plotly validates every property) costs far more server time than sending
    it; a second viewer of the same page and options gets the figure already built, and a new
    server process reads its Plotly JSON from disk (a figure made from JSON written by plotly
    itself needs no validation: milliseconds instead of a second for a page of figures). The
    disk entry is keyed by the result's entry, the arguments and :func:`figure_code_version`.
    The figure is shared: callers must not change it (``st.plotly_chart`` only reads it).
    ``args`` and ``kwargs`` are compared by their ``repr`` (small values: metric names,
    colours, options).
    """
    arguments = f"{build.__module__}.{build.__qualname__}{args!r}{sorted(kwargs.items())!r}"
    return _figure_of(source, arguments, lambda: build(source, *args, **kwargs))


def figure_of(source: Any, key: tuple[Any, ...], build: Callable[[], go.Figure]) -> go.Figure:
    """:func:`cached_figure` for a figure that also needs inputs other than ``source`` (a
    table read from the workspace, a widget's choice): ``build()`` makes it, and ``key`` (a
    tuple of small values, compared by ``repr``) names everything it depends on besides
    ``source``. Nothing but ``build`` reads those inputs, so a cached figure costs no read."""
    return _figure_of(source, repr(key), build)


def _figure_of(source: Any, arguments: str, build: Callable[[], go.Figure]) -> go.Figure:
    with _FIGURES_LOCK:
        kept = _FIGURES.get(id(source))
        figure = kept.get(arguments) if kept is not None else None
        if figure is not None:
            kept.move_to_end(arguments)
            return figure
        origin = _ORIGINS.get(id(source))
    disk_key = None
    if origin is not None:
        cache, entry = origin
        disk_key = hash_key({"entry": entry, "figure": arguments, "code": figure_code_version()})
        found, spec = cache.load(FIGURES_ENTRY, disk_key)
        if found and isinstance(spec, str):
            figure = SharedFigure(json.loads(spec), skip_invalid=False, _validate=False)
            # its dict is the JSON plotly wrote: no deep copy of the figure to make it again
            figure.__dict__["_shared_dict"] = json.loads(spec)
    if figure is None:
        figure = _shared(build())
        if origin is not None and disk_key is not None:
            cache, entry = origin
            with _FIGURES_LOCK:
                written = _WRITTEN.get(entry, 0)
                _WRITTEN[entry] = written + 1
            if written < FIGURES_PER_RESULT:
                cache.store(FIGURES_ENTRY, disk_key, plotly.io.to_json(figure, validate=False))
    with _FIGURES_LOCK:
        if _remember(source):
            kept = _FIGURES[id(source)]
            kept[arguments] = figure
            while len(kept) > FIGURES_PER_RESULT:
                kept.popitem(last=False)
    return figure


_KEYED_FIGURES: OrderedDict[str, go.Figure] = OrderedDict()
KEYED_FIGURES_KEPT = 128
"""How many figures :func:`figure_once` keeps (the least recently used go first)."""


def figure_once(key: tuple[Any, ...], build: Callable[[], go.Figure]) -> go.Figure:
    """``build()``, built once per server process for ``key``: for figures made from inputs
    that are not a stored view result (training logs), ``key`` names everything the figure
    depends on (the inputs' version key and every choice), compared by its ``repr``.

    The figure is shared: callers must not change it.
    """
    text = repr(key)
    with _FIGURES_LOCK:
        figure = _KEYED_FIGURES.get(text)
        if figure is not None:
            _KEYED_FIGURES.move_to_end(text)
            return figure
    figure = _shared(build())
    with _FIGURES_LOCK:
        _KEYED_FIGURES[text] = figure
        while len(_KEYED_FIGURES) > KEYED_FIGURES_KEPT:
            _KEYED_FIGURES.popitem(last=False)
    return figure


def _forget_figures(source_id: int) -> None:
    with _FIGURES_LOCK:
        _FIGURES.pop(source_id, None)
        _ORIGINS.pop(source_id, None)


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
