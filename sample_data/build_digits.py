"""Build the bundled sample project ``sample_data/digits`` from scikit-learn's ``load_digits``.

The build is deterministic: the same seed gives bit-identical weights, tables and logs. It writes

- ``data/<split>.parquet``: clean splits (train, val, test), four shifted copies of the test images
  (rotated, blurred, noisy, low_contrast, severities 1-3 mixed inside each split) and a ``field``
  deployment split whose share of shifted images grows over twelve weeks;
- ``model.pt``: the state dict of :class:`SmallCNN` after the last epoch of the main run;
- ``logs/main_run.csv`` and ``logs/data_size/train_size_<N>.csv``: per-epoch training logs;
- ``project.yaml``: the project file that points at all of the above (and ``model.py``, copied
  next to it when building somewhere else than ``sample_data/digits``).

Usage::

    python sample_data/build_digits.py [--out DIR] [--small]
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import sys
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from scipy import ndimage
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "digits"
MODEL_SOURCE = DEFAULT_OUT / "model.py"

NUM_CLASSES = 10
IMAGE_SHAPE = (8, 8)
TRAIN_SIZE = 800
VAL_SIZE = 400  # the test split gets the rest: 1797 - 800 - 400 = 597 images

BATCH_SIZE = 32
LEARNING_RATE = 1e-3


@dataclass(frozen=True)
class BuildConfig:
    """How long and how many training runs a build does."""

    main_epochs: int
    size_epochs: int
    train_sizes: tuple[int, ...]


FULL = BuildConfig(main_epochs=60, size_epochs=60, train_sizes=(100, 200, 400, 800))
SMALL = BuildConfig(main_epochs=3, size_epochs=3, train_sizes=(100, 200))

SOURCES = ("scanner A", "scanner B", "phone camera")
SOURCE_SHARE_2025 = (0.55, 0.37, 0.08)  # phone uploads were rare while collecting
COLLECTION_START = pd.Timestamp("2025-02-03")
COLLECTION_DAYS = 175  # 25 weeks
FIELD_START = pd.Timestamp("2026-01-05")
FIELD_DAYS = 84  # 12 weeks
FIELD_SIZE = 960

# Planted label noise and leakage (recorded in README.md, "Ground truth"): the model was trained
# on the clean labels; the published train and test tables carry annotation errors, and the test
# table gains near-copies of training images.
FLIP_SHARE = 0.03
FLIP_SPLITS = ("train", "test")
N_TWINS = 36
N_EXACT_TWINS = 6  # the first six twins are exact copies of the training pixels
TWIN_NOISE = 3.0  # std of the Gaussian pixel noise of the other twins (0..255 scale)

# Shifted splits: split name -> the `shift` label it carries.
SHIFTED_SPLITS = {
    "rotated": "rotation",
    "blurred": "blur",
    "noisy": "noise",
    "low_contrast": "low contrast",
}


# --------------------------------------------------------------------------------------------------
# Random streams


def _rng(seed: int, stream: str) -> np.random.Generator:
    """Independent, named numpy random stream (adding a stream never changes the others)."""
    return np.random.default_rng([seed, zlib.crc32(stream.encode())])


# --------------------------------------------------------------------------------------------------
# Image degradations. All take and return float images (8, 8) on the 0..255 scale.


def _rotate(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    angle = {1: 8.0, 2: 16.0, 3: 25.0}[severity] * rng.choice([-1.0, 1.0])
    return ndimage.rotate(image, angle, reshape=False, order=1, mode="constant", cval=0.0)


def _blur(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    sigma = {1: 0.7, 2: 1.0, 3: 1.3}[severity]
    return ndimage.gaussian_filter(image, sigma=sigma, mode="constant", cval=0.0)


def _noise(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    std, salt_pepper = {1: (30.0, 0.03), 2: (55.0, 0.07), 3: (85.0, 0.14)}[severity]
    noisy = image + rng.normal(0.0, std, size=image.shape)
    flip = rng.random(image.shape) < salt_pepper
    noisy[flip] = rng.choice([0.0, 255.0], size=int(flip.sum()))
    return noisy


def _low_contrast(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    background, gain = {1: (70.0, 0.6), 2: (90.0, 0.5), 3: (110.0, 0.35)}[severity]
    return background + gain * image


SHIFTS: dict[str, Callable[[np.ndarray, int, np.random.Generator], np.ndarray]] = {
    "rotation": _rotate,
    "blur": _blur,
    "noise": _noise,
    "low contrast": _low_contrast,
}


def _acquire(image: np.ndarray, source: str, rng: np.random.Generator) -> np.ndarray:
    """What a source does to a clean image.

    The scanners are clean; the phone camera is slightly soft, grainy and unevenly lit (a brightness
    ramp across the image, from a random side), which makes a real, mild cohort effect.
    """
    if source != "phone camera":
        return image
    ramp = np.linspace(10.0, 50.0, IMAGE_SHAPE[1])
    light = ramp[None, :] if rng.random() < 0.5 else ramp[:, None]
    if rng.random() < 0.5:
        light = light[::-1, ::-1]
    soft = ndimage.gaussian_filter(image, sigma=0.6, mode="constant", cval=0.0)
    return light + 0.8 * soft + rng.normal(0.0, 12.0, size=image.shape)


WORN_SOURCE = "scanner B"
"""In the field, this scanner's roller is worn: heavy-ink images come out smeared (the planted
weak slice ``source = scanner B and ink = heavy``); the smear is their only defect (none of the
field's other shifts reaches that scanner's back office)."""


def _worn_roller(image: np.ndarray) -> np.ndarray:
    """Ink bleeding on a worn roller: every stroke grows by a pixel on every side (a 3 x 3 grey
    dilation). Deterministic, so it draws nothing from the field's random stream."""
    return ndimage.grey_dilation(image, size=(3, 3))


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------------------------------
# Tables


def _random_times(
    rng: np.random.Generator, n: int, start: pd.Timestamp, days: int
) -> pd.DatetimeIndex:
    """``n`` timestamps to the second, on random days in ``[start, start + days)``, 08:00-18:00."""
    day = rng.integers(0, days, size=n)
    second = rng.integers(8 * 3600, 18 * 3600, size=n)
    offsets = pd.to_timedelta(day, unit="D") + pd.to_timedelta(second, unit="s")
    return pd.DatetimeIndex(start + offsets)


def _ink_levels(images: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    total = images.reshape(len(images), -1).sum(axis=1, dtype=np.int64)
    return np.array(["light", "medium", "heavy"], dtype=object)[np.digitize(total, cuts)]


_SCHEMA = pa.schema(
    [
        ("sample_id", pa.string()),
        ("label", pa.int64()),
        ("pixels", pa.list_(pa.uint8())),
        ("ink", pa.string()),
        ("shift", pa.string()),
        ("severity", pa.int64()),
        ("source", pa.string()),
        ("timestamp", pa.timestamp("us")),
    ]
)


def _table(
    prefix: str,
    *,
    labels: np.ndarray,
    images: np.ndarray,
    shift: Sequence[str],
    severity: np.ndarray,
    source: Sequence[str],
    timestamp: pd.DatetimeIndex,
    ink_cuts: np.ndarray,
    ink_images: np.ndarray | None = None,
) -> pd.DataFrame:
    """One split table; ``ink`` comes from ``ink_images`` when given (else ``images``)."""
    n = len(labels)
    frame = pd.DataFrame(
        {
            "sample_id": [f"{prefix}-{i:05d}" for i in range(n)],
            "label": np.asarray(labels, dtype=np.int64),
            "pixels": list(images.reshape(n, -1).astype(np.uint8)),
            "ink": _ink_levels(images if ink_images is None else ink_images, ink_cuts),
            "shift": list(shift),
            "severity": np.asarray(severity, dtype=np.int64),
            "source": list(source),
            "timestamp": timestamp.astype("datetime64[us]"),
        }
    )
    return frame


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    schema = _SCHEMA  # shifted splits add `source_id`: the clean test sample each was made from
    if "source_id" in frame:
        schema = schema.insert(1, pa.field("source_id", pa.string()))
    if "planted_flip" in frame:  # the planted truth (not metadata: project.yaml leaves it out)
        schema = schema.append(pa.field("planted_flip", pa.bool_()))
    if "twin_of" in frame:
        schema = schema.append(pa.field("twin_of", pa.string()))
    table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    pq.write_table(table, path)


def make_tables(seed: int = 0) -> dict[str, pd.DataFrame]:
    """Build every split table (clean, shifted, field) in project order."""
    digits = load_digits()
    raw = np.rint(digits.images * (255.0 / 16.0)).astype(np.float64)  # (1797, 8, 8), 0..255
    labels = digits.target.astype(np.int64)
    n_total = len(labels)
    index = np.arange(n_total)

    # Acquisition: every image gets a source and a collection time in 2025.
    rng = _rng(seed, "acquisition")
    source = rng.choice(np.array(SOURCES, dtype=object), size=n_total, p=SOURCE_SHARE_2025)
    stored = np.stack([_to_uint8(_acquire(raw[i], source[i], rng)) for i in range(n_total)])
    collected = _random_times(rng, n_total, COLLECTION_START, COLLECTION_DAYS)

    rest, test_idx = train_test_split(
        index, test_size=n_total - TRAIN_SIZE - VAL_SIZE, stratify=labels, random_state=seed
    )
    train_idx, val_idx = train_test_split(
        rest, train_size=TRAIN_SIZE, stratify=labels[rest], random_state=seed
    )
    train_idx, val_idx, test_idx = np.sort(train_idx), np.sort(val_idx), np.sort(test_idx)

    ink_cuts = np.quantile(
        stored[train_idx].reshape(len(train_idx), -1).sum(axis=1), [1 / 3, 2 / 3]
    )

    def clean(prefix: str, idx: np.ndarray) -> pd.DataFrame:
        return _table(
            prefix,
            labels=labels[idx],
            images=stored[idx],
            shift=["none"] * len(idx),
            severity=np.zeros(len(idx), dtype=np.int64),
            source=source[idx],
            timestamp=collected[idx],
            ink_cuts=ink_cuts,
        )

    tables = {"train": clean("train", train_idx), "val": clean("val", val_idx)}
    tables["test"] = clean("test", test_idx)

    # Shifted copies of the test images, severities 1, 2, 3 in equal shares, shuffled.
    for split, shift in SHIFTED_SPLITS.items():
        rng = _rng(seed, f"shifted:{split}")
        severity = rng.permutation(np.resize(np.array([1, 2, 3]), len(test_idx)))
        images = np.stack(
            [
                _to_uint8(SHIFTS[shift](stored[i].astype(np.float64), int(s), rng))
                for i, s in zip(test_idx, severity, strict=True)
            ]
        )
        tables[split] = _table(
            split,
            labels=labels[test_idx],
            images=images,
            shift=[shift] * len(test_idx),
            severity=severity,
            source=source[test_idx],
            timestamp=collected[test_idx],
            ink_cuts=ink_cuts,
        )
        tables[split].insert(1, "source_id", tables["test"]["sample_id"].to_numpy())

    tables["field"] = _field_table(seed, raw, labels, np.concatenate([val_idx, test_idx]), ink_cuts)
    return tables


def plant_truth(tables: dict[str, pd.DataFrame], seed: int = 0) -> dict[str, pd.DataFrame]:
    """The published tables: the clean ``tables`` with planted label errors and leakage.

    - In each of :data:`FLIP_SPLITS`, a seeded :data:`FLIP_SHARE` of the rows get another class
      (uniform over the nine others); column ``planted_flip`` marks them.
    - :data:`N_TWINS` training images (none of them flipped) are copied into ``test`` as new
      rows ``test-00597`` on: the first :data:`N_EXACT_TWINS` pixel for pixel, the others with
      Gaussian noise of std :data:`TWIN_NOISE`; they keep the training row's clean label and
      metadata; column ``twin_of`` names the training sample (empty for other rows).

    The clean rows keep their order and ids, so the shifted splits' ``source_id`` pairing holds.
    """
    published = {name: frame.copy() for name, frame in tables.items()}
    for split in FLIP_SPLITS:
        frame = published[split]
        rng = _rng(seed, f"flips:{split}")
        rows = np.sort(rng.choice(len(frame), size=round(FLIP_SHARE * len(frame)), replace=False))
        labels = frame["label"].to_numpy().copy()
        labels[rows] = (labels[rows] + rng.integers(1, NUM_CLASSES, size=len(rows))) % NUM_CLASSES
        frame["label"] = labels
        frame["planted_flip"] = np.isin(np.arange(len(frame)), rows)

    train, test = published["train"], published["test"]
    rng = _rng(seed, "twins")
    candidates = np.flatnonzero(~train["planted_flip"].to_numpy())
    picks = np.sort(rng.choice(candidates, size=N_TWINS, replace=False))
    source = tables["train"].iloc[picks].reset_index(drop=True)
    images = np.stack(source["pixels"].to_numpy()).astype(np.float64)
    noisy = images[N_EXACT_TWINS:]
    images[N_EXACT_TWINS:] = noisy + rng.normal(0.0, TWIN_NOISE, size=noisy.shape)
    twins = source.copy()
    twins["sample_id"] = [f"test-{len(test) + i:05d}" for i in range(N_TWINS)]
    twins["pixels"] = list(np.clip(np.rint(images), 0, 255).astype(np.uint8))
    twins["planted_flip"] = False
    twins["twin_of"] = source["sample_id"].to_numpy()
    test["twin_of"] = ""
    published["test"] = pd.concat([test, twins[test.columns]], ignore_index=True)
    return published


def _field_table(
    seed: int, raw: np.ndarray, labels: np.ndarray, pool: np.ndarray, ink_cuts: np.ndarray
) -> pd.DataFrame:
    """Twelve weeks of deployment: more phone cameras and more shifted images as time goes on,
    and a planted weak slice: heavy-ink images from :data:`WORN_SOURCE` pass its worn roller."""
    rng = _rng(seed, "field")
    idx = rng.choice(pool, size=FIELD_SIZE, replace=False)
    timestamp = _random_times(rng, FIELD_SIZE, FIELD_START, FIELD_DAYS).sort_values()
    progress = ((timestamp - FIELD_START) / pd.Timedelta(days=FIELD_DAYS)).to_numpy(np.float64)

    phone = 0.15 + 0.35 * progress
    p_shift = 0.04 + 0.56 * progress
    kinds = np.array(list(SHIFTS), dtype=object)
    images, written, source, shift, severity = [], [], [], [], []
    for i, image_index in enumerate(idx):
        scanner_a = (1.0 - phone[i]) * 0.6
        src = rng.choice(
            np.array(SOURCES, dtype=object), p=[scanner_a, 1 - phone[i] - scanner_a, phone[i]]
        )
        image = _acquire(raw[image_index], src, rng)
        # heavy ink by the rule of `_ink_levels`; the worn roller's smear is its only defect
        worn = src == WORN_SOURCE and _to_uint8(image).sum(dtype=np.int64) >= ink_cuts[1]
        written.append(_to_uint8(image))  # the field's `ink`: of the writing, before any defect
        if rng.random() < p_shift[i] and not worn:
            kind = str(rng.choice(kinds))
            hard = 0.4 * progress[i]  # later shifts are harsher, too
            level = int(rng.choice([1, 2, 3], p=[0.6 - hard, 0.3, 0.1 + hard]))
            image = SHIFTS[kind](_to_uint8(image).astype(np.float64), level, rng)
        else:
            kind, level = "none", 0
        if worn:
            image = _worn_roller(image)
        images.append(_to_uint8(image))
        source.append(src)
        shift.append(kind)
        severity.append(level)
    return _table(
        "field",
        labels=labels[idx],
        images=np.stack(images),
        shift=shift,
        severity=np.array(severity),
        source=source,
        timestamp=timestamp,
        ink_cuts=ink_cuts,
        ink_images=np.stack(written),
    )


def to_tensor(frame: pd.DataFrame) -> torch.Tensor:
    """The app's default image transform, batched: pixels -> float ``(N, 1, 8, 8)`` in [0, 1]."""
    arr = np.stack(frame["pixels"].to_numpy()).astype(np.uint8).reshape(-1, *IMAGE_SHAPE)
    return torch.from_numpy(arr).float().div(255).unsqueeze(1)


def _labels(frame: pd.DataFrame) -> torch.Tensor:
    return torch.tensor(frame["label"].to_numpy(dtype=np.int64))


# --------------------------------------------------------------------------------------------------
# Training


def load_model_class(model_file: Path = MODEL_SOURCE) -> type[nn.Module]:
    """Import ``SmallCNN`` from a ``model.py`` file (the sample project is not a package)."""
    spec = importlib.util.spec_from_file_location("gengap_sample_digits_model", model_file)
    if spec is None or spec.loader is None:
        raise ImportError(f"Cannot import the model from {model_file}.")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.SmallCNN


@torch.inference_mode()
def _evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    model.eval()
    logits = model(x)
    loss = nn.functional.cross_entropy(logits, y).item()
    accuracy = (logits.argmax(1) == y).double().mean().item()
    return loss, accuracy


def train_run(
    model_class: type[nn.Module],
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_val: torch.Tensor,
    y_val: torch.Tensor,
    *,
    epochs: int,
    seed: int,
    stream: str,
) -> tuple[nn.Module, pd.DataFrame]:
    """Train with Adam and plain cross-entropy; log train/val loss and accuracy every epoch."""
    batches = _rng(seed, f"batches:{stream}")
    rows = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = model_class(num_classes=NUM_CLASSES)
        optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
        for epoch in range(1, epochs + 1):
            model.train()
            order = torch.from_numpy(batches.permutation(len(x_train)))
            for start in range(0, len(order), BATCH_SIZE):
                batch = order[start : start + BATCH_SIZE]
                optimizer.zero_grad(set_to_none=True)
                loss = nn.functional.cross_entropy(model(x_train[batch]), y_train[batch])
                loss.backward()
                optimizer.step()
            train_loss, train_accuracy = _evaluate(model, x_train, y_train)
            val_loss, val_accuracy = _evaluate(model, x_val, y_val)
            rows.append(
                {
                    "epoch": epoch,
                    "train_loss": round(train_loss, 6),
                    "train_accuracy": round(train_accuracy, 6),
                    "val_loss": round(val_loss, 6),
                    "val_accuracy": round(val_accuracy, 6),
                }
            )
    model.eval()
    return model, pd.DataFrame(rows)


def _nested_stratified_order(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An order of the rows whose every prefix is (nearly) stratified by label."""
    rank = np.empty(len(labels), dtype=np.float64)
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        rank[rng.permutation(members)] = (np.arange(len(members)) + 0.5) / len(members)
    return np.lexsort((rng.random(len(labels)), rank))


# --------------------------------------------------------------------------------------------------
# Project file

DESCRIPTION = (
    "A small CNN reading 8x8 handwritten digits (scikit-learn's bundled digits), "
    "checked on clean, shifted and field data."
)
_PROJECT_YAML = """\
name: Digits CNN
description: {description}
classes: ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]
model:
  factory: model.py:SmallCNN
  kwargs: {{num_classes: 10}}
  weights: model.pt
  embedding_layer: head.2
inputs:
  kind: image
  column: pixels
  image_shape: [8, 8]
id: sample_id
label: label
metadata: [ink, shift, severity, source]
time: timestamp
pairs: {{column: source_id, split: test}}
splits:
{splits}
training_logs:
  runs: [logs/main_run.csv, logs/data_size]
  checkpoint_epoch: {checkpoint_epoch}
"""

SPLIT_ROLES = {
    "train": "train",
    "val": "validation",
    "test": "test",
    **dict.fromkeys(SHIFTED_SPLITS, "shifted"),
    "field": "deployment",
}


def _project_yaml(checkpoint_epoch: int) -> str:
    splits = "\n".join(
        f"  {name}: {{path: data/{name}.parquet, role: {role}}}"
        for name, role in SPLIT_ROLES.items()
    )
    return _PROJECT_YAML.format(
        description=DESCRIPTION, splits=splits, checkpoint_epoch=checkpoint_epoch
    )


# --------------------------------------------------------------------------------------------------
# Build


def _accuracy_summary(model: nn.Module, tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    rows = []
    with torch.inference_mode():
        for split, frame in tables.items():
            pred = model(to_tensor(frame)).argmax(1).numpy()
            correct = pred == frame["label"].to_numpy()
            row = {"split": split, "n": len(frame), "accuracy": correct.mean()}
            for level in (1, 2, 3):
                mask = frame["severity"].to_numpy() == level
                row[f"severity {level}"] = correct[mask].mean() if mask.any() else np.nan
            rows.append(row)
    return pd.DataFrame(rows).set_index("split")


def write_tables(out_dir: Path, seed: int = 0) -> dict[str, pd.DataFrame]:
    """Write the published tables (clean data with the planted truth) into ``out_dir/data``;
    returns the clean tables the model is trained on."""
    data_dir = Path(out_dir) / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    for stale in data_dir.glob("*.parquet"):
        stale.unlink()
    tables = make_tables(seed)
    for split, frame in plant_truth(tables, seed).items():
        _write_parquet(frame, data_dir / f"{split}.parquet")
    return tables


def build(out_dir: Path, *, small: bool = False, seed: int = 0) -> None:
    """Build the sample project into ``out_dir`` (data, weights, logs, project file).

    The model is trained on the clean tables; the published tables carry the planted label
    errors and twins (:func:`plant_truth`).

    Args:
        out_dir: Folder of the project; created if missing. Stale tables and logs are replaced.
        small: Build a tiny version (few epochs, two data-size runs) for tests.
        seed: Seed of every random stream; the same seed gives identical files.
    """
    config = SMALL if small else FULL
    out_dir = Path(out_dir)
    data_dir, logs_dir = out_dir / "data", out_dir / "logs"
    size_dir = logs_dir / "data_size"
    for folder in (data_dir, size_dir):
        folder.mkdir(parents=True, exist_ok=True)
    for stale in size_dir.glob("train_size_*.csv"):
        stale.unlink()
    if (out_dir / "model.py").resolve() != MODEL_SOURCE.resolve():
        shutil.copyfile(MODEL_SOURCE, out_dir / "model.py")

    tables = write_tables(out_dir, seed)

    model_class = load_model_class(MODEL_SOURCE)
    x_train, y_train = to_tensor(tables["train"]), _labels(tables["train"])
    x_val, y_val = to_tensor(tables["val"]), _labels(tables["val"])

    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    try:
        model, log = train_run(
            model_class,
            x_train,
            y_train,
            x_val,
            y_val,
            epochs=config.main_epochs,
            seed=seed,
            stream="main",
        )
        log.to_csv(logs_dir / "main_run.csv", index=False)
        torch.save(model.state_dict(), out_dir / "model.pt")

        order = _nested_stratified_order(y_train.numpy(), _rng(seed, "data_size"))
        for size in config.train_sizes:
            if size == len(x_train) and config.size_epochs == config.main_epochs:
                log.to_csv(size_dir / f"train_size_{size}.csv", index=False)  # the main run itself
                continue
            subset = torch.from_numpy(np.sort(order[:size]))
            _, size_log = train_run(
                model_class,
                x_train[subset],
                y_train[subset],
                x_val,
                y_val,
                epochs=config.size_epochs,
                seed=seed,
                stream=f"train_size_{size}",
            )
            size_log.to_csv(size_dir / f"train_size_{size}.csv", index=False)
        summary = _accuracy_summary(model, tables)
    finally:
        torch.use_deterministic_algorithms(deterministic)
        torch.set_num_threads(threads)

    (out_dir / "project.yaml").write_text(_project_yaml(config.main_epochs), encoding="utf-8")

    best = log.loc[log["val_loss"].idxmin()]
    final = log.iloc[-1]
    print(f"Wrote the digits sample project to {out_dir}")
    print(
        f"main run: {len(log)} epochs; val loss lowest at epoch {int(best['epoch'])} "
        f"({best['val_loss']:.4f}); final train acc {final['train_accuracy']:.3f}, "
        f"val acc {final['val_accuracy']:.3f}, val loss {final['val_loss']:.4f}"
    )
    print(summary.to_string(float_format=lambda v: f"{v:.3f}"))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="project folder to write")
    parser.add_argument("--small", action="store_true", help="tiny fast build (for tests)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random stream")
    parser.add_argument(
        "--tables-only",
        action="store_true",
        help="rewrite the data tables only, keeping the committed model.pt and logs (retraining "
        "is not bit-identical across machines)",
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.tables_only:
        write_tables(args.out, args.seed)
        print(f"Wrote the tables of the digits sample project to {args.out / 'data'}")
    else:
        build(args.out, small=args.small, seed=args.seed)
    print(f"built in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
