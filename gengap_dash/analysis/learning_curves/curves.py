"""Aligned learning curves: train and held-out splits on one x, smoothing, the signed gap (worse is
up), best points, and the error scale the thresholds are stated on.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import signal

from gengap_dash.data.training_logs import TrainingRun, epoch_index, metric_label
from gengap_dash.project.errors import ProjectError

Mode = Literal["min", "max"]


TrainAggregate = Literal["mean", "last"]


SMOOTHING_WINDOW = 5
"""Points in the centred rolling median used for decisions (not for display)."""


MIN_NOISE_POINTS = 5
"""Fewer held-out points than this: the noise is taken as zero."""


_LOWER_IS_BETTER = frozenset(
    {"loss", "error", "err", "nll", "mse", "mae", "rmse", "perplexity", "ppl", "cer", "wer", "ece",
     "brier", "mape", "entropy", "ce", "distance", "regret"}
)  # fmt: skip


_HIGHER_IS_BETTER = frozenset(
    {"accuracy", "acc", "f1", "auc", "auroc", "precision", "recall", "iou", "miou", "map", "dice",
     "top1", "top5", "acc5", "r2", "bleu", "rouge", "score", "kappa", "mcc", "ap", "fscore"}
)  # fmt: skip


@dataclass(frozen=True, eq=False)
class AlignedCurves:
    """One metric of one run, train and held-out splits on a common x.

    Attributes:
        run_name: the run.
        metric: the metric name (``loss``, ``accuracy`` ...).
        mode: ``"min"`` when lower is better, else ``"max"``.
        x_axis: ``"epoch"`` or ``"step"``.
        x: (n,) the common x values, increasing.
        train, validation, test: (n,) values, NaN where the split was not logged; None when the
            run does not log the split for this metric.
        notes: how the splits were aligned (aggregations), in plain words.
    """

    run_name: str
    metric: str
    mode: Mode
    x_axis: Literal["epoch", "step"]
    x: np.ndarray
    train: np.ndarray | None
    validation: np.ndarray | None
    test: np.ndarray | None
    notes: tuple[str, ...] = ()

    @property
    def reference_split(self) -> str | None:
        """The held-out split: ``"validation"``, else ``"test"``, else None."""
        if self.validation is not None:
            return "validation"
        return "test" if self.test is not None else None

    @property
    def held_out(self) -> np.ndarray | None:
        """(n,) values of the held-out split."""
        return self.validation if self.validation is not None else self.test

    @property
    def gap(self) -> np.ndarray | None:
        """(n,) held-out minus train, signed so that worse is up; None without both splits."""
        if self.train is None or self.held_out is None:
            return None
        return signed_gap(self.train, self.held_out, mode=self.mode)

    def values(self, split: str) -> np.ndarray | None:
        """(n,) values of ``split`` (``train``, ``validation`` or ``test``)."""
        return {"train": self.train, "validation": self.validation, "test": self.test}[split]

    @property
    def splits(self) -> tuple[str, ...]:
        """The splits present, in display order."""
        return tuple(s for s in ("train", "validation", "test") if self.values(s) is not None)

    def to_frame(self) -> pd.DataFrame:
        """Columns ``x`` and one per present split, plus ``gap`` when defined."""
        frame = pd.DataFrame({"x": self.x})
        for split in self.splits:
            frame[split] = self.values(split)
        if self.gap is not None:
            frame["gap"] = self.gap
        return frame


def metric_mode(metric: str) -> Mode:
    """``"min"`` when lower is better (losses, errors), ``"max"`` for accuracy-like metrics.

    Unknown names are taken as lower-is-better.
    """
    tokens = set(metric.lower().replace("-", "_").split("_")) | {metric.lower()}
    if tokens & _LOWER_IS_BETTER:
        return "min"
    if tokens & _HIGHER_IS_BETTER:
        return "max"
    return "min"


def ema_smooth(values: Sequence[float] | np.ndarray, weight: float) -> np.ndarray:
    """TensorBoard's smoothing: a debiased exponential moving average.

    ``last = weight * last + (1 - weight) * value``, divided by ``1 - weight**k`` after ``k``
    finite values, so the start is not pulled towards zero. Non-finite values are passed through
    and skipped; a constant curve is returned as is.

    Args:
        values: (n,) the raw curve.
        weight: the smoothing weight in [0, 1); 0 returns the curve unchanged.

    Returns:
        (n,) the smoothed curve.
    """
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0 <= weight < 1:
        raise ValueError(f"Expected `weight` to be a number in [0, 1), but got {weight!r}.")
    array = np.asarray(values, dtype=float)
    if array.ndim != 1:
        raise ValueError(f"Expected `values` to be 1-D, but got shape {array.shape}.")
    result = array.copy()
    finite = np.isfinite(array)
    if not finite.any() or weight == 0 or np.all(array == array[0]):
        return result
    x = array[finite]
    accumulated = signal.lfilter([1.0 - weight], [1.0, -weight], x)
    debias = 1.0 - np.power(weight, np.arange(1, len(x) + 1))
    result[finite] = accumulated / debias
    return result


def signed_gap(
    train: Sequence[float] | np.ndarray, held_out: Sequence[float] | np.ndarray, *, mode: Mode
) -> np.ndarray:
    """Held-out minus train, signed so that worse is up.

    Args:
        train, held_out: (n,) aligned values (NaN where not logged).
        mode: ``"min"`` (loss: ``held_out - train``) or ``"max"`` (accuracy: ``train -
            held_out``).

    Returns:
        (n,) the gap, NaN where either is missing.
    """
    _check_mode(mode)
    train, held_out = np.asarray(train, dtype=float), np.asarray(held_out, dtype=float)
    if train.shape != held_out.shape:
        raise ValueError(
            f"Expected `train` and `held_out` to have the same shape, but got {train.shape} "
            f"and {held_out.shape}."
        )
    return held_out - train if mode == "min" else train - held_out


def best_point(
    x: Sequence[float] | np.ndarray, values: Sequence[float] | np.ndarray, *, mode: Mode
) -> tuple[float, float]:
    """The ``(x, value)`` of the best finite value (min or max), the first one on ties."""
    _check_mode(mode)
    x, values = np.asarray(x, dtype=float), np.asarray(values, dtype=float)
    finite = np.isfinite(values)
    if not finite.any():
        raise ValueError("Expected `values` to hold at least one finite value, but got none.")
    masked = np.where(finite, values, np.inf if mode == "min" else -np.inf)
    index = int(np.argmin(masked) if mode == "min" else np.argmax(masked))
    return float(x[index]), float(values[index])


def align_curves(
    run: TrainingRun,
    metric: str,
    *,
    train_aggregate: TrainAggregate = "mean",
    mode: Mode | None = None,
) -> AlignedCurves:
    """Put the train and held-out curves of ``metric`` on a common x.

    On the epoch axis, each point goes to its epoch (:func:`~gengap_dash.data.training_logs.
    epoch_index`); train logged several times per epoch is reduced to the epoch's mean (or last)
    value. On the step axis, the held-out steps are the grid and the train points since the
    previous held-out step are reduced the same way. Held-out splits keep their last value.

    Args:
        run: the run.
        metric: one of ``run.metrics``.
        train_aggregate: ``"mean"`` or ``"last"`` of the train points that share an x.
        mode: ``"min"``/``"max"``; by default from the metric's name (:func:`metric_mode`).
    """
    if train_aggregate not in ("mean", "last"):
        raise ValueError(
            f"Expected `train_aggregate` to be 'mean' or 'last', but got {train_aggregate!r}."
        )
    if metric not in run.metrics:
        raise ValueError(
            f"Expected `metric` to be one of {', '.join(run.metrics)} (the metrics of run "
            f"{run.name!r}), but got {metric!r}."
        )
    if mode is None:
        mode = metric_mode(metric)
    _check_mode(mode)
    frames = {split: run.series(split, metric) for split in run.splits(metric)}
    notes: list[str] = []
    if run.x_axis == "epoch":
        for split, frame in list(frames.items()):
            unknown = frame["epoch"].isna()
            if unknown.any():
                frames[split] = frame[~unknown]
                notes.append(
                    f"Left out {int(unknown.sum())} points of {metric_label(split, metric)} "
                    "logged without an epoch."
                )
        frames = {split: frame for split, frame in frames.items() if len(frame)}
        keys = {split: epoch_index(frame["epoch"].to_numpy()) for split, frame in frames.items()}
        grid = np.unique(np.concatenate(list(keys.values())))
        unit = "epoch"
    else:
        reference = next(s for s in ("validation", "test", "train") if s in frames)
        grid = np.unique(frames[reference]["step"].to_numpy()).astype(float)
        last = max(float(frame["step"].max()) for frame in frames.values())
        if last > grid[-1]:
            grid = np.append(grid, last)
        keys = {
            split: grid[np.searchsorted(grid, frame["step"].to_numpy(dtype=float), side="left")]
            for split, frame in frames.items()
        }
        unit = "step"
    arrays: dict[str, np.ndarray | None] = {"train": None, "validation": None, "test": None}
    for split, frame in frames.items():
        how = train_aggregate if split == "train" else "last"
        values, most = _bucket(keys[split], frame["value"].to_numpy(), grid, how)
        arrays[split] = values
        if most > 1:
            notes.append(_aggregation_note(split, metric, unit, most, how))
    return AlignedCurves(
        run_name=run.name,
        metric=metric,
        mode=mode,
        x_axis=run.x_axis,
        x=grid.astype(float),
        train=arrays["train"],
        validation=arrays["validation"],
        test=arrays["test"],
        notes=tuple(notes),
    )


def smooth_curves(curves: AlignedCurves, *, weight: float) -> AlignedCurves:
    """The same curves, each split smoothed with :func:`ema_smooth` (for display)."""
    smoothed = {
        split: None if values is None else ema_smooth(values, weight)
        for split, values in (
            ("train", curves.train),
            ("validation", curves.validation),
            ("test", curves.test),
        )
    }
    return AlignedCurves(
        run_name=curves.run_name,
        metric=curves.metric,
        mode=curves.mode,
        x_axis=curves.x_axis,
        x=curves.x,
        train=smoothed["train"],
        validation=smoothed["validation"],
        test=smoothed["test"],
        notes=curves.notes,
    )


def _bucket(
    keys: np.ndarray, values: np.ndarray, grid: np.ndarray, how: str
) -> tuple[np.ndarray, int]:
    """Reduce ``values`` by key onto ``grid``: (len(grid),) values and the largest bucket size."""
    result = np.full(len(grid), np.nan)
    if len(keys) == 0:
        return result, 0
    frame = pd.DataFrame({"key": keys, "value": values})
    grouped = frame.groupby("key", sort=True)["value"]
    reduced = grouped.mean() if how == "mean" else grouped.last()
    positions = np.searchsorted(grid, reduced.index.to_numpy(dtype=float))
    result[positions] = reduced.to_numpy()
    return result, int(grouped.size().max())


def _aggregation_note(split: str, metric: str, unit: str, most: int, how: str) -> str:
    label = metric_label(split, metric)
    what = "the mean" if how == "mean" else "the last value"
    if unit == "epoch":
        return (
            f"{label.capitalize()} was logged up to {most} times per epoch; used {what} of each "
            "epoch."
        )
    return (
        f"{label.capitalize()} was logged more often than the held-out split (up to {most} "
        f"points between two held-out steps); used {what} of the points up to each held-out step."
    )


def default_metric(run: TrainingRun) -> str:
    """The metric a verdict is about: the first of ``run.metrics`` (``loss`` first) logged for
    train and a held-out split, else the first logged for a held-out split.

    Raises:
        ProjectError: the run logs no validation or test metric.
    """
    with_held = [m for m in run.metrics if {"validation", "test"} & set(run.splits(m))]
    both = [m for m in with_held if "train" in run.splits(m)]
    if both:
        return both[0]
    if with_held:
        return with_held[0]
    logged = ", ".join(metric_label(s, m) for m in run.metrics for s in run.splits(m))
    raise ProjectError(
        f"Run {run.name!r} logs no validation or test metric (found: {logged}); expected names "
        "like val_loss or test_accuracy, or a mapping in training_logs.metric_names."
    )


def _check_mode(mode: str) -> None:
    if mode not in ("min", "max"):
        raise ValueError(f"Expected `mode` to be 'min' or 'max', but got {mode!r}.")


def _error_upper(arrays: Sequence[np.ndarray], mode: Mode) -> float | None:
    """The score's ceiling for ``"max"`` metrics: 1 or 100, or None when unbounded."""
    if mode == "min":
        return None
    finite = [a[np.isfinite(a)] for a in arrays if a is not None]
    values = np.concatenate(finite) if finite else np.array([])
    top = float(values.max()) if values.size else 1.0
    if top <= 1.0 + 1e-9:
        return 1.0
    if top <= 100.0 + 1e-9:
        return 100.0
    return None


def _to_error(values: np.ndarray, mode: Mode, upper: float | None) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    if mode == "min":
        return values
    return (upper - values) if upper is not None else -values


def _from_error(errors: np.ndarray, mode: Mode, upper: float | None) -> np.ndarray:
    if mode == "min":
        return errors
    return (upper - errors) if upper is not None else -errors


def _rolling_median(values: np.ndarray) -> np.ndarray:
    if values.size == 0:
        return values
    series = pd.Series(values)
    return series.rolling(SMOOTHING_WINDOW, center=True, min_periods=1).median().to_numpy()


def _noise(values: np.ndarray) -> float:
    """Robust noise standard deviation from second differences (0 for short curves)."""
    if values.size < MIN_NOISE_POINTS:
        return 0.0
    second = np.diff(values, 2)
    mad = float(np.median(np.abs(second - np.median(second))))
    return 1.4826 * mad / math.sqrt(6.0)


def _last_finite(values: np.ndarray | None) -> float | None:
    if values is None:
        return None
    finite = np.flatnonzero(np.isfinite(values))
    return float(values[finite[-1]]) if finite.size else None


def _first_finite(values: np.ndarray | None) -> float | None:
    if values is None:
        return None
    finite = np.flatnonzero(np.isfinite(values))
    return float(values[finite[0]]) if finite.size else None


def _json_value(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def held_out_metrics(run: TrainingRun) -> tuple[str, ...]:
    """The metrics of ``run`` logged for validation or test (those a diagnosis can be about), in
    ``run.metrics`` order, those also logged for train first."""
    with_held = [m for m in run.metrics if {"validation", "test"} & set(run.splits(m))]
    both = [m for m in with_held if "train" in run.splits(m)]
    return tuple(both + [m for m in with_held if m not in both])


def align_runs(runs: Iterable[TrainingRun], metric: str) -> list[AlignedCurves]:
    """The aligned curves of ``metric`` for every run that logs it (others are left out)."""
    return [align_curves(run, metric) for run in runs if metric in run.metrics]
