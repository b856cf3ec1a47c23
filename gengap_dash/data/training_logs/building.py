"""Turning a raw log into a ``TrainingRun``: name mapping, cleaning (non-finite values, restarts,
out-of-order steps) with a note for every change, and the x axis.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from gengap_dash.data.training_logs.names import _map_name, metric_label
from gengap_dash.data.training_logs.raw import _count, _is_are, _RawLog, _RawSeries
from gengap_dash.data.training_logs.runs import (
    CURVE_COLUMNS,
    SPLITS,
    TrainingRun,
    XAxis,
    epoch_index,
)
from gengap_dash.project.errors import ProjectError


def _build_run(
    name: str, source: Path, raw: _RawLog, overrides: Mapping[str, tuple[str, str]]
) -> tuple[TrainingRun, set[str]]:
    notes = list(raw.notes)
    used: set[str] = set()
    mapped: dict[tuple[str, str], list[tuple[_RawSeries, str | None, bool]]] = {}
    ignored: list[str] = []
    for s in raw.series:
        target = _map_name(s.raw_name, overrides)
        if target is None:
            ignored.append(s.raw_name)
            continue
        split, metric, variant, overridden = target
        if overridden:
            used.add(s.raw_name)
        mapped.setdefault((split, metric), []).append((s, variant, overridden))
    if not mapped:
        found = ", ".join(raw.all_names[:12]) + (", ..." if len(raw.all_names) > 12 else "")
        what = {"tensorboard": "scalar tags", "jsonl": "metric keys", "json": "metric keys"}.get(
            raw.format, "metric columns"
        )
        raise ProjectError(
            f"Training log {source}: no recognisable {what} (expected names like train_loss, "
            f"val_accuracy; found: {found or 'nothing'}). Map them with "
            "training_logs.metric_names in the project file."
        )
    if ignored:
        notes.append(
            f"Ignored {_count(len(ignored), _field_word(raw.format))} "
            f"that {_is_are(len(ignored))} not train/validation/test metrics: "
            + ", ".join(ignored[:8])
            + (", ..." if len(ignored) > 8 else "")
            + "."
        )
    if raw.sparse_rows:
        notes.append(
            "Train and validation metrics were logged on separate rows"
            + (" (as Lightning's CSVLogger does)" if raw.format == "lightning_csv" else "")
            + "; matched them by step and epoch."
        )
    held_out_axis = _held_out_x_axis(mapped, raw)
    restarts: list[tuple[int, int, str]] = []
    frames: list[pd.DataFrame] = []
    raw_names: dict[tuple[str, str], str] = {}
    for (split, metric), options in mapped.items():
        chosen, dropped = _choose_variant(options, held_out_axis if split == "train" else None)
        label = metric_label(split, metric)
        for other in dropped:
            notes.append(
                f"Used {chosen.raw_name} for {label}; ignored {other.raw_name}, which maps to the "
                "same curve."
            )
        frame, series_notes, series_restarts = _clean_series(chosen, label, raw)
        notes.extend(series_notes)
        restarts.extend((start, end, label) for start, end in series_restarts)
        raw_names[(split, metric)] = chosen.raw_name
        if frame.empty:
            notes.append(f"{label.capitalize()} has no finite value; left it out.")
            continue
        frame["split"] = split
        frame["metric"] = metric
        frames.append(frame)
    notes.extend(_restart_notes(restarts, raw.step_unit))
    if not frames:
        raise ProjectError(
            f"Training log {source}: every value of its metrics is missing, NaN or infinite."
        )
    curves = pd.concat(frames, ignore_index=True)[list(CURVE_COLUMNS)]
    curves = _fill_epochs(curves, raw.epoch_map)
    split_order = {s: i for i, s in enumerate(SPLITS)}
    curves = (
        curves.assign(_order=curves["split"].map(split_order))
        .sort_values(["_order", "metric", "step"], kind="stable")
        .drop(columns="_order")
        .reset_index(drop=True)
    )
    curves["step"] = curves["step"].astype(np.int64)
    curves["epoch"] = curves["epoch"].astype(float)
    curves["value"] = curves["value"].astype(float)
    kept = {(frame["split"].iat[0], frame["metric"].iat[0]) for frame in frames}
    raw_names = {key: raw_name for key, raw_name in raw_names.items() if key in kept}
    run = TrainingRun(
        name=name,
        source=source,
        train_size=raw.train_size,
        curves=curves,
        x_axis=_x_axis(curves),
        notes=tuple(notes),
        format=raw.format,
        raw_names=raw_names,
    )
    return run, used


def _held_out_x_axis(
    mapped: Mapping[tuple[str, str], list[tuple[_RawSeries, str | None, bool]]], raw: _RawLog
) -> XAxis | None:
    """Whether held-out metrics are per epoch (so per-epoch train variants fit them best)."""
    held = [options[0][0] for (split, _), options in mapped.items() if split != "train"]
    if not held:
        return None
    if raw.step_unit == "epoch":
        return "epoch"
    for s in held:
        epochs = s.epochs
        if raw.epoch_map is not None and not np.isfinite(epochs).all():
            epochs = _lookup_epochs(s.steps, epochs, raw.epoch_map)
        if not len(epochs) or not np.isfinite(epochs).all():
            return "step"
        index = epoch_index(epochs)
        if len(np.unique(index)) < len(index):
            return "step"
    return "epoch"


def _choose_variant(
    options: list[tuple[_RawSeries, str | None, bool]], axis: XAxis | None
) -> tuple[_RawSeries, list[_RawSeries]]:
    """Pick one raw series per curve: an override, then by Lightning variant, then most points."""

    def rank(option: tuple[_RawSeries, str | None, bool]) -> tuple[int, int, int]:
        s, variant, overridden = option
        if axis == "step":
            variant_rank = {"step": 0, None: 1, "epoch": 2}[variant]
        else:
            variant_rank = {None: 0, "epoch": 1, "step": 2}[variant]
        return (0 if overridden else 1, variant_rank, -int(np.isfinite(s.values).sum()))

    ordered = sorted(options, key=rank)
    return ordered[0][0], [o[0] for o in ordered[1:]]


def _clean_series(
    s: _RawSeries, label: str, raw: _RawLog
) -> tuple[pd.DataFrame, list[str], list[tuple[int, int]]]:
    """Restarts, duplicates, order and non-finite values of one series, in that order."""
    notes: list[str] = []
    unit = raw.step_unit
    steps, epochs, values = s.steps, s.epochs, s.values
    n = len(steps)
    keep = np.ones(n, dtype=bool)
    restarts: list[tuple[int, int]] = []
    duplicates = 0
    if n and not np.all(np.diff(steps) > 0):
        kept_at: dict[int, int] = {}
        max_step = None
        for i in range(n):
            step = int(steps[i])
            if step in kept_at:
                j = kept_at[step]
                same = (values[i] == values[j]) or (np.isnan(values[i]) and np.isnan(values[j]))
                if step == max_step and same:
                    keep[i] = False
                    duplicates += 1
                    continue
                old_max = max_step
                for other in [k for k in kept_at if k >= step]:
                    keep[kept_at.pop(other)] = False
                restarts.append((step, int(old_max)))
                max_step = max(kept_at) if kept_at else None
            kept_at[step] = i
            max_step = step if max_step is None else max(max_step, step)
    if duplicates:
        notes.append(
            f"Dropped {_count(duplicates, 'duplicate row')} of {label} (the same {unit} and value "
            "logged twice)."
        )
    steps, epochs, values = steps[keep], epochs[keep], values[keep]
    order = np.argsort(steps, kind="stable")
    if not np.array_equal(order, np.arange(len(steps))):
        out_of_order = int((np.diff(steps) < 0).sum())
        notes.append(
            f"The {unit}s of {label} were not in increasing order ({_count(out_of_order, 'jump')} "
            "back without a repeat); sorted them."
        )
        steps, epochs, values = steps[order], epochs[order], values[order]
    nan = np.isnan(values)
    inf = np.isinf(values)
    if nan.any():
        notes.append(
            f"Dropped {_count(int(nan.sum()), 'NaN value')} of {label} "
            f"({_steps_text(steps[nan], unit)})."
        )
    if inf.any():
        notes.append(
            f"Dropped {_count(int(inf.sum()), 'infinite value')} of {label} "
            f"({_steps_text(steps[inf], unit)})."
        )
    if s.n_bad_text:
        notes.append(
            f"Dropped {_count(s.n_bad_text, 'value')} of {label} that {_is_are(s.n_bad_text)} "
            "text, not numbers."
        )
    if s.n_empty:
        total = s.n_empty + n
        notes.append(
            f"{label.capitalize()} is empty on {s.n_empty} of {total} rows; used the "
            f"{_count(n, 'logged value')}."
        )
    finite = np.isfinite(values)
    frame = pd.DataFrame({"step": steps[finite], "epoch": epochs[finite], "value": values[finite]})
    return frame, notes, restarts


def _restart_notes(restarts: list[tuple[int, int, str]], unit: str) -> list[str]:
    by_start: dict[int, tuple[int, list[str]]] = {}
    for start, end, label in restarts:
        old_end, labels = by_start.get(start, (start, []))
        labels.append(label)
        by_start[start] = (max(old_end, end), labels)
    notes = []
    for start, (end, labels) in sorted(by_start.items()):
        what = ", ".join(labels)
        if end > start:
            notes.append(
                f"{unit.capitalize()}s {start}..{end} were logged twice (a restart from {unit} "
                f"{start}); kept the later values ({what})."
            )
        else:
            notes.append(
                f"{unit.capitalize()} {start} was logged twice with different values; kept the "
                f"later value ({what})."
            )
    return notes


def _lookup_epochs(
    steps: np.ndarray, epochs: np.ndarray, epoch_map: tuple[np.ndarray, np.ndarray]
) -> np.ndarray:
    """Fill unknown epochs from known (step, epoch) pairs: the last pair at or before the step."""
    map_steps, map_epochs = epoch_map
    result = np.asarray(epochs, dtype=float).copy()
    if len(map_steps) == 0:
        return result
    order = np.argsort(map_steps, kind="stable")
    map_steps, map_epochs = map_steps[order], map_epochs[order]
    # a step logged several times keeps its last epoch
    last = np.r_[map_steps[1:] != map_steps[:-1], True]
    map_steps, map_epochs = map_steps[last], map_epochs[last]
    missing = ~np.isfinite(result)
    position = np.searchsorted(map_steps, steps[missing], side="right") - 1
    position = np.clip(position, 0, len(map_steps) - 1)
    result[missing] = map_epochs[position]
    return result


def _fill_epochs(
    curves: pd.DataFrame, epoch_map: tuple[np.ndarray, np.ndarray] | None
) -> pd.DataFrame:
    if epoch_map is None or curves["epoch"].notna().all():
        return curves
    curves = curves.copy()
    curves["epoch"] = _lookup_epochs(
        curves["step"].to_numpy(), curves["epoch"].to_numpy(dtype=float), epoch_map
    )
    return curves


def _x_axis(curves: pd.DataFrame) -> XAxis:
    splits = set(curves["split"])
    reference = next((s for s in ("validation", "test", "train") if s in splits), "train")
    held = curves[curves["split"] == reference]
    if held["epoch"].isna().any():
        return "step"
    for _, group in held.groupby("metric"):
        index = epoch_index(group["epoch"].to_numpy())
        if len(np.unique(index)) < len(index):
            return "step"
    return "epoch"


def _field_word(log_format: str) -> str:
    if log_format == "tensorboard":
        return "tag"
    return "key" if log_format in ("jsonl", "json", "hf_trainer_state") else "column"


def _steps_text(steps: np.ndarray, unit: str) -> str:
    steps = np.asarray(steps)
    if len(steps) <= 3:
        return (
            f"{unit} " + ", ".join(str(int(s)) for s in steps)
            if len(steps) == 1
            else (f"{unit}s " + ", ".join(str(int(s)) for s in steps))
        )
    return f"{unit}s {int(steps.min())}..{int(steps.max())}"
