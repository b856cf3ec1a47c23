"""Reading split tables and turning labels into class indices."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gengap_dash.data.tables import labels_to_indices, read_table, table_columns
from gengap_dash.project.errors import ProjectError


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": ["x", "y", "z"], "label": [0, 1, 2]})


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".pq"])
def test_read_table_round_trip(tmp_path: Path, frame: pd.DataFrame, suffix: str) -> None:
    path = tmp_path / f"t{suffix}"
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    read = read_table(path)
    assert list(read.columns) == ["a", "b", "label"]
    assert read["a"].tolist() == [1.0, 2.0, 3.0]
    assert read["b"].tolist() == ["x", "y", "z"]
    assert table_columns(path) == ["a", "b", "label"]
    only = read_table(path, columns=["label", "a"])
    assert list(only.columns) == ["label", "a"]


def test_read_table_leaves_the_file_alone(tmp_path: Path, frame: pd.DataFrame) -> None:
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    before = path.read_bytes(), path.stat().st_mtime_ns
    read_table(path, columns=["a"])
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_missing_column(tmp_path: Path, frame: pd.DataFrame, suffix: str) -> None:
    path = tmp_path / f"t{suffix}"
    frame.to_csv(path, index=False) if suffix == ".csv" else frame.to_parquet(path)
    with pytest.raises(ProjectError, match=rf"Table t{suffix}: column 'c' is missing; it has a, b"):
        read_table(path, columns=["a", "c"])


def test_missing_table(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match=r"Table .*gone\.csv does not exist"):
        read_table(tmp_path / "gone.csv")
    with pytest.raises(ProjectError, match=r"Table .*gone\.csv does not exist"):
        table_columns(tmp_path / "gone.csv")


def test_corrupt_parquet(tmp_path: Path) -> None:
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"not a parquet file at all")
    with pytest.raises(ProjectError, match=r"Table bad\.parquet could not be read"):
        read_table(path)
    with pytest.raises(ProjectError, match=r"Table bad\.parquet could not be read"):
        table_columns(path)


def test_empty_csv(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(ProjectError, match=r"Table empty\.csv could not be read"):
        read_table(path)


def _labels(values, classes=None, n_classes=3):
    return labels_to_indices(
        pd.Series(values), classes=classes, n_classes=n_classes, where="Table t.csv"
    )


def test_integer_labels() -> None:
    np.testing.assert_array_equal(_labels([0, 2, 1]), [0, 2, 1])
    assert _labels([0, 2, 1]).dtype == np.int64


def test_whole_float_labels() -> None:
    np.testing.assert_array_equal(_labels([0.0, 2.0]), [0, 2])


def test_text_labels_map_through_classes() -> None:
    got = _labels(["cat", "dog", "bird", "cat"], classes=("bird", "cat", "dog"))
    np.testing.assert_array_equal(got, [1, 2, 0, 1])


def test_text_labels_with_string_dtype() -> None:
    series = pd.Series(["b", "a"], dtype="string")
    got = labels_to_indices(series, classes=("a", "b"), n_classes=2, where="t")
    np.testing.assert_array_equal(got, [1, 0])


def test_label_out_of_range() -> None:
    with pytest.raises(
        ProjectError, match=r"Table t\.csv: label 3 in row 1 is outside the class range 0\.\.2"
    ):
        _labels([0, 3, 1])
    with pytest.raises(ProjectError, match=r"label -1 in row 0 is outside the class range"):
        _labels([-1])


def test_label_not_whole() -> None:
    with pytest.raises(ProjectError, match=r"label 1\.5 in row 1 is not a whole number"):
        _labels([0, 1.5])


def test_label_missing() -> None:
    with pytest.raises(ProjectError, match="label is missing in row 2"):
        _labels([0.0, 1.0, np.nan])


def test_unknown_text_label() -> None:
    with pytest.raises(
        ProjectError, match=r"label 'cow' in row 1 is not one of the classes \['cat', 'dog'\]"
    ):
        _labels(["cat", "cow"], classes=("cat", "dog"), n_classes=2)


def test_text_labels_need_classes() -> None:
    with pytest.raises(ProjectError, match=r"labels are text .* list the class names under"):
        _labels(["cat", "dog"])
