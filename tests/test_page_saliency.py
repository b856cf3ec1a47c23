"""The saliency page (AppTest): maps on demand and then from the cache, the shift analysis and
the trust checks, a tabular project, a brought-predictions project, a link with chosen ids."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import gengap_dash.ui.saliency as ui
from gengap_dash.views import saliency as view

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data" / "digits"
PAGE = "pages/saliency.py"
SMALL = view.SaliencyOptions(
    methods=("saliency", "gradcam"), n_samples=10, sanity_samples=5, deletion_samples=5
)


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("digits") / "digits"
    shutil.copytree(SAMPLE, target)
    return target / "project.yaml"


@pytest.fixture(autouse=True)
def small_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ui, "OPTIONS", SMALL)
    ui._sample_maps.clear()
    ui._cached_shift.clear()


def open_page(project: Path, monkeypatch: pytest.MonkeyPatch, **params: str) -> AppTest:
    monkeypatch.setenv("GENGAP_PROJECT", str(project))
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    for name, value in params.items():
        app.query_params[name] = value
    return app.switch_page(PAGE).run()


def charts(app) -> dict[str, dict]:
    return {
        chart.proto.id.split("-", 2)[-1]: json.loads(chart.proto.spec)
        for chart in app.get("plotly_chart")
    }


def text(app) -> str:
    blocks = [*app.markdown, *app.caption, *app.info, *app.warning, *app.error, *app.success]
    return "\n".join(block.value for block in blocks).replace("\\", "")


def test_one_sample_every_method_on_demand_then_from_the_cache(
    digits: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = open_page(digits, monkeypatch)
    assert not app.exception
    assert app.selectbox(key="one_split").value == "rotated"
    assert "saliency_one" not in charts(app)  # nothing runs on page load
    sample = app.selectbox(key="one_sample").value
    app.button(key="one_compute").click().run()
    assert not app.exception
    figure = charts(app)["saliency_one"]
    heatmaps = [trace for trace in figure["data"] if trace["type"] == "heatmap"]
    assert len(heatmaps) == 1 + 2 * len(view.available_methods(view_workspace(digits)))
    assert all(trace.get("zsmooth") is False for trace in heatmaps)  # pixels stay pixels
    assert heatmaps[0]["z"]["shape"] == "8, 8"  # the input at its own resolution
    words = text(app)
    assert f"{sample} is a " in words and "methods" in words
    assert "Integrated Gradients and Occlusion maps are signed" in words
    again = open_page(digits, monkeypatch)
    assert not again.exception and "saliency_one" in charts(again)  # cached: no click needed
    assert not [b for b in again.button if b.key == "one_compute"]


def view_workspace(project: Path):
    from gengap_dash.workspace import Workspace

    return Workspace.from_file(project)


def test_a_grid_of_one_method_and_a_linked_selection(
    digits: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = "noisy-00004,noisy-00007,noisy-00011"
    app = open_page(digits, monkeypatch, split="noisy", samples=ids)
    assert not app.exception
    assert app.selectbox(key="grid_split").value == "noisy"
    assert app.text_input(key="grid_ids").value == ids
    app.selectbox(key="grid_method").set_value("gradcam").run()
    app.button(key="grid_compute").click().run()
    assert not app.exception
    figure = charts(app)["saliency_grid"]
    titles = [a["text"] for a in figure["layout"]["annotations"]]
    assert [t.split(" ")[0] for t in titles] == ids.split(",")
    assert "attribution sits in its top-20% pixels across these 3 samples" in text(app)
    app.text_input(key="grid_ids").set_value("noisy-00004,nope").run()
    assert "Sample id 'nope' is not in this split" in text(app)


def test_the_shift_analysis_and_the_trust_checks(digits: Path, monkeypatch) -> None:
    app = open_page(digits, monkeypatch)
    assert "Run the shift analysis (previous tab) first" not in text(app)
    assert "Run the shift analysis first" in text(app)
    app.button(key="saliency_run_shift").click().run()
    assert not app.exception
    found = charts(app)
    assert {
        "saliency_shift",
        "saliency_groups",
        "saliency_average",
        "saliency_sanity",
        "saliency_deletion",
    } <= set(found)
    bars = [t for t in found["saliency_shift"]["data"] if t["type"] == "bar"]
    assert {t["name"] for t in bars} == {"Saliency", "Grad-CAM"}
    assert set(bars[0]["x"]) == {"rotated", "blurred", "noisy", "low_contrast"}
    words = text(app)
    assert "top-20% region overlaps the clean map of the same sample (test)" in words
    assert "randomization test" in words and "deletion AUC" in words
    table = app.dataframe[0].value
    assert {"Split", "Method", "Top-20% overlap", "Clean runs", "Deletion AUC"} <= set(table)
    result = view.cached_shift(view_workspace(digits), SMALL)
    assert result is not None
    row = table[(table["Split"] == "rotated") & (table["Method"] == "Grad-CAM")].iloc[0]
    pair = next(p for p in result.pairs if p.split == "rotated" and p.method == "gradcam")
    assert row["Top-20% overlap"].startswith(f"{100 * pair.topk_overlap.value:.0f}%")


def test_a_tabular_project_shows_features(tabular_project: Path, monkeypatch) -> None:
    monkeypatch.setattr(
        ui, "OPTIONS", view.SaliencyOptions(n_samples=15, sanity_samples=5, deletion_samples=5)
    )
    app = open_page(tabular_project, monkeypatch)
    assert not app.exception
    app.button(key="saliency_run_shift").click().run()
    assert not app.exception
    found = charts(app)
    assert {"saliency_features", "saliency_strip", "saliency_sanity"} <= set(found)
    bars = found["saliency_features"]["data"]
    assert {t["name"] for t in bars} == {"test", "val", "noisy"}
    assert len(bars[0]["y"]) == 13


def test_a_brought_predictions_project_is_told_why(
    tabular_project: Path, tmp_path: Path, monkeypatch
) -> None:
    from test_saliency_view import brought_project

    app = open_page(brought_project(tabular_project, tmp_path), monkeypatch)
    assert not app.exception
    assert "Attributions need the model itself" in text(app)
    assert not app.get("plotly_chart")
