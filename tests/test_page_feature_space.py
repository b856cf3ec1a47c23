"""The feature-space page in AppTest: on the sample its charts, takeaways and tables are the
library's (shift detected on the shifted splits, the PCA map shown until UMAP is cached, a
review queue with its download); on the tabular project it runs too; bad input is explained."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from gengap_dash.findings.render import render
from gengap_dash.views.registry import compute, get_view
from gengap_dash.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data" / "digits" / "project.yaml"
PAGE = "pages/feature_space.py"


def open_page(project: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("GENGAP_PROJECT", str(project))
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
    return app.switch_page(PAGE).run()


def charts(app) -> dict[str, dict]:
    return {
        chart.proto.id.split("-", 2)[-1]: json.loads(chart.proto.spec)
        for chart in app.get("plotly_chart")
    }


def text(app) -> str:
    blocks = [*app.markdown, *app.caption, *app.info, *app.warning, *app.error, *app.success]
    return "\n".join(block.value for block in blocks).replace("\\", "")


def test_the_sample_page_shows_the_library_results(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = open_page(SAMPLE, monkeypatch)
    assert not app.exception, app.exception
    figures = charts(app)
    assert {"feature_map", "feature_domain_auc", "feature_ood_auroc", "feature_accuracy",
            "feature_review_histogram"} <= set(figures)  # fmt: skip
    the_map = figures["feature_map"]
    assert {trace["type"] for trace in the_map["data"]} == {"scattergl"}
    assert "PCA map" in the_map["layout"]["title"]["text"]
    workspace = Workspace.from_file(SAMPLE, cache_dir=cache_dir)
    shift = compute(get_view("shift"), workspace)
    verdicts = [f for f in get_view("shift").findings(shift) if f.kind == "shift.split"]
    body = text(app)
    for finding in verdicts:
        assert render(finding) in body
    assert {f.split for f in verdicts if f.severity == "critical"} >= {"rotated", "blurred"}
    ood = compute(get_view("ood"), workspace)
    assert render(get_view("ood").headline(ood)[0]) in body
    assert "Showing the PCA map" in body
    assert len(app.get("download_button")) == 1
    queue = compute(get_view("review"), workspace)
    table = app.dataframe[-1].value
    assert list(table["sample_id"]) == list(queue.queue["sample_id"])


def test_changing_the_review_score_reranks(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = open_page(SAMPLE, monkeypatch)
    app.selectbox(key="feature_review_score").select("energy").run()
    assert not app.exception
    workspace = Workspace.from_file(SAMPLE, cache_dir=cache_dir)
    queue = compute(
        get_view("review"), workspace, get_view("review").Options(split="field", score="energy")
    )
    assert list(app.dataframe[-1].value["sample_id"]) == list(queue.queue["sample_id"])
    app.selectbox(key="feature_color").select("score: knn").run()
    assert not app.exception
    traces = charts(app)["feature_map"]["data"]
    assert len(traces) == 1 and traces[0]["marker"]["showscale"] is True


def test_the_tabular_project_page_runs(
    tabular_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = open_page(tabular_project, monkeypatch)
    assert not app.exception, app.exception
    assert "noisy" in text(app)
    assert "feature_domain_auc" in charts(app)
