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

    probs: np.ndarray  # (n, C) float64 (float32 when brought as float32)
    pred: np.ndarray  # (n,) int64
    confidence: np.ndarray  # (n,) float64
    loss: np.ndarray  # (n,) float64, cross-entropy in nats

    @classmethod
    def from_logits(cls, logits: np.ndarray, labels: np.ndarray) -> SplitOutputs:
        """Outputs from ``(n, C)`` logits and ``(n,)`` class indices (``-1``: no label, whose
        loss is NaN)."""
        log_probs = log_softmax(logits)
        probs = np.exp(log_probs)
        return cls(probs, probs.argmax(axis=1), probs.max(axis=1), -_at_labels(log_probs, labels))

    @classmethod
    def from_probs(cls, probs: np.ndarray, labels: np.ndarray) -> SplitOutputs:
        """Outputs from ``(n, C)`` probabilities; loss is ``-log p[label]`` (floored at 1e-15;
        NaN for a row without a label, ``-1``). float32 probabilities stay float32 (no
        float64 copy of the whole matrix at ten million rows); confidence and loss are float64."""
        probs = np.asarray(probs)
        if probs.dtype not in (np.float32, np.float64):
            probs = probs.astype(np.float64)
        loss = -np.log(np.clip(_at_labels(probs, labels), 1e-15, None))
        confidence = probs.max(axis=1).astype(np.float64)
        return cls(probs, probs.argmax(axis=1), confidence, loss)


def _at_labels(values: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``values[i, labels[i]]`` for each row, NaN where ``labels[i] < 0`` (no label)."""
    labels = np.asarray(labels, dtype=np.int64)
    picked = values[np.arange(len(labels)), np.maximum(labels, 0)].astype(np.float64)
    picked[labels < 0] = np.nan
    return picked


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
        "correct": (outputs.pred == labels) & (labels >= 0),  # False without a label
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
    labels = export["label"].astype("Int64")
    export["label"] = labels.mask(labels < 0)  # no label (-1 in the hub): null in the file
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
    Embeddings may come the same two ways: one ``embedding`` list column, or ``embedding_0 ..
    embedding_{d-1}`` columns. A Parquet list column is read through pyarrow's flat list values
    reshaped with numpy (no Python per row); float32 probabilities stay float32; embeddings are
    float32. The ``label`` column may be left out, or hold empty values, for splits without
    labels (the workspace decides which roles may).

    Returns:
        split name -> frame with ``sample_id``, ``label`` (all missing when the file has no
        label column) and the remaining (metadata) columns; its ``(n, C)`` probabilities are in
        ``frame.attrs["probs"]`` and its ``(n, d)`` float32 embeddings (when the file brings
        them) in ``frame.attrs["embeddings"]``.

    Raises:
        ProjectError: the file is unreadable, lacks a required column, names an unknown split, or
            holds probabilities that are not finite, of the wrong length, or do not sum to 1, or
            embeddings that are ragged, not numeric, not finite or with a gap in their
            ``embedding_<i>`` columns (naming the file, the column and the split).
    """
    where = f"Predictions file {path.name}"
    frame, probs, embeddings = _read_predictions_file(path, where=where, classes=classes)
    if n_classes is not None and probs.shape[1] != n_classes:
        raise ProjectError(
            f"{where}: 'probs' has {probs.shape[1]} values per row, but the project lists "
            f"{n_classes} classes."
        )
    if "label" not in frame.columns:
        frame["label"] = pd.array([pd.NA] * len(frame), dtype="Int64")
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
    if embeddings is not None:
        _check_finite_embeddings(embeddings, frame["split"], where=where)
    result = {}
    position = {name: code for code, name in enumerate(uniques)}
    starts = np.flatnonzero(np.diff(codes, prepend=-1))
    if len(starts) != len(uniques):  # interleaved splits: one stable reorder, then blocks
        order = np.argsort(codes, kind="stable")
        frame, probs, codes = frame.take(order), probs[order], codes[order]
        embeddings = embeddings[order] if embeddings is not None else None
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
        if embeddings is not None:
            part.attrs["embeddings"] = embeddings[start:end]
        result[name] = part
    return result


def _check_finite_embeddings(embeddings: np.ndarray, splits: pd.Series, *, where: str) -> None:
    """Refuse NaN, infinite or missing embedding values, naming the split and the row."""
    finite = np.isfinite(embeddings.sum(axis=1, dtype=np.float64))
    if finite.all():
        return
    row = int(np.flatnonzero(~finite)[0])
    raise ProjectError(
        f"{where}: the embedding of row {row} (split {str(splits.iloc[row])!r}) holds a missing, "
        f"NaN or infinite value ({int((~finite).sum())} rows in all); embeddings must be finite "
        "numbers."
    )


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
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray | None]:
    """The file's other columns, its ``(n, C)`` probabilities and ``(n, d)`` embeddings."""
    from gengap_dash.data.tables import read_table, table_columns

    names = table_columns(path)
    probability_names = _probability_column_names(names, classes)
    embedding_names = _embedding_column_names(names, where=where)
    missing = [c for c in EXPORT_REQUIRED[:2] if c not in names]
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
    if "embedding" in names and embedding_names:
        raise ProjectError(
            f"{where}: has both an 'embedding' column and {embedding_names[0]!r}...; keep one "
            "of the two forms."
        )
    if path.suffix.lower() in (".parquet", ".pq"):
        return _read_parquet(
            path,
            where=where,
            probability_names=probability_names,
            embedding_names=embedding_names,
            has_embedding_list="embedding" in names,
        )
    frame = read_table(path)
    if probability_names:
        probs = _numeric_columns(frame, probability_names, where=where)
        frame = frame.drop(columns=probability_names)
    else:
        probs = _stack_rows(frame["probs"], where=where, splits=frame["split"])
        frame = frame.drop(columns=["probs"])
    embeddings = None
    if embedding_names:
        embeddings = _numeric_columns(frame, embedding_names, where=where, what="embedding").astype(
            np.float32
        )
        frame = frame.drop(columns=embedding_names)
    elif "embedding" in names:
        embeddings = _stack_rows(
            frame["embedding"], where=where, splits=frame["split"], column="embedding"
        ).astype(np.float32)
        frame = frame.drop(columns=["embedding"])
    return frame, probs, embeddings


def _numeric_columns(
    frame: pd.DataFrame, columns: list[str], *, where: str, what: str = "probability"
) -> np.ndarray:
    bad = [c for c in columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if bad or not columns:
        column = bad[0] if bad else ""
        values = frame[column] if column else pd.Series(dtype=object)
        numbers = pd.to_numeric(values, errors="coerce")
        row = int(np.flatnonzero((numbers.isna() & values.notna()).to_numpy())[0]) if bad else 0
        detail = (
            f" (column {column!r} holds {values.iloc[row]!r} in row {row}, split "
            f"{str(frame['split'].iloc[row])!r})"
            if bad and "split" in frame
            else ""
        )
        raise ProjectError(
            f"{where}: the {what} columns {_listing(columns)} must hold numbers{detail}."
        )
    values = frame[columns].to_numpy()
    return values if values.dtype in (np.float32, np.float64) else values.astype(np.float64)


def _listing(columns: Sequence[str]) -> str:
    if len(columns) <= 4:
        return ", ".join(columns)
    return f"{columns[0]} .. {columns[-1]}"


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


def embedding_columns(width: int) -> list[str]:
    """``["embedding_0", ..., "embedding_{d-1}"]``."""
    return [f"embedding_{i}" for i in range(width)]


def _embedding_column_names(names: Sequence[str], *, where: str) -> list[str]:
    """The ``embedding_<i>`` columns in index order, which must run 0 .. d-1 without a gap.

    Raises:
        ProjectError: naming the first missing index (``embedding_3`` between 2 and 4).
    """
    import re

    indices = sorted(
        int(match.group(1))
        for name in names
        if (match := re.fullmatch(r"embedding_(\d+)", str(name)))
    )
    if not indices:
        return []
    expected = list(range(indices[-1] + 1))
    if indices != expected:
        gap = next(i for i in expected if i not in set(indices))
        raise ProjectError(
            f"{where}: column 'embedding_{gap}' is missing: the embedding columns run from "
            f"embedding_0 to embedding_{indices[-1]}, and every index in between must be there."
        )
    return embedding_columns(len(indices))


def _read_parquet(
    path: Path,
    *,
    where: str,
    probability_names: list[str],
    embedding_names: list[str],
    has_embedding_list: bool,
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray | None]:
    import pyarrow.parquet as pq

    try:
        names = pq.read_schema(path).names
        table = pq.read_table(path, read_dictionary=[c for c in ("split",) if c in names])
    except Exception as error:  # noqa: BLE001 - any reader failure is the file's fault
        raise ProjectError(f"{where} could not be read: {error}") from None
    splits = table.column("split")
    if probability_names:
        probs = _arrow_columns(table, probability_names, where=where, what="probability")
        table = table.drop_columns(probability_names)
    else:
        probs = _arrow_lists(table.column("probs"), where=where, splits=splits, column_name="probs")
        table = table.drop_columns(["probs"])
    embeddings = None
    if embedding_names:
        embeddings = _arrow_columns(
            table, embedding_names, where=where, what="embedding", dtype=np.float32
        )
        table = table.drop_columns(embedding_names)
    elif has_embedding_list:
        embeddings = _arrow_lists(
            table.column("embedding"), where=where, splits=splits, column_name="embedding"
        ).astype(np.float32, copy=False)
        table = table.drop_columns(["embedding"])
    return table.to_pandas(), probs, embeddings


def _arrow_columns(
    table, names: list[str], *, where: str, what: str, dtype: np.dtype | None = None
) -> np.ndarray:
    """``(n, len(names))`` from numeric columns, filled column by column (no second copy)."""
    import pyarrow as pa

    kinds = [table.schema.field(name).type for name in names]
    bad = [n for n, k in zip(names, kinds, strict=True) if not (
        pa.types.is_floating(k) or pa.types.is_integer(k)
    )]  # fmt: skip
    if bad:
        raise ProjectError(
            f"{where}: the {what} columns {_listing(names)} must hold numbers (column "
            f"{bad[0]!r} holds {_arrow_kind(table.schema.field(bad[0]).type)})."
        )
    columns = [table.column(name) for name in names]
    if dtype is None:
        found = np.result_type(*[c.type.to_pandas_dtype() for c in columns])
        dtype = found if found in (np.float32, np.float64) else np.dtype(np.float64)
    by_column = np.empty((len(columns), table.num_rows), dtype=dtype)
    for k, column in enumerate(columns):
        by_column[k] = column.to_numpy()  # nulls become NaN, refused by the caller
    return by_column.T  # (n, k), column-major: no second copy


def _arrow_lists(column, *, where: str, splits, column_name: str) -> np.ndarray:
    """``(n, w)`` from a Parquet list column through its flat values (no Python per row).

    Raises:
        ProjectError: a null or ragged row (naming it and its split), or values that are not
            numbers.
    """
    import pyarrow as pa

    kind = column.type
    if not (
        pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)
    ):
        raise ProjectError(
            f"{where}: column {column_name!r} must hold one list of numbers per row, but it "
            f"holds {kind}."
        )
    lists = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    n_rows = len(lists)
    if lists.null_count:
        row = int(np.flatnonzero(lists.is_null().to_numpy(zero_copy_only=False))[0])
        raise ProjectError(_ragged_message(where, column_name, row, splits, None, None))
    if pa.types.is_fixed_size_list(kind):
        width = kind.list_size
    else:
        lengths = np.diff(lists.offsets.to_numpy())
        width = int(lengths[0]) if n_rows else 0
        if n_rows and (lengths != width).any():
            row = int(np.flatnonzero(lengths != width)[0])
            raise ProjectError(
                _ragged_message(where, column_name, row, splits, width, np.zeros(lengths[row]))
            )
    values = lists.flatten()
    if not (pa.types.is_floating(values.type) or pa.types.is_integer(values.type)):
        raise ProjectError(
            f"{where}: column {column_name!r} must hold lists of numbers, but its values are "
            f"{_arrow_kind(values.type)} (split {_split_at(splits, 0)!r})."
        )
    if n_rows and width == 0:
        raise ProjectError(_ragged_message(where, column_name, 0, splits, None, None))
    flat = values.to_numpy(zero_copy_only=False)  # nulls become NaN, refused by the caller
    if not np.issubdtype(flat.dtype, np.floating):
        flat = flat.astype(np.float64)
    return flat.reshape(n_rows, width)


def _arrow_kind(kind) -> str:
    """``text`` for string columns, else the Arrow type's name (``bool``, ``timestamp[ns]``)."""
    import pyarrow as pa

    return "text" if pa.types.is_string(kind) or pa.types.is_large_string(kind) else str(kind)


def _split_at(splits, row: int) -> str:
    """The split name of ``row`` (a pandas Series or a pyarrow column)."""
    if isinstance(splits, pd.Series):
        return str(splits.iloc[row])
    return str(splits[row].as_py())


def _stack_rows(
    values: pd.Series, *, where: str, splits: pd.Series, column: str = "probs"
) -> np.ndarray:
    """A column of per-row lists (or their JSON text, as CSV holds them) as one ``(n, w)`` array.

    Raises:
        ProjectError: a row that is not a list of numbers, or of another length than row 0,
            naming the row and its split.
    """
    import json

    rows: list[np.ndarray] = []
    width = None
    for index, row in enumerate(values):
        try:
            parsed = json.loads(row) if isinstance(row, str) else row
            array = np.asarray(parsed, dtype=np.float64)
        except (ValueError, TypeError):
            array = None
        if array is None or array.ndim != 1 or (width is not None and len(array) != width):
            raise ProjectError(_ragged_message(where, column, index, splits, width, array))
        width = len(array) if width is None else width
        rows.append(array)
    if not rows:
        return np.zeros((0, 0))
    return np.stack(rows)


def _ragged_message(where, column, row, splits, width, array) -> str:
    what = "class probabilities" if column == "probs" else "numbers"
    found = (
        f"it holds {len(array)} values where row 0 holds {width}"
        if array is not None and array.ndim == 1 and width is not None
        else "it is not a list of numbers"
    )
    return (
        f"{where}: column {column!r} must hold one list of {what} per row, all of the same "
        f"length; row {row} (split {_split_at(splits, row)!r}) does not: {found}."
    )
