"""The view contract and the registry of views.

A view is what a page, a CLI command and a report section share (DESIGN.md, "The view
contract"). Each view is one module in this package that defines a :class:`View` subclass and
decorates it with :func:`register`; :func:`all_views` discovers the modules, so adding a view
touches no other view's code, nor the CLI, the summary or the report, which iterate the registry.

:func:`compute` is the one entry point for results: it looks the result up in the on-disk
result cache (``store/results.py``) under the content key of the view's inputs and its options,
and computes and stores it on a miss.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import pkgutil
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from gengap_dash.findings.model import Finding, by_severity
from gengap_dash.findings.render import render, to_json
from gengap_dash.project.errors import ProjectError
from gengap_dash.store.cache import hash_key
from gengap_dash.store.results import ResultCache

if TYPE_CHECKING:
    from gengap_dash.workspace import Workspace

Need = Literal["predictions", "embeddings", "model", "training_logs"]
_NOT_VIEWS = frozenset({"registry", "report_html"})


class View(ABC):
    """One view: its needs, its computation, its findings, its JSON, text and report section.

    Subclasses set the class attributes and implement :meth:`compute` and :meth:`findings`.
    ``Options`` is a frozen dataclass whose defaults are the page's and the CLI's defaults.
    """

    name: ClassVar[str]
    """Registry key, CLI command and cache folder (``"calibration"``)."""
    title: ClassVar[str]
    """Title of the page and the report section."""
    question: ClassVar[str]
    """The question the view answers, in plain words."""
    needs: ClassVar[frozenset[Need]] = frozenset({"predictions"})
    page: ClassVar[str | None] = None
    """The page file in ``pages/`` that shows it."""
    version: ClassVar[int] = 1
    """Bumped when ``compute`` changes what it returns (old cached results are then ignored)."""
    order: ClassVar[int] = 100
    """Position in the summary and the report (smaller first)."""
    slow: ClassVar[bool] = False
    """A view whose computation takes long (UMAP, attribution): ``gengap summary`` and the report
    include it only once its result is in the cache (``gengap <view>`` or ``gengap precompute
    --views`` computes it)."""
    Options: ClassVar[type]

    # -- what it needs -------------------------------------------------------------------------

    def unavailable(self, workspace: Workspace) -> str | None:
        """Why this view cannot run on ``workspace`` (``None`` when it can)."""
        if "model" in self.needs and not workspace.has_model:
            return f"{self.title} needs the model itself; this project brings its predictions."
        if "training_logs" in self.needs and workspace.spec.training_logs is None:
            return (
                f"{workspace.spec.path.name} has no training_logs; add e.g. `training_logs: "
                "{runs: [logs/metrics.csv]}` to see the learning curves (docs/project-file.md)."
            )
        return None

    def input_key(self, workspace: Workspace) -> dict[str, Any]:
        """Content keys of what :meth:`compute` reads (default: every split's model outputs)."""
        return {"outputs": workspace.fingerprint()}

    def canonical_options(self, workspace: Workspace, options: Any) -> Any:
        """``options`` with each default spelled out (e.g. an empty reference replaced by the
        split it stands for), so that equal requests share one cached result: the summary asks
        for the default, a page or another view for the split by name."""
        return options

    # -- the result ----------------------------------------------------------------------------

    @abstractmethod
    def compute(self, workspace: Workspace, options: Any) -> Any:
        """The result: a frozen dataclass (or a mapping of them), pure given its inputs."""

    @abstractmethod
    def findings(self, result: Any) -> list[Finding]:
        """Every structured verdict of the result, most important first."""

    def headline(self, result: Any) -> list[Finding]:
        """The findings ``gengap summary`` and the report lead with (default: the most severe
        one, or all those at ``critical``)."""
        ranked = by_severity(self.findings(result))
        if not ranked:
            return []
        critical = [finding for finding in ranked if finding.severity == "critical"]
        return critical or ranked[:1]

    def to_json(self, result: Any) -> dict[str, Any]:
        """The result as JSON-serialisable data (the ``--json`` output, without ``findings``)."""
        return {}

    def heading(self, result: Any) -> str:
        """What the text output's first line adds after ``PROJECT: <title>`` (e.g. the options)."""
        return ""

    def to_text(self, result: Any) -> str:
        """The result for a terminal, under its heading (default: its findings, one per line)."""
        return "\n".join(f"- {render(finding)}" for finding in self.findings(result))

    def extend_summary(self, result: Any, payload: dict[str, Any]) -> None:
        """Add the view's numbers to the ``gengap summary --json`` payload (none by default)."""
        return None

    def report_section(self, result: Any) -> str:
        """The result as an HTML section of the report (default: its findings)."""
        from gengap_dash.views.report_html import findings_block

        return findings_block(self.findings(result))

    # -- the command line ----------------------------------------------------------------------

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Add the view's own options to its ``gengap <view>`` command (none by default)."""
        return None

    def options_from_arguments(self, arguments: argparse.Namespace) -> Any:
        """The options a ``gengap <view>`` command asked for."""
        return self.Options()

    def write_files(self, result: Any, arguments: argparse.Namespace) -> None:
        """Write the files a ``gengap <view>`` command asked for (e.g. ``--out``; none by
        default)."""
        return None


_REGISTRY: dict[str, View] = {}


def register(cls: type[View]) -> type[View]:
    """Class decorator: make ``cls`` a registered view (its name must be new)."""
    view = cls()
    if not getattr(cls, "name", ""):
        raise TypeError(f"{cls.__name__} needs a `name`.")
    if not (dataclasses.is_dataclass(cls.Options) and cls.Options.__dataclass_params__.frozen):
        raise TypeError(f"{cls.__name__}.Options must be a frozen dataclass.")
    existing = _REGISTRY.get(view.name)
    if existing is not None and type(existing).__qualname__ != cls.__qualname__:
        raise TypeError(f"Two views are named {view.name!r}.")
    _REGISTRY[view.name] = view
    return cls


def _discover() -> None:
    import gengap_dash.views as package

    for module in pkgutil.iter_modules(package.__path__):
        if module.name not in _NOT_VIEWS and not module.name.startswith("_"):
            importlib.import_module(f"{package.__name__}.{module.name}")


def all_views() -> list[View]:
    """Every registered view, in report order."""
    _discover()
    return sorted(_REGISTRY.values(), key=lambda view: (view.order, view.name))


def get_view(name: str) -> View:
    """The view called ``name``.

    Raises:
        ProjectError: for a name no view has.
    """
    _discover()
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise ProjectError(f"There is no view {name!r}; the views are {known}.") from None


def result_key(view: View, workspace: Workspace, options: Any) -> str:
    """The content key of ``view``'s result for ``workspace`` and ``options``."""
    return hash_key(
        {
            "view": view.name,
            "version": view.version,
            "inputs": view.input_key(workspace),
            "options": dataclasses.asdict(view.canonical_options(workspace, options)),
        }
    )


def compute(
    view: View,
    workspace: Workspace,
    options: Any = None,
    *,
    use_cache: bool = True,
    on_miss: Callable[[], None] | None = None,
    light: bool = False,
) -> Any:
    """``view``'s result, from the on-disk result cache when it holds it.

    Args:
        options: an instance of ``view.Options`` (default: its defaults).
        use_cache: ``False`` computes afresh (and does not store).
        on_miss: called before computing (e.g. to show a spinner).
        light: read a cached result without its heavy fields (``None``; see
            ``store.codec.HEAVY``); a result computed here is whole.

    Raises:
        ProjectError: the view cannot run on this project (see :meth:`View.unavailable`), or the
            data are bad.
    """
    options = view.Options() if options is None else options
    if not isinstance(options, view.Options):
        raise TypeError(
            f"Expected options of type {view.Options.__name__}, but got {type(options).__name__}."
        )
    reason = view.unavailable(workspace)
    if reason:
        raise ProjectError(reason)
    if not use_cache:
        return _computed(view, workspace, options)
    cache = result_cache(workspace)
    key = result_key(view, workspace, options)
    found, result = cache.load(view.name, key, light=light)
    if found:
        return result
    if on_miss is not None:
        on_miss()
    result = _computed(view, workspace, options)
    cache.store(view.name, key, result)
    return result


def _computed(view: View, workspace: Workspace, options: Any) -> Any:
    """``view.compute``, then the memory its intermediates held handed back (a read from the
    cache costs no collection: pages open warm without it)."""
    try:
        return view.compute(workspace, options)
    finally:
        release_unused_memory()


def release_unused_memory() -> None:
    """Hand memory freed by a computation back to the system: Arrow's allocator (mimalloc)
    keeps freed buffers for reuse, so a process that computes several views at 10,000,000
    predictions (``gengap summary``) grew by the largest intermediate of each (6.9 GB peak
    at 10M; 5.8 GB when released after each view). Under a millisecond: no garbage
    collection here (a full one costs about 0.3 s in a server process)."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()


def cached(
    view: View, workspace: Workspace, options: Any = None, *, light: bool = False
) -> tuple[bool, Any]:
    """``(True, result)`` when the result is already in the on-disk cache, else ``(False,
    None)``; never computes (``light``: as for :func:`compute`)."""
    options = view.Options() if options is None else options
    if view.unavailable(workspace):
        return False, None
    key = result_key(view, workspace, options)
    return result_cache(workspace).load(view.name, key, light=light)


def not_cached_reason(view: View) -> str:
    """Why a slow view is left out of the summary and the report until it is computed."""
    return (
        f"not computed yet (it takes a while): run `gengap {view.name} PROJECT` or "
        "`gengap precompute PROJECT --views` once, then it is included."
    )


def result_cache(workspace: Workspace) -> ResultCache:
    """The workspace's result cache (one per workspace, so its notes accumulate)."""
    cache = getattr(workspace, "_result_cache", None)
    if cache is None:
        cache = ResultCache(workspace.cache.root)
        workspace._result_cache = cache  # type: ignore[attr-defined]
    return cache


def view_json(view: View, result: Any, *, project: str) -> dict[str, Any]:
    """The ``--json`` document of a view: its data and its findings with their text."""
    return {"project": project, "view": view.name, **view.to_json(result),
            "findings": to_json(view.findings(result))}  # fmt: skip
