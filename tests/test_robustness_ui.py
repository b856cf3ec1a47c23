"""The robustness section of the "Data and robustness" page, through Streamlit's AppTest:
nothing runs until asked, the sweep runs with a click, and a cached sweep opens with no
inference."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

import gengap_dash.engine.corrupted_inference as engine


def _section(project: str) -> None:
    from gengap_dash.ui.robustness import render_robustness_section
    from gengap_dash.workspace import Workspace

    render_robustness_section(Workspace.from_file(project))


def _app(project: Path) -> AppTest:
    return AppTest.from_function(_section, args=(str(project),), default_timeout=240)


def _texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += [w.value for w in at.warning] + [s.value for s in at.success]
    return "\n".join(parts)


def test_nothing_runs_until_the_button_is_clicked(tabular_project: Path, monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("the page ran the model before the button was clicked")

    monkeypatch.setattr(engine, "run_inference", refuse)
    at = _app(tabular_project).run()
    assert not at.exception
    assert at.button(key="robustness_run").label == "Run the corruption sweep"
    assert not at.get("plotly_chart")


def test_a_click_runs_the_sweep_and_a_reload_reads_the_cache(
    tabular_project: Path, monkeypatch
) -> None:
    at = _app(tabular_project).run()
    at.button(key="robustness_run").click().run()
    assert not at.exception, at.exception
    charts = at.get("plotly_chart")
    assert len(charts) == 4  # curves, corruption errors, feature sensitivity, bridge
    text = _texts(at)
    assert "What to take from it:" in text
    assert "most sensitive to feature" in text
    # 48 rows: MMD² cannot tell noisy from clean test (as the shift view's test agrees)
    assert "noisy cannot be told from clean test data by MMD² on 48 rows" in text
    assert len(at.dataframe) >= 2

    def refuse(*args, **kwargs):
        raise AssertionError("a cached sweep ran the model again")

    monkeypatch.setattr(engine, "run_inference", refuse)
    again = _app(tabular_project).run()
    assert not again.exception
    assert len(again.get("plotly_chart")) == 4
    assert not [b for b in again.button if b.key == "robustness_run"]


def test_another_split_is_a_new_sweep(tabular_project: Path) -> None:
    at = _app(tabular_project).run()
    at.selectbox(key="robustness_split").select("val").run()
    assert not at.exception
    assert at.button(key="robustness_run")


def test_the_sample_image_section_shows_its_charts(sample) -> None:
    """On the sample: the sweep with the page's defaults (run here, or read from the cache when
    the view's tests ran it first), the curves and bridge with takeaways, and the corruption
    examples."""
    at = _app(sample.spec.path).run()
    assert not at.exception
    if [b for b in at.button if b.key == "robustness_run"]:
        at.button(key="robustness_run").click().run()
    assert not at.exception, at.exception
    assert len(at.get("plotly_chart")) == 3  # curves, corruption errors, bridge
    text = _texts(at)
    assert "rotated looks most like rotation" in text
    assert len(at.get("image")) == 1  # the corruption examples
