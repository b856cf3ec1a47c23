"""The overview page (gap scorecard) in AppTest, on the sample project and the tabular project."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from gengap_dash.analysis.scorecard import (
    compute_scorecard,
    gap_chart_takeaway,
    headline,
    scorecard_findings,
)
from gengap_dash.findings import render
from gengap_dash.plots.scorecard import scorecard_table
from gengap_dash.views.scorecard import split_data
from gengap_dash.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data" / "digits" / "project.yaml"


def open_app(project: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("GENGAP_PROJECT", str(project))
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    return app.run()


def expected_scorecard(project: Path, cache_dir: Path):
    workspace = Workspace.from_file(project, cache_dir=cache_dir)
    return workspace, compute_scorecard(split_data(workspace), n_resamples=1000, seed=0)


@pytest.mark.parametrize("which", ["sample", "tabular"])
def test_overview_shows_the_scorecard_computed_by_the_library(
    which: str, tabular_project: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = SAMPLE if which == "sample" else tabular_project
    app = open_app(project, monkeypatch)
    assert not app.exception
    assert not [box for box in app.error if "cannot be opened" in box.value]
    workspace, scorecard = expected_scorecard(project, cache_dir)
    boxes = app.error or app.warning or app.success or app.info
    assert boxes[0].value.replace("\\", "") == render(headline(scorecard))
    assert app.title[0].value.endswith(workspace.name)

    shown = {metric.label: metric.value for metric in app.metric}
    for split in scorecard.splits:
        assert shown[split.name] == f"{100 * split.metrics['accuracy'].value:.1f}%"

    markdown = "\n".join(block.value for block in app.markdown)
    for finding in scorecard_findings(scorecard):
        assert render(finding).split(":")[0] in markdown
    assert len(app.get("plotly_chart")) == 2
    table = app.dataframe[0].value
    assert list(table["Split"]) == list(workspace.split_names)
    assert table.equals(scorecard_table(scorecard, intervals="accuracy"))


def test_overview_reference_switch_changes_the_gap_takeaway(
    tabular_project: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = open_app(tabular_project, monkeypatch)
    before = [block.value for block in app.markdown if "What to take from it" in block.value]
    app.radio(key="overview_reference").set_value("train").run()
    after = [block.value for block in app.markdown if "What to take from it" in block.value]
    assert not app.exception
    assert before[1] != after[1]
    _, scorecard = expected_scorecard(tabular_project, cache_dir)
    expected = render(gap_chart_takeaway(scorecard, metric="accuracy", reference="train"))
    assert after[1].replace("\\", "").endswith(expected)


def test_a_broken_project_file_is_reported_with_st_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "project.yaml"
    broken.write_text("name: x\nsplits: [unclosed\n")
    app = open_app(broken, monkeypatch)
    assert not app.exception
    assert len(app.error) == 1
    assert "project.yaml is not valid YAML" in app.error[0].value
    assert not app.get("plotly_chart")


def test_the_sidebar_switches_project(
    tabular_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Typing any path is the single-user local mode (a shared server serves only its projects).
    monkeypatch.setenv("GENGAP_ALLOW_ANY_PROJECT_PATH", "1")
    app = open_app(SAMPLE, monkeypatch)
    app.text_input(key="gengap_project_input").set_value(str(tabular_project)).run()
    assert not app.exception
    assert app.title[0].value.endswith("Wine MLP")
    assert {metric.label for metric in app.metric} == {"train", "val", "test", "noisy"}


def test_an_edited_project_file_is_read_again(
    tabular_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    app = open_app(tabular_project, monkeypatch)
    assert app.title[0].value.endswith("Wine MLP")
    text = tabular_project.read_text().replace("name: Wine MLP", "name: Wine MLP v2")
    tabular_project.write_text(text)
    stat = tabular_project.stat()
    os.utime(tabular_project, (stat.st_atime, stat.st_mtime + 5))
    app.run()
    assert not app.exception
    assert app.title[0].value.endswith("Wine MLP v2")


def test_a_replaced_data_table_is_read_again_while_the_app_runs(
    tabular_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    import pandas as pd

    app = open_app(tabular_project, monkeypatch)
    shown = {metric.label: metric.value for metric in app.metric}
    assert shown["noisy"] != "0.0%"
    table = tabular_project.parent / "data" / "noisy.parquet"
    frame = pd.read_parquet(table)
    frame["target"] = (frame["target"] + 1) % 3  # every label now disagrees with before
    frame.to_parquet(table, index=False)
    stat = table.stat()
    os.utime(table, (stat.st_atime, stat.st_mtime + 5))
    app.run()
    assert not app.exception
    after = {metric.label: metric.value for metric in app.metric}
    assert after["noisy"] != shown["noisy"]
    assert after["train"] == shown["train"]


def test_one_reference_per_statement_and_one_sign(
    tabular_project: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 8: every card names its reference and reads 'worse'/'better' (no green arrow for
    train), the table has one gap column with the reference in each cell and fits a 1440 px
    window (only accuracy's interval unless asked), and the help text names this project's own
    shifted splits."""
    from gengap_dash.plots.scorecard import GAP_COLUMN, accuracy_delta_text

    app = open_app(tabular_project, monkeypatch)
    assert not app.exception
    _, scorecard = expected_scorecard(tabular_project, cache_dir)
    deltas = {metric.label: metric.delta for metric in app.metric}
    assert not deltas["train"]  # the reference of the fit verdict: no delta, no arrow
    for name in ("val", "noisy"):
        assert deltas[name] == accuracy_delta_text(scorecard, name)
        assert deltas[name].endswith((" than train", " than test", " than val"))
    table = app.dataframe[0].value
    assert [column for column in table.columns if "gap" in column.lower()] == [GAP_COLUMN]
    assert not table["Macro-F1"].str.contains(r"\(").any()  # values only by default
    assert table["Accuracy"].str.contains(r"\(").all()
    app.toggle(key="overview_all_intervals").set_value(True).run()
    assert app.dataframe[0].value["Macro-F1"].str.contains(r"\(").all()
    help_text = "\n".join(block.value for block in app.markdown)
    assert "rotated, blurred, field" not in help_text
    assert "(here: noisy)" in help_text
