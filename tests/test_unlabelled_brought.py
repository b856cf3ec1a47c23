"""A brought-predictions project with embeddings and an unlabelled deployment split: the
feature-space views run without a model (MMD and domain classifier on the brought embeddings),
the label-needing views leave the split out, and `gengap summary` runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from gengap_dash.cli.main import main
from gengap_dash.findings.unlabelled import KIND
from gengap_dash.project.errors import ProjectError
from gengap_dash.views import registry
from gengap_dash.workspace import Workspace

SIZES = {"train": 300, "val": 150, "test": 150, "field": 150}
ROLES = {"train": "train", "val": "validation", "test": "test", "field": "deployment"}


def make_brought_project(root: Path, *, form: str = "list", field_labels: bool = False) -> Path:
    """3 classes; embeddings of width 6, the field split's moved by +1.5 on every axis."""
    rng = np.random.default_rng(0)
    parts = []
    for split, n in SIZES.items():
        labels = rng.integers(0, 3, n)
        logits = rng.normal(size=(n, 3))
        logits[np.arange(n), labels] += 2.0
        probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
        embeddings = rng.normal(size=(n, 6)) + np.eye(3, 6)[labels] * 2
        if split == "field":
            embeddings += 1.5
        frame = pd.DataFrame({"split": split, "sample_id": [f"{split}{i}" for i in range(n)]})
        frame["label"] = pd.array(labels, dtype="Int64")
        if split == "field" and not field_labels:
            frame["label"] = pd.array([pd.NA] * n, dtype="Int64")
        frame["site"] = rng.choice(["a", "b"], n)
        frame["probs"] = list(probs)
        if form == "list":
            frame["embedding"] = list(embeddings.astype(np.float32))
        else:
            for i in range(6):
                frame[f"embedding_{i}"] = embeddings[:, i]
        parts.append(frame)
    root.mkdir(parents=True, exist_ok=True)
    pd.concat(parts, ignore_index=True).to_parquet(root / "predictions.parquet", index=False)
    project = {
        "name": "Brought with embeddings",
        "predictions": "predictions.parquet",
        "label": "label",
        "metadata": ["site"],
        "splits": {name: {"role": role} for name, role in ROLES.items()},
    }
    (root / "project.yaml").write_text(yaml.safe_dump(project, sort_keys=False))
    return root / "project.yaml"


@pytest.mark.parametrize("form", ["list", "columns"])
def test_brought_embeddings_feed_the_feature_space_views(tmp_path: Path, form: str) -> None:
    workspace = Workspace.from_file(make_brought_project(tmp_path / "p", form=form))
    embeddings = workspace.embeddings("field")
    assert embeddings.dtype == np.float32 and embeddings.shape == (SIZES["field"], 6)
    assert workspace.embedding_note == ""
    assert workspace.unlabelled_splits == ["field"]
    shift = registry.compute(registry.get_view("shift"), workspace)
    field = json.dumps(registry.get_view("shift").to_json(shift))
    assert "mmd2" in field
    payload = registry.get_view("shift").to_json(shift)
    text = json.dumps(payload)
    assert "field" in text
    findings = registry.get_view("shift").findings(shift)
    moved = [f for f in findings if f.kind == "shift.split" and f.split == "field"]
    assert moved and moved[0].severity == "critical"  # the planted move is found
    ood = registry.compute(registry.get_view("ood"), workspace)
    assert {"mahalanobis", "knn"} <= set(ood.samples.columns)
    assert registry.get_view("embed").unavailable(workspace) is None


def test_without_embeddings_the_note_says_how_to_bring_them(tmp_path: Path) -> None:
    path = make_brought_project(tmp_path / "p")
    table = pd.read_parquet(path.parent / "predictions.parquet").drop(columns=["embedding"])
    table.to_parquet(path.parent / "predictions.parquet", index=False)
    workspace = Workspace.from_file(path)
    assert workspace.embeddings("train") is None
    assert "an `embedding` list column (or embedding_0 .. embedding_<d-1> columns)" in (
        workspace.embedding_note
    )


def test_a_file_without_a_label_column(tmp_path: Path) -> None:
    path = make_brought_project(tmp_path / "p")
    table = pd.read_parquet(path.parent / "predictions.parquet")
    table.drop(columns=["label"]).to_parquet(path.parent / "predictions.parquet", index=False)
    with pytest.raises(
        ProjectError,
        match=r"^Predictions file predictions\.parquet, split 'train': label is missing in row "
        r"0 \(300 rows in all\); split 'train' has role train, which needs a label on every row",
    ):
        Workspace.from_file(path).split_predictions("train")


def test_partly_labelled_brought_split(tmp_path: Path) -> None:
    path = make_brought_project(tmp_path / "p", field_labels=True)
    table = pd.read_parquet(path.parent / "predictions.parquet")
    field = table.index[table["split"] == "field"]
    table.loc[field[10:], "label"] = pd.NA
    table.to_parquet(path.parent / "predictions.parquet", index=False)
    workspace = Workspace.from_file(path)
    assert workspace.labelled_count("field") == 10 and not workspace.is_labelled("field")


def test_summary_and_every_view_on_the_brought_project(tmp_path: Path, capsys) -> None:
    path = make_brought_project(tmp_path / "p")
    assert main(["summary", str(path), "--json", "--resamples", "100"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert list(payload["splits"]) == ["train", "val", "test"]
    assert "field" in payload["unlabelled"]
    assert any(f["kind"] == KIND and f["split"] == "field" for f in payload["findings"])
    for name in ("cohorts", "slices", "calibration", "ood", "review", "shift"):
        assert main([name, str(path), "--json"]) == 0, name
        json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("field_labels", [False, True])
def test_whether_a_split_is_labelled_is_kept_beside_the_cache(
    tmp_path: Path, field_labels: bool
) -> None:
    """A page that shows only cached results asks which splits carry labels: once a split has
    been read, a new workspace answers from the counts kept under the split's content key,
    without reading the predictions file; a changed file has another key and is read."""
    path = make_brought_project(tmp_path / "p", field_labels=field_labels)
    cache = tmp_path / "cache"
    first = Workspace.from_file(path, cache_dir=cache)
    assert first.is_labelled("field") is field_labels  # reads the split, keeps the counts
    second = Workspace.from_file(path, cache_dir=cache)
    assert second.is_labelled("field") is field_labels
    assert "field" not in second._states  # answered from the counts, nothing read
    assert second.labelled_splits == (
        ["train", "val", "test", "field"] if field_labels else ["train", "val", "test"]
    )

    table = pd.read_parquet(path.parent / "predictions.parquet")
    field = table["split"] == "field"
    table.loc[field, "label"] = 0 if not field_labels else pd.NA  # the other answer now
    table.to_parquet(path.parent / "predictions.parquet", index=False)
    third = Workspace.from_file(path, cache_dir=cache)
    assert third.is_labelled("field") is (not field_labels)
    assert "field" in third._states  # another content key: the file was read


@pytest.mark.parametrize("form", ["list", "columns", "none"])
def test_whether_brought_predictions_carry_embeddings_is_read_from_the_columns(
    tmp_path: Path, form: str
) -> None:
    path = make_brought_project(tmp_path / "p", form="list" if form == "none" else form)
    if form == "none":
        table = pd.read_parquet(path.parent / "predictions.parquet")
        table.drop(columns=["embedding"]).to_parquet(path.parent / "predictions.parquet")
    workspace = Workspace.from_file(path, cache_dir=tmp_path / "cache")
    assert workspace.has_embeddings() is (form != "none")
    assert not workspace._states  # no split was read to answer
    assert (workspace.embeddings("train") is not None) is (form != "none")
