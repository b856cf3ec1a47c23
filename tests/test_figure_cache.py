"""ui.analysis.cached_figure: a figure is built once per stored result and choice of arguments."""

from __future__ import annotations

import gc
from dataclasses import dataclass

import plotly.graph_objects as go

from gengap_dash.ui import analysis


@dataclass(frozen=True)
class _Result:
    values: tuple[float, ...]


def test_a_figure_is_built_once_per_result_and_arguments() -> None:
    calls: list[tuple] = []

    def build(result: _Result, metric: str, *, colors: dict[str, str]) -> go.Figure:
        calls.append((metric, tuple(colors.items())))
        return go.Figure(go.Scatter(y=list(result.values), name=metric))

    result = _Result((1.0, 2.0))
    first = analysis.cached_figure(build, result, "accuracy", colors={"test": "#000000"})
    again = analysis.cached_figure(build, result, "accuracy", colors={"test": "#000000"})
    other = analysis.cached_figure(build, result, "nll", colors={"test": "#000000"})
    assert first is again and other is not first
    assert len(calls) == 2 and first.data[0].name == "accuracy" and other.data[0].name == "nll"
    recoloured = analysis.cached_figure(build, result, "accuracy", colors={"test": "#ffffff"})
    assert recoloured is not first and len(calls) == 3

    another = _Result((1.0, 2.0))  # equal values, another stored result: built anew
    assert (
        analysis.cached_figure(build, another, "accuracy", colors={"test": "#000000"}) is not first
    )
    assert len(calls) == 4

    key = id(result)
    assert key in analysis._FIGURES
    del result, first, again, other, recoloured
    gc.collect()
    assert key not in analysis._FIGURES  # forgotten with the result it was built from


def test_sources_that_cannot_be_weakly_referenced_are_built_every_time() -> None:
    calls: list[int] = []

    def build(values: dict, name: str) -> go.Figure:
        calls.append(1)
        return go.Figure(go.Bar(y=list(values.values()), name=name))

    values = {"a": 1.0}
    analysis.cached_figure(build, values, "x")
    analysis.cached_figure(build, values, "x")
    assert len(calls) == 2 and id(values) not in analysis._FIGURES


def test_figures_of_a_cached_result_are_kept_on_disk(tmp_path) -> None:
    """A figure of a result read from the result cache is written beside it as Plotly JSON; a
    new server process (here: a new result object for the same entry) reads it instead of
    building it, and gets the same figure. A corrupt figure entry is rebuilt."""
    import plotly.io

    from gengap_dash.store.results import ResultCache

    calls: list[str] = []

    def build(result: _Result, metric: str) -> go.Figure:
        calls.append(metric)
        figure = go.Figure(go.Scatter(y=list(result.values), name=metric, mode="lines+markers"))
        return figure.update_layout(title=f"{metric} by split", yaxis_title="value")

    cache = ResultCache(tmp_path)
    first_result = _Result((0.25, 0.5))
    analysis._remember_origin(first_result, cache, "scorecard:abc")
    built = analysis.cached_figure(build, first_result, "accuracy")
    assert calls == ["accuracy"]
    stored = list((cache.root / analysis.FIGURES_ENTRY).glob("*.json"))
    assert len(stored) == 1

    restarted = _Result((0.25, 0.5))  # the same entry read again by a new process
    analysis._remember_origin(restarted, cache, "scorecard:abc")
    read = analysis.cached_figure(build, restarted, "accuracy")
    assert calls == ["accuracy"]  # read from disk, not built
    assert plotly.io.to_json(read, validate=False) == plotly.io.to_json(built, validate=False)

    other_entry = _Result((0.25, 0.5))  # another result entry: its own figures
    analysis._remember_origin(other_entry, cache, "scorecard:def")
    analysis.cached_figure(build, other_entry, "accuracy")
    assert calls == ["accuracy", "accuracy"]

    for path in (cache.root / analysis.FIGURES_ENTRY).glob("*.json"):
        path.write_text("{not json")
    again = _Result((0.25, 0.5))
    analysis._remember_origin(again, cache, "scorecard:abc")
    rebuilt = analysis.cached_figure(build, again, "accuracy")
    assert calls == ["accuracy", "accuracy", "accuracy"]
    assert rebuilt.data[0].name == "accuracy"
    assert any("corrupt" in note for note in cache.notes)


def test_figure_once_builds_once_per_key_and_keeps_the_latest(monkeypatch) -> None:
    monkeypatch.setattr(analysis, "_KEYED_FIGURES", analysis.OrderedDict())
    monkeypatch.setattr(analysis, "KEYED_FIGURES_KEPT", 2)
    calls: list[str] = []

    def build(name: str):
        return lambda: calls.append(name) or go.Figure(go.Bar(y=[1], name=name))

    first = analysis.figure_once(("curves", "logs-v1", "run_a"), build("a"))
    assert analysis.figure_once(("curves", "logs-v1", "run_a"), build("a")) is first
    analysis.figure_once(("curves", "logs-v2", "run_a"), build("a2"))  # new logs version
    assert calls == ["a", "a2"]
    analysis.figure_once(("curves", "logs-v1", "run_a"), build("a"))  # used: kept
    analysis.figure_once(("curves", "logs-v1", "run_b"), build("b"))  # evicts logs-v2
    analysis.figure_once(("curves", "logs-v2", "run_a"), build("a2"))
    assert calls == ["a", "a2", "b", "a2"]


def test_figures_per_result_are_bounded_in_memory_and_on_disk(tmp_path, monkeypatch) -> None:
    """A viewer walking through every combination of a page's widgets: at most
    FIGURES_PER_RESULT figures per result stay in memory (least recently used dropped) and
    this process writes at most as many beside the result entry."""
    from gengap_dash.store.results import ResultCache

    monkeypatch.setattr(analysis, "FIGURES_PER_RESULT", 3)
    monkeypatch.setattr(analysis, "_WRITTEN", {})
    cache = ResultCache(tmp_path)
    result = _Result((1.0,))
    analysis._remember_origin(result, cache, "calibration:bounded")

    def build(source: _Result, bins: int) -> go.Figure:
        return go.Figure(go.Bar(y=list(source.values), name=str(bins)))

    for bins in range(5, 11):  # six choices
        analysis.cached_figure(build, result, bins)
    kept = analysis._FIGURES[id(result)]
    assert [figure.data[0].name for figure in kept.values()] == ["8", "9", "10"]
    assert len(list((cache.root / analysis.FIGURES_ENTRY).glob("*.json"))) == 3
