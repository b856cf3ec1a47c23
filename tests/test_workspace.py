"""The workspace: the hub table, row-aligned arrays, and brought predictions."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import cache_entries, edit_yaml, write_yaml

from gengap_dash.data.predictions import probability_columns, to_export_frame
from gengap_dash.project.errors import ProjectError
from gengap_dash.workspace import Workspace

SPLITS = ["train", "val", "test", "noisy"]
SIZES = {"train": 90, "val": 40, "test": 48, "noisy": 48}


@pytest.fixture
def workspace(tabular_project: Path) -> Workspace:
    return Workspace.from_file(tabular_project)


def _table(project: Path, split: str) -> pd.DataFrame:
    suffix = "csv" if split == "val" else "parquet"
    path = project.parent / "data" / f"{split}.{suffix}"
    return pd.read_csv(path) if suffix == "csv" else pd.read_parquet(path)


def _reference_model(project: Path) -> torch.nn.Module:
    sys.path.insert(0, str(project.parent))
    try:
        namespace: dict = {}
        exec((project.parent / "model.py").read_text(), namespace)
    finally:
        sys.path.remove(str(project.parent))
    model = namespace["WineMLP"](n_features=13, num_classes=3)
    model.load_state_dict(torch.load(project.parent / "weights.pt", weights_only=True))
    return model.eval()


def test_what_the_project_is(workspace: Workspace) -> None:
    assert workspace.name == "Wine MLP"
    assert workspace.split_names == SPLITS
    assert workspace.split_roles == {
        "train": "train",
        "val": "validation",
        "test": "test",
        "noisy": "shifted",
    }
    assert workspace.n_classes == 3
    assert workspace.class_names == ["class_0", "class_1", "class_2"]
    assert workspace.has_model
    assert workspace.missing_splits() == SPLITS


def test_hub_table_columns_and_dtypes(workspace: Workspace, tabular_project: Path) -> None:
    table = workspace.predictions()
    assert list(table.columns) == [
        "split",
        "sample_id",
        "label",
        "pred",
        "confidence",
        "loss",
        "correct",
        "prob_0",
        "prob_1",
        "prob_2",
        "batch",
    ]
    assert isinstance(table["split"].dtype, pd.CategoricalDtype)
    assert list(table["split"].cat.categories) == SPLITS
    assert table["split"].value_counts().to_dict() == SIZES
    assert table["sample_id"].dtype == "string"
    assert table["label"].dtype == np.int64
    assert table["pred"].dtype == np.int64
    assert table["confidence"].dtype == np.float64
    assert table["loss"].dtype == np.float64
    assert table["correct"].dtype == bool
    for column in probability_columns(3):
        assert table[column].dtype == np.float32
    train_table = _table(tabular_project, "train")
    assert table["batch"].dtype == train_table["batch"].dtype
    assert table.index.equals(pd.RangeIndex(len(table)))
    assert workspace.missing_splits() == []


def test_rows_follow_the_tables(workspace: Workspace, tabular_project: Path) -> None:
    table = workspace.predictions()
    for split in SPLITS:
        source = _table(tabular_project, split)
        rows = table[table["split"] == split]
        assert rows["sample_id"].tolist() == source["row_id"].astype(str).tolist()
        assert rows["label"].tolist() == source["target"].tolist()
        assert rows["batch"].tolist() == source["batch"].tolist()
        pd.testing.assert_frame_equal(
            workspace.split_predictions(split),
            rows.reset_index(drop=True).astype({"split": str}),
            check_dtype=False,
        )


def test_logits_match_the_model(workspace: Workspace, tabular_project: Path) -> None:
    model = _reference_model(tabular_project)
    features = [f"f{k}" for k in range(13)]
    for split in SPLITS:
        x = torch.tensor(_table(tabular_project, split)[features].to_numpy(np.float32))
        with torch.no_grad():
            np.testing.assert_allclose(
                workspace.logits(split), model(x).numpy(), rtol=1e-5, atol=1e-5
            )
            np.testing.assert_allclose(
                workspace.embeddings(split), model.body(x).numpy(), rtol=1e-5, atol=1e-5
            )
    assert workspace.embeddings("test").shape == (48, 16)
    assert workspace.embedding_note == ""


def test_loss_confidence_and_probs(workspace: Workspace) -> None:
    table = workspace.predictions()
    for split in SPLITS:
        rows = table[table["split"] == split]
        logits = torch.from_numpy(workspace.logits(split)).double()
        labels = torch.tensor(workspace.labels(split))
        expected = torch.nn.functional.cross_entropy(logits, labels, reduction="none").numpy()
        np.testing.assert_allclose(rows["loss"], expected, rtol=1e-6, atol=1e-9)
        probs = workspace.probs(split)
        assert probs.shape == (SIZES[split], 3)
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
        np.testing.assert_allclose(rows["confidence"], probs.max(axis=1), rtol=1e-6)
        np.testing.assert_allclose(probs, torch.softmax(logits, 1).numpy(), atol=1e-7)
        np.testing.assert_array_equal(rows["pred"], probs.argmax(axis=1))
        np.testing.assert_array_equal(rows["correct"], rows["pred"] == rows["label"])


def test_train_accuracy_is_high(workspace: Workspace) -> None:
    table = workspace.predictions()
    assert table.loc[table["split"] == "train", "correct"].mean() > 0.95


def test_progress_is_reported_per_split(workspace: Workspace) -> None:
    calls: list[tuple[str, int, int]] = []
    workspace.compute(progress=lambda split, done, total: calls.append((split, done, total)))
    finals = {split: (done, total) for split, done, total in calls}
    assert finals == {split: (n, n) for split, n in SIZES.items()}


def test_text_labels_are_mapped_through_classes(tabular_project: Path) -> None:
    numeric = Workspace.from_file(tabular_project).predictions()
    names = ["class_0", "class_1", "class_2"]
    for split in SPLITS:
        suffix = "csv" if split == "val" else "parquet"
        path = tabular_project.parent / "data" / f"{split}.{suffix}"
        frame = _table(tabular_project, split)
        frame["target"] = [names[k] for k in frame["target"]]
        frame.to_csv(path, index=False) if suffix == "csv" else frame.to_parquet(path)
    text = Workspace.from_file(tabular_project).predictions()
    pd.testing.assert_frame_equal(text, numeric)


def test_sample_ids_default_to_row_numbers(tabular_project: Path) -> None:
    edit_yaml(tabular_project, lambda d: d.pop("id"))
    table = Workspace.from_file(tabular_project).predictions()
    rows = table[table["split"] == "val"]
    assert rows["sample_id"].tolist() == [str(i) for i in range(40)]
    assert table["sample_id"].dtype == "string"


def test_time_and_numeric_metadata(tabular_project: Path) -> None:
    for split in SPLITS:
        suffix = "csv" if split == "val" else "parquet"
        path = tabular_project.parent / "data" / f"{split}.{suffix}"
        frame = _table(tabular_project, split)
        frame["when"] = pd.date_range("2024-01-01", periods=len(frame), freq="D").strftime(
            "%Y-%m-%d"
        )
        frame["site"] = np.arange(len(frame)) % 3
        frame.to_csv(path, index=False) if suffix == "csv" else frame.to_parquet(path)
    edit_yaml(tabular_project, lambda d: d.update(time="when", metadata=["batch", "site"]))
    table = Workspace.from_file(tabular_project).predictions()
    assert list(table.columns[-3:]) == ["batch", "site", "when"]
    assert pd.api.types.is_datetime64_any_dtype(table["when"])
    assert table["site"].dtype == np.int64
    assert table.loc[0, "when"] == pd.Timestamp("2024-01-01")


def test_bad_time_column(tabular_project: Path) -> None:
    path = tabular_project.parent / "data" / "train.parquet"
    frame = pd.read_parquet(path)
    frame["when"] = "2024-01-01"
    frame.loc[3, "when"] = "not a date"
    frame.to_parquet(path)
    edit_yaml(tabular_project, lambda d: d.update(time="when"))
    with pytest.raises(
        ProjectError,
        match=r"Table train\.parquet: time column 'when' has 'not a date' in row 3; expected a "
        "date",
    ):
        Workspace.from_file(tabular_project).predictions()


def test_n_classes_without_classes_comes_from_the_model(tabular_project: Path) -> None:
    edit_yaml(tabular_project, lambda d: d.pop("classes"))
    workspace = Workspace.from_file(tabular_project)
    assert workspace.n_classes == 3
    assert workspace.class_names == ["0", "1", "2"]


def test_model_is_built_once(workspace: Workspace) -> None:
    assert workspace.model() is workspace.model()
    assert not workspace.model().training


def test_unknown_split(workspace: Workspace) -> None:
    with pytest.raises(ProjectError, match="no split named 'prod'; the splits are train, val"):
        workspace.logits("prod")


def test_split_data_for_the_scorecard(workspace: Workspace) -> None:
    from gengap_dash.views.scorecard import split_data

    data = split_data(workspace)
    assert [d.name for d in data] == SPLITS
    assert [d.role for d in data] == ["train", "validation", "test", "shifted"]
    np.testing.assert_array_equal(data[2].labels, workspace.labels("test"))
    np.testing.assert_allclose(data[2].probs, workspace.probs("test"))


# -- export and brought predictions --------------------------------------------------------------


def _brought_project(folder: Path, predictions: Path, **extra) -> Path:
    folder.mkdir(exist_ok=True)
    project = {
        "name": "Brought",
        "predictions": str(predictions),
        "classes": ["class_0", "class_1", "class_2"],
        "metadata": ["batch"],
        "splits": {
            "train": {"role": "train"},
            "val": {"role": "validation"},
            "test": {"role": "test"},
            "noisy": {"role": "shifted"},
        },
        **extra,
    }
    return write_yaml(folder / "project.yaml", project)


def test_export_round_trips_as_a_brought_project(
    workspace: Workspace, tmp_path: Path, cache_dir: Path
) -> None:
    hub = workspace.predictions()
    path = tmp_path / "export.parquet"
    to_export_frame(hub, 3).to_parquet(path, index=False)
    entries = cache_entries(cache_dir)
    brought = Workspace.from_file(_brought_project(tmp_path / "brought", path))
    assert not brought.has_model
    assert brought.missing_splits() == []
    table = brought.predictions()
    assert list(table.columns) == list(hub.columns)
    for column in ("split", "sample_id", "label", "pred", "correct", "batch"):
        pd.testing.assert_series_equal(table[column], hub[column])
    for column in ("confidence", "loss", *probability_columns(3)):
        np.testing.assert_allclose(table[column], hub[column], rtol=1e-5, atol=1e-6)
        assert table[column].dtype == hub[column].dtype
    for split in SPLITS:
        np.testing.assert_allclose(brought.probs(split), workspace.probs(split), atol=1e-6)
        np.testing.assert_allclose(
            torch.softmax(torch.from_numpy(brought.logits(split)), 1).numpy(),
            workspace.probs(split),
            atol=1e-5,
        )
        assert brought.embeddings(split) is None
    assert "without embeddings" in brought.embedding_note
    assert cache_entries(cache_dir) == entries  # brought predictions are never cached
    with pytest.raises(ProjectError, match="brings its own predictions and has no model"):
        brought.model()


def _brought_with(tmp_path: Path, frame: pd.DataFrame, **extra) -> Workspace:
    path = tmp_path / "brought.parquet"
    frame.to_parquet(path, index=False)
    return Workspace.from_file(_brought_project(tmp_path / "brought", path, **extra))


def _export(workspace: Workspace) -> pd.DataFrame:
    return to_export_frame(workspace.predictions(), 3)


def test_brought_wrong_probability_length(workspace: Workspace, tmp_path: Path) -> None:
    frame = _export(workspace)
    frame["probs"] = [np.append(p, 0.0) for p in frame["probs"]]
    with pytest.raises(
        ProjectError, match="'probs' has 4 values per row, but the project lists 3 classes"
    ):
        _brought_with(tmp_path, frame).predictions()


def test_brought_rows_that_do_not_sum_to_one(workspace: Workspace, tmp_path: Path) -> None:
    frame = _export(workspace)
    frame.at[5, "probs"] = frame.at[5, "probs"] * 0.5
    with pytest.raises(ProjectError, match=r"row 5 has probabilities that .* do not sum to 1"):
        _brought_with(tmp_path, frame).predictions()


def test_brought_unknown_split(workspace: Workspace, tmp_path: Path) -> None:
    frame = _export(workspace)
    frame.loc[frame["split"] == "noisy", "split"] = "production"
    with pytest.raises(ProjectError, match="split 'production' is not declared under `splits`"):
        _brought_with(tmp_path, frame).predictions()


def test_brought_split_without_rows(workspace: Workspace, tmp_path: Path) -> None:
    frame = _export(workspace)
    frame = frame[frame["split"] != "noisy"]
    with pytest.raises(ProjectError, match="split 'noisy' has no rows"):
        _brought_with(tmp_path, frame).predictions()


def test_brought_label_out_of_range(workspace: Workspace, tmp_path: Path) -> None:
    frame = _export(workspace)
    frame.loc[2, "label"] = 3
    with pytest.raises(ProjectError, match=r"label 3 in row 2 is outside the class range 0\.\.2"):
        _brought_with(tmp_path, frame).predictions()


# -- other ways of giving the model its inputs ---------------------------------------------------


def test_default_features_give_the_same_predictions(
    workspace: Workspace, tabular_project: Path
) -> None:
    expected = workspace.predictions()
    edit_yaml(tabular_project, lambda d: d["inputs"].pop("features"))
    pd.testing.assert_frame_equal(Workspace.from_file(tabular_project).predictions(), expected)
    # a text column that is not metadata is not a feature either
    edit_yaml(tabular_project, lambda d: d.update(metadata=[]))
    reopened = Workspace.from_file(tabular_project)
    table = reopened.predictions()
    pd.testing.assert_frame_equal(table, expected.drop(columns=["batch"]))
    # ... and the workspace says so, once, for the CLI and the page
    assert reopened.notes == [
        "Default features: 13 numeric columns of split 'train'; left out 'batch' (text, e.g. "
        "'early'). List inputs.features to choose them yourself."
    ]
    assert workspace.notes == []  # explicit features: nothing to say


TRANSFORM = """
import numpy as np
import torch


def as_tensor(row):
    return torch.from_numpy(np.array(row, dtype=np.float32))
"""


def test_user_transform_through_the_workspace(workspace: Workspace, tabular_project: Path) -> None:
    expected = workspace.predictions()
    (tabular_project.parent / "transforms.py").write_text(TRANSFORM)
    edit_yaml(tabular_project, lambda d: d["inputs"].update(transform="transforms.py:as_tensor"))
    table = Workspace.from_file(tabular_project).predictions()
    pd.testing.assert_frame_equal(table, expected, rtol=1e-5)


@pytest.mark.filterwarnings("ignore:`torch.jit.*is deprecated:DeprecationWarning")
def test_torchscript_project(workspace: Workspace, tabular_project: Path, monkeypatch) -> None:
    expected = workspace.predictions()
    model = _reference_model(tabular_project)
    traced = torch.jit.trace(model, torch.zeros(2, 13))
    torch.jit.save(traced, str(tabular_project.parent / "model.ts"))
    edit_yaml(tabular_project, lambda d: d.update(model={"torchscript": "model.ts"}))
    scripted = Workspace.from_file(tabular_project)
    pd.testing.assert_frame_equal(scripted.predictions(), expected, rtol=1e-5)
    assert scripted.embeddings("train") is None
    assert "TorchScript" in scripted.embedding_note
    monkeypatch.setattr(
        "gengap_dash.engine.inference.run_inference", lambda *a, **k: pytest.fail("inference ran")
    )
    warm = Workspace.from_file(tabular_project)
    warm.compute()
    assert warm.embeddings("noisy") is None
    assert warm.embedding_note == scripted.embedding_note
