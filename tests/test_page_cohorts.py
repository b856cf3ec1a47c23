"""The cohorts page in AppTest and the `gengap cohorts` / `gengap slices` commands: on the
sample they find the planted weak slice first (sample_data/digits/README.md); on the tabular
project everything runs; bad input gets a one-line reason and exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import edit_yaml
from streamlit.testing.v1 import AppTest

from gengap_dash.cli.main import main
from gengap_dash.views import registry
from gengap_dash.views.cohorts import CohortsOptions, confusion_rows, sample_inputs, slice_rows
from gengap_dash.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data" / "digits" / "project.yaml"
PAGE = "pages/cohorts.py"
PLANTED = "ink = heavy and source = scanner B"


def open_page(project: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("GENGAP_PROJECT", str(project))
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    return app.switch_page(PAGE).run()


def frame_with(app: AppTest, column: str) -> pd.DataFrame:
    return next(frame.value for frame in app.dataframe if column in frame.value.columns)


def test_the_page_finds_the_planted_slice_on_the_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    app = open_page(SAMPLE, monkeypatch)
    assert not app.exception and not app.error
    assert len(app.get("plotly_chart")) >= 8  # every tab's charts are built
    slices = frame_with(app, "Slice")
    assert slices["Slice"].iloc[0] == PLANTED
    text = "\n".join(block.value for block in app.markdown).replace("\\", "")
    assert f"The weakest slice of field is {PLANTED}" in text
    assert "What to take from it" in text
    # a chosen column, crossed: the table follows
    app.selectbox(key="cohorts_by").select("source").run()
    app.selectbox(key="cohorts_by2").select("ink").run()
    assert not app.exception
    cohorts = frame_with(app, "Cohort")
    assert "scanner B × heavy" in set(cohorts["Cohort"])


def test_the_page_runs_on_a_tabular_project(
    tabular_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = open_page(tabular_project, monkeypatch)
    assert not app.exception and not app.error
    assert len(app.get("plotly_chart")) >= 6
    assert any("no time column" in block.value for block in app.info)
    app.radio(key="cohorts_gallery_kind").set_value("a confusion cell").run()
    assert not app.exception


def test_gengap_slices_json_puts_the_planted_slice_first(capsys) -> None:
    assert main(["slices", str(SAMPLE), "--json", "--resamples", "100"]) == 0
    document = json.loads(capsys.readouterr().out)
    first = document["slices"][0]
    assert {(p["column"], p["value"]) for p in first["predicates"]} == {
        ("ink", "heavy"), ("source", "scanner B"),
    }  # fmt: skip
    assert first["split"] == "field" and first["p_adjusted"] < 0.001
    assert first["by_split"]["val"]["error"] < 0.05 < 0.5 < first["error"]
    assert set(first) >= {"predicates", "split", "n", "error", "low", "high", "p_adjusted",
                          "by_split"}  # fmt: skip
    assert document["findings"][0]["kind"] == "slices.weak_slice"


def test_gengap_cohorts_json_and_decompose(tabular_project: Path, capsys) -> None:
    args = ["cohorts", str(tabular_project), "--by", "batch", "--resamples", "100"]
    assert main([*args, "--decompose"]) == 0
    text = capsys.readouterr().out
    assert "Mix or performance?" in text and "Cohorts of batch" in text
    assert main([*args, "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["columns"] == ["batch"] and document["decomposition"] == []
    workspace = Workspace.from_file(tabular_project)
    frame = workspace.split_predictions("noisy")
    late = next(c for c in document["cohorts"] if c["split"] == "noisy" and c["cohort"] == "late")
    rows = frame[frame["batch"] == "late"]
    assert late["n"] == len(rows) and late["value"] == pytest.approx(rows["correct"].mean())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--by", "nope"], "Metadata column 'nope' does not exist"),
        (["--by", "batch", "--reference", "nope"], "Reference split 'nope' does not exist"),
        (["--by", "batch", "--by", "batch", "--by", "batch"], "at most two --by columns"),
    ],
)
def test_bad_cohort_options_exit_2(tabular_project: Path, capsys, args, message) -> None:
    assert main(["cohorts", str(tabular_project), *args]) == 2
    assert message in capsys.readouterr().err


def test_a_column_with_one_value_and_a_bad_time_column(tabular_project: Path, capsys) -> None:
    for name in ("train", "test", "noisy"):
        path = tabular_project.parent / "data" / f"{name}.parquet"
        frame = pd.read_parquet(path).assign(batch="only", when="not a date")
        frame.to_parquet(path, index=False)
    val = tabular_project.parent / "data" / "val.csv"
    pd.read_csv(val).assign(batch="only", when="not a date").to_csv(val, index=False)
    assert main(["cohorts", str(tabular_project), "--by", "batch"]) == 2
    assert "has one value ('only') on every split" in capsys.readouterr().err
    edit_yaml(tabular_project, lambda data: data.update(time="when"))
    assert main(["cohorts", str(tabular_project)]) == 2
    assert "time column 'when'" in capsys.readouterr().err


def test_gallery_rows_and_inputs(tabular_project: Path) -> None:
    workspace = Workspace.from_file(tabular_project)
    result = registry.compute(registry.get_view("slices"), workspace)
    found = result.search.slices[0] if result.search.slices else None
    frame = workspace.split_predictions("noisy")
    rows = confusion_rows(workspace, "noisy", 1, 0)
    assert len(rows) == int(((frame["label"] == 1) & (frame["pred"] == 0)).sum())
    assert rows["loss"].is_monotonic_decreasing
    kind, inputs = sample_inputs(workspace, "noisy", rows["row"].to_numpy())
    assert kind == "tabular" and len(inputs) == len(rows)
    raw = pd.read_parquet(tabular_project.parent / "data" / "noisy.parquet")
    assert np.allclose(inputs["f0"], raw["f0"].iloc[rows["row"].to_numpy()])
    if found is not None:
        assert len(slice_rows(workspace, found.predicates, result.search.split)) == found.n
    assert CohortsOptions().decompose


def test_gallery_thumbnails_of_the_sample() -> None:
    workspace = Workspace.from_file(SAMPLE)
    rows = slice_rows(workspace, [("ink", "heavy"), ("source", "scanner B")], "field")
    kind, images = sample_inputs(workspace, "field", rows["row"].to_numpy()[:5])
    assert kind == "image" and images.shape == (5, 8, 8) and images.dtype == np.uint8


# -- the gallery opens from a cluster, a slice and a cohort cell ---------------------------------


def test_a_cluster_a_slice_and_a_cohort_cell_open_their_gallery(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from gengap_dash.ui.cohorts import PAGE_SIZE

    workspace = Workspace.from_file(SAMPLE)
    slices = registry.compute(registry.get_view("slices"), workspace)
    clusters, planted = slices.clusters, slices.search.slices[0]
    assert clusters is not None and clusters.split == "field"
    members = clusters.rows_of(1, "field")
    wrong = int((~workspace.split_predictions("field")["correct"].to_numpy()[members]).sum())
    app = open_page(SAMPLE, monkeypatch)
    before = len(app.get("image"))
    box = app.selectbox(key="cohorts_cluster_gallery_cluster")
    assert box.options[0] == "(none)" and box.options[1].startswith("cluster 1 (error ")
    box.select(box.options[1]).run()
    assert not app.exception and not app.error
    text = "\n".join(block.value for block in app.markdown)
    assert f"**cluster 1 on field**: {len(members)} samples, {wrong} errors" in text
    assert len(app.get("image")) - before == min(PAGE_SIZE, wrong)  # thumbnails in place
    slice_box = app.selectbox(key="cohorts_slice_gallery_slice")
    slice_box.select(PLANTED).run()
    text = "\n".join(block.value for block in app.markdown).replace("\\", "")
    assert planted.name == PLANTED
    assert f"**{PLANTED} on field**: {planted.n} samples" in text
    cell = app.selectbox(key="cohorts_cell_gallery_cohort")
    cell.select("scanner B").run()
    app.selectbox(key="cohorts_cell_gallery_split").select("field").run()
    assert not app.exception and not app.error
    frame = workspace.split_predictions("field")
    n = int((frame["source"] == "scanner B").sum())
    assert any(f"**scanner B on field**: {n} samples" in b.value for b in app.markdown)


def test_the_table_metric_selector_follows_the_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    from gengap_dash.analysis.cohorts.metrics import COHORT_METRICS

    app = open_page(SAMPLE, monkeypatch)
    box = app.selectbox(key="cohorts_table_metric")
    assert list(box.options) == [m.label for m in COHORT_METRICS.values()]
    box.select("error").run()
    assert not app.exception and not app.error
    cohorts = frame_with(app, "Error rate")
    assert cohorts["Error rate"].str.endswith("%").any()
    text = "\n".join(block.value for block in app.markdown).replace("\\", "")
    assert "has error rate" in text and "worse (lower is better" in text


def test_a_cluster_of_a_tabular_project_opens_feature_rows(
    tabular_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = open_page(tabular_project, monkeypatch)
    box = app.selectbox(key="cohorts_cluster_gallery_cluster")
    box.select(box.options[1]).set_value(box.options[1]).run()
    app.toggle(key="cohorts_cluster_gallery_errors").set_value(False).run()
    assert not app.exception and not app.error
    rows = frame_with(app, "f0")
    assert {"sample_id", "label", "pred", "confidence", "loss"} <= set(rows.columns)


def test_gengap_cohorts_metric_option(tabular_project: Path, capsys) -> None:
    args = ["cohorts", str(tabular_project), "--by", "batch", "--resamples", "50"]
    assert main([*args, "--metric", "macro_f1", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["metric"] == "macro_f1" and document["metric_label"] == "Macro-F1"
    assert document["direction"] == "higher"
    workspace = Workspace.from_file(tabular_project)
    frame = workspace.split_predictions("noisy")
    late = next(c for c in document["cohorts"] if c["split"] == "noisy" and c["cohort"] == "late")
    rows = frame[frame["batch"] == "late"]
    from sklearn.metrics import f1_score

    expected = f1_score(rows["label"], rows["pred"], average="macro", zero_division=0)
    assert late["value"] == pytest.approx(expected)
    with pytest.raises(SystemExit) as exited:  # argparse refuses it, with the choices
        main([*args, "--metric", "auroc"])
    assert exited.value.code == 2
    assert "invalid choice: 'auroc' (choose from 'accuracy', 'error'" in capsys.readouterr().err
