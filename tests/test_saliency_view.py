"""The saliency view on real projects: the sample (paired shifted splits), the tabular wine
project, a brought-predictions project; its CLI, its cache and its project-file keys."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from captum.attr import LayerAttribution, LayerGradCam, Saliency
from conftest import edit_yaml, read_yaml

import gengap_dash.engine.attribution as engine
from gengap_dash.cli.main import main
from gengap_dash.data.predictions import to_export_frame
from gengap_dash.project.errors import ProjectError
from gengap_dash.project.spec import load_project
from gengap_dash.views import saliency as view
from gengap_dash.views.registry import get_view
from gengap_dash.workspace import Workspace

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data" / "digits"
SMALL = view.SaliencyOptions(
    methods=("saliency", "gradcam"), n_samples=12, sanity_samples=6, deletion_samples=6
)


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the sample project (tests never write next to the committed one)."""
    target = tmp_path_factory.mktemp("digits") / "digits"
    shutil.copytree(SAMPLE, target)
    return target / "project.yaml"


def sample_inputs(project: Path, split: str, ids: list[str]) -> torch.Tensor:
    """The model inputs of ``ids`` built here by hand (pixels / 255 as (n, 1, 8, 8))."""
    frame = pd.read_parquet(project.parent / "data" / f"{split}.parquet").set_index("sample_id")
    pixels = np.stack(frame.loc[ids, "pixels"].to_numpy()).reshape(-1, 1, 8, 8)
    return torch.tensor(pixels, dtype=torch.float32) / 255.0


def test_sample_maps_equal_captum_on_the_projects_model_and_inputs(digits: Path) -> None:
    workspace = Workspace.from_file(digits)
    ids = ["rotated-00003", "rotated-00010", "rotated-00200"]
    found = view.sample_maps(workspace, "rotated", ids, "saliency")
    x = sample_inputs(digits, "rotated", ids)
    model = workspace.model().cpu().eval()
    preds = workspace.split_predictions("rotated").set_index("sample_id").loc[ids, "pred"]
    expected = Saliency(model).attribute(x, target=torch.as_tensor(preds.to_numpy()))
    np.testing.assert_allclose(found.maps, expected.detach().numpy(), rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(found.inputs, x.numpy())
    assert found.sample_ids == tuple(ids) and found.maps.shape == (3, 1, 8, 8)
    assert found.signed is False
    gradcam = view.sample_maps(workspace, "rotated", ids, "gradcam")
    layer = LayerGradCam(model, model.features[2]).attribute(
        x, target=torch.as_tensor(preds.to_numpy()), relu_attributions=True
    )
    expected = LayerAttribution.interpolate(layer, (8, 8), "bilinear").detach().numpy()
    np.testing.assert_allclose(gradcam.maps, expected, rtol=1e-4, atol=1e-7)
    assert "'features.2', the last convolution" in gradcam.note


def test_integrated_gradients_reports_its_completeness_gap(digits: Path) -> None:
    workspace = Workspace.from_file(digits)
    found = view.sample_maps(
        workspace, "test", ["test-00001", "test-00002"], "integrated_gradients"
    )
    assert found.convergence_delta is not None and found.convergence_delta.shape == (2,)
    assert np.abs(found.convergence_delta).max() < 0.05


def test_maps_come_from_the_disk_cache_the_second_time(
    digits: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = ["blurred-00005", "blurred-00006"]
    first = view.sample_maps(Workspace.from_file(digits), "blurred", ids, "occlusion")
    assert view.maps_cached(Workspace.from_file(digits), "blurred", ids, "occlusion", SMALL)

    def refuse(*args, **kwargs):
        raise AssertionError("attribution ran again on a warm cache")

    monkeypatch.setattr(engine, "attribute", refuse)
    again = view.sample_maps(Workspace.from_file(digits), "blurred", ids, "occlusion")
    np.testing.assert_array_equal(first.maps, again.maps)
    # another target is another entry
    with pytest.raises(AssertionError, match="attribution ran again"):
        view.sample_maps(
            Workspace.from_file(digits),
            "blurred",
            ids,
            "occlusion",
            view.SaliencyOptions(target="label"),
        )


def test_bad_sample_ids_layers_and_methods_are_explained(digits: Path, tmp_path: Path) -> None:
    workspace = Workspace.from_file(digits)
    with pytest.raises(ProjectError, match=r"Sample id 'nope' is not in split 'rotated' \(1 of 2"):
        view.sample_maps(workspace, "rotated", ["rotated-00001", "nope"], "saliency")
    with pytest.raises(ProjectError, match="no split named 'nowhere'"):
        view.sample_maps(workspace, "nowhere", ["x"], "saliency")
    with pytest.raises(ProjectError, match="'feature_ablation' does not fit this project's"):
        view.sample_maps(workspace, "rotated", ["rotated-00001"], "feature_ablation")
    copy = tmp_path / "digits"
    shutil.copytree(digits.parent, copy)
    edit_yaml(copy / "project.yaml", lambda data: data["model"].update(gradcam_layer="head.9"))
    workspace = Workspace.from_file(copy / "project.yaml")
    with pytest.raises(ProjectError, match=r"model.gradcam_layer 'head.9' is not a layer of the"):
        view.sample_maps(workspace, "rotated", ["rotated-00001"], "gradcam")


def test_shift_on_the_sample_pairs_shifted_with_clean_maps(digits: Path) -> None:
    workspace = Workspace.from_file(digits)
    result = view.compute_shift(workspace, SMALL)
    assert result.reference == "test" and result.pair_column == "source_id"
    paired = {p.split for p in result.pairs}
    assert paired == {"rotated", "blurred", "noisy", "low_contrast"}
    assert {a.split for a in result.average_shift} == {"val", "field"}
    for pair in result.pairs:
        assert pair.n_pairs == 12 and pair.group_column == "severity"
        assert sum(g.n_pairs for g in pair.groups) == 12
        assert {g.group for g in pair.groups} <= {"1", "2", "3"}
        value = pair.topk_overlap
        assert 0 <= value.low <= value.value <= value.high <= 1
    # the planted truth (sample README): under rotation Grad-CAM's region moves well below the
    # clean-run noise floor
    rotated = next(p for p in result.pairs if p.split == "rotated" and p.method == "gradcam")
    floor = result.floor("gradcam")
    assert rotated.topk_overlap.high < floor.topk_overlap.low
    payload = get_view("saliency").to_json(result)
    row = next(r for r in payload["splits"] if r["split"] == "rotated" and r["method"] == "gradcam")
    for key in (
        "rank_correlation",
        "topk_overlap",
        "noise_floor",
        "sanity_similarity",
        "deletion_auc",
    ):
        assert row[key] is not None, key
    assert row["topk_overlap"]["value"] == pytest.approx(rotated.topk_overlap.value)
    assert set(row["by_group"]) <= {"1", "2", "3"}
    json.dumps(payload, allow_nan=False)
    rotated_example = next(e for e in result.examples if e.split == "rotated")
    assert rotated_example.paired_maps is not None
    section = get_view("saliency").report_section(result)
    assert section.count("class='figure'") == 1 + len(result.examples)
    assert "noise floor" in section and "<table" in section
    headline = get_view("saliency").headline(result)
    assert len(headline) == 1 and headline[0].kind in {
        "saliency.attention_shift",
        "saliency.sanity",
    }


def test_shift_statistics_equal_the_maps_computed_directly(digits: Path) -> None:
    """The paired statistics are those of the engine's maps for the chosen rows (recomputed
    here from captum directly, for the rows whose ids the result's examples name)."""
    workspace = Workspace.from_file(digits)
    result = view.compute_shift(workspace, SMALL)
    example = next(e for e in result.examples if e.split == "rotated")
    clean = sample_inputs(digits, "test", list(example.paired_ids))
    shifted = sample_inputs(digits, "rotated", list(example.sample_ids))
    model = workspace.model().cpu().eval()
    source = pd.read_parquet(digits.parent / "data" / "rotated.parquet").set_index("sample_id")
    assert source.loc[list(example.sample_ids), "source_id"].tolist() == list(example.paired_ids)
    test_preds = workspace.split_predictions("test").set_index("sample_id")["pred"]
    rotated_preds = workspace.split_predictions("rotated").set_index("sample_id")["pred"]
    layer = model.features[2]
    cam = LayerGradCam(model, layer)
    clean_maps = cam.attribute(
        clean,
        target=torch.as_tensor(test_preds.loc[list(example.paired_ids)].to_numpy()),
        relu_attributions=True,
    )
    shifted_maps = cam.attribute(
        shifted,
        target=torch.as_tensor(rotated_preds.loc[list(example.sample_ids)].to_numpy()),
        relu_attributions=True,
    )
    np.testing.assert_allclose(example.paired_maps, clean_maps[:, 0].detach().numpy(), atol=1e-6)
    np.testing.assert_allclose(example.maps, shifted_maps[:, 0].detach().numpy(), atol=1e-6)


def test_tabular_projects_get_feature_rankings(tabular_project: Path) -> None:
    workspace = Workspace.from_file(tabular_project)
    options = view.SaliencyOptions(n_samples=20, sanity_samples=6, deletion_samples=6)
    result = view.compute_shift(workspace, options)
    assert result.kind == "tabular" and result.methods == (
        "integrated_gradients",
        "feature_ablation",
    )
    assert result.feature_names == tuple(f"f{k}" for k in range(13))
    assert {f.split for f in result.features} == {"test", "val", "noisy"}
    noisy = next(
        f for f in result.features if f.split == "noisy" and f.method == "feature_ablation"
    )
    assert noisy.importance.shape == (13,) and noisy.values.shape == (20, 13)
    kinds = {f.kind for f in get_view("saliency").findings(result)}
    assert "saliency.feature_ranking" in kinds and "saliency.sanity" in kinds


def brought_project(tabular_project: Path, tmp_path: Path) -> Path:
    workspace = Workspace.from_file(tabular_project)
    export = to_export_frame(workspace.predictions(), workspace.n_classes)
    export.to_parquet(tmp_path / "preds.parquet", index=False)
    project = {
        "name": "Brought",
        "predictions": str(tmp_path / "preds.parquet"),
        "classes": ["class_0", "class_1", "class_2"],
        "splits": {split: {"role": role} for split, role in workspace.split_roles.items()},
    }
    path = tmp_path / "brought" / "project.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(project, sort_keys=False))
    return path


def test_a_brought_predictions_project_is_told_attributions_need_the_model(
    tabular_project: Path, tmp_path: Path, capsys
) -> None:
    path = brought_project(tabular_project, tmp_path)
    workspace = Workspace.from_file(path)
    assert "needs the model itself" in get_view("saliency").unavailable(workspace)
    with pytest.raises(ProjectError, match="Attributions need the model itself"):
        view.sample_maps(workspace, "test", ["test-0"], "integrated_gradients")
    assert main(["saliency", str(path), "--shift"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "needs the model itself" in err[0]


def test_cli_writes_the_maps_of_chosen_samples(digits: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "maps" / "rotated.npz"
    code = main(
        [
            "saliency",
            str(digits),
            "--split",
            "rotated",
            "--samples",
            "rotated-00001,rotated-00002",
            "--method",
            "gradcam",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "Wrote 2 Grad-CAM maps of split 'rotated', shape (2, 1, 8, 8)" in text
    with np.load(out) as data:
        assert data["maps"].shape == (2, 1, 8, 8)
        assert data["sample_ids"].tolist() == ["rotated-00001", "rotated-00002"]
        assert str(data["method"]) == "gradcam" and not bool(data["signed"])
        assert data["inputs"].shape == (2, 1, 8, 8)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ["--split", "rotated", "--samples", "nope", "--out", "x.npz"],
            "Sample id 'nope' is not in split 'rotated'",
        ),
        (["--samples", "rotated-00001", "--out", "x.npz"], "--samples needs --split"),
        (["--split", "rotated", "--samples", "rotated-00001"], "--samples needs --out FILE.npz"),
        (
            ["--split", "rotated", "--samples", "rotated-00001", "--out", "x.csv"],
            "expected a file name ending in .npz",
        ),
        (["--shift", "--methods", "lime"], "Attribution method 'lime' does not fit"),
        (["--shift", "--split", "rotated", "--samples", "a"], "either --shift or --samples"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(digits: Path, capsys, arguments, message) -> None:
    assert main(["saliency", str(digits), *arguments]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_cli_shift_json(digits: Path, capsys) -> None:
    code = main(
        ["saliency", str(digits), "--shift", "--json", "--methods", "saliency", "--n-samples", "8"]
    )
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["view"] == "saliency" and payload["methods"] == ["saliency"]
    rotated = next(r for r in payload["splits"] if r["split"] == "rotated")
    assert {
        "rank_correlation",
        "topk_overlap",
        "noise_floor",
        "sanity_similarity",
        "deletion_auc",
    } <= set(rotated)
    assert rotated["topk_overlap"]["low"] <= rotated["topk_overlap"]["value"]
    assert all("text" in finding for finding in payload["findings"])


def test_project_keys_for_pairs_and_the_gradcam_layer(digits: Path, tmp_path: Path) -> None:
    spec = load_project(digits)
    assert (spec.pairs.column, spec.pairs.split) == ("source_id", "test")
    copy = tmp_path / "p"
    shutil.copytree(digits.parent, copy)
    path = copy / "project.yaml"
    edit_yaml(path, lambda data: data["model"].update(gradcam_layer="features.0"))
    assert load_project(path).model.gradcam_layer == "features.0"
    original = read_yaml(path)
    cases = [
        (
            {"pairs": {"column": "source_id", "split": "nowhere"}},
            r"pairs.split is 'nowhere'; expected one of the splits \(train, val",
        ),
        ({"pairs": {"column": "source_id"}}, r"key `pairs.split` is missing"),
        (
            {"pairs": {"column": "source_id", "split": "test", "extra": 1}},
            r"unknown key pairs.extra; expected one of column, split",
        ),
        ({"pairs": "source_id"}, r"`pairs` must be a mapping"),
        ({"id": None}, r"pairs needs the `id` column"),
    ]
    for change, message in cases:
        data = dict(original, **change)
        if data.get("id") is None:
            data.pop("id", None)
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        with pytest.raises(ProjectError, match=message):
            load_project(path)
    data = dict(original)
    data["model"] = dict(original["model"], gradcam_layer=3)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ProjectError, match=r"model.gradcam_layer is 3; expected a non-empty text"):
        load_project(path)
