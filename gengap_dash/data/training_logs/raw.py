"""What every reader returns: the raw series of one log, in record order, before cleaning."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from gengap_dash.data.training_logs.runs import LogFormat
from gengap_dash.project.errors import ProjectError

_ABSENT = object()
"""A cell that was not logged (an empty CSV cell, a key missing from a JSON record)."""


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


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _times(n: int) -> str:
    return "once" if n == 1 else f"{n} times"


def _is_are(n: int) -> str:
    return "is" if n == 1 else "are"
