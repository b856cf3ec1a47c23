"""``load_training_runs``: discover the runs, read each with the reader of its format, and build
the runs with notes in plain words.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from gengap_dash.data.training_logs.building import _build_run
from gengap_dash.data.training_logs.csv_logs import _read_csv_text
from gengap_dash.data.training_logs.discovery import (
    _apply_train_sizes,
    _Candidate,
    _discover,
    _unique_names,
)
from gengap_dash.data.training_logs.json_logs import _read_json_file
from gengap_dash.data.training_logs.names import _normalise_overrides
from gengap_dash.data.training_logs.raw import _RawLog, _read_text
from gengap_dash.data.training_logs.runs import TrainingRun, TrainingRuns
from gengap_dash.data.training_logs.tensorboard_logs import _read_tensorboard
from gengap_dash.project.errors import ProjectError


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


def _reason(error: ProjectError) -> str:
    """The part of a reader's message after ``Training log PATH:``."""
    text = str(error)
    head, sep, tail = text.partition(": ")
    return tail if sep and head.startswith("Training log") else text


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


def _read_log_file(path: Path) -> _RawLog:
    suffix = path.suffix.lower()
    if suffix in (".json", ".jsonl", ".ndjson"):
        return _read_json_file(path)
    text = _read_text(path)
    stripped = text.lstrip()
    if suffix not in (".csv", ".tsv") and stripped.startswith(("{", "[")):
        return _read_json_file(path, text=text)
    return _read_csv_text(path, text)
