"""The hub table: one row per sample per split, built from logits or brought by the user.

Columns: ``split``, ``sample_id``, ``label``, ``pred``, ``confidence``, ``loss``, ``correct``,
``prob_0 .. prob_{C-1}`` and the project's metadata/time columns. The export format replaces the
probability columns by one ``probs`` list column, which is also the format a project may bring
as ``predictions:`` when its inference runs elsewhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from gengap_dash.project.errors import ProjectError

HUB_COLUMNS = ("split", "sample_id", "label", "pred", "confidence", "loss", "correct")
EXPORT_REQUIRED = ("split", "sample_id", "label", "probs")
_PROBABILITY_TOLERANCE = 1e-3


def probability_columns(n_classes: int) -> list[str]:
    """``["prob_0", ..., "prob_{C-1}"]``."""
    return [f"prob_{k}" for k in range(n_classes)]


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Numerically stable ``log_softmax`` over the last axis, in float64."""
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


@dataclass(frozen=True)
class SplitOutputs:
    """Per-sample outputs of one split, derived from its logits (or brought probabilities)."""

    probs: np.ndarray  # (n, C) float64
    pred: np.ndarray  # (n,) int64
    confidence: np.ndarray  # (n,) float64
    loss: np.ndarray  # (n,) float64, cross-entropy in nats

    @classmethod
    def from_logits(cls, logits: np.ndarray, labels: np.ndarray) -> SplitOutputs:
        """Outputs from ``(n, C)`` logits and ``(n,)`` class indices."""
        log_probs = log_softmax(logits)
        probs = np.exp(log_probs)
        rows = np.arange(len(labels))
        return cls(probs, probs.argmax(axis=1), probs.max(axis=1), -log_probs[rows, labels])

    @classmethod
    def from_probs(cls, probs: np.ndarray, labels: np.ndarray) -> SplitOutputs:
        """Outputs from ``(n, C)`` probabilities; loss is ``-log p[label]`` (floored at 1e-15)."""
        probs = np.asarray(probs, dtype=np.float64)
        rows = np.arange(len(labels))
        loss = -np.log(np.clip(probs[rows, labels], 1e-15, None))
        return cls(probs, probs.argmax(axis=1), probs.max(axis=1), loss)


def build_hub_frame(
    split: str,
    outputs: SplitOutputs,
    *,
    labels: np.ndarray,
    sample_ids: Sequence[str],
    extra: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The hub rows of one split (``extra`` holds its metadata/time columns, row-aligned)."""
    columns: dict[str, object] = {
        "split": split,
        "sample_id": pd.array(list(map(str, sample_ids)), dtype="string"),
        "label": labels.astype(np.int64),
        "pred": outputs.pred.astype(np.int64),
        "confidence": outputs.confidence,
        "loss": outputs.loss,
        "correct": outputs.pred == labels,
    }
    for k, name in enumerate(probability_columns(outputs.probs.shape[1])):
        columns[name] = outputs.probs[:, k].astype(np.float32)
    frame = pd.DataFrame(columns)
    if extra is not None:
        for column in extra.columns:
            if column not in frame.columns:
                frame[column] = extra[column].array  # keeps the table's dtype
    return frame


def to_export_frame(hub: pd.DataFrame, n_classes: int) -> pd.DataFrame:
    """The export format: hub columns with the probabilities as one ``probs`` list column."""
    prob_columns = probability_columns(n_classes)
    probs = hub[prob_columns].to_numpy(dtype=np.float64)
    export = hub.drop(columns=[*prob_columns, "correct"]).copy()
    export["split"] = export["split"].astype(str)
    position = export.columns.get_loc("loss") + 1
    export.insert(position, "probs", list(probs))
    return export


def read_brought_predictions(
    path: Path, *, split_names: Sequence[str], n_classes: int | None
) -> dict[str, pd.DataFrame]:
    """Read a predictions file in the export format, one frame per split.

    Returns:
        split name -> frame with ``sample_id``, ``label``, ``probs`` (an ``(n, C)`` array is in
        ``frame.attrs["probs"]``) and the remaining (metadata) columns.

    Raises:
        ProjectError: the file is unreadable, lacks a required column, names an unknown split, or
            holds probabilities that are not finite, of the wrong length, or do not sum to 1.
    """
    from gengap_dash.data.tables import read_table

    frame = read_table(path)
    where = f"Predictions file {path.name}"
    missing = [column for column in EXPORT_REQUIRED if column not in frame.columns]
    if missing:
        raise ProjectError(
            f"{where}: column {missing[0]!r} is missing; the export format needs "
            f"{', '.join(EXPORT_REQUIRED)}."
        )
    splits = frame["split"].astype(str)
    unknown = sorted(set(splits) - set(split_names))
    if unknown:
        raise ProjectError(
            f"{where}: split {unknown[0]!r} is not declared under `splits` in the project file "
            f"(declared: {', '.join(split_names)})."
        )
    try:
        probs = np.stack([np.asarray(row, dtype=np.float64) for row in frame["probs"]])
    except (ValueError, TypeError):
        raise ProjectError(
            f"{where}: column 'probs' must hold one list of class probabilities per row, all of "
            "the same length."
        ) from None
    if n_classes is not None and probs.shape[1] != n_classes:
        raise ProjectError(
            f"{where}: 'probs' has {probs.shape[1]} values per row, but the project lists "
            f"{n_classes} classes."
        )
    bad = ~np.isfinite(probs).all(axis=1) | (probs < 0).any(axis=1)
    bad |= np.abs(probs.sum(axis=1) - 1.0) > _PROBABILITY_TOLERANCE
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ProjectError(
            f"{where}: row {row} has probabilities that are not finite, negative, or do not sum "
            f"to 1 ({int(bad.sum())} rows in all)."
        )
    result = {}
    for name in split_names:
        mask = (splits == name).to_numpy()
        part = frame.loc[mask].drop(columns=["probs"]).reset_index(drop=True)
        part.attrs["probs"] = probs[mask]
        result[name] = part
    return result
