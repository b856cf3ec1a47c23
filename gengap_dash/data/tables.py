"""Read a split's table (CSV, Parquet, or a folder of Parquet files) and check its columns.
User data is only ever read.

A folder table is the rows of its ``.parquet`` files (recursively; names that start with ``_``
or ``.`` are skipped, as Spark and Hive write ``_SUCCESS`` and ``.crc`` files), in path order,
one after the other. Every file must have the same columns.

Also the project's default feature list (tabular inputs without ``inputs.features``): resolved
once, from the first training split, with the columns it leaves out and why; every other split
must then have the same columns.
"""

from __future__ import annotations

import difflib
import errno
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from gengap_dash.project.errors import ProjectError

if TYPE_CHECKING:
    from gengap_dash.project.spec import ProjectSpec

MAX_LISTED_COLUMNS = 50
"""A message that lists a table's columns names at most this many (closest matches first)."""


PARQUET_SUFFIXES = (".parquet", ".pq")


def read_table(path: Path, *, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Read a CSV or Parquet table, or a folder of Parquet files, optionally only some columns.

    Raises:
        ProjectError: the file is missing, unreadable, or lacks a requested column.
    """
    files = table_files(path)
    try:
        if is_parquet(path):
            parts = []
            for file in files:
                _require_columns(file, _parquet_columns(file), columns)
                parts.append(pd.read_parquet(file, columns=list(columns) if columns else None))
            if len(parts) == 1:
                frame = parts[0]
            else:
                table_columns(path)  # every file has the same columns, or the message says which
                frame = pd.concat(parts, ignore_index=True)
        else:
            available = list(pd.read_csv(path, nrows=0).columns)
            _require_columns(path, available, columns)
            frame = pd.read_csv(path, usecols=list(columns) if columns else None)
    except ProjectError:
        raise
    except Exception as error:  # noqa: BLE001 - any reader failure is the file's fault
        raise ProjectError(f"Table {path.name} could not be read: {_first_line(error)}") from None
    if columns:
        frame = frame[list(columns)]
    return frame


def table_columns(path: Path) -> list[str]:
    """The column names of a table without reading its rows (a folder: those of its files,
    which must all have the same)."""
    files = table_files(path)
    try:
        if not is_parquet(path):
            return list(pd.read_csv(path, nrows=0).columns)
        names = _parquet_columns(files[0])
        for file in files[1:]:
            other = _parquet_columns(file)
            if set(other) != set(names):
                extra = sorted(set(other) ^ set(names))[:3]
                raise ProjectError(
                    f"Table folder {path.name}: {file.relative_to(path)} has other columns than "
                    f"{files[0].relative_to(path)} (differing: {', '.join(extra)}); every file "
                    "of a folder table needs the same columns."
                )
        return names
    except ProjectError:
        raise
    except Exception as error:  # noqa: BLE001
        raise ProjectError(f"Table {path.name} could not be read: {_first_line(error)}") from None


def is_parquet(path: Path) -> bool:
    """Whether ``path`` is a Parquet table (a ``.parquet`` file or a folder of them)."""
    return path.suffix.lower() in PARQUET_SUFFIXES or path.is_dir()


def table_files(path: Path) -> list[Path]:
    """The files that hold a table: ``path`` itself, or a folder's Parquet files in path order.

    Raises:
        ProjectError: the table does not exist, or the folder holds no Parquet file.
    """
    _require_table(path)
    if not path.is_dir():
        return [path]
    files = []
    for folder, subfolders, names in os.walk(path):  # symbolic links to folders not followed
        subfolders[:] = sorted(name for name in subfolders if not name.startswith(("_", ".")))
        for name in names:
            if name.startswith(("_", ".")) or Path(name).suffix.lower() not in PARQUET_SUFFIXES:
                continue
            file = Path(folder) / name
            if file.is_file():
                files.append(file)
    if not files:
        raise ProjectError(
            f"Table folder {path} holds no .parquet files; expected the split's rows in "
            "Parquet files there."
        )
    return sorted(files, key=lambda file: file.relative_to(path).parts)


def table_base(path: Path) -> Path:
    """The folder that relative image paths of a table start from (a folder table: itself)."""
    return path if path.is_dir() else path.parent


def _parquet_columns(file: Path) -> list[str]:
    import pyarrow.parquet as pq

    return list(pq.read_schema(file).names)


UNLABELLED = -1
"""The class index that marks a row without a label (unlabelled splits, see
``docs/project-file.md``)."""


def labels_to_indices(
    values: pd.Series,
    *,
    classes: Sequence[str] | None,
    n_classes: int,
    where: str,
    allow_missing: bool = False,
) -> np.ndarray:
    """Turn a label column into class indices in ``[0, n_classes)``.

    Integer labels are taken as indices; text labels are looked up in ``classes``. With
    ``allow_missing`` (splits of role ``shifted`` or ``deployment``), a missing label (null,
    NaN or empty text) becomes :data:`UNLABELLED` (``-1``); otherwise it is refused.

    Returns:
        ``(n,)`` int64 class indices (``-1`` for missing labels).

    Raises:
        ProjectError: a missing label (without ``allow_missing``), an unknown class name or an
            index out of range, with the row that has it.
    """
    missing = _missing_labels(values)
    if missing.any() and not allow_missing:
        row = int(np.flatnonzero(missing)[0])
        raise ProjectError(f"{where}: label is missing in row {row}.")
    indices = np.full(len(values), UNLABELLED, dtype=np.int64)
    rows = np.flatnonzero(~missing)  # the table rows that carry a label
    if len(rows):
        present = values if len(rows) == len(values) else values.iloc[rows].infer_objects()
        indices[rows] = _class_indices(
            present, rows, classes=classes, n_classes=n_classes, where=where
        )
    return indices


def _class_indices(
    values: pd.Series,
    rows: np.ndarray,
    *,
    classes: Sequence[str] | None,
    n_classes: int,
    where: str,
) -> np.ndarray:
    """Class indices of present labels; ``rows`` are their row numbers in the table."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        numbers = values.to_numpy(dtype=np.float64)
        if not np.all(numbers == np.round(numbers)):
            at = int(np.flatnonzero(numbers != np.round(numbers))[0])
            raise ProjectError(
                f"{where}: label {float(numbers[at])!r} in row {rows[at]} is not a whole "
                f"number; expected a class index 0..{n_classes - 1}."
            )
        indices = numbers.astype(np.int64)
    else:
        text = values.astype(str)
        if classes is None:
            raise ProjectError(
                f"{where}: labels are text (e.g. {text.iloc[0]!r}); list the class names under "
                "`classes` in the project file, or store class indices."
            )
        lookup = {name: index for index, name in enumerate(classes)}
        unknown = ~text.isin(list(lookup))
        if unknown.any():
            at = int(np.flatnonzero(unknown.to_numpy())[0])
            raise ProjectError(
                f"{where}: label {text.iloc[at]!r} in row {rows[at]} is not one of the classes "
                f"{list(classes)}."
            )
        indices = text.map(lookup).to_numpy(dtype=np.int64)
    bad = (indices < 0) | (indices >= n_classes)
    if bad.any():
        at = int(np.flatnonzero(bad)[0])
        raise ProjectError(
            f"{where}: label {indices[at]} in row {rows[at]} is outside the class range "
            f"0..{n_classes - 1}."
        )
    return indices


def _missing_labels(values: pd.Series) -> np.ndarray:
    """``(n,)`` bool: null/NaN labels, and labels that are empty or blank text."""
    missing = values.isna().to_numpy()
    if values.dtype == object or pd.api.types.is_string_dtype(values):
        text = values.astype("string").str.strip()
        missing = missing | (text == "").fillna(True).to_numpy(dtype=bool)
    return missing


def missing_column_message(
    table: str, column: str, available: Sequence[str], *, role: str = ""
) -> str:
    """``Table t.csv: label column 'targt' is missing (did you mean 'target'?); it has ...``.

    The closest matches come first, then the table's other columns in order, at most
    :data:`MAX_LISTED_COLUMNS` in all, with a count of the rest.
    """
    names = [str(name) for name in available]
    close = difflib.get_close_matches(str(column), names, n=3, cutoff=0.6)
    lowered = [name for name in names if name.lower() == str(column).lower()]
    close = list(dict.fromkeys([*lowered, *close]))
    hint = f" (did you mean {' or '.join(map(repr, close))}?)" if close else ""
    ordered = [*close, *(name for name in names if name not in close)]
    shown = ordered[:MAX_LISTED_COLUMNS]
    rest = len(ordered) - len(shown)
    listing = ", ".join(shown) + (f" and {rest} more ({len(ordered)} columns)" if rest else "")
    what = f"{role} column" if role else "column"
    return f"Table {table}: {what} {column!r} is missing{hint}; it has {listing or 'no columns'}."


@dataclass(frozen=True)
class FeatureSelection:
    """The default feature list of a tabular project.

    Attributes:
        columns: the feature columns, in table order.
        left_out: column -> why it is not a feature (text, dates, numbers stored as text).
        source: the split whose table decided it.
    """

    columns: tuple[str, ...]
    left_out: dict[str, str] = field(default_factory=dict)
    source: str = ""

    def note(self) -> str:
        """One sentence on the columns left out (empty when none were)."""
        if not self.left_out:
            return ""
        parts = [f"{column!r} ({reason})" for column, reason in self.left_out.items()]
        return (
            f"Default features: {len(self.columns)} numeric columns of split {self.source!r}; "
            f"left out {', '.join(parts)}. List inputs.features to choose them yourself."
        )


def reserved_columns(spec: ProjectSpec) -> set[str]:
    """Columns with a role other than feature: label, id, time, metadata (and pairs)."""
    pairs = getattr(spec, "pairs", None)
    pairs_column = getattr(pairs, "column", None)
    named = (spec.label, spec.id_column, spec.time_column, pairs_column, *spec.metadata)
    return {c for c in named if c}


def select_default_features(
    frame: pd.DataFrame, spec: ProjectSpec, *, where: str, split: str = ""
) -> FeatureSelection:
    """The numeric columns of ``frame`` that have no other role, and why the others are left out.

    Raises:
        ProjectError: a column that is mostly numbers holds a value that is not one (such as
            ``?``), naming the table, split, column, row and value.
    """
    reserved = reserved_columns(spec)
    columns, left_out = [], {}
    for column in frame.columns:
        if column in reserved:
            continue
        values = frame[column]
        if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
            columns.append(column)
            continue
        if pd.api.types.is_datetime64_any_dtype(values):
            left_out[column] = "dates"
            continue
        present = values.notna()
        parsed = pd.to_numeric(values.where(present), errors="coerce").notna()
        n_present = int(present.sum())
        if n_present and int(parsed.sum()) == n_present:
            left_out[column] = "numbers stored as text"
        elif n_present and parsed.sum() >= 0.5 * n_present:
            raise ProjectError(
                non_numeric_value_message(values, parsed | ~present, where=where, split=split)
            )
        else:
            example = values[present].iloc[0] if n_present else None
            left_out[column] = f"text, e.g. {_short(example)}" if n_present else "empty"
    return FeatureSelection(tuple(columns), left_out, split)


def resolve_default_features(spec: ProjectSpec) -> FeatureSelection:
    """The project's default feature list, from its first training split's table.

    The first split with role ``train`` decides (else the first split). Reads only that table's
    columns that have no other role.
    """
    with_paths = [split for split in spec.splits if split.path is not None]
    if not with_paths:
        return FeatureSelection(())
    source = next((split for split in with_paths if split.role == "train"), with_paths[0])
    path = source.path or Path()
    reserved = reserved_columns(spec)
    candidates = [c for c in table_columns(path) if c not in reserved]
    frame = read_table(path, columns=candidates) if candidates else pd.DataFrame()
    return select_default_features(frame, spec, where=path.name, split=source.name)


def check_split_columns(
    selection: FeatureSelection,
    spec: ProjectSpec,
    available: Sequence[str],
    *,
    where: str,
    split: str,
) -> None:
    """Every split must have the default features' columns, and no other candidate columns.

    Raises:
        ProjectError: naming the split and the columns that are missing or extra.
    """
    reserved = reserved_columns(spec)
    candidates = [c for c in available if c not in reserved]
    known = set(selection.columns) | set(selection.left_out)
    missing = [c for c in selection.columns if c not in available]
    extra = [c for c in candidates if c not in known]
    if not missing and not extra:
        return
    said = []
    if missing:
        said.append(f"lacks feature column{'s' if len(missing) > 1 else ''} {_names(missing)}")
    if extra:
        said.append(f"has column{'s' if len(extra) > 1 else ''} {_names(extra)} that")
    if missing and extra:
        detail = f"{said[0]} and {said[1]} split {selection.source!r} does not have"
    elif missing:
        detail = said[0]
    else:
        detail = f"{said[0]} split {selection.source!r} does not have"
    raise ProjectError(
        f"Table {where} (split {split!r}) {detail}; the default features come from split "
        f"{selection.source!r}, so every split needs the same columns. List the features under "
        "inputs.features, or name the other columns under metadata."
    )


def non_numeric_value_message(
    values: pd.Series, numeric: pd.Series | np.ndarray, *, where: str, split: str = ""
) -> str:
    """``Table t.csv: feature column 'f5' is not numeric (e.g. '?') in row 2 of split 'val'...``"""
    bad = np.flatnonzero(~np.asarray(numeric, dtype=bool))
    row = int(bad[0]) if len(bad) else 0
    of_split = f" of split {split!r}" if split else ""
    count = f" ({len(bad)} rows in all)" if len(bad) > 1 else ""
    return (
        f"Table {where}: feature column {values.name!r} is not numeric (e.g. "
        f"{_short(values.iloc[row])}) in row {row}{of_split}{count}; encode it as numbers or "
        "leave it out of inputs.features."
    )


def check_unique_ids(ids: pd.Series, *, where: str) -> None:
    """Sample ids must be present and unique within a split.

    Raises:
        ProjectError: naming the first duplicated (or missing) id and its rows.
    """
    missing = ids.isna().to_numpy()
    if missing.any():
        row = int(np.flatnonzero(missing)[0])
        raise ProjectError(f"{where}: sample id is missing in row {row}.")
    text = ids.astype(str)
    duplicated = text.duplicated(keep=False).to_numpy()
    if not duplicated.any():
        return
    first_row = int(np.flatnonzero(duplicated)[0])
    first = text.iloc[first_row]
    rows = np.flatnonzero((text == first).to_numpy())
    shown = ", ".join(map(str, rows[:10])) + (" ..." if len(rows) > 10 else "")
    n_ids = int(text[duplicated].nunique())
    others = f" ({n_ids} ids are duplicated in all)" if n_ids > 1 else ""
    raise ProjectError(
        f"{where}: sample id {_short(ids.iloc[first_row])} appears in rows {shown}{others}; "
        "sample ids must be unique within a split."
    )


def _names(columns: Sequence[str]) -> str:
    shown = ", ".join(map(repr, columns[:10]))
    return shown + (f" and {len(columns) - 10} more" if len(columns) > 10 else "")


def _plain(value: object) -> object:
    """A numpy scalar as the Python value it holds (so messages say 7, not np.int64(7))."""
    return value.item() if isinstance(value, np.generic) else value


def _short(value: object) -> str:
    import reprlib

    short = reprlib.Repr()
    short.maxstring = short.maxother = 40
    return short.repr(_plain(value))


def _require_table(path: Path) -> None:
    try:
        path.stat()
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise ProjectError(
                f"Table {path} is a symbolic link that loops (it never reaches a file)."
            ) from None
        raise ProjectError(f"Table {path} does not exist.") from None
    if path.is_dir():
        return
    if not path.is_file():
        raise ProjectError(f"Table {path} is not a file.")


def _require_columns(path: Path, available: Sequence[str], wanted: Sequence[str] | None) -> None:
    if not wanted:
        return
    missing = [column for column in wanted if column not in available]
    if missing:
        raise ProjectError(missing_column_message(path.name, missing[0], available))


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
