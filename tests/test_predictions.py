"""The hub table built from logits or brought probabilities, and the export format."""

from __future__ import annotations

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
