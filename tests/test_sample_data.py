"""The bundled digits sample: a deterministic build, and committed files that keep the contract."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from pandas.testing import assert_frame_equal

ROOT = Path(__file__).resolve().parents[1]
BUILD_SCRIPT = ROOT / "sample_data" / "build_digits.py"
SAMPLE = ROOT / "sample_data" / "digits"

COLUMNS = ["sample_id", "label", "pixels", "ink", "shift", "severity", "source", "timestamp"]
ROLES = {"train", "validation", "test", "shifted", "deployment"}
PLANTED_COLUMNS = {"train": ["planted_flip"], "test": ["planted_flip", "twin_of"]}


def _import(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


build_digits = _import("gengap_sample_build_digits", BUILD_SCRIPT)


def _default_transform(arr: np.ndarray) -> torch.Tensor:
    """The app's default image transform: one uint8 (H, W) array -> float (1, H, W) in [0, 1]."""
    return torch.from_numpy(arr).float().div(255).unsqueeze(0)


def _images(frame: pd.DataFrame) -> torch.Tensor:
    arrays = [np.array(p, dtype=np.uint8).reshape(8, 8) for p in frame["pixels"]]
    return torch.stack([_default_transform(a) for a in arrays])


def _files(folder: Path, pattern: str) -> list[Path]:
    return sorted(p.relative_to(folder) for p in folder.glob(pattern) if p.is_file())


# --------------------------------------------------------------------------------------------------
# The build is deterministic


@pytest.fixture(scope="module")
def two_small_builds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    first, second = tmp_path_factory.mktemp("first"), tmp_path_factory.mktemp("second")
    build_digits.build(first, small=True, seed=0)
    build_digits.build(second, small=True, seed=0)
    return first, second


def test_small_build_gives_identical_weights(two_small_builds: tuple[Path, Path]) -> None:
    first, second = (torch.load(d / "model.pt", weights_only=True) for d in two_small_builds)
    assert list(first) == list(second)
    for name in first:
        assert torch.equal(first[name], second[name]), name


def test_small_build_gives_identical_tables(two_small_builds: tuple[Path, Path]) -> None:
    first, second = two_small_builds
    names = _files(first, "data/*.parquet")
    assert names == _files(second, "data/*.parquet")
    assert len(names) == 8
    for name in names:
        left, right = pd.read_parquet(first / name), pd.read_parquet(second / name)
        assert_frame_equal(left, right)


def test_small_build_gives_identical_logs_and_project_file(
    two_small_builds: tuple[Path, Path],
) -> None:
    first, second = two_small_builds
    names = _files(first, "logs/**/*.csv")
    assert names == _files(second, "logs/**/*.csv")
    assert len(names) >= 3
    for name in [*names, Path("project.yaml")]:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_small_build_is_a_self_contained_project(two_small_builds: tuple[Path, Path]) -> None:
    folder = two_small_builds[0]
    spec = yaml.safe_load((folder / "project.yaml").read_text())
    assert (folder / "model.py").read_bytes() == (SAMPLE / "model.py").read_bytes()
    assert spec["training_logs"]["checkpoint_epoch"] == build_digits.SMALL.main_epochs
    for split in spec["splits"].values():
        assert (folder / split["path"]).is_file()


def test_another_seed_gives_other_data() -> None:
    assert not build_digits.make_tables(0)["field"].equals(build_digits.make_tables(1)["field"])


# --------------------------------------------------------------------------------------------------
# The committed sample keeps the contract


@pytest.fixture(scope="module")
def project() -> dict:
    return yaml.safe_load((SAMPLE / "project.yaml").read_text())


@pytest.fixture(scope="module")
def tables(project: dict) -> dict[str, pd.DataFrame]:
    return {
        name: pd.read_parquet(SAMPLE / split["path"]) for name, split in project["splits"].items()
    }


def test_project_file_has_the_documented_shape(project: dict) -> None:
    assert project["name"] == "Digits CNN"
    assert project["classes"] == [str(c) for c in range(10)]
    assert project["model"] == {
        "factory": "model.py:SmallCNN",
        "kwargs": {"num_classes": 10},
        "weights": "model.pt",
        "embedding_layer": "head.2",
    }
    assert project["inputs"] == {"kind": "image", "column": "pixels", "image_shape": [8, 8]}
    assert (project["id"], project["label"], project["time"]) == ("sample_id", "label", "timestamp")
    assert project["metadata"] == ["ink", "shift", "severity", "source"]
    roles = {name: split["role"] for name, split in project["splits"].items()}
    assert list(roles)[:3] == ["train", "val", "test"]
    assert (roles["train"], roles["val"], roles["test"], roles["field"]) == (
        "train",
        "validation",
        "test",
        "deployment",
    )
    assert set(roles.values()) <= ROLES
    assert sum(role == "shifted" for role in roles.values()) == 4
    for split in project["splits"].values():
        assert (SAMPLE / split["path"]).is_file()
    for run in project["training_logs"]["runs"]:
        assert (SAMPLE / run).exists()


def test_tables_have_the_documented_columns(tables: dict[str, pd.DataFrame], project: dict) -> None:
    all_ids = pd.concat([frame["sample_id"] for frame in tables.values()])
    assert all_ids.is_unique
    for name, frame in tables.items():
        role = project["splits"][name]["role"]
        pairing = ["source_id"] if role == "shifted" else []  # see tests/test_saliency_view.py
        planted = PLANTED_COLUMNS.get(name, [])  # the planted truth, see below
        assert list(frame.columns) == [COLUMNS[0], *pairing, *COLUMNS[1:], *planted], name
        assert frame["sample_id"].str.startswith(f"{name}-").all()
        assert frame["label"].between(0, 9).all()
        pixels = np.stack(frame["pixels"].to_numpy())
        assert pixels.shape == (len(frame), 64) and pixels.dtype == np.uint8
        assert set(frame["ink"]) <= {"light", "medium", "heavy"}
        assert set(frame["source"]) == {"scanner A", "scanner B", "phone camera"}
        assert pd.api.types.is_datetime64_any_dtype(frame["timestamp"])
        if role in {"train", "validation", "test"}:
            assert (frame["shift"] == "none").all() and (frame["severity"] == 0).all()
            assert (frame["timestamp"].dt.year == 2025).all()
        elif role == "shifted":
            assert frame["shift"].nunique() == 1 and frame["shift"].iloc[0] != "none"
            assert set(frame["severity"]) == {1, 2, 3}
            assert len(frame) == len(tables["test"]) - build_digits.N_TWINS
        else:
            assert (frame["timestamp"].dt.year == 2026).all()
            span = frame["timestamp"].max() - frame["timestamp"].min()
            assert pd.Timedelta(weeks=11) < span <= pd.Timedelta(weeks=12)
            assert frame["severity"].between(0, 3).all()
            assert ((frame["shift"] == "none") == (frame["severity"] == 0)).all()
    assert [len(tables[s]) for s in ("train", "val", "test")] == [800, 400, 597 + 36]
    # ink tertiles are cut on the train split
    assert tables["train"]["ink"].value_counts().between(260, 275).all()


def test_field_drifts_towards_more_shifted_images(tables: dict[str, pd.DataFrame]) -> None:
    field = tables["field"].sort_values("timestamp")
    first, last = np.array_split(field["severity"].to_numpy() > 0, 2)
    assert last.mean() > first.mean() + 0.15


def test_logs_have_the_documented_columns(project: dict) -> None:
    main = pd.read_csv(SAMPLE / "logs" / "main_run.csv")
    assert list(main.columns) == [
        "epoch",
        "train_loss",
        "train_accuracy",
        "val_loss",
        "val_accuracy",
    ]
    assert main["epoch"].tolist() == list(range(1, len(main) + 1))
    assert project["training_logs"]["checkpoint_epoch"] == len(main)
    # the gap opens: train accuracy reaches 100%, validation loss bottoms out and then rises
    assert main["train_accuracy"].iloc[-1] == 1.0
    assert main["val_loss"].idxmin() < len(main) // 2
    assert main["val_loss"].iloc[-1] > 1.2 * main["val_loss"].min()
    size_logs = sorted((SAMPLE / "logs" / "data_size").glob("*.csv"))
    sizes = sorted(int(re.fullmatch(r"train_size_(\d+)\.csv", p.name).group(1)) for p in size_logs)
    assert len(sizes) >= 4 and sizes[-1] <= 800
    for path in size_logs:
        log = pd.read_csv(path)
        assert list(log.columns) == list(main.columns)
        assert log[["train_accuracy", "val_accuracy"]].stack().between(0, 1).all()


def test_committed_weights_load_and_read_the_test_split(tables: dict[str, pd.DataFrame]) -> None:
    small_cnn = build_digits.load_model_class(SAMPLE / "model.py")
    model = small_cnn(num_classes=10)
    model.load_state_dict(torch.load(SAMPLE / "model.pt", weights_only=True))
    model.eval()
    test = tables["test"]
    x = _images(test)
    assert x.shape == (len(test), 1, 8, 8)

    captured = {}
    layer = dict(model.named_modules())["head.2"]
    handle = layer.register_forward_hook(lambda module, args, out: captured.setdefault("out", out))
    last_linear = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
    last_linear.register_forward_pre_hook(lambda module, args: captured.setdefault("in", args[0]))
    with torch.inference_mode():
        logits = model(x)
    handle.remove()

    accuracy = (logits.argmax(1).numpy() == test["label"].to_numpy()).mean()
    assert accuracy > 0.9
    assert captured["out"].shape == (len(test), 128)
    assert torch.equal(captured["out"], captured["in"])


def test_committed_sample_is_commit_sized() -> None:
    assert (SAMPLE / "model.pt").stat().st_size < 1_000_000
    total = sum(p.stat().st_size for p in SAMPLE.rglob("*") if p.is_file())
    assert total < 10_000_000


def test_field_plants_a_weak_slice_and_a_growing_cohort(tables: dict[str, pd.DataFrame]) -> None:
    """The ground truth recorded in sample_data/digits/README.md."""
    field, val = tables["field"], tables["val"]
    worn = (field["source"] == build_digits.WORN_SOURCE) & (field["ink"] == "heavy")
    assert 60 <= worn.sum() <= 120
    assert (field.loc[worn, "shift"] == "none").all()  # the smear is their only defect
    # the smear is a 3x3 grey dilation: more ink than an unworn heavy image of the same digit
    ink = np.stack(field["pixels"].to_numpy()).astype(np.int64).sum(axis=1)
    clean_heavy = (field["ink"] == "heavy") & (field["source"] == "scanner A")
    clean_heavy &= field["shift"] == "none"
    assert np.median(ink[worn.to_numpy()]) > 1.3 * np.median(ink[clean_heavy.to_numpy()])
    phone = "phone camera"
    assert (val["source"] == phone).mean() < 0.10 < 0.25 < (field["source"] == phone).mean()
    by_time = field.sort_values("timestamp")
    first, last = np.array_split((by_time["source"] == phone).to_numpy(), 2)
    assert last.mean() > first.mean() + 0.1


def test_train_and_test_plant_flipped_labels_and_test_plants_twins(
    tables: dict[str, pd.DataFrame], project: dict
) -> None:
    """The label errors and leakage recorded in sample_data/digits/README.md ("Ground truth")."""
    clean = build_digits.make_tables(0)
    assert not {"planted_flip", "twin_of"} & set(project["metadata"])  # never read as metadata
    for split in build_digits.FLIP_SPLITS:
        published = tables[split].iloc[: len(clean[split])]
        flipped = published["planted_flip"].to_numpy()
        assert flipped.sum() == round(0.03 * len(clean[split]))
        changed = published["label"].to_numpy() != clean[split]["label"].to_numpy()
        assert np.array_equal(changed, flipped)  # a flip always names another class
        for column in ("sample_id", "ink", "source", "timestamp"):
            assert published[column].equals(clean[split][column]), column
    test, train = tables["test"], tables["train"].set_index("sample_id")
    twins = test[test["twin_of"] != ""]
    assert len(twins) == build_digits.N_TWINS and (test.index[-36:] == twins.index).all()
    assert twins["sample_id"].tolist() == [f"test-{597 + i:05d}" for i in range(36)]
    assert not twins["planted_flip"].any() and not train.loc[twins["twin_of"], "planted_flip"].any()
    assert (twins["label"].to_numpy() == train.loc[twins["twin_of"], "label"].to_numpy()).all()
    pixels = np.stack(twins["pixels"].to_numpy()).astype(int)
    sources = np.stack(train.loc[twins["twin_of"], "pixels"].to_numpy()).astype(int)
    difference = np.abs(pixels - sources).max(axis=1)
    assert (difference[: build_digits.N_EXACT_TWINS] == 0).all()
    assert (difference[build_digits.N_EXACT_TWINS :] > 0).all()
    assert (difference <= 15).all()  # light noise (std 3 on 0..255)
    # the shifted splits still pair with the clean test rows
    assert set(tables["rotated"]["source_id"]) == set(test["sample_id"].iloc[:597])
