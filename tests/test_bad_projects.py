"""The suite of bad projects: every mistake a user makes, as one row.

A row is a project built from the tabular or image fixture with a mutation, the exit code of
``gengap summary PROJECT --cache-dir ...`` (run in-process), words its one-line message must
contain, and whether the cache is warmed first (a user who edits a project after a successful
run). Whatever the row, nothing new may appear in the cache: its file list is the same before
and after the failing command. Future views add rows here.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from conftest import edit_yaml

from gengap_dash.cli.main import main

Mutation = Callable[[Path], None]


def _nothing(project: Path) -> None:
    return None


@dataclass(frozen=True)
class Row:
    name: str
    change: Mutation
    exit_code: int
    words: tuple[str, ...]
    fixture: str = "tabular_project"
    warm: bool = False  # run the project once (after ``setup``) before ``change``
    setup: Mutation = _nothing


# -- mutations -----------------------------------------------------------------------------------


def _table(project: Path, split: str) -> Path:
    return project.parent / "data" / f"{split}.{'csv' if split == 'val' else 'parquet'}"


def _edit_table(split: str, change: Callable[[pd.DataFrame], pd.DataFrame]) -> Mutation:
    def mutate(project: Path) -> None:
        path = _table(project, split)
        frame = pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)
        frame = change(frame)
        frame.to_csv(path, index=False) if path.suffix == ".csv" else frame.to_parquet(path)

    return mutate


def _set_text(row: int, column: str, value: str) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        frame[column] = frame[column].astype(object)
        frame.loc[row, column] = value
        return frame

    return change


def _classes(names: list[str]) -> Mutation:
    return lambda project: edit_yaml(project, lambda d: d.update(classes=names))


def _default_features(project: Path) -> None:
    edit_yaml(project, lambda d: d["inputs"].pop("features"))


def _train_as_csv(project: Path) -> None:
    """The training split as CSV (a `?` in a CSV column makes the column text, as users see)."""
    frame = pd.read_parquet(_table(project, "train"))
    frame.to_csv(project.parent / "data" / "train.csv", index=False)
    edit_yaml(project, lambda d: d["splits"]["train"].update(path="data/train.csv"))


def _question_mark_in_train(project: Path) -> None:
    path = project.parent / "data" / "train.csv"
    _set_text(4, "f5", "?")(pd.read_csv(path)).to_csv(path, index=False)


def _then(*mutations: Mutation) -> Mutation:
    def mutate(project: Path) -> None:
        for mutation in mutations:
            mutation(project)

    return mutate


def _duplicate_id(split: str, rows: tuple[int, int]) -> Mutation:
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        frame.loc[rows[1], "row_id"] = frame.loc[rows[0], "row_id"]
        return frame

    return _edit_table(split, change)


def _png_declaring(width: int, height: int) -> bytes:
    """A small PNG whose header declares ``width x height`` grayscale pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (width + 1) * 2)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )


def _bomb(width: int, height: int) -> Mutation:
    def mutate(project: Path) -> None:
        (project.parent / "data" / "images" / "img3.png").write_bytes(_png_declaring(width, height))

    return mutate


def _symlink_loop(relative: str) -> Mutation:
    def mutate(project: Path) -> None:
        path = project.parent / relative
        path.unlink()
        os.symlink(path.name, path)  # a link to itself

    return mutate


def _brought_with_duplicate_ids(project: Path) -> None:
    folder = project.parent
    frame = pd.DataFrame(
        {
            "split": ["train"] * 3 + ["test"] * 3,
            "sample_id": ["a", "b", "a", "a", "b", "c"],
            "label": [0, 1, 0, 1, 0, 1],
            "probs": [[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7], [0.5, 0.5], [0.1, 0.9]],
        }
    )
    frame.to_parquet(folder / "preds.parquet", index=False)
    project.write_text(
        "name: brought\npredictions: preds.parquet\nlabel: label\n"
        "splits:\n  train: {role: train}\n  test: {role: test}\n"
    )


# -- the rows ------------------------------------------------------------------------------------

ROWS = [
    Row(
        "one_class_more_warm",
        _classes(["class_0", "class_1", "class_2", "class_3"]),
        2,
        ("The model outputs 3 values per sample, but `classes` lists 4",),
        warm=True,
    ),
    Row(
        "one_class_more_cold",
        _classes(["class_0", "class_1", "class_2", "class_3"]),
        2,
        ("The model outputs 3 values per sample, but `classes` lists 4",),
    ),
    Row(
        "one_class_fewer_warm",
        _classes(["class_0", "class_1"]),
        2,
        ("The model outputs 3 values per sample, but `classes` lists 2",),
        warm=True,
    ),
    Row(
        "duplicate_id_warm",
        _duplicate_id("test", (3, 17)),
        2,
        ("test.parquet", "split 'test'", "sample id 'test-3' appears in rows 3, 17"),
        warm=True,
    ),
    Row(
        "duplicate_id_cold",
        _duplicate_id("train", (0, 1)),
        2,
        ("split 'train'", "sample id 'train-0' appears in rows 0, 1", "unique"),
    ),
    Row(
        "question_mark_in_another_split",
        _edit_table("val", _set_text(2, "f5", "?")),
        2,
        ("val.csv", "feature column 'f5'", "'?'", "row 2", "split 'val'"),
        warm=True,
        setup=_default_features,
    ),
    Row(
        "question_mark_in_the_training_split",
        _then(_train_as_csv, _question_mark_in_train),
        2,
        ("train.csv", "feature column 'f5'", "'?'", "row 4", "split 'train'"),
        setup=_default_features,
    ),
    Row(
        "extra_numeric_column_in_one_split",
        _edit_table("noisy", lambda f: f.assign(humidity=1.0)),
        2,
        ("noisy.parquet", "split 'noisy'", "'humidity'", "split 'train' does not have"),
        warm=True,
        setup=_default_features,
    ),
    Row(
        "feature_column_missing_in_one_split",
        _edit_table("test", lambda f: f.drop(columns=["f3"])),
        2,
        ("test.parquet", "split 'test'", "lacks feature column 'f3'"),
        warm=True,
        setup=_default_features,
    ),
    Row(
        "label_column_renamed",
        _edit_table("test", lambda f: f.rename(columns={"target": "Target"})),
        2,
        ("label column 'target' is missing", "did you mean 'Target'?"),
        warm=True,
    ),
    Row(
        "decompression_bomb_image",
        _bomb(20000, 20000),
        2,
        ("train.csv", "img3.png", "row 3", "pixels"),
        fixture="image_project",
    ),
    Row(
        "image_above_the_pixel_limit",
        _bomb(9000, 9000),
        2,
        ("img3.png", "row 3", "9000 x 9000 pixels"),
        fixture="image_project",
    ),
    Row(
        "symlink_loop_table",
        _symlink_loop("data/test.parquet"),
        2,
        ("loop",),
    ),
    Row(
        "symlink_loop_weights",
        _symlink_loop("weights.pt"),
        2,
        ("loop",),
    ),
    Row(
        "brought_duplicate_ids",
        _brought_with_duplicate_ids,
        2,
        ("preds.parquet", "split 'train'", "sample id 'a' appears in rows 0, 2"),
    ),
]


def _files(folder: Path) -> list[str]:
    """The cache's files, but its lock files (no data; at most 256, reused)."""
    if not folder.exists():
        return []
    files = [p.relative_to(folder) for p in folder.rglob("*") if p.is_file()]
    return sorted(str(p) for p in files if p.parts[1:2] != ("locks",))


@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
def test_bad_project(row: Row, request: pytest.FixtureRequest, tmp_path: Path, capsys) -> None:
    project: Path = request.getfixturevalue(row.fixture)
    cache = tmp_path / "bad-project-cache"
    row.setup(project)
    if row.warm:
        assert main(["precompute", str(project), "--cache-dir", str(cache)]) == 0
    before = _files(cache)
    row.change(project)
    capsys.readouterr()
    code = main(["summary", str(project), "--cache-dir", str(cache)])
    captured = capsys.readouterr()
    assert code == row.exit_code, captured.err
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("gengap: error: ")
    assert "Traceback" not in captured.err
    for words in row.words:
        assert words in lines[0], lines[0]
    assert captured.out == ""
    assert _files(cache) == before  # nothing new in the cache
