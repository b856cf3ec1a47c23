"""A split whose table is a folder of Parquet files (as Spark, Ray Data or DuckDB write them):
read as the rows of its files in path order, keyed by every file's content, cut into shards
across file and row-group boundaries by the Ray engine's reader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import as_parquet_folder

from gengap_dash.cli.main import main
from gengap_dash.data.tables import read_table, table_columns, table_files
from gengap_dash.engine.distributed import count_rows, read_rows
from gengap_dash.project.errors import ProjectError
from gengap_dash.workspace import Workspace


def test_a_folder_table_reads_as_its_files_rows_in_order(tabular_project: Path) -> None:
    whole = pd.read_parquet(tabular_project.parent / "data" / "train.parquet")
    folder = as_parquet_folder(tabular_project)
    assert [p.relative_to(folder).as_posix() for p in table_files(folder)] == [
        "part-0.parquet",
        "part-1.parquet",
        "part=2/part-0.parquet",
    ]
    pd.testing.assert_frame_equal(read_table(folder), whole)
    pd.testing.assert_frame_equal(
        read_table(folder, columns=["f3", "row_id"]), whole[["f3", "row_id"]]
    )
    assert table_columns(folder) == list(whole.columns)
    assert count_rows(folder) == len(whole) == 90
    columns = ["row_id", "f0"]
    for start, stop in [(0, 90), (0, 7), (5, 30), (24, 26), (25, 60), (59, 61), (70, 90), (89, 90)]:
        expected = whole[columns].iloc[start:stop].reset_index(drop=True)
        pd.testing.assert_frame_equal(read_rows(folder, columns, start=start, stop=stop), expected)


def test_a_folder_split_gives_the_single_files_outputs(
    tabular_project: Path, tmp_path: Path
) -> None:
    single = Workspace.from_file(tabular_project, cache_dir=tmp_path / "single")
    single.compute()
    as_parquet_folder(tabular_project)
    folder = Workspace.from_file(tabular_project, cache_dir=tmp_path / "folder")
    folder.compute()
    np.testing.assert_array_equal(folder.logits("train"), single.logits("train"))
    pd.testing.assert_frame_equal(folder.predictions(), single.predictions())


def test_the_key_follows_every_file_of_the_folder(tabular_project: Path, tmp_path: Path) -> None:
    folder = as_parquet_folder(tabular_project)

    def key() -> str:
        return Workspace.from_file(tabular_project, cache_dir=tmp_path / "c").cache_key("train")

    before = key()
    (folder / "_SUCCESS").write_text("written again")  # not part of the table
    assert key() == before
    part = folder / "part=2" / "part-0.parquet"
    frame = pd.read_parquet(part)
    frame.loc[0, "f0"] += 1.0
    frame.to_parquet(part, index=False)
    changed = key()
    assert changed != before
    (folder / "part-1.parquet").rename(folder / "part-9.parquet")  # the rows' order changes
    assert key() not in (before, changed)


def test_a_folder_without_parquet_files_is_named(tabular_project: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "_SUCCESS").write_text("")
    with pytest.raises(ProjectError, match=r"Table folder .*empty holds no \.parquet files"):
        read_table(empty)


def test_files_with_other_columns_are_named(tabular_project: Path, capsys) -> None:
    folder = as_parquet_folder(tabular_project)
    part = folder / "part-1.parquet"
    pd.read_parquet(part).rename(columns={"f4": "f4_renamed"}).to_parquet(part, index=False)
    with pytest.raises(
        ProjectError, match=r"part-1\.parquet has other columns than part-0\.parquet"
    ):
        table_columns(folder)
    assert main(["precompute", str(tabular_project), "--cache-dir", str(folder.parent / "c")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "part-1.parquet" in err
