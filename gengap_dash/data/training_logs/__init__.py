"""Read training logs into tidy learning curves.

Formats are detected from the file itself:

- a plain CSV/TSV, wide (one row per epoch or step: ``epoch``, ``step``, ``train_loss``,
  ``val/acc`` ...) or long (``step,metric,value``, optionally with ``epoch`` and ``split``);
- PyTorch Lightning's CSVLogger ``metrics.csv`` (a wide CSV whose rows are sparse: train and
  validation are logged on different rows);
- JSON lines (one object per line; nested objects are flattened with ``/``), a JSON list of
  records, or a Keras ``history.json`` (``{"loss": [...], "val_loss": [...]}``);
- Hugging Face Trainer's ``trainer_state.json`` (its ``log_history``);
- TensorBoard event files, read with the ``tensorboard`` package's ``EventAccumulator``
  (including ``add_scalars`` sub-folders, Keras' ``train``/``validation`` sub-folders and
  ``add_hparams`` sessions).

Raw metric names map to ``(split, metric)`` by the common conventions (see
:func:`parse_metric_name`); a mapping from the project file overrides them. Messy logs are
cleaned, and every change is said in plain words in ``TrainingRun.notes``: non-finite values are
dropped, a step that is logged again (a restart) keeps its later value, out-of-order steps are
sorted.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from gengap_dash.project.errors import ProjectError

Split = Literal["train", "validation", "test"]
XAxis = Literal["epoch", "step"]
LogFormat = Literal[
    "csv", "long_csv", "lightning_csv", "jsonl", "json", "hf_trainer_state", "tensorboard"
]

SPLITS: tuple[str, ...] = ("train", "validation", "test")
"""The normalised split names, in display order."""

CURVE_COLUMNS: tuple[str, ...] = ("step", "epoch", "split", "metric", "value")
"""The columns of ``TrainingRun.curves``."""

LOG_SUFFIXES: tuple[str, ...] = (".csv", ".tsv", ".jsonl", ".ndjson", ".json")
"""File suffixes that a directory scan reads as training logs (besides TensorBoard files)."""

_SPLIT_ALIASES: dict[str, str] = {
    "train": "train",
    "training": "train",
    "trn": "train",
    "val": "validation",
    "valid": "validation",
    "validation": "validation",
    "eval": "validation",
    "evaluation": "validation",
    "dev": "validation",
    "test": "test",
    "testing": "test",
}
_METRIC_ALIASES: dict[str, str] = {
    "loss": "loss",
    "losses": "loss",
    "acc": "accuracy",
    "accuracy": "accuracy",
    "acc1": "accuracy",
    "acc_1": "accuracy",
    "top1": "accuracy",
    "top1_acc": "accuracy",
    "top1_accuracy": "accuracy",
    "f1": "f1",
    "f1_score": "f1",
    "f1score": "f1",
    "fscore": "f1",
}
_BARE_METRICS = frozenset(
    {
        "loss", "accuracy", "f1", "error", "err", "nll", "mse", "mae", "rmse", "precision",
        "recall", "auc", "auroc", "top5", "acc5", "perplexity", "ppl", "iou", "miou", "dice",
        "map", "bleu", "cer", "wer", "ece",
    }
)  # fmt: skip
"""Metric names that mean the *train* metric when they carry no split (Keras' ``loss``)."""

_NOT_A_METRIC = re.compile(
    r"(?:^|_)(?:lr|lrs|learning_rate|runtime|samples_per_second|steps_per_second|grad_norm|"
    r"gradient_norm|total_flos|flos|time|timestamp|wall_time|walltime|duration|memory|mem|"
    r"throughput|momentum|weight_decay|batch_size|train_size|size|epoch|epochs|step|steps|"
    r"global_step|iteration|iter|it_s|num_input_tokens_seen)(?:_|$)"
)
_STEP_COLUMNS = (
    "step",
    "global_step",
    "_step",
    "trainer/global_step",
    "steps",
    "iteration",
    "iter",
)
_EPOCH_COLUMNS = ("epoch", "epochs", "trainer/epoch", "train/epoch")
_LONG_NAME_COLUMNS = ("metric", "name", "tag", "key")
_GENERIC_STEMS = frozenset(
    {"metrics", "trainer_state", "log", "logs", "history", "training_log", "train_log", "progress"}
)
_SKIPPED_FILES = frozenset(
    {"config.json", "hparams.json", "args.json", "training_args.json", "tokenizer.json",
     "tokenizer_config.json", "special_tokens_map.json", "generation_config.json",
     "preprocessor_config.json", "adapter_config.json", "package.json"}
)  # fmt: skip
_TRAIN_SIZE_IN_NAME = re.compile(r"train[_-]?size[_=-]?(\d+)", re.IGNORECASE)
_EVENT_FILE = "events.out.tfevents"
_MAX_DEPTH = 3
_ABSENT = object()
"""A cell that was not logged (an empty CSV cell, a key missing from a JSON record)."""


@dataclass(frozen=True, eq=False)
class TrainingRun:
    """One training run's curves.

    Attributes:
        name: the run's name (file stem, or folder name for generic stems and TensorBoard).
        source: the file or folder it was read from.
        train_size: the number of training samples, when known.
        curves: long frame with columns ``step`` (int64), ``epoch`` (float64, NaN when unknown),
            ``split`` (``train``/``validation``/``test``), ``metric``, ``value`` (finite float64);
            sorted by split, metric and step; one row per logged point.
        x_axis: ``"epoch"`` when every held-out point has an epoch and there is at most one per
            epoch, else ``"step"``.
        notes: plain-English messages of what was dropped, merged or guessed.
        format: the detected log format.
        raw_names: ``(split, metric)`` -> the raw name it was read from.
    """

    name: str
    source: Path
    train_size: int | None
    curves: pd.DataFrame
    x_axis: XAxis
    notes: tuple[str, ...] = ()
    format: LogFormat = "csv"
    raw_names: Mapping[tuple[str, str], str] = field(default_factory=dict)

    @cached_property
    def _pairs(self) -> frozenset[tuple[str, str]]:
        pairs = self.curves[["split", "metric"]].drop_duplicates()
        return frozenset(zip(pairs["split"].tolist(), pairs["metric"].tolist(), strict=True))

    @property
    def metrics(self) -> tuple[str, ...]:
        """The metric names, ``loss`` first, then ``accuracy``, ``f1``, then the rest by name."""
        names = {metric for _, metric in self._pairs}
        known = [m for m in ("loss", "accuracy", "f1") if m in names]
        return tuple(known + sorted(names - set(known)))

    def splits(self, metric: str | None = None) -> tuple[str, ...]:
        """The splits logged (for ``metric``, when given), in ``SPLITS`` order."""
        present = {split for split, m in self._pairs if metric is None or m == metric}
        return tuple(s for s in SPLITS if s in present)

    def series(self, split: str, metric: str) -> pd.DataFrame:
        """The points of one curve: columns ``step``, ``epoch``, ``value``, sorted by step."""
        mask = (self.curves["split"] == split) & (self.curves["metric"] == metric)
        return self.curves.loc[mask, ["step", "epoch", "value"]].reset_index(drop=True)


@dataclass(frozen=True, eq=False)
class TrainingRuns:
    """Several runs, each with a unique name.

    Attributes:
        runs: the runs, in the order their paths were given (folders sorted by name).
        notes: messages that concern no single run (skipped files, renamed runs, unused
            overrides).
    """

    runs: tuple[TrainingRun, ...]
    notes: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.runs)

    def __iter__(self) -> Iterator[TrainingRun]:
        return iter(self.runs)

    def __getitem__(self, name: str) -> TrainingRun:
        for run in self.runs:
            if run.name == name:
                return run
        raise KeyError(f"No training run named {name!r}; the runs are: {', '.join(self.names)}.")

    @property
    def names(self) -> tuple[str, ...]:
        """The run names, in order."""
        return tuple(run.name for run in self.runs)

    def all_notes(self) -> tuple[str, ...]:
        """Every note in plain words: the collection's, then each run's prefixed by its name."""
        per_run = tuple(f"{run.name}: {note}" for run in self.runs for note in run.notes)
        return self.notes + per_run

    def to_frame(self) -> pd.DataFrame:
        """All curves in one long frame: ``run``, ``train_size`` and the ``CURVE_COLUMNS``."""
        frames = []
        for run in self.runs:
            frame = run.curves.copy()
            frame.insert(0, "train_size", pd.array([run.train_size] * len(frame), dtype="Int64"))
            frame.insert(0, "run", run.name)
            frames.append(frame)
        if not frames:
            return pd.DataFrame(columns=["run", "train_size", *CURVE_COLUMNS])
        return pd.concat(frames, ignore_index=True)


def parse_metric_name(raw: str) -> tuple[str, str] | None:
    """Map a raw metric name to ``(split, metric)`` by the common conventions.

    Splits come from a prefix or suffix (``train_``, ``val_``, ``valid_``, ``validation_``,
    ``eval_``, ``dev_``, ``test_``; ``loss/train``); metrics are normalised (``acc`` ->
    ``accuracy``, ``f1_score`` -> ``f1``), otherwise kept as the cleaned name. Lightning's
    ``_step``/``_epoch`` suffixes and Keras' ``epoch_`` prefix are removed. A known metric without
    a split (``loss``, ``accuracy``) is the train metric, as Keras and Hugging Face log it.

    Returns:
        ``(split, metric)``, or ``None`` for bookkeeping columns (``lr``, ``epoch``, runtimes) and
        unknown names without a split.
    """
    parsed = _parse_name(raw)
    return None if parsed is None else (parsed[0], parsed[1])


def epoch_index(epochs: np.ndarray) -> np.ndarray:
    """The epoch each point belongs to: ``ceil(epoch)``, with integer epochs kept as they are.

    Lightning and Keras log whole epochs (the epoch being trained); Hugging Face logs fractions of
    epochs completed (0.25, 0.5, ... 1.0), whose ceiling is the epoch they belong to.

    Args:
        epochs: (n,) float epochs.
    """
    epochs = np.asarray(epochs, dtype=float)
    return np.ceil(np.round(epochs, 6))


def metric_label(split: str, metric: str) -> str:
    """Human words for a curve, e.g. ``"validation loss"``."""
    return f"{split} {metric.replace('_', ' ')}"


def logs_signature(paths: Sequence[Path | str]) -> tuple[tuple[str, int, int], ...]:
    """What a cache of :func:`load_training_runs` must be keyed by: every file under ``paths``
    with its modification time and size (``-1, -1`` for a path that does not exist).

    Folders are walked as deep as the run discovery reads them (hidden entries skipped, at most
    ``_SIGNATURE_MAX_FILES`` files per folder given), so that editing, adding or removing a log
    changes the signature.

    Args:
        paths: log files or folders, as given to :func:`load_training_runs`.
    """
    if isinstance(paths, str | Path):
        paths = [paths]
    entries: list[tuple[str, int, int]] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            entries.extend(_folder_signature(path))
            continue
        try:
            stat = path.stat()
        except OSError:
            entries.append((str(path), -1, -1))
            continue
        entries.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(entries)


_SIGNATURE_MAX_FILES = 10_000


def _folder_signature(folder: Path) -> list[tuple[str, int, int]]:
    entries: list[tuple[str, int, int]] = []
    pending = [(folder, 0)]
    while pending and len(entries) < _SIGNATURE_MAX_FILES:
        directory, depth = pending.pop()
        try:
            stat = directory.stat()
            children = sorted(directory.iterdir())
        except OSError:
            entries.append((str(directory), -1, -1))
            continue
        entries.append((str(directory), stat.st_mtime_ns, 0))
        for child in children:
            if child.name.startswith("."):
                continue
            if child.is_dir():
                if depth < _MAX_DEPTH + 2:
                    pending.append((child, depth + 1))
                continue
            try:
                child_stat = child.stat()
            except OSError:
                continue
            entries.append((str(child), child_stat.st_mtime_ns, child_stat.st_size))
    return sorted(entries)


def load_training_runs(
    paths: Sequence[Path | str],
    *,
    metric_names: Mapping[str, tuple[str, str]] | None = None,
    train_sizes: Mapping[str, int] | None = None,
) -> TrainingRuns:
    """Read training runs from log files and folders.

    A file is one run. A folder holding TensorBoard event files (or a Hugging Face output folder
    with ``trainer_state.json``) is one run named by the folder; any other folder holds several
    runs: its log files (named by their stems) and its sub-folders (named by the sub-folder).

    Args:
        paths: log files or folders.
        metric_names: raw name -> ``(split, metric)``, overriding the naming conventions, e.g.
            ``{"eval_top1": ("validation", "accuracy")}``.
        train_sizes: run name -> number of training samples, overriding what the logs say.

    Raises:
        ProjectError: a path that does not exist, a file that cannot be read, a log without any
            recognisable metric, or a bad override.
    """
    overrides = _normalise_overrides(metric_names or {})
    if isinstance(paths, str | Path):
        paths = [paths]
    if not paths:
        raise ProjectError("Expected at least one training log file or folder, but got none.")
    candidates: list[_Candidate] = []
    for path in paths:
        candidates.extend(_discover(Path(path)))
    notes: list[str] = []
    runs: list[TrainingRun] = []
    failures: list[str] = []
    used_overrides: set[str] = set()
    for candidate in candidates:
        try:
            run, used = _read_run(candidate, overrides)
        except ProjectError as error:
            if not candidate.discovered:
                raise
            failures.append(str(error))
            notes.append(f"Skipped {candidate.path}: {_reason(error)}")
            continue
        runs.append(run)
        used_overrides |= used
    if not runs:
        details = " ".join(failures) if failures else ""
        where = ", ".join(str(p) for p in paths)
        raise ProjectError(
            f"Training logs {where}: found no readable training log (expected CSV, JSON lines, "
            f"trainer_state.json or TensorBoard event files). {details}".strip()
        )
    runs = _unique_names(runs, notes)
    runs = _apply_train_sizes(runs, train_sizes or {}, notes)
    unused = [name for name in overrides if name not in used_overrides]
    if unused:
        notes.append(
            "training_logs.metric_names maps "
            + ", ".join(repr(n) for n in unused)
            + ", which no log contains."
        )
    return TrainingRuns(tuple(runs), tuple(notes))


# --------------------------------------------------------------------------- names and overrides


def _clean_name(raw: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", str(raw).lower()).strip("_")


def _parse_name(raw: str) -> tuple[str, str, str | None] | None:
    """``(split, metric, variant)`` where variant is Lightning's ``"step"``/``"epoch"`` or None."""
    tokens = [t for t in _clean_name(raw).split("_") if t]
    if not tokens:
        return None
    split: str | None = None
    variant: str | None = None
    changed = True
    while changed and len(tokens) > 1:
        changed = False
        if split is None and tokens[0] in _SPLIT_ALIASES:
            split, tokens, changed = _SPLIT_ALIASES[tokens[0]], tokens[1:], True
        elif split is None and tokens[-1] in _SPLIT_ALIASES:
            split, tokens, changed = _SPLIT_ALIASES[tokens[-1]], tokens[:-1], True
        elif variant is None and tokens[-1] in ("step", "epoch"):
            variant, tokens, changed = tokens[-1], tokens[:-1], True
        elif variant is None and tokens[0] in ("epoch", "batch"):
            variant = "epoch" if tokens[0] == "epoch" else "step"
            tokens, changed = tokens[1:], True
    metric = "_".join(tokens)
    metric = _METRIC_ALIASES.get(metric, metric)
    if _NOT_A_METRIC.search(metric) or metric in _SPLIT_ALIASES:
        return None
    if split is None:
        if metric not in _BARE_METRICS:
            return None
        split = "train"
    return split, metric, variant


def _normalise_overrides(
    metric_names: Mapping[str, tuple[str, str]],
) -> dict[str, tuple[str, str]]:
    result: dict[str, tuple[str, str]] = {}
    for raw, target in metric_names.items():
        parts = target.split("/") if isinstance(target, str) else target
        if not isinstance(parts, list | tuple) or len(parts) != 2:
            raise ProjectError(
                f"Expected training_logs.metric_names.{raw} to be a (split, metric) pair such as "
                f"('validation', 'accuracy'), but got {target!r}."
            )
        split_raw, metric_raw = (str(p) for p in parts)
        split = _SPLIT_ALIASES.get(_clean_name(split_raw))
        if split is None:
            raise ProjectError(
                f"Expected the split of training_logs.metric_names.{raw} to be one of "
                f"{', '.join(SPLITS)}, but got {split_raw!r}."
            )
        metric = _clean_name(metric_raw)
        if not metric:
            raise ProjectError(
                f"Expected the metric of training_logs.metric_names.{raw} to be a name such as "
                f"'accuracy', but got {metric_raw!r}."
            )
        result[str(raw)] = (split, _METRIC_ALIASES.get(metric, metric))
    return result


def _map_name(
    raw: str, overrides: Mapping[str, tuple[str, str]]
) -> tuple[str, str, str | None, bool] | None:
    """``(split, metric, variant, overridden)`` for a raw name, or None."""
    if raw in overrides:
        split, metric = overrides[raw]
        return split, metric, None, True
    parsed = _parse_name(raw)
    if parsed is None:
        return None
    return parsed[0], parsed[1], parsed[2], False


# --------------------------------------------------------------------------- discovery


@dataclass(frozen=True)
class _Candidate:
    name: str
    path: Path
    kind: Literal["file", "tensorboard", "hf"]
    discovered: bool
    """Found by scanning a folder (a bad file is then skipped with a note, not an error)."""


def _is_event_file(path: Path) -> bool:
    return path.is_file() and path.name.startswith(_EVENT_FILE)


def _has_event_files(directory: Path) -> bool:
    try:
        return any(_is_event_file(p) for p in directory.iterdir())
    except OSError:
        return False


def _run_name_for_file(path: Path) -> str:
    stem = path.name if path.name.startswith(_EVENT_FILE) else path.stem
    if stem.lower() in _GENERIC_STEMS or stem.startswith(_EVENT_FILE):
        return path.parent.resolve().name or stem
    return stem


def _discover(path: Path) -> list[_Candidate]:
    if not path.exists():
        raise ProjectError(f"Training log {path}: no such file or folder.")
    if path.is_file():
        if path.name.startswith(_EVENT_FILE):
            return [_Candidate(_run_name_for_file(path), path, "tensorboard", False)]
        if path.name == "trainer_state.json":
            return [_Candidate(_run_name_for_file(path), path, "hf", False)]
        return [_Candidate(_run_name_for_file(path), path, "file", False)]
    found = _discover_dir(path, depth=0)
    if not found:
        raise ProjectError(
            f"Training log folder {path}: found no training logs in it (expected .csv, .tsv, "
            ".jsonl or .json files, trainer_state.json, or TensorBoard event files)."
        )
    top_name = path.resolve().name
    candidates = []
    for location, file, kind in found:
        parts = list(location.relative_to(path).parts)
        if location.is_file():
            stem = location.stem
            parts[-1:] = [] if stem.lower() in _GENERIC_STEMS else [stem]
        name = "/".join(parts) or top_name
        candidates.append(_Candidate(name, file, kind, location != path))
    return candidates


def _split_subdirs(directory: Path) -> list[Path]:
    """Sub-folders of a TensorBoard run that belong to it (Keras splits, add_scalars, hparams)."""
    result = []
    for sub in sorted(p for p in directory.iterdir() if p.is_dir()):
        if not _has_event_files(sub):
            continue
        name = _clean_name(sub.name)
        if (
            name in _SPLIT_ALIASES
            or re.fullmatch(r"\d+(?:_\d+)?", name)
            or (_parse_name(sub.name) is not None and "train_size" not in name)
        ):
            result.append(sub)
    return result


def _hf_state_file(directory: Path) -> Path | None:
    direct = directory / "trainer_state.json"
    if direct.is_file():
        return direct
    checkpoints = []
    for sub in directory.iterdir():
        match = re.fullmatch(r"checkpoint-(\d+)", sub.name)
        if match and (sub / "trainer_state.json").is_file():
            checkpoints.append((int(match.group(1)), sub / "trainer_state.json"))
    return max(checkpoints)[1] if checkpoints else None


def _discover_dir(
    directory: Path, *, depth: int
) -> list[tuple[Path, Path, Literal["file", "tensorboard", "hf"]]]:
    """``(location, file, kind)`` of each run under ``directory``; location names the run."""
    try:
        entries = sorted(directory.iterdir())
    except OSError as error:
        raise ProjectError(f"Training log folder {directory}: cannot list it ({error}).") from error
    subdirs = [p for p in entries if p.is_dir() and not p.name.startswith((".", "__"))]
    if any(_is_event_file(p) for p in entries):
        return [(directory, directory, "tensorboard")]
    event_subdirs = [p for p in subdirs if _has_event_files(p)]
    if event_subdirs and all(_clean_name(p.name) in _SPLIT_ALIASES for p in event_subdirs):
        return [(directory, directory, "tensorboard")]
    state = _hf_state_file(directory)
    if state is not None:
        return [(directory, state, "hf")]
    found: list[tuple[Path, Path, Literal["file", "tensorboard", "hf"]]] = [
        (p, p, "file")
        for p in entries
        if p.is_file()
        and p.suffix.lower() in LOG_SUFFIXES
        and p.name.lower() not in _SKIPPED_FILES
        and not p.name.startswith(".")
    ]
    if depth < _MAX_DEPTH:
        for sub in subdirs:
            found.extend(_discover_dir(sub, depth=depth + 1))
    return found


def _unique_names(runs: list[TrainingRun], notes: list[str]) -> list[TrainingRun]:
    counts: dict[str, int] = {}
    for run in runs:
        counts[run.name] = counts.get(run.name, 0) + 1
    seen: dict[str, int] = {}
    result = []
    for run in runs:
        name = run.name
        if counts[name] > 1:
            parent = run.source.resolve().parent
            if run.source.is_file() and run.source.stem.lower() in _GENERIC_STEMS:
                parent = parent.parent
            candidate = f"{parent.name}/{name}"
            seen[candidate] = seen.get(candidate, 0) + 1
            if seen[candidate] > 1:
                candidate = f"{candidate} ({seen[candidate]})"
            notes.append(f"Two runs were named {name!r}; renamed the one from {run.source} to "
                         f"{candidate!r}.")  # fmt: skip
            run = _replace(run, name=candidate)
        result.append(run)
    return result


def _replace(run: TrainingRun, **changes: object) -> TrainingRun:
    values = {
        "name": run.name,
        "source": run.source,
        "train_size": run.train_size,
        "curves": run.curves,
        "x_axis": run.x_axis,
        "notes": run.notes,
        "format": run.format,
        "raw_names": run.raw_names,
    }
    values.update(changes)
    return TrainingRun(**values)  # type: ignore[arg-type]


def _apply_train_sizes(
    runs: list[TrainingRun], train_sizes: Mapping[str, int], notes: list[str]
) -> list[TrainingRun]:
    names = {run.name for run in runs}
    for key, size in train_sizes.items():
        if isinstance(size, bool) or not isinstance(size, int | np.integer) or size <= 0:
            raise ProjectError(
                f"Expected training_logs.train_sizes.{key} to be a positive integer, "
                f"but got {size!r}."
            )
        if key not in names:
            notes.append(
                f"training_logs.train_sizes names run {key!r}, but the runs are: "
                f"{', '.join(sorted(names))}."
            )
    result = []
    for run in runs:
        size = run.train_size
        if run.name in train_sizes:
            size = int(train_sizes[run.name])
        elif size is None:
            match = _TRAIN_SIZE_IN_NAME.search(run.name) or _TRAIN_SIZE_IN_NAME.search(
                str(run.source)
            )
            if match:
                size = int(match.group(1))
        result.append(run if size == run.train_size else _replace(run, train_size=size))
    return result


def _reason(error: ProjectError) -> str:
    """The part of a reader's message after ``Training log PATH:``."""
    text = str(error)
    head, sep, tail = text.partition(": ")
    return tail if sep and head.startswith("Training log") else text


# --------------------------------------------------------------------------- raw series


@dataclass
class _RawSeries:
    """One raw metric in record order."""

    raw_name: str
    steps: np.ndarray  # (n,) int64
    epochs: np.ndarray  # (n,) float64, NaN when unknown
    values: np.ndarray  # (n,) float64, may hold NaN/inf
    n_bad_text: int = 0  # cells that were text, not numbers (dropped before)
    n_empty: int = 0  # empty cells on rows that logged something else (dense CSV only)


@dataclass
class _RawLog:
    format: LogFormat
    series: list[_RawSeries]
    all_names: list[str]  # every column/tag, for the error message
    step_unit: Literal["step", "epoch", "row"] = "step"
    train_size: int | None = None
    notes: list[str] = field(default_factory=list)
    sparse_rows: bool = False
    epoch_map: tuple[np.ndarray, np.ndarray] | None = None  # (steps, epochs) known pairs


def _read_run(
    candidate: _Candidate, overrides: Mapping[str, tuple[str, str]]
) -> tuple[TrainingRun, set[str]]:
    path = candidate.path
    if candidate.kind == "tensorboard":
        raw = _read_tensorboard(path)
    elif candidate.kind == "hf":
        raw = _read_json_file(path)
    else:
        raw = _read_log_file(path)
        if raw.train_size is None:
            raw.train_size = _train_size_from_hparams_file(path.parent / "hparams.yaml")
    return _build_run(candidate.name, path, raw, overrides)


def _train_size_from_hparams_file(path: Path) -> int | None:
    """``train_size: N`` in Lightning's ``hparams.yaml`` next to ``metrics.csv``."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    match = re.search(r"^\s*train_size\s*:\s*(\d+)\s*$", text, re.MULTILINE)
    return int(match.group(1)) if match and int(match.group(1)) > 0 else None


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ProjectError(f"Training log {path}: cannot read it ({error.strerror}).") from error
    if b"\x00" in data[:4096]:
        raise ProjectError(
            f"Training log {path}: this is a binary file, not a text log (expected CSV, JSON "
            "lines or trainer_state.json; TensorBoard files must be named events.out.tfevents.*)."
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ProjectError(
            f"Training log {path}: cannot read it as UTF-8 text (byte {error.start})."
        ) from error


def _read_log_file(path: Path) -> _RawLog:
    suffix = path.suffix.lower()
    if suffix in (".json", ".jsonl", ".ndjson"):
        return _read_json_file(path)
    text = _read_text(path)
    stripped = text.lstrip()
    if suffix not in (".csv", ".tsv") and stripped.startswith(("{", "[")):
        return _read_json_file(path, text=text)
    return _read_csv_text(path, text)


# ---- CSV


def _read_csv_text(path: Path, text: str) -> _RawLog:
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise ProjectError(f"Training log {path}: the file is empty (expected a CSV header row).")
    header_line = lines[0]
    if path.suffix.lower() == ".tsv" or ("\t" in header_line and "," not in header_line):
        delimiter = "\t"
    elif ";" in header_line and "," not in header_line:
        delimiter = ";"
    else:
        delimiter = ","
    try:
        rows = list(csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter))
    except csv.Error as error:
        raise ProjectError(f"Training log {path}: cannot parse it as CSV ({error}).") from error
    header = [h.strip() for h in rows[0]]
    if len(header) < 2:
        raise ProjectError(
            f"Training log {path}: the CSV header has a single column ({header[0]!r}); expected "
            "columns such as epoch, train_loss, val_loss, or step,metric,value."
        )
    header = _dedupe_header(header)
    notes: list[str] = []
    data_rows: list[list[str]] = []
    repeated_headers = too_long = too_short = 0
    width = len(header)
    for row in rows[1:]:
        if row == rows[0]:
            repeated_headers += 1
            continue
        if len(row) > width:
            too_long += 1
            continue
        if len(row) < width:
            too_short += 1
            row = row + [""] * (width - len(row))
        data_rows.append(row)
    if repeated_headers:
        notes.append(
            f"The header line was repeated {_times(repeated_headers)} inside the file (the log was "
            "appended to by a restarted run); skipped the repeats."
        )
    if too_long:
        notes.append(
            f"Skipped {_count(too_long, 'row')} with more fields than the header has columns."
        )
    if too_short:
        notes.append(
            f"{_count(too_short, 'row').capitalize()} had fewer fields than the header (an "
            "interrupted write?); treated the missing fields as empty."
        )
    if not data_rows:
        raise ProjectError(f"Training log {path}: the CSV has a header but no data rows.")
    frame = pd.DataFrame(data_rows, columns=header, dtype=object)
    table = _Table({name: frame[name] for name in header}, len(data_rows))
    raw = _table_to_raw(path, table, default_format="csv", dense=True)
    raw.notes[:0] = notes
    if raw.format == "csv" and raw.sparse_rows:
        raw.format = "lightning_csv"
    return raw


def _dedupe_header(header: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    result = []
    for name in header:
        if name in seen:
            seen[name] += 1
            result.append(f"{name}.{seen[name]}")
        else:
            seen[name] = 0
            result.append(name)
    return result


# ---- JSON


def _read_json_file(path: Path, *, text: str | None = None) -> _RawLog:
    if text is None:
        text = _read_text(path)
    if not text.strip():
        raise ProjectError(f"Training log {path}: the file is empty.")
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        return _read_json_lines(path, text)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        if text.lstrip().startswith("{"):
            try:
                return _read_json_lines(path, text)  # JSON lines in a .json file
            except ProjectError:
                pass
        raise ProjectError(
            f"Training log {path}: not valid JSON ({error.msg} at line {error.lineno}); expected "
            "trainer_state.json, a list of records, or JSON lines."
        ) from error
    return _json_document_to_raw(path, document)


def _json_document_to_raw(path: Path, document: object) -> _RawLog:
    if isinstance(document, dict) and isinstance(document.get("log_history"), list):
        return _hf_to_raw(path, document)
    if isinstance(document, list) and document and all(isinstance(r, dict) for r in document):
        return _records_to_raw(path, [_flatten(r) for r in document], default_format="json")
    if (
        isinstance(document, dict)
        and document
        and all(isinstance(v, list) for v in document.values())
    ):
        length = max(len(v) for v in document.values())
        records: list[dict[str, object]] = [
            {k: v[i] for k, v in document.items() if i < len(v)} for i in range(length)
        ]
        if _find_column(list(document), (*_EPOCH_COLUMNS, *_STEP_COLUMNS)) is None:
            for i, record in enumerate(records):
                record["epoch"] = i
            raw = _records_to_raw(path, records, default_format="json")
            raw.notes.append("The history has no epoch key; numbered the epochs from 0.")
            return raw
        return _records_to_raw(path, records, default_format="json")
    if isinstance(document, dict):
        return _records_to_raw(path, [_flatten(document)], default_format="json")
    raise ProjectError(
        f"Training log {path}: unexpected JSON layout (expected trainer_state.json with "
        "log_history, a list of records, a {metric: [values]} history, or JSON lines)."
    )


def _hf_to_raw(path: Path, document: dict) -> _RawLog:
    history = document["log_history"]
    records = []
    summaries = 0
    for entry in history:
        if not isinstance(entry, dict):
            continue
        if any(str(k).startswith("train_runtime") for k in entry):
            summaries += 1  # the end-of-training summary: train_loss there is a run average
            continue
        records.append(_flatten(entry))
    if not records:
        raise ProjectError(
            f"Training log {path}: trainer_state.json has an empty log_history (expected "
            "entries such as {'loss': ..., 'step': ...} and {'eval_loss': ..., 'step': ...})."
        )
    raw = _records_to_raw(path, records, default_format="hf_trainer_state")
    raw.format = "hf_trainer_state"
    if summaries:
        raw.notes.append(
            "Skipped the end-of-training summary entry of log_history (its train_loss is the "
            "average over the whole run, not a point of the curve)."
        )
    return raw


def _read_json_lines(path: Path, text: str) -> _RawLog:
    records: list[dict[str, object]] = []
    bad_lines: list[int] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            bad_lines.append(number)
            continue
        if isinstance(record, dict):
            records.append(_flatten(record))
        else:
            bad_lines.append(number)
    if not records:
        raise ProjectError(
            f"Training log {path}: no line is a JSON object (expected JSON lines such as "
            '{"epoch": 1, "train_loss": 0.5, "val_loss": 0.6}).'
        )
    raw = _records_to_raw(path, records, default_format="jsonl")
    if bad_lines:
        shown = ", ".join(str(n) for n in bad_lines[:3]) + (", ..." if len(bad_lines) > 3 else "")
        raw.notes.insert(
            0,
            f"Skipped {_count(len(bad_lines), 'line')} that {_is_are(len(bad_lines))} not a JSON "
            f"object (line {shown}); a run that was killed mid-write leaves one.",
        )
    return raw


def _flatten(record: Mapping[str, object], prefix: str = "") -> dict[str, object]:
    flat: dict[str, object] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, prefix=f"{name}/"))
        else:
            flat[name] = value
    return flat


def _records_to_raw(
    path: Path, records: list[dict[str, object]], *, default_format: LogFormat
) -> _RawLog:
    names: list[str] = []
    seen: set[str] = set()
    for record in records:
        for key in record:
            if key not in seen:
                seen.add(key)
                names.append(key)
    columns = {name: [record.get(name, _ABSENT) for record in records] for name in names}
    return _table_to_raw(path, _Table(columns, len(records)), default_format=default_format)


# ---- tables (CSV and JSON share this)


_NAN_WORDS = ("nan", "-nan", "null", "none", "na", "n/a")


@dataclass
class _Table:
    """Columns in record order: CSV text (``""`` not logged) or JSON values (``_ABSENT``)."""

    columns: dict[str, list[object] | pd.Series]
    n_rows: int
    _parsed: dict[str, tuple[np.ndarray, np.ndarray, int]] = field(default_factory=dict)

    def parse(self, name: str) -> tuple[np.ndarray, np.ndarray, int]:
        """``(values, present, n_text)`` of a column (see :func:`_parse_cells`), cached."""
        if name not in self._parsed:
            self._parsed[name] = _parse_cells(self.columns[name])
        return self._parsed[name]


def _parse_cells(cells: list[object] | pd.Series) -> tuple[np.ndarray, np.ndarray, int]:
    """``(values, present, n_text)``: floats (NaN for null/absent), which cells were logged.

    A cell is logged when it holds a number, a null or a NaN word; text that is not a number is
    counted in ``n_text`` and not logged.
    """
    if isinstance(cells, pd.Series):
        return _parse_text_cells(cells)
    values = np.full(len(cells), np.nan)
    present = np.zeros(len(cells), dtype=bool)
    n_text = 0
    for i, cell in enumerate(cells):
        if cell is _ABSENT:
            continue
        if cell is None:
            present[i] = True
            continue
        if isinstance(cell, bool):
            continue
        if isinstance(cell, int | float):
            values[i] = float(cell)
            present[i] = True
            continue
        if isinstance(cell, str):
            text = cell.strip()
            lowered = text.lower()
            if not text:
                continue
            if lowered in _NAN_WORDS:
                present[i] = True
                continue
            try:
                values[i] = float(text)
                present[i] = True
            except ValueError:
                n_text += 1
            continue
        n_text += 1
    return values, present, n_text


def _parse_text_cells(cells: pd.Series) -> tuple[np.ndarray, np.ndarray, int]:
    """The vectorised :func:`_parse_cells` for a CSV column of text."""
    text = cells.astype(str).str.strip()
    absent = (text == "").to_numpy()
    nan_word = text.str.lower().isin(_NAN_WORDS).to_numpy()
    numbers = pd.to_numeric(text.where(~(absent | nan_word)), errors="coerce").to_numpy(float)
    bad = ~absent & ~nan_word & np.isnan(numbers)
    present = ~absent & ~bad
    return np.where(present, numbers, np.nan), present, int(bad.sum())


def _find_column(names: list[str], candidates: Sequence[str]) -> str | None:
    lowered = {name.lower(): name for name in names}
    for candidate in candidates:
        if candidate in lowered:
            return lowered[candidate]
    return None


def _table_to_raw(
    path: Path, table: _Table, *, default_format: LogFormat, dense: bool = False
) -> _RawLog:
    names = list(table.columns)
    value_col = _find_column(names, ("value",))
    name_col = _find_column(names, _LONG_NAME_COLUMNS)
    if value_col is not None and name_col is not None:
        return _long_table_to_raw(path, table, value_col, name_col)
    step_col = _find_column(names, _STEP_COLUMNS)
    epoch_col = _find_column(names, _EPOCH_COLUMNS)
    notes: list[str] = []
    steps, epochs, step_unit = _table_steps(table, step_col, epoch_col, notes)
    train_size = _constant_train_size(table, names, notes)
    series: list[_RawSeries] = []
    non_numeric: list[str] = []
    for name in names:
        if name in (step_col, epoch_col) or name.lower() == "train_size":
            continue
        values, present, n_text = table.parse(name)
        if not present.any():
            non_numeric.append(name)
            continue
        rows = present & (steps >= 0)
        series.append(
            _RawSeries(
                raw_name=name,
                steps=steps[rows],
                epochs=epochs[rows],
                values=values[rows],
                n_bad_text=n_text,
            )
        )
    missing_step = int((steps < 0).sum())
    if missing_step:
        notes.append(f"Skipped {_count(missing_step, 'row')} without a {step_col or 'step'} value.")
    raw = _RawLog(
        format=default_format,
        series=series,
        all_names=[n for n in names if n not in (step_col, epoch_col)],
        step_unit=step_unit,
        train_size=train_size,
        notes=notes,
    )
    if step_col is not None and epoch_col is not None:
        known = (steps >= 0) & np.isfinite(epochs)
        raw.epoch_map = (steps[known], epochs[known])
    raw.sparse_rows = _rows_are_sparse(table, series)
    if dense and not raw.sparse_rows:
        logged_any = np.zeros(table.n_rows, dtype=bool)
        presence = {}
        for s in series:
            _, present, _ = table.parse(s.raw_name)
            presence[s.raw_name] = present
            logged_any |= present
        for s in series:
            s.n_empty = int((logged_any & ~presence[s.raw_name]).sum())
    return raw


def _rows_are_sparse(table: _Table, series: list[_RawSeries]) -> bool:
    """Whether train and held-out metrics sit on different rows (Lightning's CSVLogger)."""
    train_rows = np.zeros(table.n_rows, dtype=bool)
    held_rows = np.zeros(table.n_rows, dtype=bool)
    for s in series:
        parsed = _parse_name(s.raw_name)
        if parsed is None:
            continue
        _, present, _ = table.parse(s.raw_name)
        if parsed[0] == "train":
            train_rows |= present
        else:
            held_rows |= present
    return bool((train_rows & ~held_rows).any() and (held_rows & ~train_rows).any())


def _table_steps(
    table: _Table, step_col: str | None, epoch_col: str | None, notes: list[str]
) -> tuple[np.ndarray, np.ndarray, Literal["step", "epoch", "row"]]:
    """Per row: step (int64, -1 when missing), epoch (float, NaN when unknown), step unit."""
    n = table.n_rows
    epochs = np.full(n, np.nan)
    if epoch_col is not None:
        epochs, _, _ = table.parse(epoch_col)
    if step_col is not None:
        raw_steps, _, _ = table.parse(step_col)
        steps = np.where(np.isfinite(raw_steps), np.round(raw_steps), -1).astype(np.int64)
        return steps, epochs, "step"
    if epoch_col is not None and np.isfinite(epochs).any():
        return _steps_from_epochs(epochs), epochs, "epoch"
    notes.append("The log has no step or epoch column; used the row order as the step.")
    return np.arange(n, dtype=np.int64), epochs, "row"


def _steps_from_epochs(epochs: np.ndarray) -> np.ndarray:
    finite = np.isfinite(epochs)
    steps = np.full(len(epochs), -1, dtype=np.int64)
    if np.allclose(epochs[finite], np.round(epochs[finite])):
        steps[finite] = np.round(epochs[finite]).astype(np.int64)
    else:
        unique = np.unique(epochs[finite])
        steps[finite] = np.searchsorted(unique, epochs[finite])
    return steps


def _constant_train_size(table: _Table, names: list[str], notes: list[str]) -> int | None:
    column = _find_column(names, ("train_size",))
    if column is None:
        return None
    values, _, _ = table.parse(column)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None
    unique = np.unique(values)
    if unique.size > 1:
        notes.append(
            f"The train_size column holds {unique.size} different values; used the last one "
            f"({int(values[-1])})."
        )
    return int(values[-1]) if values[-1] > 0 else None


def _long_table_to_raw(path: Path, table: _Table, value_col: str, name_col: str) -> _RawLog:
    names = list(table.columns)
    step_col = _find_column(names, _STEP_COLUMNS)
    epoch_col = _find_column(names, _EPOCH_COLUMNS)
    split_col = _find_column(names, ("split", "phase", "stage", "subset"))
    notes: list[str] = []
    values, present, n_text = table.parse(value_col)
    labels = [
        "" if cell is _ABSENT or cell is None else str(cell).strip()
        for cell in table.columns[name_col]
    ]
    if split_col is not None:
        splits = [
            "" if cell is _ABSENT or cell is None else str(cell).strip()
            for cell in table.columns[split_col]
        ]
        labels = [f"{s}_{m}" if s else m for s, m in zip(splits, labels, strict=True)]
    epochs = np.full(table.n_rows, np.nan)
    if epoch_col is not None:
        epochs, _, _ = table.parse(epoch_col)
    step_unit: Literal["step", "epoch", "row"] = "step"
    if step_col is not None:
        raw_steps, _, _ = table.parse(step_col)
        steps = np.where(np.isfinite(raw_steps), np.round(raw_steps), -1).astype(np.int64)
    elif epoch_col is not None:
        steps, step_unit = _steps_from_epochs(epochs), "epoch"
    else:
        steps = np.full(table.n_rows, -1, dtype=np.int64)
        counters: dict[str, int] = {}
        for i, label in enumerate(labels):
            steps[i] = counters.get(label, 0)
            counters[label] = steps[i] + 1
        step_unit = "row"
        notes.append("The log has no step or epoch column; used each metric's row order.")
    order: list[str] = []
    for label in labels:
        if label and label not in order:
            order.append(label)
    label_array = np.array(labels, dtype=object)
    series = []
    for label in order:
        rows = (label_array == label) & present & (steps >= 0)
        series.append(_RawSeries(label, steps[rows], epochs[rows], values[rows], n_bad_text=0))
    if n_text:
        notes.append(f"Skipped {_count(n_text, 'row')} whose {value_col} is not a number.")
    missing_step = int(((steps < 0) & present).sum())
    if missing_step:
        notes.append(f"Skipped {_count(missing_step, 'row')} without a {step_col} value.")
    raw = _RawLog(
        format="long_csv",
        series=series,
        all_names=order,
        step_unit=step_unit,
        notes=notes,
    )
    if step_col is not None and epoch_col is not None:
        known = (steps >= 0) & np.isfinite(epochs)
        raw.epoch_map = (steps[known], epochs[known])
    return raw


# ---- TensorBoard


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


# --------------------------------------------------------------------------- building the run


def _build_run(
    name: str, source: Path, raw: _RawLog, overrides: Mapping[str, tuple[str, str]]
) -> tuple[TrainingRun, set[str]]:
    notes = list(raw.notes)
    used: set[str] = set()
    mapped: dict[tuple[str, str], list[tuple[_RawSeries, str | None, bool]]] = {}
    ignored: list[str] = []
    for s in raw.series:
        target = _map_name(s.raw_name, overrides)
        if target is None:
            ignored.append(s.raw_name)
            continue
        split, metric, variant, overridden = target
        if overridden:
            used.add(s.raw_name)
        mapped.setdefault((split, metric), []).append((s, variant, overridden))
    if not mapped:
        found = ", ".join(raw.all_names[:12]) + (", ..." if len(raw.all_names) > 12 else "")
        what = {"tensorboard": "scalar tags", "jsonl": "metric keys", "json": "metric keys"}.get(
            raw.format, "metric columns"
        )
        raise ProjectError(
            f"Training log {source}: no recognisable {what} (expected names like train_loss, "
            f"val_accuracy; found: {found or 'nothing'}). Map them with "
            "training_logs.metric_names in the project file."
        )
    if ignored:
        notes.append(
            f"Ignored {_count(len(ignored), _field_word(raw.format))} "
            f"that {_is_are(len(ignored))} not train/validation/test metrics: "
            + ", ".join(ignored[:8])
            + (", ..." if len(ignored) > 8 else "")
            + "."
        )
    if raw.sparse_rows:
        notes.append(
            "Train and validation metrics were logged on separate rows"
            + (" (as Lightning's CSVLogger does)" if raw.format == "lightning_csv" else "")
            + "; matched them by step and epoch."
        )
    held_out_axis = _held_out_x_axis(mapped, raw)
    restarts: list[tuple[int, int, str]] = []
    frames: list[pd.DataFrame] = []
    raw_names: dict[tuple[str, str], str] = {}
    for (split, metric), options in mapped.items():
        chosen, dropped = _choose_variant(options, held_out_axis if split == "train" else None)
        label = metric_label(split, metric)
        for other in dropped:
            notes.append(
                f"Used {chosen.raw_name} for {label}; ignored {other.raw_name}, which maps to the "
                "same curve."
            )
        frame, series_notes, series_restarts = _clean_series(chosen, label, raw)
        notes.extend(series_notes)
        restarts.extend((start, end, label) for start, end in series_restarts)
        raw_names[(split, metric)] = chosen.raw_name
        if frame.empty:
            notes.append(f"{label.capitalize()} has no finite value; left it out.")
            continue
        frame["split"] = split
        frame["metric"] = metric
        frames.append(frame)
    notes.extend(_restart_notes(restarts, raw.step_unit))
    if not frames:
        raise ProjectError(
            f"Training log {source}: every value of its metrics is missing, NaN or infinite."
        )
    curves = pd.concat(frames, ignore_index=True)[list(CURVE_COLUMNS)]
    curves = _fill_epochs(curves, raw.epoch_map)
    split_order = {s: i for i, s in enumerate(SPLITS)}
    curves = (
        curves.assign(_order=curves["split"].map(split_order))
        .sort_values(["_order", "metric", "step"], kind="stable")
        .drop(columns="_order")
        .reset_index(drop=True)
    )
    curves["step"] = curves["step"].astype(np.int64)
    curves["epoch"] = curves["epoch"].astype(float)
    curves["value"] = curves["value"].astype(float)
    kept = {(frame["split"].iat[0], frame["metric"].iat[0]) for frame in frames}
    raw_names = {key: raw_name for key, raw_name in raw_names.items() if key in kept}
    run = TrainingRun(
        name=name,
        source=source,
        train_size=raw.train_size,
        curves=curves,
        x_axis=_x_axis(curves),
        notes=tuple(notes),
        format=raw.format,
        raw_names=raw_names,
    )
    return run, used


def _held_out_x_axis(
    mapped: Mapping[tuple[str, str], list[tuple[_RawSeries, str | None, bool]]], raw: _RawLog
) -> XAxis | None:
    """Whether held-out metrics are per epoch (so per-epoch train variants fit them best)."""
    held = [options[0][0] for (split, _), options in mapped.items() if split != "train"]
    if not held:
        return None
    if raw.step_unit == "epoch":
        return "epoch"
    for s in held:
        epochs = s.epochs
        if raw.epoch_map is not None and not np.isfinite(epochs).all():
            epochs = _lookup_epochs(s.steps, epochs, raw.epoch_map)
        if not len(epochs) or not np.isfinite(epochs).all():
            return "step"
        index = epoch_index(epochs)
        if len(np.unique(index)) < len(index):
            return "step"
    return "epoch"


def _choose_variant(
    options: list[tuple[_RawSeries, str | None, bool]], axis: XAxis | None
) -> tuple[_RawSeries, list[_RawSeries]]:
    """Pick one raw series per curve: an override, then by Lightning variant, then most points."""

    def rank(option: tuple[_RawSeries, str | None, bool]) -> tuple[int, int, int]:
        s, variant, overridden = option
        if axis == "step":
            variant_rank = {"step": 0, None: 1, "epoch": 2}[variant]
        else:
            variant_rank = {None: 0, "epoch": 1, "step": 2}[variant]
        return (0 if overridden else 1, variant_rank, -int(np.isfinite(s.values).sum()))

    ordered = sorted(options, key=rank)
    return ordered[0][0], [o[0] for o in ordered[1:]]


def _clean_series(
    s: _RawSeries, label: str, raw: _RawLog
) -> tuple[pd.DataFrame, list[str], list[tuple[int, int]]]:
    """Restarts, duplicates, order and non-finite values of one series, in that order."""
    notes: list[str] = []
    unit = raw.step_unit
    steps, epochs, values = s.steps, s.epochs, s.values
    n = len(steps)
    keep = np.ones(n, dtype=bool)
    restarts: list[tuple[int, int]] = []
    duplicates = 0
    if n and not np.all(np.diff(steps) > 0):
        kept_at: dict[int, int] = {}
        max_step = None
        for i in range(n):
            step = int(steps[i])
            if step in kept_at:
                j = kept_at[step]
                same = (values[i] == values[j]) or (np.isnan(values[i]) and np.isnan(values[j]))
                if step == max_step and same:
                    keep[i] = False
                    duplicates += 1
                    continue
                old_max = max_step
                for other in [k for k in kept_at if k >= step]:
                    keep[kept_at.pop(other)] = False
                restarts.append((step, int(old_max)))
                max_step = max(kept_at) if kept_at else None
            kept_at[step] = i
            max_step = step if max_step is None else max(max_step, step)
    if duplicates:
        notes.append(
            f"Dropped {_count(duplicates, 'duplicate row')} of {label} (the same {unit} and value "
            "logged twice)."
        )
    steps, epochs, values = steps[keep], epochs[keep], values[keep]
    order = np.argsort(steps, kind="stable")
    if not np.array_equal(order, np.arange(len(steps))):
        out_of_order = int((np.diff(steps) < 0).sum())
        notes.append(
            f"The {unit}s of {label} were not in increasing order ({_count(out_of_order, 'jump')} "
            "back without a repeat); sorted them."
        )
        steps, epochs, values = steps[order], epochs[order], values[order]
    nan = np.isnan(values)
    inf = np.isinf(values)
    if nan.any():
        notes.append(
            f"Dropped {_count(int(nan.sum()), 'NaN value')} of {label} "
            f"({_steps_text(steps[nan], unit)})."
        )
    if inf.any():
        notes.append(
            f"Dropped {_count(int(inf.sum()), 'infinite value')} of {label} "
            f"({_steps_text(steps[inf], unit)})."
        )
    if s.n_bad_text:
        notes.append(
            f"Dropped {_count(s.n_bad_text, 'value')} of {label} that {_is_are(s.n_bad_text)} "
            "text, not numbers."
        )
    if s.n_empty:
        total = s.n_empty + n
        notes.append(
            f"{label.capitalize()} is empty on {s.n_empty} of {total} rows; used the "
            f"{_count(n, 'logged value')}."
        )
    finite = np.isfinite(values)
    frame = pd.DataFrame({"step": steps[finite], "epoch": epochs[finite], "value": values[finite]})
    return frame, notes, restarts


def _restart_notes(restarts: list[tuple[int, int, str]], unit: str) -> list[str]:
    by_start: dict[int, tuple[int, list[str]]] = {}
    for start, end, label in restarts:
        old_end, labels = by_start.get(start, (start, []))
        labels.append(label)
        by_start[start] = (max(old_end, end), labels)
    notes = []
    for start, (end, labels) in sorted(by_start.items()):
        what = ", ".join(labels)
        if end > start:
            notes.append(
                f"{unit.capitalize()}s {start}..{end} were logged twice (a restart from {unit} "
                f"{start}); kept the later values ({what})."
            )
        else:
            notes.append(
                f"{unit.capitalize()} {start} was logged twice with different values; kept the "
                f"later value ({what})."
            )
    return notes


def _lookup_epochs(
    steps: np.ndarray, epochs: np.ndarray, epoch_map: tuple[np.ndarray, np.ndarray]
) -> np.ndarray:
    """Fill unknown epochs from known (step, epoch) pairs: the last pair at or before the step."""
    map_steps, map_epochs = epoch_map
    result = np.asarray(epochs, dtype=float).copy()
    if len(map_steps) == 0:
        return result
    order = np.argsort(map_steps, kind="stable")
    map_steps, map_epochs = map_steps[order], map_epochs[order]
    # a step logged several times keeps its last epoch
    last = np.r_[map_steps[1:] != map_steps[:-1], True]
    map_steps, map_epochs = map_steps[last], map_epochs[last]
    missing = ~np.isfinite(result)
    position = np.searchsorted(map_steps, steps[missing], side="right") - 1
    position = np.clip(position, 0, len(map_steps) - 1)
    result[missing] = map_epochs[position]
    return result


def _fill_epochs(
    curves: pd.DataFrame, epoch_map: tuple[np.ndarray, np.ndarray] | None
) -> pd.DataFrame:
    if epoch_map is None or curves["epoch"].notna().all():
        return curves
    curves = curves.copy()
    curves["epoch"] = _lookup_epochs(
        curves["step"].to_numpy(), curves["epoch"].to_numpy(dtype=float), epoch_map
    )
    return curves


def _x_axis(curves: pd.DataFrame) -> XAxis:
    splits = set(curves["split"])
    reference = next((s for s in ("validation", "test", "train") if s in splits), "train")
    held = curves[curves["split"] == reference]
    if held["epoch"].isna().any():
        return "step"
    for _, group in held.groupby("metric"):
        index = epoch_index(group["epoch"].to_numpy())
        if len(np.unique(index)) < len(index):
            return "step"
    return "epoch"


# --------------------------------------------------------------------------- wording


def _field_word(log_format: str) -> str:
    if log_format == "tensorboard":
        return "tag"
    return "key" if log_format in ("jsonl", "json", "hf_trainer_state") else "column"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _times(n: int) -> str:
    return "once" if n == 1 else f"{n} times"


def _is_are(n: int) -> str:
    return "is" if n == 1 else "are"


def _steps_text(steps: np.ndarray, unit: str) -> str:
    steps = np.asarray(steps)
    if len(steps) <= 3:
        return (
            f"{unit} " + ", ".join(str(int(s)) for s in steps)
            if len(steps) == 1
            else (f"{unit}s " + ", ".join(str(int(s)) for s in steps))
        )
    return f"{unit}s {int(steps.min())}..{int(steps.max())}"
