"""Learning-curve analysis: when the gap opened, the best epoch, early stopping, data size.

Pure functions on :class:`~gengap_dash.data.training_logs.TrainingRun` curves: no I/O, no plotting.

Vocabulary:

- *x*: the epoch, or the step when the held-out split is logged more than once per epoch or
  without epochs (``TrainingRun.x_axis``). The word "epoch" in names means "x".
- *held-out split*: validation, or test when the run logs no validation.
- *error*: the metric turned so that lower is better (``loss`` as is; ``1 - accuracy``). The
  thresholds below are stated on errors.
- *gap*: held-out minus train error, so that "worse" is up (``val - train`` for a loss,
  ``train - val`` for an accuracy).
- *smoothed* (for decisions): a centred rolling median over ``SMOOTHING_WINDOW`` points, which
  keeps monotone stretches exactly and has no lag. The EMA of :func:`ema_smooth` is for display.
- *noise*: the robust standard deviation of a curve around its trend, estimated from the median
  absolute second difference (``1.4826 * MAD(diff2) / sqrt(6)``), so trends and single spikes
  do not inflate it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import optimize, signal

from gengap_dash.data.training_logs import TrainingRun, TrainingRuns, epoch_index, metric_label
from gengap_dash.project.errors import ProjectError

Mode = Literal["min", "max"]
Kind = Literal["overfitting", "underfitting", "noisy", "healthy"]
TrainAggregate = Literal["mean", "last"]
OnsetRule = Literal["validation_minimum", "gap_widening"]
DataSizeKind = Literal["closing", "limited", "far", "flattened", "closed", "unknown"]

DEFAULT_PATIENCE = 5
"""Early-stopping patience used by :func:`diagnose_run` and the CLI."""

SMOOTHING_WINDOW = 5
"""Points in the centred rolling median used for decisions (not for display)."""

NOISE_FACTOR = 2.0
"""A change counts only when it exceeds this many noise standard deviations."""

OVERFIT_MIN_RISE = 0.05
"""Overfitting by the validation minimum: the smoothed held-out error must rise from its minimum
to the end by at least 5% of that minimum (and by ``NOISE_FACTOR`` noise), while the train error
does not rise by as much."""

ONSET_TOLERANCE = 0.02
"""Gap widening: a point is "still at the minimum" when the smoothed gap is within 2% of the
gap's range (or ``NOISE_FACTOR`` gap noise) of its running minimum."""

GAP_MIN_WIDENING = 0.10
"""Gap widening counts when the gap grows after the onset by at least 10% of the final held-out
error (and by ``NOISE_FACTOR`` gap noise), while the held-out error improves by less than half of
that growth (the train error ran away; the held-out error stalled)."""

STILL_IMPROVING_TAIL = 0.2
"""Underfitting (still improving): the last 20% of the points (at least 3) are the tail."""

STILL_IMPROVING_MIN = 0.01
"""Underfitting (still improving): both smoothed errors fall over the tail by at least 1% of
their final value (and by ``NOISE_FACTOR`` noise)."""

UNDERFIT_MIN_TRAIN_IMPROVEMENT = 0.30
"""Underfitting (both high): the smoothed train error fell by less than 30% from its first to its
last logged value ..."""

UNDERFIT_SMALL_GAP = 0.10
"""... and the final gap is at most 10% of the final held-out error: the held-out error tracks a
train error that barely moved."""

NOISY_RATIO = 0.25
"""Noisy: the held-out noise is at least a quarter of the range of its smoothed curve, so the
shape (best epoch, onset, stopping point) cannot be read reliably. Needs ``MIN_NOISE_POINTS``."""

MIN_NOISE_POINTS = 5
"""Fewer held-out points than this: the noise is taken as zero."""

MIN_SIZES = 3
"""Distinct training-set sizes needed for a data-size learning curve."""

MIN_EXPONENT = 0.05
"""A fitted exponent below this means the held-out error no longer falls with more data."""

FLAT_DOUBLING_GAIN = 0.05
"""Flattened: doubling the data would close less than 5% of the current gap."""

MAX_EXTRAPOLATION = 100.0
"""Sizes needed beyond this multiple of the largest size are reported as out of reach."""

MIN_FIT_R_SQUARED = 0.8
"""Below this R² the data-size verdict warns that the fit is loose."""

_LOWER_IS_BETTER = frozenset(
    {"loss", "error", "err", "nll", "mse", "mae", "rmse", "perplexity", "ppl", "cer", "wer", "ece",
     "brier", "mape", "entropy", "ce", "distance", "regret"}
)  # fmt: skip
_HIGHER_IS_BETTER = frozenset(
    {"accuracy", "acc", "f1", "auc", "auroc", "precision", "recall", "iou", "miou", "map", "dice",
     "top1", "top5", "acc5", "r2", "bleu", "rouge", "score", "kappa", "mcc", "ap", "fscore"}
)  # fmt: skip


# --------------------------------------------------------------------------- results


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


@dataclass(frozen=True)
class EarlyStoppingResult:
    """What Keras/Lightning ``EarlyStopping`` would have done on a logged curve.

    Attributes:
        stop_epoch: the x at which training would have stopped; None when patience never ran out.
        best_epoch: the x of the best value seen up to the stop (what ``restore_best_weights``
            keeps); over the whole curve when it never stopped.
        best_value: the value at ``best_epoch``.
        final_value: the value at the last logged x (what training to the end gave).
        patience: the patience used.
        mode: ``"min"`` or ``"max"``.
        min_delta: the minimum change that counts as an improvement.
    """

    stop_epoch: float | None
    best_epoch: float
    best_value: float
    final_value: float
    patience: int
    mode: Mode
    min_delta: float = 0.0

    @property
    def stopped(self) -> bool:
        """Whether training would have stopped before its last logged x."""
        return self.stop_epoch is not None

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable fields."""
        return {
            "stop_epoch": self.stop_epoch,
            "best_epoch": self.best_epoch,
            "best_value": self.best_value,
            "final_value": self.final_value,
            "stopped": self.stopped,
            "patience": self.patience,
            "mode": self.mode,
            "min_delta": self.min_delta,
        }


@dataclass(frozen=True, eq=False)
class MetricAnalysis:
    """The learning-curve facts of one metric.

    Attributes:
        curves: the aligned curves.
        best_epoch, best_value: the best held-out point (min for ``mode="min"``), first on ties.
        onset_epoch: where overfitting began (see :func:`overfitting_onset`), or None.
        onset_rule: which rule found the onset.
        early_stopping: early stopping on the held-out curve.
        final_epoch: the last x with a held-out value.
        final_train, final_held_out: the last logged train and held-out values.
        final_gap: the gap at the last x where both are logged (worse is up).
        noise: the held-out noise (metric units).
    """

    curves: AlignedCurves
    best_epoch: float | None
    best_value: float | None
    onset_epoch: float | None
    onset_rule: OnsetRule | None
    early_stopping: EarlyStoppingResult | None
    final_epoch: float | None
    final_train: float | None
    final_held_out: float | None
    final_gap: float | None
    noise: float


@dataclass(frozen=True, eq=False)
class RunDiagnosis:
    """A verdict on one run's learning curves.

    Attributes:
        run_name: the run.
        metric: the metric the verdict is about (``loss`` when logged for train and held-out).
        mode: ``"min"`` or ``"max"``.
        x_axis: ``"epoch"`` or ``"step"``; every ``*_epoch`` field is on this axis.
        reference_split: ``"validation"`` or ``"test"``.
        best_epoch, best_value: the best held-out point.
        onset_epoch: where overfitting began, or None.
        stop_epoch: where early stopping with ``patience`` would have stopped, or None.
        stopped_value: the held-out value early stopping would have kept (its best).
        patience: the early-stopping patience.
        final_epoch, final_train, final_validation, final_gap: the last logged values.
        kind: ``"overfitting"``, ``"underfitting"``, ``"noisy"`` or ``"healthy"``.
        verdict: the diagnosis in plain words, with numbers.
        noisy: whether the held-out signal is noisy (whatever the kind).
        checkpoint_epoch, checkpoint_value: the loaded checkpoint's x and held-out value.
        notes: alignment notes.
        analysis: the full :class:`MetricAnalysis` (not in :meth:`to_dict`).
    """

    run_name: str
    metric: str
    mode: Mode
    x_axis: Literal["epoch", "step"]
    reference_split: str
    best_epoch: float
    best_value: float
    onset_epoch: float | None
    stop_epoch: float | None
    stopped_value: float
    patience: int
    final_epoch: float
    final_train: float | None
    final_validation: float
    final_gap: float | None
    kind: Kind
    verdict: str
    noisy: bool
    checkpoint_epoch: float | None
    checkpoint_value: float | None
    notes: tuple[str, ...]
    analysis: MetricAnalysis

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable fields (everything but ``analysis``)."""
        return {
            "run": self.run_name,
            "metric": self.metric,
            "mode": self.mode,
            "x_axis": self.x_axis,
            "reference_split": self.reference_split,
            "best_epoch": self.best_epoch,
            "best_value": self.best_value,
            "onset_epoch": self.onset_epoch,
            "stop_epoch": self.stop_epoch,
            "stopped_value": self.stopped_value,
            "patience": self.patience,
            "final_epoch": self.final_epoch,
            "final_train": self.final_train,
            "final_validation": self.final_validation,
            "final_gap": self.final_gap,
            "kind": self.kind,
            "verdict": self.verdict,
            "noisy": self.noisy,
            "checkpoint_epoch": self.checkpoint_epoch,
            "checkpoint_value": self.checkpoint_value,
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class PowerLawFit:
    """``error(n) = a * n**(-b) + c``.

    Attributes:
        a, b, c: the parameters (``b`` is the exponent, ``c`` the error that more data cannot
            remove).
        method: ``"curve_fit"`` (all three fitted) or ``"log_linear"`` (``c = 0``, a straight
            line in log-log space).
        r_squared: the fit's coefficient of determination on the values.
    """

    a: float
    b: float
    c: float
    method: Literal["curve_fit", "log_linear"]
    r_squared: float

    def predict(self, n: float | np.ndarray) -> float | np.ndarray:
        """The fitted error at size(s) ``n``."""
        result = self.a * np.power(np.asarray(n, dtype=float), -self.b) + self.c
        return float(result) if np.ndim(result) == 0 else result

    def size_for(self, target: float) -> float:
        """The size at which the fitted error reaches ``target``; ``inf`` when it never does."""
        if self.a <= 0 or self.b <= 0 or target <= self.c:
            return math.inf
        return float((self.a / (target - self.c)) ** (1.0 / self.b))

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable fields."""
        return {
            "a": self.a,
            "b": self.b,
            "c": self.c,
            "method": self.method,
            "r_squared": self.r_squared,
        }


@dataclass(frozen=True, eq=False)
class DataSizeAnalysis:
    """Held-out and train metrics against the training-set size, with a fitted power law.

    Attributes:
        metric, mode: the metric and its direction.
        at: ``"final"`` (last logged values) or ``"best"`` (at the best held-out epoch).
        reference_split: the held-out split.
        points: one row per run: ``run``, ``train_size``, ``train``, ``held_out``.
        sizes: (k,) distinct sizes, increasing.
        train_values, held_out_values: (k,) means over the runs of each size (metric units;
            train NaN when not logged).
        error_label: what the fit is on, e.g. ``"loss"`` or ``"1 - accuracy"``.
        fit: the power law fitted to the held-out error against size.
        train_level: the train metric at the largest size (the target), or None.
        size_needed: the size at which the fitted held-out error reaches the train level, or
            None when it never does.
        curve_sizes, curve_values: (m,) the fitted curve for plotting (metric units).
        kind: ``"closing"``, ``"limited"``, ``"far"``, ``"flattened"``, ``"closed"`` or
            ``"unknown"`` (no train values).
        verdict: the answer in plain words.
    """

    metric: str
    mode: Mode
    at: Literal["final", "best"]
    reference_split: str
    points: pd.DataFrame = field(repr=False)
    sizes: np.ndarray
    train_values: np.ndarray
    held_out_values: np.ndarray
    error_label: str
    fit: PowerLawFit
    train_level: float | None
    size_needed: float | None
    curve_sizes: np.ndarray = field(repr=False)
    curve_values: np.ndarray = field(repr=False)
    kind: DataSizeKind
    verdict: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable fields (the plotting grid left out)."""
        return {
            "metric": self.metric,
            "mode": self.mode,
            "at": self.at,
            "reference_split": self.reference_split,
            "points": [
                {k: _json_value(v) for k, v in row.items()}
                for row in self.points.to_dict(orient="records")
            ],
            "error_label": self.error_label,
            "fit": self.fit.to_dict(),
            "train_level": self.train_level,
            "size_needed": self.size_needed,
            "kind": self.kind,
            "verdict": self.verdict,
        }


# --------------------------------------------------------------------------- small public pieces


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


def early_stopping(
    values: Sequence[float] | np.ndarray,
    *,
    patience: int,
    mode: Mode,
    min_delta: float = 0.0,
    epochs: Sequence[float] | np.ndarray | None = None,
) -> EarlyStoppingResult:
    """Simulate Keras/Lightning ``EarlyStopping`` on a logged held-out curve.

    At each check, a value improves when it beats the best so far by more than ``min_delta``
    (``value < best - min_delta`` for ``"min"``); otherwise a wait counter grows, and training
    stops at the check where it reaches ``patience``. With one check per epoch and a best epoch
    ``b`` that is never beaten, training stops at ``b + patience``.

    Args:
        values: (n,) held-out values at each check, finite.
        patience: checks without improvement before stopping (>= 1).
        mode: ``"min"`` or ``"max"``.
        min_delta: the smallest change that counts as an improvement (>= 0).
        epochs: (n,) the x of each check; defaults to 0 .. n-1.
    """
    if isinstance(patience, bool) or not isinstance(patience, int | np.integer) or patience < 1:
        raise ValueError(f"Expected `patience` to be a positive integer, but got {patience!r}.")
    _check_mode(mode)
    if (
        isinstance(min_delta, bool)
        or not isinstance(min_delta, int | float)
        or not (math.isfinite(min_delta) and min_delta >= 0)
    ):
        raise ValueError(
            f"Expected `min_delta` to be a non-negative number, but got {min_delta!r}."
        )
    array = np.asarray(values, dtype=float)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(
            f"Expected `values` to be a non-empty 1-D sequence, but got shape {array.shape}."
        )
    if not np.isfinite(array).all():
        position = int(np.flatnonzero(~np.isfinite(array))[0])
        raise ValueError(
            f"Expected `values` to be finite, but got {array[position]} at position {position}."
        )
    x = np.arange(array.size, dtype=float) if epochs is None else np.asarray(epochs, dtype=float)
    if x.shape != array.shape:
        raise ValueError(
            f"Expected `epochs` to have the shape of `values` {array.shape}, but got {x.shape}."
        )
    best = math.inf if mode == "min" else -math.inf
    best_index = 0
    wait = 0
    stop_index: int | None = None
    for i, value in enumerate(array):
        improved = value < best - min_delta if mode == "min" else value > best + min_delta
        if improved:
            best, best_index, wait = float(value), i, 0
            continue
        wait += 1
        if wait >= patience:
            stop_index = i
            break
    return EarlyStoppingResult(
        stop_epoch=None if stop_index is None else float(x[stop_index]),
        best_epoch=float(x[best_index]),
        best_value=float(array[best_index]),
        final_value=float(array[-1]),
        patience=int(patience),
        mode=mode,
        min_delta=float(min_delta),
    )


# --------------------------------------------------------------------------- alignment


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


# --------------------------------------------------------------------------- analysis


@dataclass(frozen=True)
class _Facts:
    """Error-space views of one metric's curves, computed once."""

    x_held: np.ndarray  # (k,) x where the held-out split is logged
    held: np.ndarray  # (k,) held-out error
    held_smooth: np.ndarray
    held_noise: float
    x_train: np.ndarray  # (m,) x where train is logged
    train: np.ndarray | None  # (m,) train error
    train_smooth: np.ndarray | None
    train_noise: float
    x_common: np.ndarray  # (j,) x where both are logged
    gap: np.ndarray | None  # (j,) held-out minus train error


def overfitting_onset(
    x: Sequence[float] | np.ndarray,
    train: Sequence[float] | np.ndarray | None,
    held_out: Sequence[float] | np.ndarray,
    *,
    mode: Mode,
) -> float | None:
    """Where overfitting began: the held-out minimum when the held-out error rises afterwards,
    else where the gap began to widen for good.

    Rule 1 (held-out minimum): smooth the held-out error (centred rolling median of
    ``SMOOTHING_WINDOW``); if it rises from its minimum to the end by at least
    ``OVERFIT_MIN_RISE`` of that minimum and ``NOISE_FACTOR`` noise standard deviations, while the
    train error does not rise by as much, the onset is the raw best held-out point near the
    smoothed minimum (within half a window).

    Rule 2 (gap widening): otherwise, smooth the gap (held-out minus train error, clipped at 0,
    since a held-out error below the train error is no gap) and take the last point at which it
    is within ``ONSET_TOLERANCE`` of the gap's range (or ``NOISE_FACTOR`` gap noise) of its
    running minimum; every later point stays above. It is the onset when the gap then grows by at
    least ``GAP_MIN_WIDENING`` of the final held-out error while the held-out error improves by
    less than half of that growth.

    Args:
        x: (n,) increasing x values.
        train: (n,) train values or None; NaN where not logged.
        held_out: (n,) held-out values; NaN where not logged.
        mode: ``"min"`` or ``"max"``.

    Returns:
        The onset's x, or None when neither rule applies.
    """
    _check_mode(mode)
    x = np.asarray(x, dtype=float)
    held_array = np.asarray(held_out, dtype=float)
    train_array = None if train is None else np.asarray(train, dtype=float)
    facts = _facts(x, train_array, held_array, mode)
    return _onset(facts)[0]


def analyze_metric(
    curves: AlignedCurves, *, patience: int = DEFAULT_PATIENCE, min_delta: float = 0.0
) -> MetricAnalysis:
    """Best epoch, onset of overfitting, early stopping and final values of one metric.

    Args:
        curves: aligned curves (:func:`align_curves`).
        patience: early-stopping patience (>= 1).
        min_delta: early-stopping minimum improvement (>= 0).
    """
    if isinstance(patience, bool) or not isinstance(patience, int | np.integer) or patience < 1:
        raise ValueError(f"Expected `patience` to be a positive integer, but got {patience!r}.")
    held = curves.held_out
    train_last = _last_finite(curves.train)
    if held is None or not np.isfinite(held).any():
        return MetricAnalysis(curves, None, None, None, None, None, None, train_last, None, None, 0)
    facts = _facts(curves.x, curves.train, held, curves.mode)
    onset, rule = _onset(facts)
    finite = np.isfinite(held)
    best_epoch, best_value = best_point(curves.x, held, mode=curves.mode)
    stopping = early_stopping(
        held[finite],
        patience=int(patience),
        mode=curves.mode,
        min_delta=min_delta,
        epochs=curves.x[finite],
    )
    gap = curves.gap
    final_gap = None
    if gap is not None and np.isfinite(gap).any():
        final_gap = float(gap[np.flatnonzero(np.isfinite(gap))[-1]])
    return MetricAnalysis(
        curves=curves,
        best_epoch=best_epoch,
        best_value=best_value,
        onset_epoch=onset,
        onset_rule=rule,
        early_stopping=stopping,
        final_epoch=float(curves.x[finite][-1]),
        final_train=train_last,
        final_held_out=float(held[finite][-1]),
        final_gap=final_gap,
        noise=facts.held_noise,
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


def diagnose_run(
    run: TrainingRun,
    *,
    patience: int = DEFAULT_PATIENCE,
    metric: str | None = None,
    min_delta: float = 0.0,
    checkpoint_epoch: float | None = None,
    train_aggregate: TrainAggregate = "mean",
) -> RunDiagnosis:
    """Diagnose a run from its curves: best epoch, onset, early stopping, kind and verdict.

    The kind is decided in this order (thresholds are the module constants):

    1. ``"overfitting"``: :func:`overfitting_onset` finds an onset.
    2. ``"noisy"`` (unstable): the train and held-out errors both rose after the held-out
       minimum by ``OVERFIT_MIN_RISE`` (training diverged rather than overfitted).
    3. ``"underfitting"``: both smoothed errors still fall over the last ``STILL_IMPROVING_TAIL``
       of the points by ``STILL_IMPROVING_MIN`` (and noise); or both are high: the train error
       fell by less than ``UNDERFIT_MIN_TRAIN_IMPROVEMENT`` and the final gap is within
       ``UNDERFIT_SMALL_GAP`` of the held-out error.
    4. ``"noisy"``: the held-out noise is at least ``NOISY_RATIO`` of its smoothed range.
    5. ``"healthy"`` otherwise.

    Args:
        run: the run.
        patience: early-stopping patience (>= 1).
        metric: the metric; by default :func:`default_metric`.
        min_delta: early-stopping minimum improvement.
        checkpoint_epoch: the x of the loaded checkpoint, when known.
        train_aggregate: how train points that share an x are reduced.
    """
    if metric is None:
        metric = default_metric(run)
    curves = align_curves(run, metric, train_aggregate=train_aggregate)
    if curves.held_out is None:
        raise ProjectError(
            f"Run {run.name!r} logs {metric} only for train; expected a validation or test "
            f"{metric} to diagnose it."
        )
    analysis = analyze_metric(curves, patience=patience, min_delta=min_delta)
    facts = _facts(curves.x, curves.train, curves.held_out, curves.mode)
    kind, details = _classify(analysis, facts)
    checkpoint_value = None
    if checkpoint_epoch is not None:
        matches = np.flatnonzero(
            np.isclose(curves.x, float(checkpoint_epoch)) & np.isfinite(curves.held_out)
        )
        if matches.size:
            checkpoint_value = float(curves.held_out[matches[0]])
    verdict = _verdict(analysis, facts, kind, details, checkpoint_epoch, checkpoint_value)
    stopping = analysis.early_stopping
    if stopping is None or analysis.best_epoch is None:
        raise ValueError(
            f"Run {run.name!r} has no finite {curves.reference_split} {metric} value to diagnose."
        )
    return RunDiagnosis(
        run_name=run.name,
        metric=metric,
        mode=curves.mode,
        x_axis=curves.x_axis,
        reference_split=curves.reference_split or "validation",
        best_epoch=analysis.best_epoch,
        best_value=float(analysis.best_value),  # type: ignore[arg-type]
        onset_epoch=analysis.onset_epoch,
        stop_epoch=stopping.stop_epoch,
        stopped_value=stopping.best_value,
        patience=stopping.patience,
        final_epoch=float(analysis.final_epoch),  # type: ignore[arg-type]
        final_train=analysis.final_train,
        final_validation=float(analysis.final_held_out),  # type: ignore[arg-type]
        final_gap=analysis.final_gap,
        kind=kind,
        verdict=verdict,
        noisy=bool(details["noisy"]),
        checkpoint_epoch=None if checkpoint_epoch is None else float(checkpoint_epoch),
        checkpoint_value=checkpoint_value,
        notes=curves.notes,
        analysis=analysis,
    )


def _facts(x: np.ndarray, train: np.ndarray | None, held: np.ndarray, mode: Mode) -> _Facts:
    upper = _error_upper([held] if train is None else [held, train], mode)
    held_error = _to_error(held, mode, upper)
    finite = np.isfinite(held_error)
    x_held, held_values = x[finite], held_error[finite]
    held_smooth = _rolling_median(held_values)
    if train is None:
        empty = np.array([])
        return _Facts(x_held, held_values, held_smooth, _noise(held_values), empty, None, None,
                      0.0, empty, None)  # fmt: skip
    train_error = _to_error(train, mode, upper)
    train_finite = np.isfinite(train_error)
    x_train, train_values = x[train_finite], train_error[train_finite]
    both = finite & train_finite
    return _Facts(
        x_held=x_held,
        held=held_values,
        held_smooth=held_smooth,
        held_noise=_noise(held_values),
        x_train=x_train,
        train=train_values,
        train_smooth=_rolling_median(train_values) if train_values.size else None,
        train_noise=_noise(train_values),
        x_common=x[both],
        gap=held_error[both] - train_error[both],
    )


def _onset(facts: _Facts) -> tuple[float | None, OnsetRule | None]:
    rise = _held_rise(facts)
    if rise is not None:
        i_min, _, train_rise_ok = rise
        if train_rise_ok:
            half = SMOOTHING_WINDOW // 2
            lo, hi = max(0, i_min - half), min(len(facts.held), i_min + half + 1)
            index = lo + int(np.argmin(facts.held[lo:hi]))
            return float(facts.x_held[index]), "validation_minimum"
        return None, None
    widening = _gap_widening(facts)
    if widening is not None:
        return widening, "gap_widening"
    return None, None


def _held_rise(facts: _Facts) -> tuple[int, float, bool] | None:
    """(index of the smoothed minimum, rise, train did not rise as much) when held-out rose."""
    smooth = facts.held_smooth
    if smooth.size < 3:
        return None
    i_min = int(np.argmin(smooth))
    if i_min >= smooth.size - 1:
        return None
    rise = float(smooth[-1] - smooth[i_min])
    threshold = max(OVERFIT_MIN_RISE * abs(smooth[i_min]), NOISE_FACTOR * facts.held_noise)
    if rise <= 0 or rise < threshold:
        return None
    train_ok = True
    if facts.train_smooth is not None and facts.train_smooth.size:
        at_min = float(np.interp(facts.x_held[i_min], facts.x_train, facts.train_smooth))
        train_rise = float(facts.train_smooth[-1] - at_min)
        train_threshold = max(OVERFIT_MIN_RISE * abs(at_min), NOISE_FACTOR * facts.train_noise)
        train_ok = train_rise < train_threshold
    return i_min, rise, train_ok


def _gap_widening(facts: _Facts) -> float | None:
    if facts.gap is None or facts.gap.size < 3:
        return None
    clipped = np.maximum(_rolling_median(facts.gap), 0.0)
    running_min = np.minimum.accumulate(clipped)
    gap_noise = _noise(facts.gap)
    tolerance = max(ONSET_TOLERANCE * float(np.ptp(clipped)), NOISE_FACTOR * gap_noise, 1e-12)
    near = np.flatnonzero(clipped <= running_min + tolerance)
    t = int(near[-1])
    if t >= clipped.size - 1:
        return None
    growth = float(clipped[-1] - running_min[t])
    final_held = abs(float(facts.held_smooth[-1]))
    if growth < max(GAP_MIN_WIDENING * final_held, NOISE_FACTOR * gap_noise) or growth <= 0:
        return None
    held_at_t = float(np.interp(facts.x_common[t], facts.x_held, facts.held_smooth))
    held_gain = held_at_t - float(facts.held_smooth[-1])
    if held_gain >= growth / 2:
        return None
    return float(facts.x_common[t])


def _classify(analysis: MetricAnalysis, facts: _Facts) -> tuple[Kind, dict[str, Any]]:
    smooth = facts.held_smooth
    span = float(np.ptp(smooth)) if smooth.size else 0.0
    noisy = (
        smooth.size >= MIN_NOISE_POINTS
        and facts.held_noise > 0
        and (facts.held_noise >= NOISY_RATIO * span)
    )
    details: dict[str, Any] = {"noisy": noisy, "span": span}
    if analysis.onset_epoch is not None:
        return "overfitting", details
    rise = _held_rise(facts)
    if rise is not None and not rise[2]:
        details["diverged_at"] = float(facts.x_held[rise[0]])
        return "noisy", details
    still = _still_improving(facts)
    if still is not None:
        details["still_improving"] = still
        return "underfitting", details
    if _both_high(facts):
        details["both_high"] = True
        return "underfitting", details
    if noisy:
        return "noisy", details
    return "healthy", details


def _still_improving(facts: _Facts) -> dict[str, float] | None:
    """Tail drops of the smoothed errors when both still fall at the end, else None."""
    held = facts.held_smooth
    if held.size < 4:
        return None
    k = max(3, math.ceil(STILL_IMPROVING_TAIL * held.size))
    k = min(k, held.size)
    held_drop = float(held[-k] - held[-1])
    if held_drop < max(STILL_IMPROVING_MIN * abs(held[-1]), NOISE_FACTOR * facts.held_noise, 1e-12):
        return None
    if held[-1] > float(held.min()) + max(facts.held_noise, 1e-12):
        return None
    result = {"held_drop": held_drop, "points": float(k), "from_x": float(facts.x_held[-k])}
    if facts.train_smooth is not None and facts.train_smooth.size >= 4:
        train = facts.train_smooth
        m = min(max(3, math.ceil(STILL_IMPROVING_TAIL * train.size)), train.size)
        train_drop = float(train[-m] - train[-1])
        threshold = max(STILL_IMPROVING_MIN * abs(train[-1]), NOISE_FACTOR * facts.train_noise)
        if train_drop < max(threshold, 1e-12):
            return None
        result["train_drop"] = train_drop
    return result


def _both_high(facts: _Facts) -> bool:
    if facts.train_smooth is None or facts.train_smooth.size < 3 or facts.gap is None:
        return False
    first, last = float(facts.train_smooth[0]), float(facts.train_smooth[-1])
    if first <= 0:
        return False
    improvement = (first - last) / first
    final_gap = float(facts.gap[-1]) if facts.gap.size else math.inf
    return improvement < UNDERFIT_MIN_TRAIN_IMPROVEMENT and abs(final_gap) <= (
        UNDERFIT_SMALL_GAP * abs(float(facts.held_smooth[-1]))
    )


# --------------------------------------------------------------------------- verdict wording


def _verdict(
    analysis: MetricAnalysis,
    facts: _Facts,
    kind: Kind,
    details: dict[str, Any],
    checkpoint_epoch: float | None,
    checkpoint_value: float | None,
) -> str:
    curves = analysis.curves
    unit = curves.x_axis
    held_name = metric_label(curves.reference_split or "validation", curves.metric)
    Held = held_name[0].upper() + held_name[1:]
    train_name = metric_label("train", curves.metric)
    best_x, best_v = analysis.best_epoch, analysis.best_value
    final_x, final_v = analysis.final_epoch, analysis.final_held_out
    lower = curves.mode == "min"
    sentences: list[str] = []
    if kind == "overfitting" and analysis.onset_rule == "validation_minimum":
        onset = analysis.onset_epoch
        bottom = "bottomed" if lower else "peaked"
        change = _change_text(best_v, final_v, lower)  # type: ignore[arg-type]
        train_part = ""
        if curves.train is not None:
            train_trend = _train_trend_after(facts, onset, lower=lower)  # type: ignore[arg-type]
            train_part = f" while {train_name} {train_trend}"
        sentences.append(
            f"{Held} {bottom} at {unit} {_x(best_x)} ({_num(best_v)}) and {change} by the last "
            f"{unit} ({_num(final_v)} at {unit} {_x(final_x)}){train_part}: overfitting began "
            f"around {unit} {_x(onset)}."
        )
    elif kind == "overfitting":
        gap_name = (
            f"gap between {held_name} and {train_name}"
            if curves.train is not None
            else f"gap in {curves.metric}"
        )
        sentences.append(
            f"The {gap_name} began to widen around {unit} {_x(analysis.onset_epoch)} and reached "
            f"{_num(analysis.final_gap)} by the last {unit}, while {held_name} stalled (best "
            f"{_num(best_v)} at {unit} {_x(best_x)}, last {_num(final_v)}): the model is "
            "overfitting, fitting the training set without generalising better."
        )
    elif kind == "noisy" and "diverged_at" in details:
        sentences.append(
            f"{Held} and {train_name} both got worse after {unit} {_x(details['diverged_at'])} "
            f"({held_name} from {_num(best_v)} to {_num(final_v)}): training became unstable (a "
            "learning rate too high, or a numerical problem) rather than overfitting."
        )
    elif kind == "underfitting" and "still_improving" in details:
        still = details["still_improving"]
        who = (
            f"{train_name[0].upper() + train_name[1:]} and {held_name} were both"
            if (curves.train is not None)
            else f"{Held} was"
        )
        verb = "falling" if lower else "rising"
        sentences.append(
            f"{who} still {verb} at the last {unit} ({held_name} "
            f"{_change_text(_value_at(curves, still['from_x']), final_v, lower, improving=True)} "
            f"since {unit} {_x(still['from_x'])}, to {_num(final_v)}): the model is "
            "underfitting; training longer is likely to help."
        )
    elif kind == "underfitting":
        first_train = _first_finite(curves.train)
        sentences.append(
            f"{train_name[0].upper() + train_name[1:]} only went from {_num(first_train)} to "
            f"{_num(analysis.final_train)}, and {held_name} stays close to it (gap "
            f"{_num(analysis.final_gap)}): both are high, so the model is underfitting (more "
            "capacity, less regularisation or a higher learning rate may help)."
        )
    elif kind == "noisy":
        sentences.append(_noise_sentence(analysis, details, Held, unit, leading=True))
    else:
        gap_part = (
            f"; the final gap to {train_name} is {_num(analysis.final_gap)}"
            if analysis.final_gap is not None
            else ""
        )
        if best_x == final_x:
            reached = f"{Held} reached its best at the last {unit} ({_x(best_x)}, {_num(best_v)})"
        else:
            within = _change_text(best_v, final_v, lower, within=True)  # type: ignore[arg-type]
            reached = (
                f"{Held} reached its best at {unit} {_x(best_x)} ({_num(best_v)}) and ended "
                f"{within} ({_num(final_v)} at {unit} {_x(final_x)})"
            )
        sentences.append(f"{reached}{gap_part}. No clear sign of overfitting or underfitting.")
    sentences.append(_stopping_sentence(analysis, held_name, unit))
    if details["noisy"] and kind != "noisy":
        sentences.append(_noise_sentence(analysis, details, Held, unit, leading=False))
    if checkpoint_epoch is not None:
        sentences.append(
            _checkpoint_sentence(analysis, held_name, unit, checkpoint_epoch, checkpoint_value)
        )
    return " ".join(sentences)


def _stopping_sentence(analysis: MetricAnalysis, held_name: str, unit: str) -> str:
    stopping = analysis.early_stopping
    if stopping is None:
        return ""
    prefix = f"Early stopping with patience {stopping.patience}"
    if not stopping.stopped:
        last = _x(analysis.final_epoch)
        return f"{prefix} would not have stopped before the last {unit} ({last})."
    return (
        f"{prefix} would have stopped at {unit} {_x(stopping.stop_epoch)}, keeping {held_name} "
        f"{_num(stopping.best_value)} ({unit} {_x(stopping.best_epoch)}) instead of the final "
        f"{_num(stopping.final_value)}."
    )


def _noise_sentence(
    analysis: MetricAnalysis, details: dict[str, Any], held: str, unit: str, *, leading: bool
) -> str:
    span = details["span"]
    share = analysis.noise / span if span > 0 else math.inf
    share_text = f"{share:.0%}" if math.isfinite(share) else "all"
    text = (
        f"{held} is noisy: its {unit}-to-{unit} noise (±{_num(analysis.noise)}) is {share_text} "
        "of its total movement"
    )
    if leading:
        return (
            f"{text}, so its best {unit} ({_x(analysis.best_epoch)}, {_num(analysis.best_value)}) "
            "and the early-stopping point are unreliable; a larger validation set or smoothing "
            "would help."
        )
    return f"{text}, so read the {unit} numbers above as approximate."


def _checkpoint_sentence(
    analysis: MetricAnalysis,
    held_name: str,
    unit: str,
    checkpoint_epoch: float,
    checkpoint_value: float | None,
) -> str:
    where = f"The loaded checkpoint is from {unit} {_x(checkpoint_epoch)}"
    if checkpoint_value is None:
        return f"{where}, where {held_name} was not logged."
    if analysis.best_epoch is not None and math.isclose(checkpoint_epoch, analysis.best_epoch):
        return f"{where}, the best {unit} ({held_name} {_num(checkpoint_value)})."
    return (
        f"{where}, where {held_name} was {_num(checkpoint_value)} (best {_num(analysis.best_value)}"
        f" at {unit} {_x(analysis.best_epoch)})."
    )


def _train_trend_after(facts: _Facts, x_from: float, *, lower: bool) -> str:
    if facts.train_smooth is None or not facts.train_smooth.size:
        return "was not logged"
    start = float(np.interp(x_from, facts.x_train, facts.train_smooth))
    end = float(facts.train_smooth[-1])
    threshold = max(STILL_IMPROVING_MIN * abs(start), NOISE_FACTOR * facts.train_noise, 1e-12)
    if start - end >= threshold:
        return "kept falling" if lower else "kept rising"
    return "stayed flat"


def _change_text(
    start: float, end: float, lower: bool, *, within: bool = False, improving: bool = False
) -> str:
    """Words for a move from ``start`` to ``end``: relative for losses, absolute for accuracies."""
    if lower:
        relative = (end - start) / abs(start) if start else math.inf
        if within:
            return f"within {_percent(abs(relative))} of it"
        if improving:
            return f"fell {_percent(-relative)}"
        return f"rose {_percent(relative)}"
    difference = end - start
    if within:
        return f"within {_num(abs(difference))} of it"
    if improving:
        return f"rose by {_num(difference)}"
    return f"fell by {_num(-difference)}"


def _value_at(curves: AlignedCurves, x: float) -> float:
    held = curves.held_out if curves.held_out is not None else np.full(len(curves.x), np.nan)
    index = int(np.flatnonzero(np.isclose(curves.x, x))[0])
    return float(held[index])


# --------------------------------------------------------------------------- data size


def fit_power_law(
    sizes: Sequence[float] | np.ndarray, values: Sequence[float] | np.ndarray
) -> PowerLawFit:
    """Fit ``error(n) = a * n**(-b) + c`` to errors measured at training-set sizes.

    Uses ``scipy.optimize.curve_fit`` with ``a >= 0``, ``0 <= b <= 5`` and ``0 <= c <= min(values)``
    (sizes rescaled by their geometric mean for conditioning), started from a log-log line. With
    fewer than 3 distinct sizes, or when that fit fails, falls back to a straight line in log-log
    space without ``c``.

    Args:
        sizes: (k,) positive training-set sizes.
        values: (k,) non-negative errors (a loss, or 1 - accuracy).
    """
    n = np.asarray(sizes, dtype=float)
    y = np.asarray(values, dtype=float)
    if n.ndim != 1 or y.ndim != 1 or n.shape != y.shape:
        raise ValueError(
            f"Expected `sizes` and `values` to be 1-D of the same length, but got shapes "
            f"{n.shape} and {y.shape}."
        )
    if not (np.isfinite(n).all() and (n > 0).all()):
        raise ValueError(f"Expected `sizes` to be positive numbers, but got {n.tolist()}.")
    if not (np.isfinite(y).all() and (y >= 0).all()):
        raise ValueError(f"Expected `values` to be non-negative errors, but got {y.tolist()}.")
    if np.unique(n).size < 2:
        raise ValueError(
            f"Expected at least 2 distinct sizes to fit a power law, but got {np.unique(n).size}."
        )
    if np.unique(n).size >= 3:
        fitted = _curve_fit_power_law(n, y)
        if fitted is not None:
            return fitted
    return _log_linear_power_law(n, y)


def _curve_fit_power_law(n: np.ndarray, y: np.ndarray) -> PowerLawFit | None:
    scale = float(np.exp(np.mean(np.log(n))))
    u = n / scale
    c_max = float(y.min())
    c0 = 0.5 * c_max
    shifted = np.maximum(y - c0, 1e-12)
    slope, intercept = np.polyfit(np.log(u), np.log(shifted), 1)
    b0 = float(np.clip(-slope, 1e-3, 4.9))
    a0 = float(np.exp(intercept))

    def model(u: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
        return a * np.power(u, -b) + c

    upper_c = max(c_max, 1e-12)
    try:
        with warnings.catch_warnings():
            # the covariance is not used; with 3 sizes it cannot be estimated
            warnings.simplefilter("ignore", optimize.OptimizeWarning)
            params, _ = optimize.curve_fit(
                model,
                u,
                y,
                p0=[a0, b0, min(c0, upper_c * 0.999)],
                bounds=([0.0, 0.0, 0.0], [np.inf, 5.0, upper_c]),
                maxfev=20000,
            )
    except (RuntimeError, ValueError):
        return None
    a_scaled, b, c = (float(p) for p in params)
    if not all(math.isfinite(p) for p in (a_scaled, b, c)):
        return None
    a = a_scaled * scale**b
    fit = PowerLawFit(a=a, b=b, c=c, method="curve_fit", r_squared=0.0)
    return _with_r_squared(fit, n, y)


def _log_linear_power_law(n: np.ndarray, y: np.ndarray) -> PowerLawFit:
    if not (y > 0).all():
        raise ValueError(
            f"Expected `values` to be positive for a log-log fit, but got {y.tolist()}."
        )
    slope, intercept = np.polyfit(np.log(n), np.log(y), 1)
    fit = PowerLawFit(
        a=float(np.exp(intercept)), b=float(-slope), c=0.0, method="log_linear", r_squared=0.0
    )
    return _with_r_squared(fit, n, y)


def _with_r_squared(fit: PowerLawFit, n: np.ndarray, y: np.ndarray) -> PowerLawFit:
    predicted = np.asarray(fit.predict(n))
    total = float(np.sum((y - y.mean()) ** 2))
    residual = float(np.sum((y - predicted) ** 2))
    r_squared = 1.0 - residual / total if total > 0 else (1.0 if residual == 0 else 0.0)
    return PowerLawFit(fit.a, fit.b, fit.c, fit.method, r_squared)


def data_size_analysis(
    runs: TrainingRuns | Iterable[TrainingRun],
    *,
    metric: str | None = None,
    at: Literal["final", "best"] = "best",
) -> DataSizeAnalysis | None:
    """Held-out and train metrics against training-set size, and whether more data would help.

    Runs with a ``train_size`` are summarised by their values at the best held-out epoch
    (``at="best"``, the default: what early stopping keeps, so a run that overfits late is not
    penalised for it) or by their last logged values (``at="final"``); runs of the same size are
    averaged.
    A power law is fitted to the held-out error (:func:`fit_power_law`); the target is the train
    error at the largest size (an optimistic target: train error usually rises with more data).

    Args:
        runs: the runs (those without ``train_size`` are ignored).
        metric: the metric; by default ``loss`` if every sized run logs it for a held-out split,
            else ``accuracy``, else the first metric they share.
        at: ``"final"`` or ``"best"``.

    Returns:
        The analysis, or None when fewer than ``MIN_SIZES`` distinct sizes are present.
    """
    if at not in ("final", "best"):
        raise ValueError(f"Expected `at` to be 'final' or 'best', but got {at!r}.")
    sized = [run for run in runs if run.train_size is not None]
    if len({run.train_size for run in sized}) < MIN_SIZES:
        return None
    shared = _shared_held_out_metrics(sized)
    if metric is None:
        if not shared:
            raise ValueError(
                "Expected the runs with a train_size to share a validation or test metric, but "
                "they share none."
            )
        metric = next((m for m in ("loss", "accuracy", "f1") if m in shared), shared[0])
    elif metric not in shared:
        raise ValueError(
            f"Expected `metric` to be one that every run with a train_size logs for a held-out "
            f"split ({', '.join(shared) or 'none'}), but got {metric!r}."
        )
    mode = metric_mode(metric)
    rows = []
    reference = "validation"
    for run in sized:
        curves = align_curves(run, metric, mode=mode)
        reference = curves.reference_split or reference
        held = curves.held_out
        if held is None:
            continue
        if at == "best":
            best_x, held_value = best_point(curves.x, held, mode=mode)
            index = int(np.flatnonzero(curves.x == best_x)[0])
            train_value = float(curves.train[index]) if curves.train is not None else math.nan
        else:
            held_value = _last_finite(held)
            train_value = _last_finite(curves.train)
        rows.append(
            {
                "run": run.name,
                "train_size": int(run.train_size),  # type: ignore[arg-type]
                "train": math.nan if train_value is None else train_value,
                "held_out": held_value,
            }
        )
    points = pd.DataFrame(rows)
    grouped = points.groupby("train_size", sort=True)
    sizes = grouped.size().index.to_numpy(dtype=float)
    held_values = grouped["held_out"].mean().to_numpy(dtype=float)
    train_values = grouped["train"].mean().to_numpy(dtype=float)
    upper = _error_upper([held_values, train_values], mode)
    if mode == "max" and upper is None:
        raise ValueError(
            f"Expected {metric} to be a loss-like metric or a bounded score (0..1 or 0..100) for "
            "a power-law fit, but its values exceed 100."
        )
    held_error = _to_error(held_values, mode, upper)
    train_error = _to_error(train_values, mode, upper)
    fit = fit_power_law(sizes, np.maximum(held_error, 0.0))
    return _data_size_result(
        metric, mode, at, reference, points, sizes, train_values, held_values, upper, fit,
        train_error,
    )  # fmt: skip


def _data_size_result(
    metric: str,
    mode: Mode,
    at: Literal["final", "best"],
    reference: str,
    points: pd.DataFrame,
    sizes: np.ndarray,
    train_values: np.ndarray,
    held_values: np.ndarray,
    upper: float | None,
    fit: PowerLawFit,
    train_error: np.ndarray,
) -> DataSizeAnalysis:
    largest = float(sizes[-1])
    target = float(train_error[-1]) if math.isfinite(train_error[-1]) else None
    error_label = metric if mode == "min" else f"{_num(upper)} - {metric}"
    held_name = metric_label(reference, metric)
    noun = (
        f"{held_name[0].upper() + held_name[1:]}"
        if mode == "min"
        else f"{reference.capitalize()} error ({error_label})"
    )
    current = float(fit.predict(largest))
    doubled = float(fit.predict(2 * largest))
    doubled_text = (
        f"doubling the training set to {_size(2 * largest)} would bring it from "
        f"{_num(current)} to ~{_num(doubled)}"
    )
    gap_now = (current - target) if target is not None else current
    size_needed: float | None = None
    falls = f"{noun} falls as n^-{fit.b:.2f}"
    if fit.b < MIN_EXPONENT or (current - doubled) < FLAT_DOUBLING_GAIN * max(gap_now, 1e-12):
        kind: DataSizeKind = "flattened"
        verdict = (
            "The curve has flattened: more data of the same kind is unlikely to close the gap "
            f"({doubled_text})."
        )
    elif target is None:
        kind = "unknown"
        verdict = f"{falls}; {doubled_text}. No train values to compare with."
    elif current <= target:
        kind = "closed"
        size_needed = largest
        verdict = (
            f"{falls}; at {_size(largest)} samples it is already at the train level "
            f"({_num(target)})."
        )
    elif target <= fit.c:
        kind = "limited"
        verdict = (
            f"{falls} but levels off near {_num(fit.c)}, above the train level of "
            f"{_num(target)}: more data of the same kind will narrow the gap but not close it; "
            f"{doubled_text}."
        )
    else:
        needed = fit.size_for(target)
        ratio = needed / largest
        size_needed = needed
        if ratio > MAX_EXTRAPOLATION:
            kind = "far"
            verdict = (
                f"{falls}; reaching the train level of {_num(target)} would take ~"
                f"{_size(needed)} samples ({_ratio(ratio)} now), far beyond the sizes measured: "
                f"more data alone is an expensive way to close the gap; {doubled_text}."
            )
        else:
            kind = "closing"
            verdict = (
                f"{falls}; ~{_size(needed)} training samples ({_ratio(ratio)} now) would bring "
                f"it to the train level of {_num(target)}."
            )
    if fit.r_squared < MIN_FIT_R_SQUARED:
        verdict += (
            f" The power law fits the points loosely (R² = {fit.r_squared:.2f}), so treat these "
            "numbers as rough."
        )
    top = largest * 4
    if size_needed is not None and math.isfinite(size_needed):
        top = max(top, min(size_needed * 1.2, largest * MAX_EXTRAPOLATION))
    curve_sizes = np.geomspace(float(sizes[0]), top, 120)
    curve_values = _from_error(np.asarray(fit.predict(curve_sizes)), mode, upper)
    train_level = None if target is None else float(_from_error(np.array([target]), mode, upper)[0])
    return DataSizeAnalysis(
        metric=metric,
        mode=mode,
        at=at,
        reference_split=reference,
        points=points,
        sizes=sizes,
        train_values=train_values,
        held_out_values=held_values,
        error_label=error_label,
        fit=fit,
        train_level=train_level,
        size_needed=size_needed,
        curve_sizes=curve_sizes,
        curve_values=curve_values,
        kind=kind,
        verdict=verdict,
    )


def _shared_held_out_metrics(runs: Sequence[TrainingRun]) -> list[str]:
    shared: list[str] | None = None
    for run in runs:
        metrics = [m for m in run.metrics if {"validation", "test"} & set(run.splits(m))]
        shared = metrics if shared is None else [m for m in shared if m in metrics]
    return shared or []


# --------------------------------------------------------------------------- helpers


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


def _x(value: float | None) -> str:
    if value is None:
        return "?"
    return str(int(value)) if float(value).is_integer() else f"{value:.3g}"


def _num(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.1f}"
    return f"{value:.3g}"


def _percent(fraction: float) -> str:
    if not math.isfinite(fraction):
        return "∞%"
    percent = fraction * 100
    return f"{percent:.1f}%" if abs(percent) < 10 else f"{percent:.0f}%"


def _size(n: float) -> str:
    if not math.isfinite(n):
        return "∞"
    if n < 100:
        return f"{round(n):,}"
    digits = math.floor(math.log10(n)) - 1
    return f"{round(n, -digits):,.0f}"


def _ratio(ratio: float) -> str:
    return f"{ratio:.1f}x" if ratio < 10 else f"{ratio:,.0f}x"


# --------------------------------------------------------------------------- runs and view words

KIND_SEVERITY: dict[str, str] = {
    "overfitting": "warning",
    "underfitting": "warning",
    "noisy": "warning",
    "healthy": "ok",
}
"""How loud a run's verdict is (``ok``, ``warning`` or ``critical``), by its kind."""

DATA_SIZE_SEVERITY: dict[str, str] = {
    "closing": "ok",
    "closed": "ok",
    "limited": "warning",
    "far": "warning",
    "flattened": "warning",
    "unknown": "ok",
}
"""How loud the data-size verdict is, by its kind."""


def held_out_metrics(run: TrainingRun) -> tuple[str, ...]:
    """The metrics of ``run`` logged for validation or test (those a diagnosis can be about), in
    ``run.metrics`` order, those also logged for train first."""
    with_held = [m for m in run.metrics if {"validation", "test"} & set(run.splits(m))]
    both = [m for m in with_held if "train" in run.splits(m)]
    return tuple(both + [m for m in with_held if m not in both])


def checkpoint_for(
    runs: TrainingRuns, run_name: str, checkpoint_epoch: float | None
) -> float | None:
    """The checkpoint epoch that applies to ``run_name``: the project's ``checkpoint_epoch`` for
    the first run (the run that produced the loaded weights comes first in
    ``training_logs.runs``), None for the others."""
    if checkpoint_epoch is None or not runs.names or run_name != runs.names[0]:
        return None
    return float(checkpoint_epoch)


def diagnose_runs(
    runs: TrainingRuns,
    *,
    patience: int = DEFAULT_PATIENCE,
    checkpoint_epoch: float | None = None,
) -> tuple[dict[str, RunDiagnosis], dict[str, str]]:
    """Diagnose every run on its default metric (:func:`default_metric`).

    Args:
        runs: the runs.
        patience: early-stopping patience (>= 1).
        checkpoint_epoch: the loaded checkpoint's x; it applies to the first run only
            (:func:`checkpoint_for`).

    Returns:
        ``(diagnoses, skipped)``: run name -> diagnosis, and run name -> why it could not be
        diagnosed (no held-out metric, no finite held-out value).
    """
    diagnoses: dict[str, RunDiagnosis] = {}
    skipped: dict[str, str] = {}
    for run in runs:
        try:
            diagnoses[run.name] = diagnose_run(
                run,
                patience=patience,
                checkpoint_epoch=checkpoint_for(runs, run.name, checkpoint_epoch),
            )
        except ProjectError as error:
            skipped[run.name] = str(error)
    return diagnoses, skipped


def align_runs(runs: Iterable[TrainingRun], metric: str) -> list[AlignedCurves]:
    """The aligned curves of ``metric`` for every run that logs it (others are left out)."""
    return [align_curves(run, metric) for run in runs if metric in run.metrics]


def patience_sweep(
    curves: AlignedCurves,
    *,
    patiences: Sequence[int] | None = None,
    min_delta: float = 0.0,
) -> pd.DataFrame:
    """Early stopping on the held-out curve for a range of patience values.

    Args:
        curves: aligned curves with a held-out split.
        patiences: the patience values (positive integers); by default 1 to 30.
        min_delta: the minimum improvement.

    Returns:
        One row per patience: ``patience``, ``stop_epoch`` (NaN when training never stops),
        ``best_epoch`` and ``kept_value`` (what ``restore_best_weights`` keeps), and
        ``final_value`` (the last held-out value).
    """
    held = curves.held_out
    if held is None or not np.isfinite(held).any():
        raise ValueError(
            f"Expected curves with a validation or test split for early stopping, but run "
            f"{curves.run_name!r} logs {curves.metric} for {', '.join(curves.splits)} only."
        )
    finite = np.isfinite(held)
    rows = []
    for patience in range(1, 31) if patiences is None else patiences:
        result = early_stopping(
            held[finite],
            patience=patience,
            mode=curves.mode,
            min_delta=min_delta,
            epochs=curves.x[finite],
        )
        rows.append(
            {
                "patience": int(patience),
                "stop_epoch": math.nan if result.stop_epoch is None else result.stop_epoch,
                "best_epoch": result.best_epoch,
                "kept_value": result.best_value,
                "final_value": result.final_value,
            }
        )
    return pd.DataFrame(rows)


def patience_takeaway(sweep: pd.DataFrame, curves: AlignedCurves) -> str:
    """One computed sentence on how the patience changes what early stopping keeps, e.g.
    "Patience 3 or more keeps the best validation loss (0.099, epoch 13); every patience keeps
    a better value than training to the end (0.149)."."""
    held = metric_label(curves.reference_split or "validation", curves.metric)
    unit = curves.x_axis
    lower = curves.mode == "min"
    kept = sweep["kept_value"].to_numpy(dtype=float)
    final = float(sweep["final_value"].iloc[0])
    best = float(np.min(kept) if lower else np.max(kept))
    first_best = int(np.flatnonzero(np.isclose(kept, best))[0])
    best_row = sweep.iloc[first_best]
    patiences = sweep["patience"].to_numpy()
    text = (
        f"Patience {patiences[first_best]} or more keeps the best {held} seen "
        f"({_num(best)}, {unit} {_x(float(best_row['best_epoch']))})"
    )
    if first_best > 0:
        text += f"; patience {patiences[0]} keeps {_num(float(kept[0]))}"
    better = kept < final if lower else kept > final
    if better.all():
        text += (
            f". Every patience from {patiences[0]} to {patiences[-1]} beats training to the last "
            f"{unit} ({_num(final)})"
        )
    elif better.any():
        first_better = int(np.flatnonzero(better)[0])
        text += (
            f". Below patience {patiences[first_better]} early stopping keeps a worse {held} "
            f"than training to the last {unit} ({_num(final)})"
        )
    else:
        text += f". No patience shown beats training to the last {unit} ({_num(final)})"
    never = np.flatnonzero(sweep["stop_epoch"].isna().to_numpy())
    if never.size:
        text += f"; from patience {patiences[never[0]]} on, training would never have stopped"
    return text + "."


def curves_takeaway(diagnosis: RunDiagnosis) -> str:
    """One computed sentence for the learning-curves chart, e.g. "Validation loss is best at
    epoch 13 (0.099) and ends at 0.149 (epoch 60), while train loss ends at 0.0123. After epoch
    13 validation loss gets worse again: that is where overfitting began."."""
    unit, held = diagnosis.x_axis, metric_label(diagnosis.reference_split, diagnosis.metric)
    text = (
        f"{_capital(held)} is best at {unit} {_x(diagnosis.best_epoch)} "
        f"({_num(diagnosis.best_value)}) and ends at {_num(diagnosis.final_validation)} "
        f"({unit} {_x(diagnosis.final_epoch)})"
    )
    if diagnosis.final_train is not None:
        train = metric_label("train", diagnosis.metric)
        text += f", while {train} ends at {_num(diagnosis.final_train)}"
    text += "."
    onset = diagnosis.onset_epoch
    if onset is not None and diagnosis.analysis.onset_rule == "validation_minimum":
        text += (
            f" After {unit} {_x(onset)} {held} gets worse again: that is where overfitting began."
        )
    elif onset is not None:
        text += (
            f" From {unit} {_x(onset)} on the train curve pulls away while {held} stalls: that "
            "is where overfitting began."
        )
    elif diagnosis.kind == "underfitting":
        text += " No onset of overfitting: the model has not yet fitted its training data."
    else:
        text += " No onset of overfitting is marked: the curves do not part for good."
    return text


def gap_takeaway(analysis: MetricAnalysis) -> str:
    """One computed sentence for the gap chart, e.g. "The gap was 0.02 at the onset (epoch 13)
    and 0.137 by epoch 60 (6.9x wider)."."""
    curves = analysis.curves
    gap = curves.gap
    unit = curves.x_axis
    held = metric_label(curves.reference_split or "validation", curves.metric)
    if gap is None or not np.isfinite(gap).any():
        return f"The run does not log train and {held} at the same {unit}s, so there is no gap."
    finite = np.isfinite(gap)
    x, values = curves.x[finite], gap[finite]
    final, last = float(values[-1]), float(x[-1])
    if analysis.onset_epoch is not None:
        at_onset = float(np.interp(analysis.onset_epoch, x, values))
        text = (
            f"The gap was {_num(at_onset)} at the onset ({unit} {_x(analysis.onset_epoch)}) and "
            f"{_num(final)} by {unit} {_x(last)}"
        )
        if at_onset > 0 and final > at_onset:
            text += f" ({_ratio(final / at_onset)} wider)"
        return text + (
            ": it opened during training, so the weights from around the onset (or more "
            "regularisation) would generalise better."
        )
    if final <= 0:
        return (
            f"{_capital(held)} ends as good as or better than train (gap {_num(final)} at "
            f"{unit} {_x(last)}): no gap opened in training, as happens when dropout or "
            "augmentation make training harder than evaluation."
        )
    smallest = int(np.argmin(values))
    return (
        f"The gap ends at {_num(final)} ({unit} {_x(last)}); its smallest was "
        f"{_num(float(values[smallest]))} at {unit} {_x(float(x[smallest]))}. No onset of "
        "overfitting is marked: the gap does not widen for good while the held-out curve stalls."
    )


def early_stopping_sentence(analysis: MetricAnalysis) -> str:
    """Where early stopping would have stopped and what it would have kept, in plain words."""
    curves = analysis.curves
    held = metric_label(curves.reference_split or "validation", curves.metric)
    return _stopping_sentence(analysis, held, curves.x_axis)


def overlay_takeaway(curves: Sequence[AlignedCurves]) -> str:
    """One computed sentence comparing runs by their best held-out value, e.g. "Best validation
    loss: main_run (0.099 at epoch 13); worst: train_size_100 (0.428 at epoch 23)."."""
    rows = []
    for run_curves in curves:
        held = run_curves.held_out
        if held is not None and np.isfinite(held).any():
            x, value = best_point(run_curves.x, held, mode=run_curves.mode)
            rows.append((run_curves.run_name, value, x, run_curves.x_axis))
    if not rows:
        return "None of the selected runs logs a validation or test value for this metric."
    first = curves[0]
    held = metric_label(first.reference_split or "validation", first.metric)
    rows.sort(key=lambda row: row[1] if first.mode == "min" else -row[1])

    def describe(row: tuple[str, float, float, str]) -> str:
        return f"{row[0]} ({_num(row[1])} at {row[3]} {_x(row[2])})"

    if len(rows) == 1:
        return f"Best {held} of {describe(rows[0])}. Select more runs to compare them."
    text = f"Best {held}: {describe(rows[0])}; worst: {describe(rows[-1])}"
    if len(rows) > 2:
        text += f". From best to worst: {', '.join(row[0] for row in rows)}"
    return text + "."


def data_size_takeaway(analysis: DataSizeAnalysis) -> str:
    """One computed sentence for the data-size chart, e.g. "Validation loss at the last epoch
    goes from 0.478 with 100 training samples to 0.149 with 800; ..."."""
    held = metric_label(analysis.reference_split, analysis.metric)
    when = "at the last epoch" if analysis.at == "final" else "at the best epoch"
    sizes, values = analysis.sizes, analysis.held_out_values
    text = (
        f"{_capital(held)} {when} goes from {_num(float(values[0]))} with "
        f"{_size(float(sizes[0]))} training samples to {_num(float(values[-1]))} with "
        f"{_size(float(sizes[-1]))}"
    )
    train = analysis.train_values
    if np.isfinite(train[0]) and np.isfinite(train[-1]):
        gaps = signed_gap(train[[0, -1]], values[[0, -1]], mode=analysis.mode)
        trend = "narrows" if gaps[1] < gaps[0] else "widens"
        text += (
            f", while the gap to train {trend} from {_num(float(gaps[0]))} to "
            f"{_num(float(gaps[1]))}"
        )
    fit = analysis.fit
    return text + (
        f". The dashed line is the power law fitted to the {analysis.error_label} (exponent "
        f"{fit.b:.2f}, R² = {fit.r_squared:.2f})."
    )


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def format_x(value: float | None) -> str:
    """An epoch or step as people write it (``13``, ``2.5``); ``"n/a"`` for None."""
    return "n/a" if value is None else _x(value)


def format_value(value: float | None) -> str:
    """A metric value with three significant digits (``0.099``, ``1,234``); ``"n/a"`` when
    missing or not finite."""
    return _num(value)
