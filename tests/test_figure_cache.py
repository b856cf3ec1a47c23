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
