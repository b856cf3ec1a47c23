"""Bad input: a ProjectError from the workspace, exit 2 with one line from the CLI, and nothing
written to the cache for the split that failed (nor to the user's files)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from conftest import edit_yaml, entry_splits

from gengap_dash.cli.main import main
from gengap_dash.project.errors import ProjectError
from gengap_dash.workspace import Workspace

ALL = ("train", "val", "test", "noisy")


def _table_path(project: Path, split: str) -> Path:
    suffix = "csv" if split == "val" else "parquet"
    return project.parent / "data" / f"{split}.{suffix}"


def _edit_table(project: Path, split: str, change: Callable[[pd.DataFrame], pd.DataFrame]) -> None:
    path = _table_path(project, split)
    frame = pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)
    frame = change(frame)
    frame.to_csv(path, index=False) if path.suffix == ".csv" else frame.to_parquet(path)


def _set(frame: pd.DataFrame, row: int, column: str, value) -> pd.DataFrame:
    frame = frame.copy()
    if isinstance(value, str) or not pd.api.types.is_float_dtype(frame[column]):
        frame[column] = frame[column].astype(object)
    frame.loc[row, column] = value
    return frame


MODEL_VARIANTS = """
import torch
from model import WineMLP


class NaNWine(WineMLP):
    def forward(self, x):
        out = super().forward(x)
        return torch.where(x[:, :1] > 1.0, torch.full_like(out, float("nan")), out)


class InfWine(WineMLP):
    def forward(self, x):
        out = super().forward(x)
        return torch.where(x[:, :1] > 1.0, torch.full_like(out, float("inf")), out)


def exploding(**kwargs):
    raise RuntimeError("CUDA out of memory while building")
"""


def _use_model(factory: str) -> Callable[[Path], None]:
    def change(project: Path) -> None:
        (project.parent / "variants.py").write_text(MODEL_VARIANTS)
        edit_yaml(project, lambda d: d["model"].update(factory=f"variants.py:{factory}"))

    return change


@dataclass(frozen=True)
class Case:
    name: str
    change: Callable[[Path], None]
    match: str
    failed: str | None  # the split that fails; None: the project itself fails to open
    cached: tuple[str, ...] = ()  # splits that legitimately finished before it


def _remove(project: Path) -> None:
    project.unlink()


CASES = [
    Case("missing_file", _remove, r"Project file .*project\.yaml does not exist", None),
    Case(
        "broken_yaml",
        lambda p: p.write_text(p.read_text().replace("splits:", "splits: [oops")),
        r"project\.yaml is not valid YAML at line \d+",
        None,
    ),
    Case(
        "unknown_key",
        lambda p: edit_yaml(p, lambda d: d["model"].update(wieghts="weights.pt")),
        r"unknown key model\.wieghts; expected one of factory",
        None,
    ),
    Case(
        "missing_label_column",
        lambda p: _edit_table(p, "test", lambda f: f.drop(columns=["target"])),
        r"Table test\.parquet: label column 'target' is missing; it has row_id",
        "test",
        ("train", "val"),
    ),
    Case(
        "missing_metadata_column",
        lambda p: _edit_table(p, "val", lambda f: f.drop(columns=["batch"])),
        r"Table val\.csv: metadata column 'batch' is missing",
        "val",
        ("train",),
    ),
    Case(
        "missing_id_column",
        lambda p: _edit_table(p, "train", lambda f: f.drop(columns=["row_id"])),
        r"Table train\.parquet: id column 'row_id' is missing",
        "train",
    ),
    Case(
        "missing_feature_column",
        lambda p: _edit_table(p, "noisy", lambda f: f.drop(columns=["f3"])),
        r"Table noisy\.parquet: column 'f3' is missing",
        "noisy",
        ("train", "val", "test"),
    ),
    Case(
        "non_numeric_feature",
        lambda p: _edit_table(p, "val", lambda f: _set(f, 2, "f5", "high")),
        r"Table val\.csv: feature column 'f5' is not numeric",
        "val",
        ("train",),
    ),
    Case(
        "nan_feature",
        lambda p: _edit_table(p, "val", lambda f: _set(f, 4, "f0", float("nan"))),
        r"Table val\.csv: feature column 'f0' has a missing or infinite value in row 4",
        "val",
        ("train",),
    ),
    Case(
        "label_out_of_range",
        lambda p: _edit_table(p, "train", lambda f: _set(f, 7, "target", 5)),
        r"Table train\.parquet, column 'target': label 5 in row 7 is outside the class range "
        r"0\.\.2",
        "train",
    ),
    Case(
        "unknown_text_label",
        lambda p: _edit_table(
            p,
            "val",
            lambda f: _set(f.assign(target=[f"class_{k}" for k in f["target"]]), 1, "target", "x"),
        ),
        r"label 'x' in row 1 is not one of the classes \['class_0', 'class_1', 'class_2'\]",
        "val",
        ("train",),
    ),
    Case(
        "output_width_not_classes",
        lambda p: edit_yaml(p, lambda d: d.update(classes=["a", "b"])),
        r"The model outputs 3 values per sample, but `classes` lists 2",
        "train",
    ),
    Case(
        "nan_logits",
        _use_model("NaNWine"),
        r"The model returned NaN or infinite logits for \d+ of 90 samples of split 'train'",
        "train",
    ),
    Case(
        "inf_logits",
        _use_model("InfWine"),
        r"The model returned NaN or infinite logits for \d+ of 90 samples of split 'train'",
        "train",
    ),
    Case(
        "factory_raises",
        _use_model("exploding"),
        r"model\.factory variants\.py:exploding raised RuntimeError: CUDA out of memory",
        "train",
    ),
    Case(
        "weights_do_not_fit",
        lambda p: edit_yaml(p, lambda d: d["model"]["kwargs"].update(hidden=8)),
        r"model\.weights weights\.pt does not fit model\.py:WineMLP",
        "train",
    ),
    Case(
        "missing_table",
        lambda p: _table_path(p, "noisy").unlink(),
        r"noisy\.parquet does not exist",
        "noisy",
        ("train", "val", "test"),
    ),
    Case(
        "corrupt_table",
        lambda p: _table_path(p, "test").write_bytes(b"PAR1 this is not parquet"),
        r"Table test\.parquet could not be read",
        "test",
        ("train", "val"),
    ),
    Case(
        "empty_table",
        lambda p: _edit_table(p, "test", lambda f: f.iloc[:0]),
        r"Table test\.parquet has no rows",
        "test",
        ("train", "val"),
    ),
    Case(
        "bad_device",
        lambda p: edit_yaml(p, lambda d: d.update(inference={"device": "gpu"})),
        r"inference\.device is 'gpu'; expected auto, cpu, cuda",
        "train",
    ),
]


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(path.relative_to(folder)): (path.read_bytes(), path.stat().st_mtime_ns)
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != "project.yaml" and "__pycache__" not in path.parts
    }


def _check(project: Path, cache_dir: Path, case: Case, capsys) -> None:
    before = _snapshot(project.parent)
    with pytest.raises(ProjectError, match=case.match) as info:
        Workspace.from_file(project).compute()
    cached = entry_splits(cache_dir)
    if case.failed is not None:
        assert case.failed not in cached
    assert set(cached) <= set(case.cached)
    # the CLI says the same thing on one line, exit code 2, and writes nothing more
    capsys.readouterr()
    assert main(["precompute", str(project)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("gengap: error: ")
    assert re.search(case.match.lstrip("^"), lines[0])
    if case.name != "missing_table":  # the CLI finds it earlier, when it computes cache keys
        assert lines[0] == "gengap: error: " + " ".join(str(info.value).split())
    assert "Traceback" not in captured.err
    assert entry_splits(cache_dir) == cached
    assert list((cache_dir / "v1" / "tmp").glob("*")) == []  # no half-written entries
    assert _snapshot(project.parent) == before  # user data is only ever read


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_tabular_input(tabular_project: Path, cache_dir: Path, case: Case, capsys) -> None:
    case.change(tabular_project)
    _check(tabular_project, cache_dir, case, capsys)


def _corrupt_image(project: Path) -> None:
    (project.parent / "data" / "images" / "img3.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")


def _missing_image(project: Path) -> None:
    (project.parent / "data" / "images" / "img5.png").unlink()


def _failing_transform(project: Path) -> None:
    (project.parent / "transforms.py").write_text(
        "def prepare(image):\n    raise KeyError('mean')\n"
    )
    edit_yaml(project, lambda d: d["inputs"].update(transform="transforms.py:prepare"))


IMAGE_CASES = [
    Case(
        "corrupt_image",
        _corrupt_image,
        r"Table train\.csv: image img3\.png \(row 3\) is corrupt or not an image",
        "train",
    ),
    Case(
        "missing_image",
        _missing_image,
        r"Table train\.csv: image .*img5\.png \(row 5\) does not exist",
        "train",
    ),
    Case(
        "failing_transform",
        _failing_transform,
        r"inputs\.transform raised KeyError on row 0 of train\.csv: 'mean'",
        "train",
    ),
    Case(
        "corrupt_image_with_workers",
        lambda p: (
            _corrupt_image(p),
            edit_yaml(p, lambda d: d.update(inference={"num_workers": 1, "batch_size": 2})),
        ),
        r"^Table train\.csv: image img3\.png \(row 3\) is corrupt or not an image",
        "train",
    ),
    Case(
        "missing_image_column",
        lambda p: edit_yaml(p, lambda d: d["inputs"].update(column="file")),
        r"Table train\.csv: column 'file' is missing",
        "train",
    ),
]


@pytest.mark.parametrize("case", IMAGE_CASES, ids=[case.name for case in IMAGE_CASES])
def test_bad_image_input(image_project: Path, cache_dir: Path, case: Case, capsys) -> None:
    case.change(image_project)
    _check(image_project, cache_dir, case, capsys)


def test_the_image_project_works(image_project: Path, cache_dir: Path, capsys) -> None:
    assert main(["precompute", str(image_project)]) == 0
    assert "Tiny images: 16 predictions cached for train (8), test (8)" in capsys.readouterr().out
    workspace = Workspace.from_file(image_project)
    assert workspace.embeddings("test").shape == (8, 4)
    assert entry_splits(cache_dir) == ["test", "train"]


def test_fixing_the_input_recovers(tabular_project: Path, cache_dir: Path) -> None:
    path = _table_path(tabular_project, "test")
    original = path.read_bytes()
    _edit_table(tabular_project, "test", lambda f: _set(f, 0, "f1", float("inf")))
    with pytest.raises(ProjectError, match="feature column 'f1' has a missing or infinite value"):
        Workspace.from_file(tabular_project).compute()
    path.write_bytes(original)
    workspace = Workspace.from_file(tabular_project)
    workspace.compute()
    assert entry_splits(cache_dir) == sorted(ALL)
