"""Reader of TensorBoard event files (``add_scalars`` sub-folders, Keras' train/validation sub-
folders, ``add_hparams`` sessions).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from gengap_dash.data.training_logs.discovery import _has_event_files, _split_subdirs
from gengap_dash.data.training_logs.names import _clean_name
from gengap_dash.data.training_logs.raw import _RawLog, _RawSeries
from gengap_dash.project.errors import ProjectError


def _read_tensorboard(path: Path) -> _RawLog:
    sources: list[tuple[str | None, Path]] = []
    hparam_dirs: list[Path] = []
    if path.is_file():
        sources.append((None, path))
    else:
        if _has_event_files(path):
            sources.append((None, path))
        for sub in _split_subdirs(path):
            if re.fullmatch(r"\d+(?:_\d+)?", _clean_name(sub.name)):
                hparam_dirs.append(sub)
            else:
                sources.append((sub.name, sub))
    series: list[_RawSeries] = []
    names: list[str] = []
    epoch_pairs: list[tuple[np.ndarray, np.ndarray]] = []
    train_size: int | None = None
    for prefix, source in sources:
        accumulator = _load_accumulator(source)
        for tag, steps, values in _tensorboard_scalars(accumulator):
            raw_name = _tensorboard_name(prefix, tag)
            names.append(raw_name)
            cleaned = _clean_name(raw_name)
            if cleaned in ("epoch", "epochs", "train_epoch", "trainer_epoch"):
                epoch_pairs.append((steps, values))
                continue
            if cleaned == "train_size" and values.size:
                train_size = int(values[-1])
                continue
            epochs = np.full(len(steps), np.nan)
            series.append(_RawSeries(raw_name, steps, epochs, values))
        train_size = _tensorboard_train_size(accumulator) or train_size
    for hparam_dir in hparam_dirs:
        train_size = _tensorboard_train_size(_load_accumulator(hparam_dir)) or train_size
    raw = _RawLog(format="tensorboard", series=series, all_names=names, train_size=train_size)
    if epoch_pairs:
        steps = np.concatenate([p[0] for p in epoch_pairs])
        epochs = np.concatenate([p[1] for p in epoch_pairs])
        raw.epoch_map = (steps, epochs)
    return raw


def _load_accumulator(path: Path) -> Any:
    from tensorboard.backend.event_processing.event_accumulator import (
        EventAccumulator,
    )

    accumulator = EventAccumulator(
        str(path), size_guidance={"scalars": 0, "tensors": 0}, purge_orphaned_data=False
    )
    try:
        accumulator.Reload()
    except (OSError, ValueError, RuntimeError) as error:
        raise ProjectError(
            f"Training log {path}: cannot read the TensorBoard events ({error})."
        ) from error
    return accumulator


def _tensorboard_scalars(accumulator: Any) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    tags = accumulator.Tags()
    for tag in tags.get("scalars", []):
        events = accumulator.Scalars(tag)
        yield (
            tag,
            np.array([e.step for e in events], dtype=np.int64),
            np.array([e.value for e in events], dtype=float),
        )
    for tag in tags.get("tensors", []):
        metadata = accumulator.SummaryMetadata(tag)
        if metadata.plugin_data.plugin_name != "scalars":
            continue
        from tensorboard.util import tensor_util

        events = accumulator.Tensors(tag)
        yield (
            tag,
            np.array([e.step for e in events], dtype=np.int64),
            np.array([float(tensor_util.make_ndarray(e.tensor_proto)) for e in events]),
        )


def _tensorboard_train_size(accumulator: Any) -> int | None:
    from tensorboard.plugins.hparams import plugin_data_pb2

    try:
        content = accumulator.PluginTagToContent("hparams")
    except KeyError:
        return None
    for blob in content.values():
        data = plugin_data_pb2.HParamsPluginData.FromString(blob)
        if data.WhichOneof("data") != "session_start_info":
            continue
        for key, value in data.session_start_info.hparams.items():
            if _clean_name(key) != "train_size":
                continue
            kind = value.WhichOneof("kind")
            try:
                number = float(value.number_value if kind == "number_value" else
                               value.string_value)  # fmt: skip
            except ValueError:
                continue
            if number > 0:
                return int(number)
    return None


def _tensorboard_name(prefix: str | None, tag: str) -> str:
    if prefix is None:
        return tag
    cleaned_prefix, cleaned_tag = _clean_name(prefix), _clean_name(tag)
    if cleaned_prefix.startswith(cleaned_tag + "_"):  # add_scalars("loss", {"train": ...})
        return prefix
    return f"{prefix}/{tag}"
