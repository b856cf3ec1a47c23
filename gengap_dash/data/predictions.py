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
    sample_ids: Sequence[str] | pd.Series,
    extra: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The hub rows of one split (``extra`` holds its metadata/time columns, row-aligned).

    ``sample_ids`` may be a Series (converted to strings vectorised) or any sequence.
    """
    if isinstance(sample_ids, pd.Series | pd.api.extensions.ExtensionArray):
        ids = pd.Series(sample_ids).astype("string").array  # vectorised, no Python per row
    else:
        ids = pd.array(list(map(str, sample_ids)), dtype="string")
    columns: dict[str, object] = {
        "split": split,
        "sample_id": ids,
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
    path: Path,
    *,
    split_names: Sequence[str],
    n_classes: int | None,
    classes: Sequence[str] | None = None,
) -> dict[str, pd.DataFrame]:
    """Read a predictions file (export format or ``prob_<class>`` columns), one frame per split.

    Class probabilities come either as one ``probs`` list column (the export format) or as one
    column per class: ``prob_<name>`` for each name in ``classes``, or ``prob_0 .. prob_{C-1}``.
    A Parquet ``probs`` column is read through pyarrow's flat list values reshaped with numpy
    (no Python per row); float32 probabilities stay float32.

    Returns:
        split name -> frame with ``sample_id``, ``label`` and the remaining (metadata) columns;
        its ``(n, C)`` probabilities are in ``frame.attrs["probs"]``.

    Raises:
        ProjectError: the file is unreadable, lacks a required column, names an unknown split, or
            holds probabilities that are not finite, of the wrong length, or do not sum to 1.
    """
    where = f"Predictions file {path.name}"
    frame, probs = _read_predictions_file(path, where=where, classes=classes)
    if n_classes is not None and probs.shape[1] != n_classes:
        raise ProjectError(
            f"{where}: 'probs' has {probs.shape[1]} values per row, but the project lists "
            f"{n_classes} classes."
        )
    codes, found = pd.factorize(frame["split"])  # fast on the dictionary-encoded column
    uniques = [str(name) for name in found]
    unknown = sorted(set(uniques) - set(split_names))
    if unknown:
        raise ProjectError(
            f"{where}: split {unknown[0]!r} is not declared under `splits` in the project file "
            f"(declared: {', '.join(split_names)})."
        )
    bad = _not_distributions(probs)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ProjectError(
            f"{where}: row {row} has probabilities that are not finite, negative, or do not sum "
            f"to 1 ({int(bad.sum())} rows in all)."
        )
    result = {}
    position = {name: code for code, name in enumerate(uniques)}
    starts = np.flatnonzero(np.diff(codes, prepend=-1))
    if len(starts) != len(uniques):  # interleaved splits: one stable reorder, then blocks
        order = np.argsort(codes, kind="stable")
        frame, probs, codes = frame.take(order), probs[order], codes[order]
        starts = np.flatnonzero(np.diff(codes, prepend=-1))
    ends = [*starts[1:], len(codes)]
    block_of = {
        int(codes[start]): (int(start), int(end)) for start, end in zip(starts, ends, strict=True)
    }
    for name in split_names:
        start, end = block_of.get(position.get(name, -1), (0, 0))
        part, part_probs = frame.iloc[start:end], probs[start:end]
        part = part.reset_index(drop=True)
        part.attrs["probs"] = part_probs
        result[name] = part
    return result


def _not_distributions(probs: np.ndarray) -> np.ndarray:
    """``(n,)`` rows of ``probs: (n, C)`` that are not finite, negative, or do not sum to 1.

    Whole-array steps only (a row sum by matrix product, one flat minimum), which are several
    times faster at a million rows than per-row reductions over a short axis.
    """
    with np.errstate(invalid="ignore", over="ignore"):
        sums = probs @ np.ones(probs.shape[1], dtype=probs.dtype)  # NaN/inf make it not finite
        bad = ~np.isfinite(sums) | (np.abs(sums - 1.0) > _PROBABILITY_TOLERANCE)
        if probs.size and probs.min() < 0:
            bad |= (probs < 0).any(axis=1)
    return bad


def _read_predictions_file(
    path: Path, *, where: str, classes: Sequence[str] | None
) -> tuple[pd.DataFrame, np.ndarray]:
    """The file's other columns and its ``(n, C)`` probabilities."""
    from gengap_dash.data.tables import read_table, table_columns

    names = table_columns(path)
    probability_names = _probability_column_names(names, classes)
    missing = [c for c in EXPORT_REQUIRED[:3] if c not in names]
    if not missing and "probs" not in names and not probability_names:
        missing = ["probs"]
    if missing:
        raise ProjectError(
            f"{where}: column {missing[0]!r} is missing; the export format needs "
            f"{', '.join(EXPORT_REQUIRED)} (or one prob_<class> column per class instead of "
            "probs)."
        )
    if "probs" in names and probability_names:
        raise ProjectError(
            f"{where}: has both a 'probs' column and {probability_names[0]!r}...; keep one of "
            "the two forms."
        )
    if path.suffix.lower() in (".parquet", ".pq"):
        return _read_parquet(path, where=where, probability_names=probability_names)
    frame = read_table(path)
    if probability_names:
        probs = _numeric_columns(frame, probability_names, where=where)
        return frame.drop(columns=probability_names), probs
    probs = _stack_rows(frame["probs"], where=where)
    return frame.drop(columns=["probs"]), probs


def _numeric_columns(frame: pd.DataFrame, columns: list[str], *, where: str) -> np.ndarray:
    if not all(pd.api.types.is_numeric_dtype(frame[c]) for c in columns):
        raise ProjectError(f"{where}: the columns {', '.join(columns)} must hold numbers.")
    probs = frame[columns].to_numpy()
    return probs if probs.dtype in (np.float32, np.float64) else probs.astype(np.float64)


def _probability_column_names(names: Sequence[str], classes: Sequence[str] | None) -> list[str]:
    """``prob_<class name>`` columns when all are present, else ``prob_0 ..`` (consecutive)."""
    present = set(names)
    if classes:
        by_name = [f"prob_{name}" for name in classes]
        if all(column in present for column in by_name):
            return by_name
        by_index = probability_columns(len(classes))
        return by_index if all(column in present for column in by_index) else []
    columns = []
    while f"prob_{len(columns)}" in present:
        columns.append(f"prob_{len(columns)}")
    return columns


def _read_parquet(
    path: Path, *, where: str, probability_names: list[str]
) -> tuple[pd.DataFrame, np.ndarray]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    ragged = (
        f"{where}: column 'probs' must hold one list of class probabilities per row, all of "
        "the same length."
    )
    try:
        names = pq.read_schema(path).names
        table = pq.read_table(path, read_dictionary=[c for c in ("split",) if c in names])
    except Exception as error:  # noqa: BLE001 - any reader failure is the file's fault
        raise ProjectError(f"{where} could not be read: {error}") from None
    if probability_names:
        kinds = [table.schema.field(name).type for name in probability_names]
        if not all(pa.types.is_floating(k) or pa.types.is_integer(k) for k in kinds):
            raise ProjectError(
                f"{where}: the columns {', '.join(probability_names)} must hold numbers."
            )
        columns = [table.column(name).to_numpy() for name in probability_names]
        dtype = np.result_type(*columns)
        dtype = dtype if dtype in (np.float32, np.float64) else np.dtype(np.float64)
        by_class = np.empty((len(columns), table.num_rows), dtype=dtype)
        for k, values in enumerate(columns):
            by_class[k] = values
        probs = by_class.T  # (n, C), column-major: no second copy
        return table.drop_columns(probability_names).to_pandas(), probs
    column = table.column("probs")
    kind = column.type
    if not (
        pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)
    ):
        raise ProjectError(ragged)
    lists = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    if lists.null_count:
        raise ProjectError(ragged)
    n_rows = len(lists)
    if pa.types.is_fixed_size_list(kind):
        width = kind.list_size
    else:
        offsets = lists.offsets.to_numpy()
        lengths = np.diff(offsets)
        width = int(lengths[0]) if n_rows else 0
        if n_rows and (lengths != width).any():
            raise ProjectError(ragged)
    values = lists.flatten()
    if not (pa.types.is_floating(values.type) or pa.types.is_integer(values.type)):
        raise ProjectError(ragged)
    flat = values.to_numpy(zero_copy_only=False)  # nulls become NaN, refused below
    if not np.issubdtype(flat.dtype, np.floating):
        flat = flat.astype(np.float64)
    if n_rows and width == 0:
        raise ProjectError(ragged)
    probs = flat.reshape(n_rows, width)
    frame = table.drop_columns(["probs"]).to_pandas()
    return frame, probs


def _stack_rows(values: pd.Series, *, where: str) -> np.ndarray:
    """A column of per-row lists (or their JSON text, as CSV holds them) as one ``(n, C)`` array."""
    import json

    try:
        rows = [json.loads(row) if isinstance(row, str) else row for row in values]
        return np.stack([np.asarray(row, dtype=np.float64) for row in rows])
    except (ValueError, TypeError):
        raise ProjectError(
            f"{where}: column 'probs' must hold one list of class probabilities per row, all of "
            "the same length."
        ) from None
