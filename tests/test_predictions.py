"""The hub table built from logits or brought probabilities, and the export format."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from gengap_dash.data.predictions import (
    HUB_COLUMNS,
    SplitOutputs,
    build_hub_frame,
    log_softmax,
    probability_columns,
    read_brought_predictions,
    to_export_frame,
)
from gengap_dash.project.errors import ProjectError


def _logits(n: int = 50, c: int = 4, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 3, (n, c)).astype(np.float32)


def _labels(n: int = 50, c: int = 4, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, c, n)


def test_log_softmax_matches_torch_and_is_stable() -> None:
    logits = _logits()
    expected = torch.log_softmax(torch.from_numpy(logits).double(), dim=1).numpy()
    np.testing.assert_allclose(log_softmax(logits), expected, rtol=1e-12, atol=1e-12)
    huge = np.array([[1000.0, 0.0, -1000.0]])
    assert np.isfinite(log_softmax(huge)).all()
    np.testing.assert_allclose(np.exp(log_softmax(huge)).sum(), 1.0)


def test_outputs_from_logits_match_torch() -> None:
    logits, labels = _logits(), _labels()
    outputs = SplitOutputs.from_logits(logits, labels)
    expected_loss = torch.nn.functional.cross_entropy(
        torch.from_numpy(logits).double(), torch.from_numpy(labels), reduction="none"
    ).numpy()
    np.testing.assert_allclose(outputs.loss, expected_loss, rtol=1e-10)
    np.testing.assert_allclose(outputs.probs.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(outputs.pred, logits.argmax(axis=1))
    np.testing.assert_allclose(outputs.confidence, outputs.probs.max(axis=1))
    np.testing.assert_allclose(
        outputs.probs, torch.softmax(torch.from_numpy(logits).double(), 1).numpy(), rtol=1e-10
    )


def test_outputs_from_probs() -> None:
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.0, 1.0, 0.0]])
    labels = np.array([0, 1, 0])
    outputs = SplitOutputs.from_probs(probs, labels)
    np.testing.assert_array_equal(outputs.pred, [0, 2, 1])
    np.testing.assert_allclose(outputs.confidence, [0.7, 0.8, 1.0])
    np.testing.assert_allclose(outputs.loss, [-np.log(0.7), -np.log(0.1), -np.log(1e-15)])


def test_outputs_are_invariant_to_permuting_samples() -> None:
    logits, labels = _logits(), _labels()
    order = np.random.default_rng(5).permutation(len(labels))
    full = SplitOutputs.from_logits(logits, labels)
    permuted = SplitOutputs.from_logits(logits[order], labels[order])
    np.testing.assert_allclose(permuted.loss, full.loss[order])
    np.testing.assert_array_equal(permuted.pred, full.pred[order])


def _hub(split: str = "test", n: int = 6, c: int = 3) -> pd.DataFrame:
    logits, labels = _logits(n, c), _labels(n, c)
    extra = pd.DataFrame({"site": [f"s{i % 2}" for i in range(n)], "year": np.arange(n)})
    return build_hub_frame(
        split,
        SplitOutputs.from_logits(logits, labels),
        labels=labels,
        sample_ids=[f"id{i}" for i in range(n)],
        extra=extra,
    )


def test_hub_frame_columns_and_dtypes() -> None:
    hub = _hub()
    assert list(hub.columns) == [*HUB_COLUMNS, "prob_0", "prob_1", "prob_2", "site", "year"]
    assert hub["sample_id"].dtype == "string"
    assert hub["label"].dtype == np.int64
    assert hub["pred"].dtype == np.int64
    assert hub["confidence"].dtype == np.float64
    assert hub["loss"].dtype == np.float64
    assert hub["correct"].dtype == bool
    assert all(hub[c].dtype == np.float32 for c in probability_columns(3))
    assert hub["year"].dtype == np.int64
    assert (hub["split"] == "test").all()
    np.testing.assert_array_equal(hub["correct"], hub["pred"] == hub["label"])
    assert probability_columns(3) == ["prob_0", "prob_1", "prob_2"]


def test_export_frame_has_a_probs_list_column() -> None:
    hub = _hub()
    export = to_export_frame(hub, 3)
    assert list(export.columns) == [
        "split",
        "sample_id",
        "label",
        "pred",
        "confidence",
        "loss",
        "probs",
        "site",
        "year",
    ]
    np.testing.assert_allclose(np.stack(export["probs"]), hub[probability_columns(3)].to_numpy())
    assert "prob_0" in hub  # the hub frame is left alone


def _write_export(tmp_path: Path, frame: pd.DataFrame) -> Path:
    path = tmp_path / "predictions.parquet"
    frame.to_parquet(path, index=False)
    return path


def test_brought_predictions_round_trip(tmp_path: Path) -> None:
    hub = pd.concat([_hub("train"), _hub("test")], ignore_index=True)
    path = _write_export(tmp_path, to_export_frame(hub, 3))
    parts = read_brought_predictions(path, split_names=["train", "test"], n_classes=3)
    assert list(parts) == ["train", "test"]
    for name, part in parts.items():
        rows = hub[hub["split"] == name]
        np.testing.assert_allclose(part.attrs["probs"], rows[probability_columns(3)].to_numpy())
        assert part["sample_id"].tolist() == rows["sample_id"].tolist()
        assert "probs" not in part
        assert part["site"].tolist() == rows["site"].tolist()


def _export(probs: list[list[float]], splits: list[str] | None = None) -> pd.DataFrame:
    n = len(probs)
    return pd.DataFrame(
        {
            "split": splits or ["train"] * n,
            "sample_id": [str(i) for i in range(n)],
            "label": [0] * n,
            "probs": probs,
        }
    )


def test_brought_wrong_probability_length(tmp_path: Path) -> None:
    path = _write_export(tmp_path, _export([[0.5, 0.5], [0.2, 0.8]]))
    with pytest.raises(
        ProjectError,
        match=r"Predictions file predictions\.parquet: 'probs' has 2 values per row, but the "
        r"project lists 3 classes",
    ):
        read_brought_predictions(path, split_names=["train"], n_classes=3)


def test_brought_ragged_probabilities(tmp_path: Path) -> None:
    path = _write_export(tmp_path, _export([[0.5, 0.5], [0.2, 0.3, 0.5]]))
    with pytest.raises(ProjectError, match=r"column 'probs' must hold one list .* same length"):
        read_brought_predictions(path, split_names=["train"], n_classes=None)


@pytest.mark.parametrize(
    "bad_row", [[0.5, 0.6], [0.5, float("nan")], [1.2, -0.2], [0.0, 0.0]], ids=str
)
def test_brought_probabilities_that_are_not_a_distribution(tmp_path: Path, bad_row) -> None:
    path = _write_export(tmp_path, _export([[0.5, 0.5], [0.1, 0.9], bad_row]))
    with pytest.raises(
        ProjectError,
        match=r"row 2 has probabilities that are not finite, negative, or do not sum to 1 "
        r"\(1 rows in all\)",
    ):
        read_brought_predictions(path, split_names=["train"], n_classes=2)


def test_brought_unknown_split(tmp_path: Path) -> None:
    path = _write_export(tmp_path, _export([[0.5, 0.5]] * 2, splits=["train", "prod"]))
    with pytest.raises(
        ProjectError,
        match=r"split 'prod' is not declared under `splits` in the project file "
        r"\(declared: train, test\)",
    ):
        read_brought_predictions(path, split_names=["train", "test"], n_classes=2)


def test_brought_missing_column(tmp_path: Path) -> None:
    path = _write_export(tmp_path, _export([[0.5, 0.5]]).drop(columns=["probs"]))
    with pytest.raises(
        ProjectError,
        match=r"column 'probs' is missing; the export format needs split, sample_id, label, probs",
    ):
        read_brought_predictions(path, split_names=["train"], n_classes=2)


def test_brought_file_missing(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match=r"Table .*nothing\.parquet does not exist"):
        read_brought_predictions(tmp_path / "nothing.parquet", split_names=["a"], n_classes=2)


def test_metadata_columns_keep_their_dtype() -> None:
    extra = pd.DataFrame(
        {
            "site": pd.Categorical(["a", "b", "a"]),
            "visits": pd.array([1, None, 3], dtype="Int64"),
            "when": pd.date_range("2024-01-01", periods=3, tz="UTC"),
            "flag": [True, False, True],
        },
        index=[10, 11, 12],  # row-aligned by position, whatever the index
    )
    labels = np.array([0, 1, 0])
    hub = build_hub_frame(
        "test",
        SplitOutputs.from_logits(np.zeros((3, 2)), labels),
        labels=labels,
        sample_ids=["a", "b", "c"],
        extra=extra,
    )
    for column in extra:
        assert hub[column].dtype == extra[column].dtype
        assert hub[column].tolist() == extra[column].tolist()


# -- probabilities as prob_<class> columns, and at scale -----------------------------------------


def _probabilities(n: int, c: int, seed: int = 0, dtype=np.float32) -> np.ndarray:
    logits = np.random.default_rng(seed).normal(size=(n, c))
    return (np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)).astype(dtype)


def _frame(n: int, splits: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "split": [splits[i % len(splits)] for i in range(n)],  # interleaved
            "sample_id": [f"s{i}" for i in range(n)],
            "label": np.arange(n) % 3,
            "site": [f"site{i % 2}" for i in range(n)],
        }
    )


@pytest.mark.parametrize("form", ["list", "names", "indices", "csv_names", "csv_list"])
def test_both_forms_of_probabilities_give_the_same_result(tmp_path: Path, form: str) -> None:
    n, classes, splits = 30, ["cat", "dog", "eel"], ["train", "test"]
    probs = _probabilities(n, 3)
    frame = _frame(n, splits)
    if form in ("list", "csv_list"):
        table = frame.assign(probs=list(probs))
    else:
        names = classes if form in ("names", "csv_names") else ["0", "1", "2"]
        table = frame.assign(**{f"prob_{name}": probs[:, k] for k, name in enumerate(names)})
    if form.startswith("csv"):
        path = tmp_path / "p.csv"
        if form == "csv_list":
            table = table.assign(probs=[str(row.tolist()) for row in probs])
        table.to_csv(path, index=False)
    else:
        path = tmp_path / "p.parquet"
        table.to_parquet(path, index=False)
    parts = read_brought_predictions(path, split_names=splits, n_classes=3, classes=classes)
    for index, name in enumerate(splits):
        rows = np.arange(index, n, len(splits))
        np.testing.assert_allclose(parts[name].attrs["probs"], probs[rows], rtol=1e-6)
        assert parts[name]["sample_id"].tolist() == frame["sample_id"].iloc[rows].tolist()
        assert parts[name]["site"].tolist() == frame["site"].iloc[rows].tolist()
        assert not any(c.startswith("prob") for c in parts[name].columns)
        assert list(parts[name].index) == list(range(len(rows)))
    if not form.startswith("csv"):  # float32 probabilities stay float32
        assert parts["train"].attrs["probs"].dtype == np.float32


def test_float64_probabilities_stay_float64(tmp_path: Path) -> None:
    probs = _probabilities(10, 2, dtype=np.float64)
    path = tmp_path / "p.parquet"
    _frame(10, ["train"]).assign(probs=list(probs)).to_parquet(path, index=False)
    part = read_brought_predictions(path, split_names=["train"], n_classes=2)["train"]
    assert part.attrs["probs"].dtype == np.float64
    np.testing.assert_array_equal(part.attrs["probs"], probs)


def test_prob_columns_with_a_bad_row(tmp_path: Path) -> None:
    probs = _probabilities(6, 3)
    probs[4] = [0.5, 0.5, 0.5]
    path = tmp_path / "p.parquet"
    frame = _frame(6, ["train"]).assign(**{f"prob_{k}": probs[:, k] for k in range(3)})
    frame.to_parquet(path, index=False)
    with pytest.raises(ProjectError, match=r"row 4 has probabilities that are not finite"):
        read_brought_predictions(path, split_names=["train"], n_classes=3)


def test_both_probability_forms_at_once_is_ambiguous(tmp_path: Path) -> None:
    probs = _probabilities(4, 2)
    path = tmp_path / "p.parquet"
    frame = _frame(4, ["train"]).assign(probs=list(probs), prob_0=probs[:, 0], prob_1=probs[:, 1])
    frame.to_parquet(path, index=False)
    with pytest.raises(ProjectError, match=r"has both a 'probs' column and 'prob_0'"):
        read_brought_predictions(path, split_names=["train"], n_classes=2)


def test_a_null_probability_list_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.parquet"
    frame = _frame(3, ["train"]).assign(probs=[[0.5, 0.5], None, [0.2, 0.8]])
    frame.to_parquet(path, index=False)
    with pytest.raises(ProjectError, match=r"column 'probs' must hold one list .* same length"):
        read_brought_predictions(path, split_names=["train"], n_classes=2)


def test_the_list_column_matches_the_per_row_reading(tmp_path: Path) -> None:
    """Several row groups (chunks) and a sliced list array read as the plain per-row stack."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    probs = _probabilities(1000, 4, seed=3)
    table = pa.Table.from_pandas(_frame(1000, ["a", "b", "c"]).assign(probs=list(probs)))
    path = tmp_path / "p.parquet"
    pq.write_table(table, path, row_group_size=128)
    parts = read_brought_predictions(path, split_names=["a", "b", "c"], n_classes=4)
    reference = pd.read_parquet(path)
    for name, part in parts.items():
        expected = np.stack(reference.loc[reference["split"] == name, "probs"].to_list())
        np.testing.assert_array_equal(part.attrs["probs"], expected)


# -- brought embeddings (issue 10): an `embedding` list column or embedding_<i> columns ------------


def _embeddings(n: int, d: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float64)


def _with_embeddings(frame: pd.DataFrame, embeddings: np.ndarray, form: str) -> pd.DataFrame:
    if form == "list":
        return frame.assign(embedding=list(embeddings))
    if form == "csv_list":
        return frame.assign(embedding=[json.dumps(row.tolist()) for row in embeddings])
    return frame.assign(**{f"embedding_{i}": embeddings[:, i] for i in range(embeddings.shape[1])})


def _write(tmp_path: Path, frame: pd.DataFrame, *, csv: bool = False) -> Path:
    path = tmp_path / ("p.csv" if csv else "p.parquet")
    if csv:
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path


@pytest.mark.parametrize("form", ["list", "columns", "csv_list", "csv_columns"])
def test_brought_embeddings_in_either_form(tmp_path: Path, form: str) -> None:
    n, splits = 12, ["train", "test", "field"]
    embeddings = _embeddings(n, 5)
    frame = _frame(n, splits).assign(probs=list(_probabilities(n, 3)))
    if form.startswith("csv"):
        frame = frame.assign(probs=[str(row.tolist()) for row in frame["probs"]])
    frame = _with_embeddings(frame, embeddings, form.removeprefix("csv_"))
    if form == "csv_list":
        frame = _with_embeddings(frame, embeddings, "csv_list")
    path = _write(tmp_path, frame, csv=form.startswith("csv"))
    parts = read_brought_predictions(path, split_names=splits, n_classes=3)
    for index, name in enumerate(splits):
        rows = np.arange(index, n, len(splits))  # interleaved in the file
        got = parts[name].attrs["embeddings"]
        assert got.dtype == np.float32 and got.shape == (len(rows), 5)
        np.testing.assert_allclose(got, embeddings[rows].astype(np.float32))
        assert not any(str(c).startswith("embedding") for c in parts[name].columns)


def test_no_embeddings_brought(tmp_path: Path) -> None:
    path = _write(tmp_path, _frame(4, ["train"]).assign(probs=list(_probabilities(4, 3))))
    part = read_brought_predictions(path, split_names=["train"], n_classes=3)["train"]
    assert "embeddings" not in part.attrs


def test_ragged_embeddings_name_the_row_split_and_column(tmp_path: Path) -> None:
    frame = _frame(6, ["train", "field"]).assign(probs=list(_probabilities(6, 3)))
    rows = [list(row) for row in _embeddings(6, 4)]
    rows[3] = rows[3][:3]  # a field row of width 3: widths differ across splits
    path = _write(tmp_path, frame.assign(embedding=rows))
    with pytest.raises(
        ProjectError,
        match=r"^Predictions file p\.parquet: column 'embedding' must hold one list of numbers "
        r"per row, all of the same length; row 3 \(split 'field'\) does not: it holds 3 values "
        r"where row 0 holds 4\.$",
    ):
        read_brought_predictions(path, split_names=["train", "field"], n_classes=3)
    csv = _write(tmp_path, frame.assign(
        probs=[str(r.tolist()) for r in frame["probs"]], embedding=[json.dumps(r) for r in rows]
    ), csv=True)  # fmt: skip
    with pytest.raises(
        ProjectError, match=r"^Predictions file p\.csv: column 'embedding' .* row 3 "
    ):
        read_brought_predictions(csv, split_names=["train", "field"], n_classes=3)


def test_embeddings_that_are_not_numbers(tmp_path: Path) -> None:
    frame = _frame(4, ["train", "field"]).assign(probs=list(_probabilities(4, 3)))
    path = _write(tmp_path, frame.assign(embedding=[["a", "b"]] * 4))
    with pytest.raises(
        ProjectError, match=r"column 'embedding' must hold lists of numbers, but its values are"
    ):
        read_brought_predictions(path, split_names=["train", "field"], n_classes=3)
    columns = frame.assign(embedding_0=[0.1, 0.2, 0.3, 0.4], embedding_1=["1", "2", "x", "4"])
    path = _write(tmp_path, columns)
    with pytest.raises(
        ProjectError,
        match=r"^Predictions file p\.parquet: the embedding columns embedding_0, embedding_1 "
        r"must hold numbers \(column 'embedding_1' holds text\)\.$",
    ):
        read_brought_predictions(path, split_names=["train", "field"], n_classes=3)
    path = _write(
        tmp_path, columns.assign(probs=[str(r.tolist()) for r in columns["probs"]]), csv=True
    )
    with pytest.raises(
        ProjectError,
        match=r"^Predictions file p\.csv: the embedding columns embedding_0, embedding_1 must "
        r"hold numbers \(column 'embedding_1' holds 'x' in row 2, split 'train'\)\.$",
    ):
        read_brought_predictions(path, split_names=["train", "field"], n_classes=3)


def test_a_gap_in_the_embedding_columns(tmp_path: Path) -> None:
    frame = _frame(4, ["train"]).assign(probs=list(_probabilities(4, 3)))
    frame = frame.assign(**{f"embedding_{i}": np.ones(4) for i in (0, 1, 2, 4)})
    path = _write(tmp_path, frame)
    with pytest.raises(
        ProjectError,
        match=r"^Predictions file p\.parquet: column 'embedding_3' is missing: the embedding "
        r"columns run from embedding_0 to embedding_4, and every index in between must be there\.$",
    ):
        read_brought_predictions(path, split_names=["train"], n_classes=3)


def test_both_embedding_forms_or_a_nan_are_refused(tmp_path: Path) -> None:
    frame = _frame(4, ["train", "field"]).assign(probs=list(_probabilities(4, 3)))
    both = frame.assign(embedding=list(_embeddings(4, 2)), embedding_0=np.ones(4))
    with pytest.raises(ProjectError, match=r"has both an 'embedding' column and 'embedding_0'"):
        read_brought_predictions(
            _write(tmp_path, both), split_names=["train", "field"], n_classes=3
        )
    values = _embeddings(4, 2)
    values[3, 1] = np.nan
    path = _write(tmp_path, _with_embeddings(frame, values, "columns"))
    with pytest.raises(
        ProjectError,
        match=r"^Predictions file p\.parquet: the embedding of row 3 \(split 'field'\) holds a "
        r"missing, NaN or infinite value \(1 rows in all\); embeddings must be finite numbers\.$",
    ):
        read_brought_predictions(path, split_names=["train", "field"], n_classes=3)
    nulls = frame.assign(embedding=[[1.0, 2.0], [1.0, None], [0.0, 0.0], [1.0, 1.0]])
    with pytest.raises(ProjectError, match=r"the embedding of row 1 \(split 'field'\) holds a"):
        read_brought_predictions(
            _write(tmp_path, nulls), split_names=["train", "field"], n_classes=3
        )
