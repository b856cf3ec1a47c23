"""Finding the runs under the paths of the project file (one file is one run; a TensorBoard or
Hugging Face folder is one run), unique run names, train sizes, and the files a cache is keyed
by.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from gengap_dash.data.training_logs.names import _SPLIT_ALIASES, _clean_name, _parse_name
from gengap_dash.data.training_logs.runs import TrainingRun, _replace
from gengap_dash.project.errors import ProjectError

LOG_SUFFIXES: tuple[str, ...] = (".csv", ".tsv", ".jsonl", ".ndjson", ".json")
"""File suffixes that a directory scan reads as training logs (besides TensorBoard files)."""


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
