"""The calibration page in AppTest: on the sample and the tabular project its numbers are the
library's; the widgets (bins, strategy, layout, cohort column, splits) change what is shown; a
project without a validation split (or metadata) explains instead of failing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import edit_yaml
from streamlit.testing.v1 import AppTest

from gengap_dash.analysis.calibration.cohorts import calibration_by_cohort
from gengap_dash.analysis.calibration.findings import selective_finding, temperature_findings
from gengap_dash.analysis.calibration.report import calibration_report, top_label
from gengap_dash.analysis.calibration.selective import risk_coverage_curve
from gengap_dash.analysis.calibration.temperature import (
    fit_temperature,
    temperature_scaling_comparison,
)
from gengap_dash.data.predictions import to_export_frame
from gengap_dash.findings import render
from gengap_dash.stats.bootstrap import split_stream
from gengap_dash.ui.calibration import (
    TABS,
    cohort_table,
    format_estimate,
    headline,
    metrics_table,
    temperature_table,
)
from gengap_dash.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data" / "digits" / "project.yaml"
PAGE = "pages/calibration.py"


def open_page(project: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("GENGAP_PROJECT", str(project))
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    return app.switch_page(PAGE).run()


def charts(app) -> dict[str, dict]:
    """Plotly charts (of the page, or of one tab) by widget key (the element id ends with it) ->
    the figure's JSON."""
    return {
        chart.proto.id.split("-", 2)[-1]: json.loads(chart.proto.spec)
        for chart in app.get("plotly_chart")
    }


def markdown(app) -> str:
    """Every Markdown block, caption and call-out (of the page, or of one tab), without Markdown
    escapes."""
    blocks = [*app.markdown, *app.caption, *app.info, *app.warning, *app.error, *app.success]
    return "\n".join(block.value for block in blocks).replace("\\", "")


def stream(workspace: Workspace, split: str) -> tuple[int, int]:
    """The bootstrap stream of a split, as the app draws it (seed 0, position in the project)."""
    return split_stream(0, workspace.split_names.index(split))


def reports(workspace: Workspace, splits: list[str], **options):
    return {
        split: calibration_report(
            workspace.labels(split),
            workspace.logits(split),
            outputs_are="logits",
            seed=stream(workspace, split),
            **options,
        )
        for split in splits
    }


def table_with_metric_column(app: AppTest):
    # a static table (its cells wrap, so 12 splits fit 1440 px), indexed by the metric
    return next(
        table.value.reset_index() for table in app.table if table.value.index.name == "Metric"
    )


def held_out(workspace: Workspace) -> list[str]:
    return [split for split, role in workspace.split_roles.items() if role != "train"]


@pytest.mark.parametrize("which", ["sample", "tabular"])
def test_the_page_shows_the_library_numbers(
    which: str, tabular_project: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = SAMPLE if which == "sample" else tabular_project
    app = open_page(project, monkeypatch)
    assert not app.exception
    text = markdown(app)
    assert "cannot be opened" not in text and "analysis failed" not in text
    workspace = Workspace.from_file(project, cache_dir=cache_dir)
    splits = held_out(workspace)
    assert app.multiselect(key="calibration_splits").value == splits

    # the metrics table: every value and interval is the library's
    expected = reports(workspace, splits)
    shown = table_with_metric_column(app)
    assert shown.equals(metrics_table(expected))
    val = next(s for s, role in workspace.split_roles.items() if role == "validation")
    ece = expected[val].ece
    row = shown.set_index("Metric").loc["ECE (%)", val]  # the unit in the label: narrow cells
    assert row == f"{100 * ece.value:.1f} ({100 * ece.low:.1f}–{100 * ece.high:.1f})"

    # the fitted temperature is fit_temperature on the validation logits
    fit = fit_temperature(workspace.logits(val), workspace.labels(val))
    cards = {metric.label: metric.value for metric in app.metric}
    assert cards["Fitted temperature T"] == f"{fit.temperature:.3g}"
    comparison = temperature_scaling_comparison(
        {s: workspace.logits(s) for s in workspace.split_names if s in splits or s == val},
        {s: workspace.labels(s) for s in workspace.split_names if s in splits or s == val},
        roles=workspace.split_roles,
        seed={s: stream(workspace, s) for s in workspace.split_names},
    )
    assert comparison.temperature.temperature == pytest.approx(fit.temperature, rel=1e-12)
    assert comparison.explanation in text
    for finding in temperature_findings(comparison):  # one line per held-out split
        if finding.kind == "calibration.temperature_transfer":
            assert render(finding).replace("\\", "") in text.replace("\\", "")
    assert any(frame.value.equals(temperature_table(comparison)) for frame in app.dataframe)

    # the 90% sentence
    curves = {
        split: risk_coverage_curve(
            *top_label(workspace.labels(split), workspace.logits(split), outputs_are="logits")
        )
        for split in splits
    }
    sentence = render(selective_finding(curves, workspace.split_roles))
    assert sentence.startswith("Keeping the 90% most confident predictions, error is")
    assert sentence in text

    # under the controls and the headline, one tab per question; each chart in its own tab
    assert [tab.label for tab in app.tabs] == list(TABS)
    tabs = {tab.label: tab for tab in app.tabs}
    text_of_headline, severity = headline(expected, workspace.split_roles)
    boxes = {"ok": app.success, "warning": app.warning, "critical": app.error}[severity]
    assert boxes[0].value.replace("\\", "") == text_of_headline  # the first call-out
    assert text_of_headline not in "\n".join(markdown(tab) for tab in app.tabs)  # above them
    where = {
        "Overview": {"calibration_metrics_chart"},
        "Reliability": {"calibration_reliability"},
        "Temperature scaling": {
            "calibration_temperature_chart",
            "calibration_temperature_diagrams",
        },
        "Cohorts": {"calibration_cohort_chart"},
        "Selective prediction": {"calibration_risk_coverage"},
    }
    for label, keys in where.items():
        assert keys <= set(charts(tabs[label])), label
        assert "What to take from it:" in markdown(tabs[label]), label
    assert any(table.value.reset_index().equals(shown) for table in tabs["Overview"].table)
    assert tabs["Reliability"].radio(key="calibration_layout").value == "side_by_side"

    # every chart is there, and says what it shows
    figures = charts(app)
    for key in (
        "calibration_metrics_chart",
        "calibration_reliability",
        "calibration_temperature_chart",
        "calibration_temperature_diagrams",
        "calibration_cohort_chart",
        "calibration_risk_coverage",
    ):
        assert key in figures, key
    assert text.count("What to take from it:") == 6
    titles = json.dumps([figure["layout"].get("title") for figure in figures.values()])
    assert "Reliability per split" in titles and "Risk-coverage" in titles
    assert "before and after temperature scaling" in titles
    if which == "sample":  # 7 splits side by side: a row of 4, then a row of 3
        assert "calibration_reliability_0" in figures


def test_widgets_change_the_output(
    tabular_project: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = open_page(tabular_project, monkeypatch)
    workspace = Workspace.from_file(tabular_project, cache_dir=cache_dir)
    splits = held_out(workspace)
    before = table_with_metric_column(app)

    app.slider(key="calibration_bins").set_value(8).run()
    assert not app.exception
    shown = table_with_metric_column(app)
    assert not shown.equals(before)
    assert shown.equals(metrics_table(reports(workspace, splits, n_bins=8)))
    assert "with 8 equal width confidence bins" in markdown(app)
    assert "a histogram whose bars span the bins" in markdown(app)

    app.radio(key="calibration_strategy").set_value("quantile").run()
    assert not app.exception
    expected = reports(workspace, splits, n_bins=8, strategy="quantile")
    assert table_with_metric_column(app).equals(metrics_table(expected))
    assert "with 8 equal mass confidence bins" in markdown(app)
    # the caption under the diagrams says how equal-mass bins are drawn
    assert "a histogram whose bars span the bins" not in markdown(app)
    assert "bins closer together than a bar's width are stacked" in markdown(app)

    app.radio(key="calibration_layout").set_value("overlay").run()
    figure = charts(app)["calibration_reliability"]
    shown_splits = {trace["name"] for trace in figure["data"] if trace.get("showlegend")}
    assert set(splits) <= shown_splits  # every split in one diagram

    app.selectbox(key="calibration_cohort_metric").set_value("overconfidence").run()
    assert "Overconfidence by batch" in json.dumps(charts(app)["calibration_cohort_chart"])
    cohorts = {
        split: calibration_by_cohort(
            workspace.labels(split),
            workspace.logits(split),
            workspace.split_predictions(split)["batch"],
            outputs_are="logits",
            n_bins=8,
            strategy="quantile",
            seed=stream(workspace, split),
        )
        for split in splits
    }
    tables = [frame.value for frame in app.dataframe]
    assert any(t.equals(cohort_table(cohorts, "overconfidence", "batch")) for t in tables)

    app.multiselect(key="calibration_splits").set_value(["test"]).run()
    assert list(table_with_metric_column(app).columns) == ["Metric", "test"]
    app.multiselect(key="calibration_splits").set_value([]).run()
    assert not app.exception
    assert "Pick at least one split" in markdown(app)


def test_the_cohort_column_switches(
    tabular_project: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def add_identifier(data: dict) -> None:
        data["metadata"] = ["batch", "row_id"]

    edit_yaml(tabular_project, add_identifier)
    app = open_page(tabular_project, monkeypatch)
    assert app.selectbox(key="calibration_cohort").value == "batch"
    assert "ECE by batch" in json.dumps(charts(app)["calibration_cohort_chart"])
    # the wine splits are small: every batch cohort is under 100 samples, so none has an interval
    workspace = Workspace.from_file(tabular_project, cache_dir=cache_dir)
    cohort = calibration_by_cohort(
        workspace.labels("test"),
        workspace.logits("test"),
        workspace.split_predictions("test")["batch"],
        outputs_are="logits",
        seed=stream(workspace, "test"),
    )
    assert all(cohort.too_few.values())
    text = markdown(app)
    assert "have fewer than 100 samples" in text
    assert "Every cohort of batch is too small for an interval." in text
    table = next(frame.value for frame in app.dataframe if "batch" in frame.value.columns)
    assert (table["Interval"] == "too few samples (< 100): none").all()
    first = table[table["Split"] == "test"].iloc[0]
    assert first["ECE"] == format_estimate("ece", cohort.summaries[first["batch"]].ece)
    assert first["ECE"] == f"{100 * cohort.summaries[first['batch']].ece.value:.1f}%"

    # an identifier is not a cohort column: explained, not charted
    app.selectbox(key="calibration_cohort").set_value("row_id").run()
    assert not app.exception
    assert "calibration_cohort_chart" not in charts(app)
    every_split = pd.concat(
        [workspace.split_predictions(split)["row_id"] for split in workspace.split_names]
    )
    distinct = every_split.nunique()
    assert distinct > 50  # counted over every split (the view's result records it)
    assert f"row\\_id has {distinct:,} different values" in "\n".join(w.value for w in app.warning)
    assert "calibration_risk_coverage" in charts(app)


def test_without_a_validation_split_or_metadata_the_page_explains(
    tabular_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def drop(data: dict) -> None:
        del data["splits"]["val"]
        data["metadata"] = []

    edit_yaml(tabular_project, drop)
    app = open_page(tabular_project, monkeypatch)
    assert not app.exception
    text = markdown(app)
    assert "Temperature scaling needs a validation split" in text
    assert "no metadata columns" in text
    assert "Fitted temperature T" not in {metric.label for metric in app.metric}
    figures = charts(app)
    assert "calibration_temperature_chart" not in figures
    assert {"calibration_metrics_chart", "calibration_risk_coverage"} <= set(figures)
    assert "Keeping the 90% most confident predictions" in text


def test_brought_one_hot_predictions_get_a_temperature_from_their_log_probabilities(
    tabular_project: Path, tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Brought predictions have no logits: the page fits T on log(probs). One-hot answers are
    as overconfident as a model can be, so T comes out well above 1."""
    workspace = Workspace.from_file(tabular_project, cache_dir=cache_dir)
    export = to_export_frame(workspace.predictions(), workspace.n_classes)
    export["probs"] = [np.eye(3)[int(np.argmax(p))] for p in export["probs"]]
    val = export[export["split"] == "val"]
    assert (val["pred"] != val["label"]).any()  # a wrong answer with confidence 1
    export.to_parquet(tmp_path / "preds.parquet", index=False)
    project = {
        "name": "Brought one-hot",
        "predictions": str(tmp_path / "preds.parquet"),
        "classes": ["class_0", "class_1", "class_2"],
        "metadata": ["batch"],
        "splits": {split: {"role": role} for split, role in workspace.split_roles.items()},
    }
    path = tmp_path / "brought" / "project.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(project, sort_keys=False))
    app = open_page(path, monkeypatch)
    assert not app.exception
    brought = Workspace.from_file(path, cache_dir=cache_dir)
    fit = fit_temperature(brought.logits("val"), brought.labels("val"))
    assert fit.temperature > 2
    cards = {metric.label: metric.value for metric in app.metric}
    assert cards["Fitted temperature T"] == f"{fit.temperature:.3g}"
    assert "the model is overconfident" in markdown(app)
    figures = charts(app)
    assert {"calibration_temperature_chart", "calibration_risk_coverage"} <= set(figures)
