"""Read a split's table (CSV or Parquet) and check its columns. User data is only ever read."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from gengap_dash.project.errors import ProjectError


def read_table(path: Path, *, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Read a CSV or Parquet table, optionally only some columns.

    Raises:
        ProjectError: the file is missing, unreadable, or lacks a requested column.
    """
    if not path.is_file():
        raise ProjectError(f"Table {path} does not exist.")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            available = pq.read_schema(path).names
            _require_columns(path, available, columns)
            frame = pd.read_parquet(path, columns=list(columns) if columns else None)
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
    """The column names of a table without reading its rows."""
    if not path.is_file():
        raise ProjectError(f"Table {path} does not exist.")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            return list(pq.read_schema(path).names)
        return list(pd.read_csv(path, nrows=0).columns)
    except Exception as error:  # noqa: BLE001
        raise ProjectError(f"Table {path.name} could not be read: {_first_line(error)}") from None


def labels_to_indices(
    values: pd.Series, *, classes: Sequence[str] | None, n_classes: int, where: str
) -> np.ndarray:
    """Turn a label column into class indices in ``[0, n_classes)``.

    Integer labels are taken as indices; text labels are looked up in ``classes``.

    Raises:
        ProjectError: a missing label, an unknown class name or an index out of range, with the
            row that has it.
    """
    if values.isna().any():
        row = int(np.flatnonzero(values.isna().to_numpy())[0])
        raise ProjectError(f"{where}: label is missing in row {row}.")
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        numbers = values.to_numpy(dtype=np.float64)
        if not np.all(numbers == np.round(numbers)):
            row = int(np.flatnonzero(numbers != np.round(numbers))[0])
            raise ProjectError(
                f"{where}: label {float(numbers[row])!r} in row {row} is not a whole number; "
                f"expected a class index 0..{n_classes - 1}."
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
            row = int(np.flatnonzero(unknown.to_numpy())[0])
            raise ProjectError(
                f"{where}: label {text.iloc[row]!r} in row {row} is not one of the classes "
                f"{list(classes)}."
            )
        indices = text.map(lookup).to_numpy(dtype=np.int64)
    bad = (indices < 0) | (indices >= n_classes)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ProjectError(
            f"{where}: label {indices[row]} in row {row} is outside the class range "
            f"0..{n_classes - 1}."
        )
    return indices


def _require_columns(path: Path, available: Sequence[str], wanted: Sequence[str] | None) -> None:
    if not wanted:
        return
    missing = [column for column in wanted if column not in available]
    if missing:
        raise ProjectError(
            f"Table {path.name}: column {missing[0]!r} is missing; it has "
            f"{', '.join(map(str, available[:20]))}{' ...' if len(available) > 20 else ''}."
        )


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
