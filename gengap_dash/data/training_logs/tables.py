"""Tables of records shared by the CSV and JSON readers: wide (one column per metric, Lightning's
sparse rows included) and long (``step,metric,value``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from gengap_dash.data.training_logs.names import _parse_name
from gengap_dash.data.training_logs.raw import _ABSENT, _count, _RawLog, _RawSeries
from gengap_dash.data.training_logs.runs import LogFormat

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
