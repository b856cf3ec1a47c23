"""Reader of CSV and TSV logs (wide, long, and PyTorch Lightning's ``metrics.csv``)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd

from gengap_dash.data.training_logs.raw import _count, _RawLog, _times
from gengap_dash.data.training_logs.tables import _Table, _table_to_raw
from gengap_dash.project.errors import ProjectError


def _read_csv_text(path: Path, text: str) -> _RawLog:
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise ProjectError(f"Training log {path}: the file is empty (expected a CSV header row).")
    header_line = lines[0]
    if path.suffix.lower() == ".tsv" or ("\t" in header_line and "," not in header_line):
        delimiter = "\t"
    elif ";" in header_line and "," not in header_line:
        delimiter = ";"
    else:
        delimiter = ","
    try:
        rows = list(csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter))
    except csv.Error as error:
        raise ProjectError(f"Training log {path}: cannot parse it as CSV ({error}).") from error
    header = [h.strip() for h in rows[0]]
    if len(header) < 2:
        raise ProjectError(
            f"Training log {path}: the CSV header has a single column ({header[0]!r}); expected "
            "columns such as epoch, train_loss, val_loss, or step,metric,value."
        )
    header = _dedupe_header(header)
    notes: list[str] = []
    data_rows: list[list[str]] = []
    repeated_headers = too_long = too_short = 0
    width = len(header)
    for row in rows[1:]:
        if row == rows[0]:
            repeated_headers += 1
            continue
        if len(row) > width:
            too_long += 1
            continue
        if len(row) < width:
            too_short += 1
            row = row + [""] * (width - len(row))
        data_rows.append(row)
    if repeated_headers:
        notes.append(
            f"The header line was repeated {_times(repeated_headers)} inside the file (the log was "
            "appended to by a restarted run); skipped the repeats."
        )
    if too_long:
        notes.append(
            f"Skipped {_count(too_long, 'row')} with more fields than the header has columns."
        )
    if too_short:
        notes.append(
            f"{_count(too_short, 'row').capitalize()} had fewer fields than the header (an "
            "interrupted write?); treated the missing fields as empty."
        )
    if not data_rows:
        raise ProjectError(f"Training log {path}: the CSV has a header but no data rows.")
    frame = pd.DataFrame(data_rows, columns=header, dtype=object)
    table = _Table({name: frame[name] for name in header}, len(data_rows))
    raw = _table_to_raw(path, table, default_format="csv", dense=True)
    raw.notes[:0] = notes
    if raw.format == "csv" and raw.sparse_rows:
        raw.format = "lightning_csv"
    return raw


def _dedupe_header(header: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    result = []
    for name in header:
        if name in seen:
            seen[name] += 1
            result.append(f"{name}.{seen[name]}")
        else:
            seen[name] = 0
            result.append(name)
    return result
