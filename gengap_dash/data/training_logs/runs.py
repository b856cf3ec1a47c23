"""Training runs as data: ``TrainingRun`` (one run's tidy curves) and ``TrainingRuns``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

Split = Literal["train", "validation", "test"]


XAxis = Literal["epoch", "step"]


LogFormat = Literal[
    "csv", "long_csv", "lightning_csv", "jsonl", "json", "hf_trainer_state", "tensorboard"
]


SPLITS: tuple[str, ...] = ("train", "validation", "test")
"""The normalised split names, in display order."""


CURVE_COLUMNS: tuple[str, ...] = ("step", "epoch", "split", "metric", "value")
"""The columns of ``TrainingRun.curves``."""


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


def epoch_index(epochs: np.ndarray) -> np.ndarray:
    """The epoch each point belongs to: ``ceil(epoch)``, with integer epochs kept as they are.

    Lightning and Keras log whole epochs (the epoch being trained); Hugging Face logs fractions of
    epochs completed (0.25, 0.5, ... 1.0), whose ceiling is the epoch they belong to.

    Args:
        epochs: (n,) float epochs.
    """
    epochs = np.asarray(epochs, dtype=float)
    return np.ceil(np.round(epochs, 6))


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
