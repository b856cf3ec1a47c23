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


# -- messages that help: closest columns first, all of them (bounded) ----------------------------


def test_missing_column_lists_the_closest_match_first() -> None:
    from gengap_dash.data.tables import missing_column_message

    columns = [f"c{k}" for k in range(30)] + ["Target", "targets"]
    message = missing_column_message("t.csv", "target", columns, role="label")
    assert message.startswith(
        "Table t.csv: label column 'target' is missing (did you mean 'Target' or 'targets'?); "
        "it has Target, targets, c0, c1,"
    )
    assert "c29" in message  # not only the first 20


def test_missing_column_lists_at_most_fifty_with_a_count() -> None:
    from gengap_dash.data.tables import MAX_LISTED_COLUMNS, missing_column_message

    columns = [f"feature_{k}" for k in range(120)]
    message = missing_column_message("t.csv", "label", columns)
    assert MAX_LISTED_COLUMNS == 50
    assert "feature_49," not in message and "feature_49 and 70 more (120 columns)." in message
    assert "did you mean" not in message


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_read_table_says_did_you_mean(tmp_path: Path, frame: pd.DataFrame, suffix: str) -> None:
    path = tmp_path / f"t{suffix}"
    frame.to_csv(path, index=False) if suffix == ".csv" else frame.to_parquet(path)
    with pytest.raises(ProjectError, match=r"column 'lable' is missing \(did you mean 'label'\?\)"):
        read_table(path, columns=["lable"])


def test_a_symlink_loop_is_bad_input(tmp_path: Path) -> None:
    import os

    path = tmp_path / "t.csv"
    os.symlink(path.name, path)
    with pytest.raises(ProjectError, match=r"t\.csv is a symbolic link that loops"):
        read_table(path)
    with pytest.raises(ProjectError, match=r"t\.csv is a symbolic link that loops"):
        table_columns(path)


# -- sample ids ----------------------------------------------------------------------------------


def test_duplicate_ids_name_the_id_and_rows() -> None:
    from gengap_dash.data.tables import check_unique_ids

    check_unique_ids(pd.Series(["a", "b", "c"]), where="T")
    with pytest.raises(
        ProjectError,
        match=r"^T: sample id 'b' appears in rows 1, 3 \(2 ids are duplicated in all\); sample "
        r"ids must be unique within a split\.$",
    ):
        check_unique_ids(pd.Series(["a", "b", "c", "b", "c"]), where="T")
    with pytest.raises(ProjectError, match=r"^T: sample id 7 appears in rows 0, 2;"):
        check_unique_ids(pd.Series([7, 8, 7]), where="T")
    with pytest.raises(ProjectError, match=r"^T: sample id is missing in row 1\.$"):
        check_unique_ids(pd.Series(["a", None, "c"]), where="T")


# -- the default feature list --------------------------------------------------------------------


def _tabular_spec(tmp_path: Path, **extra):
    from gengap_dash.project.spec import parse_project

    raw = {
        "name": "t",
        "model": {"factory": "m.py:f"},
        "inputs": {"kind": "tabular"},
        "label": "label",
        "splits": {
            "val": {"path": "val.csv", "role": "validation"},
            "train": {"path": "train.csv", "role": "train"},
        },
        **extra,
    }
    return parse_project(raw, path=tmp_path / "project.yaml")


def test_default_features_come_from_the_training_split_with_what_was_left_out(
    tmp_path: Path,
) -> None:
    from gengap_dash.data.tables import resolve_default_features

    pd.DataFrame(
        {
            "x": [1.0, 2.0],
            "comment": ["good", "bad"],
            "n": [1, 2],
            "site": ["a", "b"],
            "label": [0, 1],
        }
    ).to_csv(tmp_path / "train.csv", index=False)
    pd.DataFrame({"other": [1.0], "label": [0]}).to_csv(tmp_path / "val.csv", index=False)
    selection = resolve_default_features(_tabular_spec(tmp_path, metadata=["site"]))
    assert selection.columns == ("x", "n")
    assert selection.source == "train"
    assert selection.left_out == {"comment": "text, e.g. 'good'"}
    assert selection.note() == (
        "Default features: 2 numeric columns of split 'train'; left out 'comment' (text, e.g. "
        "'good'). List inputs.features to choose them yourself."
    )


def test_a_question_mark_in_a_numeric_column_is_not_a_text_column(tmp_path: Path) -> None:
    from gengap_dash.data.tables import resolve_default_features

    pd.DataFrame({"x": ["1.5", "2", "?", "4"], "label": [0, 1, 0, 1]}).to_csv(
        tmp_path / "train.csv", index=False
    )
    with pytest.raises(
        ProjectError,
        match=r"^Table train\.csv: feature column 'x' is not numeric \(e\.g\. '\?'\) in row 2 of "
        r"split 'train'; encode it as numbers",
    ):
        resolve_default_features(_tabular_spec(tmp_path))


def test_every_split_needs_the_training_splits_columns(tmp_path: Path) -> None:
    from gengap_dash.data.tables import FeatureSelection, check_split_columns

    spec = _tabular_spec(tmp_path)
    selection = FeatureSelection(("a", "b"), {"note": "text, e.g. 'x'"}, "train")
    check_split_columns(selection, spec, ["a", "b", "note", "label"], where="v.csv", split="v")
    check_split_columns(selection, spec, ["a", "b", "label"], where="v.csv", split="v")
    with pytest.raises(
        ProjectError,
        match=r"^Table v\.csv \(split 'v'\) lacks feature column 'b' and has column 'c' that "
        r"split 'train' does not have; the default features come from split 'train'",
    ):
        check_split_columns(selection, spec, ["a", "c", "label"], where="v.csv", split="v")
