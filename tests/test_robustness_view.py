"""The robustness view end to end: cached perturbed inference, the sample's planted shifts
found by the bridge, a tabular project's per-feature sensitivity, the CLI and the report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import gengap_dash.engine.corrupted_inference as engine
from gengap_dash.analysis.robustness.corruptions import CORRUPTION_VERSION
from gengap_dash.cli.main import main
from gengap_dash.project.errors import ProjectError
from gengap_dash.views.registry import compute, get_view, view_json
from gengap_dash.views.robustness import RobustnessOptions
from gengap_dash.workspace import Workspace

VIEW = get_view("robustness")
FAST = RobustnessOptions()  # the page's defaults: the UI test then reads the same cached sweep


@pytest.fixture(scope="module")
def sample_sweep(sample):
    """The full sweep (9 corruptions x 5 severities) of the sample's test split."""
    return compute(VIEW, sample, FAST)


def test_the_bridge_finds_the_sample_s_planted_shifts(sample_sweep) -> None:
    """The shifted splits were made by rotation, Gaussian blur and noise (sample README): the
    bridge names those corruptions, each a clear match (at most half the distance to clean)."""
    matches = {m.split: m for m in sample_sweep.bridge.matches}
    assert matches["rotated"].corruption == "rotate"
    assert matches["blurred"].corruption in ("gaussian_blur", "motion_blur")
    assert matches["noisy"].corruption in ("gaussian_noise", "shot_noise")
    findings = {f.split: f for f in VIEW.findings(sample_sweep) if f.kind == "robustness.bridge"}
    for split in ("rotated", "blurred", "noisy"):
        assert findings[split].reason == "match", findings[split]
    assert set(matches) == {"rotated", "blurred", "noisy", "low_contrast", "field"}


def test_the_sample_s_curves(sample, sample_sweep) -> None:
    curves = sample_sweep.curves
    n_test = len(sample.labels("test"))
    assert sample_sweep.split == "test" and curves.n == n_test and sample_sweep.kind == "image"
    hub = sample.split_predictions("test")
    assert curves.clean_accuracy.value == pytest.approx(hub["correct"].mean())
    worst = curves.curves[curves.curves["severity"] == 5]
    assert (worst["accuracy"] < curves.clean_accuracy.value).all()
    assert len(curves.curves) == 45 and len(curves.errors) == 9
    document = view_json(VIEW, sample_sweep, project=sample.name)
    text = json.dumps(document, allow_nan=False)
    assert '"kind": "robustness.bridge"' in text
    assert document["n_swept"] == n_test
    assert not sample_sweep.notes  # the whole split was swept


def test_a_large_split_is_subsampled_and_said(sample) -> None:
    result = compute(VIEW, sample, RobustnessOptions(corruptions=("rotate",), max_samples=100))
    assert result.curves.n == 100
    assert result.notes == (
        f"The sweep ran on a seeded sample of 100 of the {len(sample.labels('test')):,} rows of "
        "test (max_samples).",
    )


def test_a_cached_sweep_runs_no_model(sample, sample_sweep, monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("inference ran although every perturbation is cached")

    monkeypatch.setattr(engine, "run_inference", refuse)
    again = compute(VIEW, sample, FAST, use_cache=False)  # recomputed from the array cache
    np.testing.assert_allclose(
        again.curves.curves["accuracy"], sample_sweep.curves.curves["accuracy"]
    )


def test_the_clean_perturbed_path_reproduces_the_engine_s_outputs(sample) -> None:
    rows = np.arange(0, 590, 37)
    raw = engine.read_raw_inputs(sample.spec, "test", rows=rows)
    assert raw.values.dtype == np.uint8 and raw.values.shape == (rows.size, 8, 8)
    identity = engine.Perturbation("identity", 0, 0, CORRUPTION_VERSION)
    (outputs,) = engine.run_perturbed_inference(
        sample.model(), raw, [identity], spec=sample.spec, split="test",
        split_key=sample.cache_key("test"), cache=sample.cache,
    )  # fmt: skip
    np.testing.assert_allclose(outputs.logits, sample.logits("test")[rows], atol=1e-5)
    np.testing.assert_allclose(outputs.embeddings, sample.embeddings("test")[rows], atol=1e-5)


def test_the_cache_key_holds_everything_the_outputs_depend_on() -> None:
    base = engine.Perturbation("rotate", 2, 0, 1)
    rows = np.arange(10)
    key = engine.perturbed_output_key("split-key", base, rows)
    variants = [
        engine.perturbed_output_key("other-split-key", base, rows),
        engine.perturbed_output_key("split-key", engine.Perturbation("jpeg", 2, 0, 1), rows),
        engine.perturbed_output_key("split-key", engine.Perturbation("rotate", 3, 0, 1), rows),
        engine.perturbed_output_key("split-key", engine.Perturbation("rotate", 2, 1, 1), rows),
        engine.perturbed_output_key("split-key", engine.Perturbation("rotate", 2, 0, 2), rows),
        engine.perturbed_output_key(
            "split-key", engine.Perturbation("rotate", 2, 0, 1, feature="f1"), rows
        ),
        engine.perturbed_output_key(
            "split-key", engine.Perturbation("rotate", 2, 0, 1, context="train-v2"), rows
        ),
        engine.perturbed_output_key("split-key", base, np.arange(11)),
    ]
    assert len({key, *variants}) == 1 + len(variants)
    assert (
        engine.perturbed_output_key("split-key", engine.Perturbation("rotate", 2, 0, 1), rows)
        == key
    )


def test_report_section_and_text(sample_sweep) -> None:
    html = VIEW.report_section(sample_sweep)
    assert html.count("class='figure'") == 3  # curves, corruption errors, bridge
    assert "looks most like" in html
    text = VIEW.to_text(sample_sweep)
    assert "Corruption error (x clean)" in text and "Looks most like" in text
    assert VIEW.headline(sample_sweep)[0].kind == "robustness.summary"


# -- a tabular project ----------------------------------------------------------------------------


def test_tabular_project_sensitivity_bridge_and_cli(tabular_project: Path, capsys) -> None:
    assert main(["robustness", str(tabular_project), "--json", "--resamples", "100"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["kind"] == "tabular" and document["split"] == "test"
    features = document["feature_sensitivity"]["features"]
    assert len(features) == 13 * 3
    assert features[0]["drop"] >= features[-1]["drop"]
    (match,) = document["bridge"]["matches"]
    assert match["split"] == "noisy" and match["corruption"] == "noise"
    assert any("imputed with its train mean" in note for note in document["notes"])
    kinds = {f["kind"]: f for f in document["findings"]}
    assert "robustness.feature_sensitivity" in kinds
    # on 48 rows the unbiased MMD² of noisy against clean test is below 0: nothing to explain
    assert match["clean_mmd2"] <= 0
    assert kinds["robustness.bridge"]["reason"] == "indistinct"
    assert kinds["robustness.bridge"]["severity"] == "ok"


def test_tabular_noise_scale_comes_from_train(tabular_project: Path) -> None:
    workspace = Workspace.from_file(tabular_project)
    result = compute(VIEW, workspace, RobustnessOptions(corruptions=("noise",), n_resamples=50))
    assert list(result.curves.errors["corruption"]) == ["noise"]
    assert set(result.sensitivity.table["perturbation"]) == {"noise"}


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--split", "nope"], "There is no split 'nope' to sweep; the splits are train, val"),
        (["--corruptions", "fog"], "Unknown perturbations 'fog'; this project's perturbations"),
        (["--max-samples", "2"], "--max-samples is 2; expected at least 5."),
    ],
)
def test_cli_bad_options_exit_2_with_one_line(
    tabular_project: Path, capsys, arguments: list[str], message: str
) -> None:
    assert main(["robustness", str(tabular_project), *arguments]) == 2
    error = capsys.readouterr().err.strip()
    assert message in error and len(error.splitlines()) == 1


def test_precompute_views_caches_the_sweep(tabular_project: Path, capsys) -> None:
    assert main(["precompute", str(tabular_project), "--views", "robustness"]) == 0
    assert "- robustness: cached" in capsys.readouterr().out
    workspace = Workspace.from_file(tabular_project)
    from gengap_dash.views.registry import cached

    found, result = cached(VIEW, workspace)
    assert found and result.kind == "tabular"


def test_an_image_file_project_without_shifted_splits(image_project: Path) -> None:
    """PNG files read through Pillow as the engine reads them; no real shifted split, so no
    bridge, said in one line."""
    workspace = Workspace.from_file(image_project)
    result = compute(VIEW, workspace, RobustnessOptions(corruptions=("rotate",), n_resamples=50))
    assert result.kind == "image" and result.curves.n == 8
    assert result.bridge is None
    assert result.bridge_note == (
        "No bridge to real shift: the project has no shifted or deployment split to compare "
        "the corruptions with."
    )
    raw = engine.read_raw_inputs(workspace.spec, "test", rows=[0, 1])
    assert raw.values.shape == (2, 8, 8) and raw.values.dtype == np.uint8
    with pytest.raises(ProjectError, match="have different shapes"):
        engine.model_source(raw, [raw.values[0], raw.values[1][:4]])
