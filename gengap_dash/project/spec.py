"""The project file: parse ``project.yaml`` and validate every key.

Each error names the file, the key, the value and what was expected, so that a user can fix the
file without reading code. Paths are resolved relative to the project file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from gengap_dash.project.code_references import check_code_reference, check_plain_data
from gengap_dash.project.errors import ProjectError
from gengap_dash.project.yaml_loading import parse_yaml, quote, read_project_text

SplitRole = Literal["train", "validation", "test", "shifted", "deployment"]
SPLIT_ROLES: tuple[str, ...] = ("train", "validation", "test", "shifted", "deployment")
UNLABELLED_ROLES: tuple[str, ...] = ("shifted", "deployment")
"""Roles whose splits may come without labels (no label column, or empty labels): field data
usually arrives unlabelled. Train, validation and test splits must be labelled on every row."""
InputKind = Literal["image", "tabular"]
Precision = Literal["float32", "bfloat16", "float16"]
TABLE_SUFFIXES = (".csv", ".parquet", ".pq")

_TOP_KEYS = {
    "name": "the project's display name (text)",
    "description": "one sentence about the model (text, optional)",
    "classes": "class names in output order (list, optional)",
    "model": "how to build the model (mapping)",
    "predictions": "a predictions file in the export format, instead of `model`",
    "inputs": "how a table row becomes a model input (mapping)",
    "id": "the sample id column (optional)",
    "label": "the label column",
    "metadata": "cohort columns to keep (list, optional)",
    "time": "a time column (optional)",
    "splits": "the data splits (mapping)",
    "training_logs": "training logs for the learning curves (optional)",
    "inference": "inference settings (mapping, optional)",
    "pairs": "which clean sample each shifted sample was made from (mapping, optional)",
}
_MODEL_KEYS = ("factory", "kwargs", "weights", "embedding_layer", "torchscript", "gradcam_layer")
_INPUT_KEYS = ("kind", "column", "image_shape", "features", "transform")
_SPLIT_KEYS = ("path", "role")
_LOG_KEYS = ("runs", "metric_names", "train_sizes", "checkpoint_epoch")
_INFERENCE_KEYS = (
    "batch_size",
    "device",
    "precision",
    "channels_last",
    "num_workers",
    "compile",
)


@dataclass(frozen=True)
class ModelSpec:
    """How to build the model: a factory plus weights, or a TorchScript file."""

    factory: str | None = None
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    weights: Path | None = None
    embedding_layer: str | None = None
    torchscript: Path | None = None
    gradcam_layer: str | None = None

    def fingerprint_fields(self) -> dict[str, Any]:
        """The model section as plain data (paths excluded: the weights are hashed by content)."""
        return {
            "factory": self.factory,
            "kwargs": dict(self.kwargs),
            "embedding_layer": self.embedding_layer,
            "torchscript": self.torchscript is not None,
        }


@dataclass(frozen=True)
class InputsSpec:
    """How one table row becomes a model input."""

    kind: InputKind
    column: str | None = None
    image_shape: tuple[int, ...] | None = None
    features: tuple[str, ...] | None = None
    transform: str | None = None


@dataclass(frozen=True)
class SplitSpec:
    """One data split."""

    name: str
    role: SplitRole
    path: Path | None

    @property
    def may_be_unlabelled(self) -> bool:
        """Whether the split may lack labels (roles in :data:`UNLABELLED_ROLES`)."""
        return self.role in UNLABELLED_ROLES


@dataclass(frozen=True)
class TrainingLogsSpec:
    """Where the training logs are and how to read them."""

    runs: tuple[Path, ...]
    metric_names: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    train_sizes: Mapping[str, int] = field(default_factory=dict)
    checkpoint_epoch: int | None = None


@dataclass(frozen=True)
class InferenceSpec:
    """Inference settings. Only ``precision`` changes the numbers, so only it enters cache keys."""

    batch_size: int = 256
    device: str = "auto"
    precision: Precision = "float32"
    channels_last: bool | None = None
    num_workers: int = 0
    compile: bool = False


@dataclass(frozen=True)
class PairsSpec:
    """Shifted samples paired with the clean sample each was made from: ``column`` holds, in a
    shifted split, the sample id (the ``id`` column) of its source in split ``split``."""

    column: str
    split: str


@dataclass(frozen=True)
class ProjectSpec:
    """A validated project file."""

    path: Path
    name: str
    splits: tuple[SplitSpec, ...]
    label: str
    model: ModelSpec | None = None
    predictions: Path | None = None
    inputs: InputsSpec | None = None
    classes: tuple[str, ...] | None = None
    description: str = ""
    id_column: str | None = None
    metadata: tuple[str, ...] = ()
    time_column: str | None = None
    training_logs: TrainingLogsSpec | None = None
    inference: InferenceSpec = field(default_factory=InferenceSpec)
    pairs: PairsSpec | None = None

    @property
    def directory(self) -> Path:
        return self.path.parent

    @property
    def split_roles(self) -> dict[str, str]:
        return {split.name: split.role for split in self.splits}

    def source_files(self) -> list[Path]:
        """Every file the project reads: this file, the split tables, the weights or
        predictions, and the model's and transform's source files."""
        files = [self.path, *(split.path for split in self.splits if split.path is not None)]
        if self.predictions is not None:
            files.append(self.predictions)
        if self.model is not None:
            files.extend(f for f in (self.model.weights, self.model.torchscript) if f is not None)
        for reference in (
            self.model.factory if self.model else None,
            self.inputs.transform if self.inputs else None,
        ):
            module = (reference or "").rpartition(":")[0]
            if module.endswith(".py"):
                files.append(self.directory / module)
        return files

    def split(self, name: str) -> SplitSpec:
        for split in self.splits:
            if split.name == name:
                return split
        raise ProjectError(
            f"{self.path.name}: no split named {quote(name)}; the splits are "
            f"{', '.join(s.name for s in self.splits)}."
        )


def load_project(path: str | Path) -> ProjectSpec:
    """Read and validate a project file.

    The file is read with bounds (size, no YAML aliases, nesting depth; see
    :mod:`gengap_dash.project.yaml_loading`), and code references and keyword arguments are
    checked (see :mod:`gengap_dash.project.code_references`) before anything is imported.

    Raises:
        ProjectError: the file is missing, too large, not YAML, or a key is wrong; the message
            says which (values quoted in it are truncated).
    """
    path = Path(path).expanduser()
    if path.is_dir():
        path = path / "project.yaml"
    raw = parse_yaml(read_project_text(path), name=path.name)
    return parse_project(raw, path=path.resolve())


def parse_project(raw: Any, *, path: Path) -> ProjectSpec:
    """Validate the parsed YAML of a project file located at ``path``."""
    where = path.name
    if not isinstance(raw, dict):
        raise ProjectError(
            f"{where}: expected a mapping of keys (name, model, splits, ...), "
            f"but got {type(raw).__name__}."
        )
    unknown = [key for key in raw if key not in _TOP_KEYS]
    if unknown:
        raise ProjectError(
            f"{where}: unknown key {_key_name(unknown[0])}; expected one of {', '.join(_TOP_KEYS)}."
        )
    base = path.parent
    name = _text(raw, "name", where, required=True)
    model = _model(raw.get("model"), where, base) if "model" in raw else None
    predictions = _path(raw, "predictions", where, base) if "predictions" in raw else None
    if model is None and predictions is None:
        raise ProjectError(f"{where}: needs `model` (to run inference) or `predictions`.")
    if model is not None and predictions is not None:
        raise ProjectError(f"{where}: give either `model` or `predictions`, not both.")
    inputs = None
    if model is not None:
        if "inputs" not in raw:
            raise ProjectError(
                f"{where}: key `inputs` is missing; a model needs to know its input."
            )
        inputs = _inputs(raw["inputs"], where, base)
    elif "inputs" in raw:
        raise ProjectError(f"{where}: `inputs` is only used with `model`; remove it.")
    classes = None
    if "classes" in raw:
        classes = tuple(str(c) for c in _list(raw, "classes", where, item=(str, int)))
        if len(classes) < 2:
            raise ProjectError(
                f"{where}: `classes` must list at least 2 classes, got {quote(list(classes))}."
            )
        if len(set(classes)) != len(classes):
            raise ProjectError(f"{where}: `classes` has duplicate names: {quote(list(classes))}.")
    return ProjectSpec(
        path=path,
        name=name,
        description=_text(raw, "description", where) or "",
        splits=_splits(raw.get("splits"), where, base, needs_paths=predictions is None),
        label=_text(raw, "label", where, required=predictions is None) or "label",
        model=model,
        predictions=predictions,
        inputs=inputs,
        classes=classes,
        id_column=_text(raw, "id", where),
        metadata=tuple(_list(raw, "metadata", where, item=str)) if "metadata" in raw else (),
        time_column=_text(raw, "time", where),
        training_logs=_training_logs(raw["training_logs"], where, base)
        if "training_logs" in raw
        else None,
        inference=_inference(raw.get("inference"), where),
        pairs=_pairs(raw["pairs"], where, raw) if "pairs" in raw else None,
    )


def _pairs(raw: Any, where: str, top: dict[str, Any]) -> PairsSpec:
    raw = _mapping(raw, "pairs", where, ("column", "split"))
    column = _text(raw, "column", where, required=True, prefix="pairs.")
    split = _text(raw, "split", where, required=True, prefix="pairs.")
    names = [str(name) for name in (top.get("splits") or {})]
    if split not in names:
        raise ProjectError(
            f"{where}: pairs.split is {quote(split)}; expected one of the splits "
            f"({', '.join(names)})."
        )
    if not top.get("id"):
        raise ProjectError(
            f"{where}: pairs needs the `id` column: pairs.column holds the id of each shifted "
            "sample's source."
        )
    return PairsSpec(column=column or "", split=split or "")


def _model(raw: Any, where: str, base: Path) -> ModelSpec:
    raw = _mapping(raw, "model", where, _MODEL_KEYS)
    if "torchscript" in raw:
        extra = [key for key in ("factory", "weights", "kwargs") if key in raw]
        if extra:
            raise ProjectError(
                f"{where}: model.torchscript carries its own weights; remove model.{extra[0]}."
            )
        return ModelSpec(
            torchscript=_path(raw, "torchscript", where, base, prefix="model."),
            embedding_layer=_text(raw, "embedding_layer", where, prefix="model."),
            gradcam_layer=_text(raw, "gradcam_layer", where, prefix="model."),
        )
    factory = _text(raw, "factory", where, required=True, prefix="model.")
    if ":" not in factory:
        raise ProjectError(
            f"{where}: model.factory is {quote(factory)}; expected 'file.py:Callable' or "
            "'package.module:Callable'."
        )
    _check_code(factory, "model.factory", where, base)
    kwargs = raw.get("kwargs", {}) or {}
    if not isinstance(kwargs, dict):
        raise ProjectError(
            f"{where}: model.kwargs must be a mapping of argument names to values, "
            f"got {quote(kwargs)}."
        )
    try:
        check_plain_data(kwargs, key="model.kwargs")
    except ProjectError as error:
        raise ProjectError(f"{where}: {error}") from None
    weights = _path(raw, "weights", where, base, prefix="model.") if "weights" in raw else None
    return ModelSpec(
        factory=factory,
        kwargs=kwargs,
        weights=weights,
        embedding_layer=_text(raw, "embedding_layer", where, prefix="model."),
        gradcam_layer=_text(raw, "gradcam_layer", where, prefix="model."),
    )


def _inputs(raw: Any, where: str, base: Path) -> InputsSpec:
    raw = _mapping(raw, "inputs", where, _INPUT_KEYS)
    kind = raw.get("kind")
    if kind not in ("image", "tabular"):
        raise ProjectError(f"{where}: inputs.kind is {quote(kind)}; expected 'image' or 'tabular'.")
    column = _text(raw, "column", where, prefix="inputs.", required=kind == "image")
    image_shape = None
    if "image_shape" in raw:
        shape = raw["image_shape"]
        if (
            not isinstance(shape, list)
            or len(shape) not in (2, 3)
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in shape)
        ):
            raise ProjectError(
                f"{where}: inputs.image_shape is {quote(shape)}; expected [height, width] or "
                "[height, width, channels] of positive integers."
            )
        image_shape = tuple(shape)
    features = None
    if "features" in raw:
        if kind != "tabular":
            raise ProjectError(f"{where}: inputs.features is only used with kind: tabular.")
        features = tuple(_list(raw, "features", where, item=str, prefix="inputs."))
    transform = _text(raw, "transform", where, prefix="inputs.")
    if transform is not None and ":" not in transform:
        raise ProjectError(
            f"{where}: inputs.transform is {quote(transform)}; expected 'file.py:function'."
        )
    if transform is not None:
        _check_code(transform, "inputs.transform", where, base)
    return InputsSpec(kind, column, image_shape, features, transform)


def _splits(raw: Any, where: str, base: Path, *, needs_paths: bool) -> tuple[SplitSpec, ...]:
    if raw is None:
        raise ProjectError(f"{where}: key `splits` is missing; list at least one data split.")
    if not isinstance(raw, dict) or not raw:
        raise ProjectError(
            f"{where}: `splits` must map split names to {{path, role}}, got {quote(raw)}."
        )
    splits = []
    for name, entry in raw.items():
        key = f"splits.{name}"
        entry = _mapping(entry, key, where, _SPLIT_KEYS)
        role = entry.get("role")
        if role not in SPLIT_ROLES:
            raise ProjectError(
                f"{where}: {key}.role is {quote(role)}; expected one of {', '.join(SPLIT_ROLES)}."
            )
        path = None
        if needs_paths:
            path = _path(entry, "path", where, base, prefix=f"{key}.", required=True)
            if path.suffix.lower() not in TABLE_SUFFIXES and not path.is_dir():
                raise ProjectError(
                    f"{where}: {key}.path is {quote(entry['path'])}; expected a .csv or .parquet "
                    "table, or a folder of .parquet files."
                )
        elif "path" in entry:
            raise ProjectError(
                f"{where}: {key}.path is not used when the project brings `predictions`; "
                "the split's rows come from the predictions file. Remove it."
            )
        splits.append(SplitSpec(name=str(name), role=role, path=path))
    return tuple(splits)


def _training_logs(raw: Any, where: str, base: Path) -> TrainingLogsSpec:
    if isinstance(raw, str | list):
        raw = {"runs": raw}
    raw = _mapping(raw, "training_logs", where, _LOG_KEYS)
    runs_raw = raw.get("runs")
    if isinstance(runs_raw, str):
        runs_raw = [runs_raw]
    if not isinstance(runs_raw, list) or not runs_raw:
        raise ProjectError(
            f"{where}: training_logs.runs is {quote(runs_raw)}; expected a list of log files "
            "or folders."
        )
    runs = tuple(_resolve(base, str(item)) for item in runs_raw)
    metric_names: dict[str, tuple[str, str]] = {}
    for raw_name, target in _optional_mapping(raw, "metric_names", where).items():
        parts = target.split("/") if isinstance(target, str) else target
        if not isinstance(parts, list) or len(parts) != 2:
            raise ProjectError(
                f"{where}: training_logs.metric_names.{raw_name} is {quote(target)}; expected "
                "'split/metric', e.g. 'validation/accuracy'."
            )
        metric_names[str(raw_name)] = (str(parts[0]), str(parts[1]))
    train_sizes = {}
    for run, size in _optional_mapping(raw, "train_sizes", where).items():
        if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
            raise ProjectError(
                f"{where}: training_logs.train_sizes.{run} is {quote(size)}; "
                "expected a positive integer."
            )
        train_sizes[str(run)] = size
    epoch = raw.get("checkpoint_epoch")
    if epoch is not None and (not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0):
        raise ProjectError(
            f"{where}: training_logs.checkpoint_epoch is {quote(epoch)}; expected a whole "
            "number >= 0."
        )
    return TrainingLogsSpec(runs, metric_names, train_sizes, epoch)


def _optional_mapping(raw: dict[str, Any], key: str, where: str) -> dict[Any, Any]:
    value = raw.get(key) or {}
    if not isinstance(value, dict):
        raise ProjectError(
            f"{where}: training_logs.{key} is {quote(value)}; expected a mapping "
            "(e.g. run or column name: value)."
        )
    return value


def _inference(raw: Any, where: str) -> InferenceSpec:
    if raw is None:
        return InferenceSpec()
    raw = _mapping(raw, "inference", where, _INFERENCE_KEYS)
    batch_size = raw.get("batch_size", 256)
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ProjectError(
            f"{where}: inference.batch_size is {quote(batch_size)}; expected a positive integer."
        )
    precision = raw.get("precision", "float32")
    if precision not in ("float32", "bfloat16", "float16"):
        raise ProjectError(
            f"{where}: inference.precision is {quote(precision)}; expected float32, bfloat16 "
            "or float16."
        )
    channels_last = raw.get("channels_last")
    if channels_last not in (None, True, False):
        raise ProjectError(
            f"{where}: inference.channels_last is {quote(channels_last)}; expected true or false."
        )
    workers = raw.get("num_workers", 0)
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 0:
        raise ProjectError(
            f"{where}: inference.num_workers is {quote(workers)}; expected a whole number >= 0."
        )
    compile_model = raw.get("compile", False)
    if not isinstance(compile_model, bool):
        raise ProjectError(
            f"{where}: inference.compile is {quote(compile_model)}; expected true or false."
        )
    device = str(raw.get("device", "auto"))
    return InferenceSpec(batch_size, device, precision, channels_last, workers, compile_model)


def _mapping(raw: Any, key: str, where: str, allowed: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ProjectError(f"{where}: `{key}` must be a mapping, but got {quote(raw)}.")
    unknown = [k for k in raw if k not in allowed]
    if unknown:
        raise ProjectError(
            f"{where}: unknown key {key}.{_key_name(unknown[0], quoted=False)}; expected one of "
            f"{', '.join(allowed)}."
        )
    return raw


def _text(
    raw: dict[str, Any], key: str, where: str, *, required: bool = False, prefix: str = ""
) -> str | None:
    if key not in raw or raw[key] is None:
        if required:
            raise ProjectError(f"{where}: key `{prefix}{key}` is missing.")
        return None
    value = raw[key]
    if not isinstance(value, str) or not value.strip():
        raise ProjectError(f"{where}: {prefix}{key} is {quote(value)}; expected a non-empty text.")
    return value.strip()


def _list(
    raw: dict[str, Any], key: str, where: str, *, item: type | tuple[type, ...], prefix: str = ""
) -> list[Any]:
    value = raw[key]
    if not isinstance(value, list) or not all(isinstance(v, item) for v in value):
        kind = "texts" if item is str else "values"
        raise ProjectError(f"{where}: {prefix}{key} is {quote(value)}; expected a list of {kind}.")
    return value


def _path(
    raw: dict[str, Any],
    key: str,
    where: str,
    base: Path,
    *,
    prefix: str = "",
    required: bool = True,
) -> Path:
    text = _text(raw, key, where, required=required, prefix=prefix)
    return _resolve(base, text or "")


def _resolve(base: Path, text: str) -> Path:
    path = Path(text).expanduser()
    # realpath never raises on a symlink loop (Path.resolve does); the file check names it later
    return path if path.is_absolute() else Path(os.path.realpath(base / path))


def _check_code(reference: str, key: str, where: str, base: Path) -> None:
    try:
        check_code_reference(reference, key=key, project_dir=base)
    except ProjectError as error:
        raise ProjectError(f"{where}: {error}") from None


_KEY_LIKE = re.compile(r"[A-Za-z0-9_.-]{1,40}\Z")


def _key_name(key: Any, *, quoted: bool = True) -> str:
    """An unknown key, quoted only when it looks like a key (a line of some other file, e.g. a
    password file read by mistake, is not echoed)."""
    if isinstance(key, str) and _KEY_LIKE.match(key):
        return repr(key) if quoted else key
    return "(a key that is not a project key)"
