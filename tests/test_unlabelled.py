"""Unlabelled splits (issue 10, "Data this view needs"): a deployment or shifted split whose
table has no label column, or empty labels. The workspace says which splits are labelled; every
view shows what needs no labels and says, in place of the rest, that the split is unlabelled;
train, validation and test splits still need a label on every row."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import edit_yaml

from gengap_dash.cli.main import main
from gengap_dash.data.tables import labels_to_indices
from gengap_dash.findings.render import render
from gengap_dash.findings.unlabelled import KIND, UnlabelledSplit, unlabelled_findings
from gengap_dash.project.errors import ProjectError
from gengap_dash.views import registry
from gengap_dash.views.saliency import SaliencyOptions, sample_maps
from gengap_dash.views.slices import SlicesOptions
from gengap_dash.workspace import Workspace

FIELD_ROWS = 48  # the tabular project's noisy split, copied without its labels


def add_field_split(project: Path, *, labels: list | None = None) -> Path:
    """Add a deployment split ``field`` (the noisy split's rows): without a label column, or
    with the given ``labels`` (None/NaN/"" for missing ones)."""
    root = project.parent
    noisy = pd.read_parquet(root / "data" / "noisy.parquet")
    field = noisy.drop(columns=["target"])
    field["row_id"] = [f"field-{i}" for i in range(len(field))]
    if labels is not None:
        field["target"] = pd.Series(labels, dtype=object)
    field.to_parquet(root / "data" / "field.parquet", index=False)

    def change(data: dict) -> None:
        data["splits"]["field"] = {"path": "data/field.parquet", "role": "deployment"}

    return edit_yaml(project, change)


@pytest.fixture(scope="module")
def unlabelled(tmp_path_factory: pytest.TempPathFactory, _tabular_template: Path) -> Workspace:
    """The tabular project with an unlabelled deployment split, every split loaded (read-only)."""
    root = tmp_path_factory.mktemp("unlabelled") / "wine"
    shutil.copytree(_tabular_template, root)
    project = add_field_split(root / "project.yaml")
    workspace = Workspace.from_file(project, cache_dir=tmp_path_factory.mktemp("cache"))
    workspace.compute()
    return workspace


# -- the label column ----------------------------------------------------------------------------


def test_missing_labels_become_minus_one_and_errors_name_the_table_row() -> None:
    values = pd.Series([1, None, 2, np.nan, 0], dtype=object)
    got = labels_to_indices(values, classes=None, n_classes=3, where="t", allow_missing=True)
    np.testing.assert_array_equal(got, [1, -1, 2, -1, 0])
    text = pd.Series(["b", "", "  ", None, "a"])
    got = labels_to_indices(text, classes=("a", "b"), n_classes=2, where="t", allow_missing=True)
    np.testing.assert_array_equal(got, [1, -1, -1, -1, 0])
    with pytest.raises(ProjectError, match=r"^t: label is missing in row 1\.$"):
        labels_to_indices(values, classes=None, n_classes=3, where="t")
    # the row of a bad label counts the rows without a label before it
    bad = pd.Series([None, None, 1.5], dtype=object)
    with pytest.raises(ProjectError, match=r"label 1\.5 in row 2 is not a whole number"):
        labels_to_indices(bad, classes=None, n_classes=3, where="t", allow_missing=True)
    unknown = pd.Series(["", "a", "zebra"])
    with pytest.raises(ProjectError, match=r"label 'zebra' in row 2 is not one of the classes"):
        labels_to_indices(unknown, classes=("a", "b"), n_classes=2, where="t", allow_missing=True)
    empty = labels_to_indices(
        pd.Series([None, None]), classes=None, n_classes=2, where="t", allow_missing=True
    )
    np.testing.assert_array_equal(empty, [-1, -1])


# -- the workspace -------------------------------------------------------------------------------


def test_the_workspace_says_which_splits_are_labelled(unlabelled: Workspace) -> None:
    assert unlabelled.labelled_splits == ["train", "val", "test", "noisy"]
    assert unlabelled.unlabelled_splits == ["field"]
    assert unlabelled.is_labelled("test") and not unlabelled.is_labelled("field")
    assert unlabelled.labelled_count("field") == 0
    assert unlabelled.labelled_count("test") == len(unlabelled.split_predictions("test"))
    assert unlabelled.label_note("test") == ""
    assert unlabelled.label_note("field") == "Split 'field' has no labels."
    with pytest.raises(
        ProjectError,
        match=r"^Split 'field' has no labels\. This needs labels; the labelled splits are "
        r"train, val, test, noisy\.$",
    ):
        unlabelled.labels("field")
    rows = unlabelled.split_predictions("field")
    assert len(rows) == FIELD_ROWS
    assert (rows["label"] == -1).all() and rows["loss"].isna().all() and not rows["correct"].any()
    # what needs no labels is there: probabilities, predictions, confidence
    probs = unlabelled.probs("field")
    np.testing.assert_array_equal(rows["pred"], probs.argmax(1))
    np.testing.assert_allclose(rows["confidence"], probs.max(1))
    # same rows as the labelled noisy split: the model's outputs do not depend on labels
    np.testing.assert_allclose(probs, unlabelled.probs("noisy"), rtol=1e-6)
    hub = unlabelled.predictions()
    assert (
        hub["label"].dtype == np.int64 and (hub.loc[hub["split"] == "field", "label"] == -1).all()
    )


def test_partly_labelled_split_counts_as_unlabelled_and_says_how_many(
    tabular_project: Path,
) -> None:
    labels = [None] * FIELD_ROWS
    labels[:3] = ["class_0", "class_2", "class_1"]
    labels[5] = ""
    workspace = Workspace.from_file(add_field_split(tabular_project, labels=labels))
    assert workspace.labelled_count("field") == 3
    assert not workspace.is_labelled("field")
    assert workspace.unlabelled_splits == ["field"]
    np.testing.assert_array_equal(workspace.split_predictions("field")["label"][:4], [0, 2, 1, -1])
    assert workspace.label_note("field").startswith(
        "Split 'field' has labels on 3 of 48 rows only; views that need labels leave it out"
    )
    finding = unlabelled_findings(
        [UnlabelledSplit("field", "deployment", 3, 48)], view="scorecard", needs=("accuracy",)
    )[0]
    assert render(finding) == (
        "Split field has labels on 3 rows out of 48 rows only, so it counts as unlabelled: "
        "accuracy needs them; confidence, shift and OOD scores need none (Feature space page)."
    )


def test_train_validation_and_test_splits_need_every_label(tabular_project: Path) -> None:
    root = tabular_project.parent
    test = pd.read_parquet(root / "data" / "test.parquet")
    test["target"] = test["target"].astype("float64")
    test.loc[4, "target"] = np.nan
    test.to_parquet(root / "data" / "test.parquet", index=False)
    with pytest.raises(
        ProjectError,
        match=r"^Table test\.parquet, column 'target': label is missing in row 4 \(1 rows in "
        r"all\); split 'test' has role test, which needs a label on every row \(only shifted "
        r"and deployment splits may be unlabelled\)\.$",
    ):
        Workspace.from_file(tabular_project).split_predictions("test")
    test.drop(columns=["target"]).to_parquet(root / "data" / "test.parquet", index=False)
    with pytest.raises(ProjectError, match=r"label column 'target' is missing"):
        Workspace.from_file(tabular_project).split_predictions("test")


def test_a_shifted_split_may_have_empty_labels_too(tabular_project: Path) -> None:
    root = tabular_project.parent
    noisy = pd.read_parquet(root / "data" / "noisy.parquet")
    noisy["target"] = pd.Series([None] * len(noisy), dtype=object)
    noisy.to_parquet(root / "data" / "noisy.parquet", index=False)
    workspace = Workspace.from_file(tabular_project)
    assert workspace.unlabelled_splits == ["noisy"]


# -- every view ----------------------------------------------------------------------------------


def _unlabelled_findings(view, result) -> list:
    return [f for f in view.findings(result) if f.kind == KIND]


def test_scorecard_leaves_the_split_out_and_says_so(unlabelled: Workspace) -> None:
    view = registry.get_view("scorecard")
    result = registry.compute(view, unlabelled, view.Options(n_resamples=100))
    assert result.split_names == ("train", "val", "test", "noisy")
    assert result.unlabelled == (UnlabelledSplit("field", "deployment", 0, FIELD_ROWS),)
    found = _unlabelled_findings(view, result)
    assert [f.split for f in found] == ["field"] and found[0].severity == "info"
    assert render(found[0]) == (
        "Split field has no labels yet: accuracy and its gap, NLL, ECE and Brier score need "
        "them; confidence, shift and OOD scores need none (Feature space page)."
    )
    assert found[0] in view.headline(result)  # the summary says it
    assert result.to_dict()["unlabelled"] == {
        "field": {"role": "deployment", "n": FIELD_ROWS, "labelled": 0}
    }
    assert "field           deployment       48  (no labels)" in view.to_text(result)


def test_calibration_cohorts_and_slices_use_the_labelled_splits(unlabelled: Workspace) -> None:
    calibration = registry.compute(registry.get_view("calibration"), unlabelled)
    assert "field" not in calibration.reports and "noisy" in calibration.reports
    assert "field" not in calibration.curves
    view = registry.get_view("cohorts")
    cohorts = registry.compute(view, unlabelled, view.Options(n_resamples=50))
    assert "field" not in cohorts.table.splits
    assert [f.split for f in _unlabelled_findings(view, cohorts)] == ["field"]
    with pytest.raises(ProjectError, match=r"^Reference split 'field' has no labels"):
        registry.compute(view, unlabelled, view.Options(reference="field"))
    view = registry.get_view("slices")
    slices = registry.compute(view, unlabelled, view.Options(n_resamples=50))
    assert slices.search.split != "field"  # the deployment split has no errors to rank
    assert [f.split for f in _unlabelled_findings(view, slices)] == ["field"]
    with pytest.raises(ProjectError, match=r"^Split 'field' has no labels \(on every row\), and "):
        registry.compute(view, unlabelled, SlicesOptions(split="field"))


def test_shift_ood_and_review_show_the_unlabelled_split(unlabelled: Workspace) -> None:
    shift = registry.compute(registry.get_view("shift"), unlabelled)
    payload = registry.get_view("shift").to_json(shift)
    assert "field" in json.dumps(payload)
    ood = registry.compute(registry.get_view("ood"), unlabelled)
    accuracy = ood.to_dict()
    assert "field" in json.dumps(accuracy)
    field = ood.samples[ood.samples["split"] == "field"]
    assert len(field) == FIELD_ROWS and (field["label"] == -1).all()
    assert field["correct"].isna().all()
    review = registry.compute(registry.get_view("review"), unlabelled)
    assert review.split == "field"  # the deployment split is the one to review
    assert len(review.queue) > 0


def test_saliency_explains_the_prediction_of_an_unlabelled_split(unlabelled: Workspace) -> None:
    ids = list(unlabelled.split_predictions("field")["sample_id"][:2])
    method = "integrated_gradients"
    maps = sample_maps(unlabelled, "field", ids, method, SaliencyOptions(n_steps=8))
    np.testing.assert_array_equal(maps.labels, [-1, -1])
    with pytest.raises(
        ProjectError, match=r"^Split 'field' has no labels .* \(--target predicted\)\.$"
    ):
        sample_maps(unlabelled, "field", ids, method, SaliencyOptions(target="label", n_steps=8))


def test_every_view_runs_on_the_unlabelled_project(unlabelled: Workspace) -> None:
    """Each view computes and renders its findings; a view that cannot use the split yet
    refuses it with the workspace's one-line reason (never a crash or a wrong number)."""
    refused = []
    for view in registry.all_views():
        if view.unavailable(unlabelled) or view.slow:
            continue
        try:
            result = registry.compute(view, unlabelled)
        except ProjectError as error:
            assert str(error).startswith("Split 'field' has no labels"), (view.name, error)
            refused.append(view.name)
            continue
        for finding in view.findings(result):
            assert render(finding)
    built_here = {"scorecard", "calibration", "cohorts", "slices", "shift", "ood", "review"}
    assert not built_here & set(refused)


# -- the command line ----------------------------------------------------------------------------


def test_summary_on_an_unlabelled_project(tabular_project: Path, capsys) -> None:
    project = add_field_split(tabular_project)
    assert main(["summary", str(project), "--json", "--resamples", "100"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert list(payload["splits"]) == ["train", "val", "test", "noisy"]
    assert payload["unlabelled"] == {
        "field": {"role": "deployment", "n": FIELD_ROWS, "labelled": 0}
    }
    said = [f for f in payload["findings"] if f["kind"] == KIND]
    assert {f["split"] for f in said} == {"field"} and "scorecard" in {f["view"] for f in said}
    assert said[0]["text"].startswith("Split field has no labels yet")
    assert main(["summary", str(project), "--resamples", "100"]) == 0
    text = capsys.readouterr().out
    assert "(no labels)" in text and "Split field has no labels yet" in text


def test_export_writes_missing_labels_as_null_and_reads_back(
    unlabelled: Workspace, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "export.parquet"
    project = unlabelled.spec.path
    cache = unlabelled.cache.root
    assert main(["export", str(project), "--out", str(out), "--cache-dir", str(cache)]) == 0
    table = pd.read_parquet(out)
    field = table[table["split"] == "field"]
    assert len(field) == FIELD_ROWS and field["label"].isna().all()
    assert table.loc[table["split"] == "test", "label"].notna().all()
    brought = {
        "name": "exported",
        "predictions": str(out),
        "classes": list(unlabelled.class_names),
        "splits": {name: {"role": role} for name, role in unlabelled.split_roles.items()},
    }
    (tmp_path / "project.yaml").write_text(yaml.safe_dump(brought))
    again = Workspace.from_file(tmp_path / "project.yaml")
    assert again.unlabelled_splits == ["field"]
    np.testing.assert_allclose(again.probs("field"), unlabelled.probs("field"), atol=1e-6)
