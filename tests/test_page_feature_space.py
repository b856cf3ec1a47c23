"""The feature-space page in AppTest: on the sample its charts, takeaways and tables are the
library's (shift detected on the shifted splits, the PCA map shown until UMAP is cached, a
review queue with its download); on the tabular project it runs too; bad input is explained."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
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


def cache_a_map_as_umap(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """Put a map in the result cache under the UMAP options (a PCA map standing in for UMAP,
    so the test needs no numba compilation)."""
    import gengap_dash.views.shift as shift_view
    from gengap_dash.analysis.embedding_map import fit_map

    def pca_as_umap(embeddings, **keywords):
        keywords["method"] = "pca"
        found = fit_map(embeddings, **keywords)
        return type(found)(**{**found.__dict__, "method": "umap"})

    with monkeypatch.context() as patch:
        patch.setattr(shift_view, "fit_map", pca_as_umap)
        compute(get_view("embed"), workspace, get_view("embed").Options())


def test_a_cached_map_opens_with_no_umap_work(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gengap_dash.analysis.embedding_map as embedding_map
    import gengap_dash.ui.feature_space as ui
    import gengap_dash.views.shift as shift_view

    cache_a_map_as_umap(Workspace.from_file(SAMPLE, cache_dir=cache_dir), monkeypatch)
    calls: list[str] = []
    monkeypatch.setattr(shift_view, "fit_map", lambda *a, **k: calls.append("fit_map"))
    monkeypatch.setattr(embedding_map, "warm_up", lambda **k: calls.append("warm_up"))
    monkeypatch.setattr(ui, "warm_umap_in_background", lambda *a: calls.append("warm-up thread"))
    monkeypatch.setenv("GENGAP_UMAP_WARM_UP", "1")
    app = open_page(SAMPLE, monkeypatch)
    assert not app.exception, app.exception
    assert calls == []
    assert "UMAP map" in charts(app)["feature_map"]["layout"]["title"]["text"]
    assert "Showing the PCA map" not in text(app)


def test_without_a_cached_map_the_warm_up_starts_and_pca_is_shown(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gengap_dash.ui.feature_space as ui

    calls: list[object] = []
    monkeypatch.setattr(ui, "warm_umap_in_background", calls.append)
    monkeypatch.setenv("GENGAP_UMAP_WARM_UP", "1")
    app = open_page(SAMPLE, monkeypatch)
    assert not app.exception, app.exception
    assert len(calls) == 1 and isinstance(calls[0], Workspace)
    assert "PCA map" in charts(app)["feature_map"]["layout"]["title"]["text"]
    monkeypatch.setenv("GENGAP_UMAP_WARM_UP", "0")
    open_page(SAMPLE, monkeypatch)
    assert len(calls) == 1  # turned off


def test_the_warm_up_thread_starts_once_and_uses_the_numba_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gengap_dash.analysis.embedding_map as embedding_map
    import gengap_dash.views.shift as shift_view

    calls: list[str] = []
    monkeypatch.setattr(shift_view, "warm_up", lambda: calls.append("warm_up"))
    monkeypatch.setitem(shift_view._WARM, "thread", None)
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("GENGAP_CACHE_DIR", str(tmp_path))
    numba = sys.modules.get("numba")
    if numba is not None:  # restored after the test
        monkeypatch.setattr(numba.config, "CACHE_DIR", numba.config.CACHE_DIR)
    first = shift_view.warm_umap_in_background()
    first.join(timeout=30)
    assert shift_view.warm_umap_in_background() is first
    assert calls == ["warm_up"]
    import os

    assert os.environ["NUMBA_CACHE_DIR"] == str(tmp_path / "numba")
    monkeypatch.setenv("NUMBA_CACHE_DIR", "/elsewhere")
    embedding_map.use_numba_cache(tmp_path / "other")
    assert os.environ["NUMBA_CACHE_DIR"] == "/elsewhere"  # an explicit setting wins


def test_a_selection_lists_its_mix_rows_and_thumbnails(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def script() -> None:
        import numpy as np

        from gengap_dash.ui.feature_space import selection_rows, show_selection
        from gengap_dash.ui.workspace import current_workspace

        workspace = current_workspace()
        table = workspace.predictions()
        rows = np.flatnonzero(table["split"].astype(str).isin(["rotated", "test"]))[::7]
        show_selection(workspace, selection_rows(workspace, rows))

    monkeypatch.setenv("GENGAP_PROJECT", str(SAMPLE))
    app = AppTest.from_function(script, default_timeout=600).run()
    assert not app.exception, app.exception
    workspace = Workspace.from_file(SAMPLE, cache_dir=cache_dir)
    table = workspace.predictions()
    chosen = table[table["split"].astype(str).isin(["rotated", "test"])].iloc[::7]
    mix = app.dataframe[0].value["share"]
    expected = chosen["split"].astype(str).value_counts(normalize=True)
    assert np.allclose(mix.sort_index().to_numpy(), expected.sort_index().to_numpy())
    listed = app.dataframe[2].value
    assert list(listed["sample_id"]) == list(chosen["sample_id"].head(len(listed)))
    names = workspace.class_names
    assert list(listed["label"]) == [names[v] for v in chosen["label"].head(len(listed))]
    from gengap_dash.ui.feature_space import GALLERY_SIZE

    first_split = expected.index[0]  # the gallery shows the most selected split
    in_gallery = chosen[chosen["split"].astype(str) == first_split].head(GALLERY_SIZE)
    images = app.get("image")
    assert len(images) == len(in_gallery) > 0
    assert f"{len(in_gallery)} of the selected {first_split} samples" in text(app)
    assert str(in_gallery["sample_id"].iloc[0]) in str(images[0].proto)  # its caption


def test_selection_rows_know_their_position_in_the_split(sample: Workspace) -> None:
    from gengap_dash.ui.feature_space import selection_rows

    table = sample.predictions()
    splits = table["split"].astype(str)
    rows = np.array([0, int(np.flatnonzero(splits == "test")[5])])
    selected = selection_rows(sample, rows)
    assert list(selected["row"]) == [0, 5]
    assert list(selected["sample_id"]) == list(table["sample_id"].iloc[rows])
