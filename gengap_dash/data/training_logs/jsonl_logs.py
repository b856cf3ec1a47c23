"""Reader of JSON lines logs (one object per line; nested objects flattened with ``/``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from gengap_dash.data.training_logs.raw import _ABSENT, _count, _is_are, _RawLog
from gengap_dash.data.training_logs.runs import LogFormat
from gengap_dash.data.training_logs.tables import _Table, _table_to_raw
from gengap_dash.project.errors import ProjectError


def _read_json_lines(path: Path, text: str) -> _RawLog:
    records: list[dict[str, object]] = []
    bad_lines: list[int] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            bad_lines.append(number)
            continue
        if isinstance(record, dict):
            records.append(_flatten(record))
        else:
            bad_lines.append(number)
    if not records:
        raise ProjectError(
            f"Training log {path}: no line is a JSON object (expected JSON lines such as "
            '{"epoch": 1, "train_loss": 0.5, "val_loss": 0.6}).'
        )
    raw = _records_to_raw(path, records, default_format="jsonl")
    if bad_lines:
        shown = ", ".join(str(n) for n in bad_lines[:3]) + (", ..." if len(bad_lines) > 3 else "")
        raw.notes.insert(
            0,
            f"Skipped {_count(len(bad_lines), 'line')} that {_is_are(len(bad_lines))} not a JSON "
            f"object (line {shown}); a run that was killed mid-write leaves one.",
        )
    return raw


def _flatten(record: Mapping[str, object], prefix: str = "") -> dict[str, object]:
    flat: dict[str, object] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, prefix=f"{name}/"))
        else:
            flat[name] = value
    return flat


def _records_to_raw(
    path: Path, records: list[dict[str, object]], *, default_format: LogFormat
) -> _RawLog:
    names: list[str] = []
    seen: set[str] = set()
    for record in records:
        for key in record:
            if key not in seen:
                seen.add(key)
                names.append(key)
    columns = {name: [record.get(name, _ABSENT) for record in records] for name in names}
    return _table_to_raw(path, _Table(columns, len(records)), default_format=default_format)
