"""Reader of JSON logs: a list of records, Keras' ``history.json`` and Hugging Face Trainer's
``trainer_state.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

from gengap_dash.data.training_logs.jsonl_logs import _flatten, _read_json_lines, _records_to_raw
from gengap_dash.data.training_logs.raw import _RawLog, _read_text
from gengap_dash.data.training_logs.tables import _EPOCH_COLUMNS, _STEP_COLUMNS, _find_column
from gengap_dash.project.errors import ProjectError


def _read_json_file(path: Path, *, text: str | None = None) -> _RawLog:
    if text is None:
        text = _read_text(path)
    if not text.strip():
        raise ProjectError(f"Training log {path}: the file is empty.")
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        return _read_json_lines(path, text)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        if text.lstrip().startswith("{"):
            try:
                return _read_json_lines(path, text)  # JSON lines in a .json file
            except ProjectError:
                pass
        raise ProjectError(
            f"Training log {path}: not valid JSON ({error.msg} at line {error.lineno}); expected "
            "trainer_state.json, a list of records, or JSON lines."
        ) from error
    return _json_document_to_raw(path, document)


def _json_document_to_raw(path: Path, document: object) -> _RawLog:
    if isinstance(document, dict) and isinstance(document.get("log_history"), list):
        return _hf_to_raw(path, document)
    if isinstance(document, list) and document and all(isinstance(r, dict) for r in document):
        return _records_to_raw(path, [_flatten(r) for r in document], default_format="json")
    if (
        isinstance(document, dict)
        and document
        and all(isinstance(v, list) for v in document.values())
    ):
        length = max(len(v) for v in document.values())
        records: list[dict[str, object]] = [
            {k: v[i] for k, v in document.items() if i < len(v)} for i in range(length)
        ]
        if _find_column(list(document), (*_EPOCH_COLUMNS, *_STEP_COLUMNS)) is None:
            for i, record in enumerate(records):
                record["epoch"] = i
            raw = _records_to_raw(path, records, default_format="json")
            raw.notes.append("The history has no epoch key; numbered the epochs from 0.")
            return raw
        return _records_to_raw(path, records, default_format="json")
    if isinstance(document, dict):
        return _records_to_raw(path, [_flatten(document)], default_format="json")
    raise ProjectError(
        f"Training log {path}: unexpected JSON layout (expected trainer_state.json with "
        "log_history, a list of records, a {metric: [values]} history, or JSON lines)."
    )


def _hf_to_raw(path: Path, document: dict) -> _RawLog:
    history = document["log_history"]
    records = []
    summaries = 0
    for entry in history:
        if not isinstance(entry, dict):
            continue
        if any(str(k).startswith("train_runtime") for k in entry):
            summaries += 1  # the end-of-training summary: train_loss there is a run average
            continue
        records.append(_flatten(entry))
    if not records:
        raise ProjectError(
            f"Training log {path}: trainer_state.json has an empty log_history (expected "
            "entries such as {'loss': ..., 'step': ...} and {'eval_loss': ..., 'step': ...})."
        )
    raw = _records_to_raw(path, records, default_format="hf_trainer_state")
    raw.format = "hf_trainer_state"
    if summaries:
        raw.notes.append(
            "Skipped the end-of-training summary entry of log_history (its train_loss is the "
            "average over the whole run, not a point of the curve)."
        )
    return raw
