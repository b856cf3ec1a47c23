"""Diagnosing a run: the onset of overfitting and the kind of the run (overfitting, underfitting,
noisy, healthy), with the thresholds that decide.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from gengap_dash.analysis.learning_curves.curves import (
    MIN_NOISE_POINTS,
    SMOOTHING_WINDOW,
    AlignedCurves,
    Mode,
    TrainAggregate,
    _check_mode,
    _error_upper,
    _first_finite,
    _last_finite,
    _noise,
    _rolling_median,
    _to_error,
    align_curves,
    best_point,
    default_metric,
)
from gengap_dash.analysis.learning_curves.early_stopping import (
    DEFAULT_PATIENCE,
    EarlyStoppingResult,
    early_stopping,
)
from gengap_dash.data.training_logs import TrainingRun, TrainingRuns
from gengap_dash.project.errors import ProjectError

Kind = Literal["overfitting", "underfitting", "noisy", "healthy"]


OnsetRule = Literal["validation_minimum", "gap_widening"]


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
        details: the facts the findings state, decided here: ``noisy``, ``span`` (range of the
            smoothed held-out error), ``diverged_at``, ``still_improving`` (``from_x``,
            ``from_value``, ``held_drop``, ``train_drop``), ``both_high``, ``first_train``,
            ``train_after_onset`` (``"improving"``, ``"flat"`` or ``None``). The words are in
            :mod:`gengap_dash.findings.learning_curves` (see
            :func:`gengap_dash.analysis.learning_curves.findings.run_findings`).
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
    details: Mapping[str, Any]
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
            "noisy": self.noisy,
            "checkpoint_epoch": self.checkpoint_epoch,
            "checkpoint_value": self.checkpoint_value,
            "notes": list(self.notes),
        }


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
    details = _verdict_details(analysis, facts, kind, details)
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
        details=details,
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


def _verdict_details(
    analysis: MetricAnalysis, facts: _Facts, kind: Kind, details: dict[str, Any]
) -> dict[str, Any]:
    """The classification's details plus the facts the verdict states (decided here, worded in
    ``findings``)."""
    curves = analysis.curves
    details = dict(details)
    details["first_train"] = _first_finite(curves.train)
    details["train_after_onset"] = None
    if kind == "overfitting" and analysis.onset_epoch is not None:
        details["train_after_onset"] = _train_trend_after(facts, analysis.onset_epoch)
    if "still_improving" in details:
        still = dict(details["still_improving"])
        still["from_value"] = _value_at(curves, still["from_x"])
        details["still_improving"] = still
    return details


def _train_trend_after(facts: _Facts, x_from: float) -> str | None:
    """``"improving"`` when the smoothed train error kept falling after ``x_from`` by
    ``STILL_IMPROVING_MIN`` of its value (and ``NOISE_FACTOR`` noise), ``"flat"`` otherwise,
    ``None`` without a train curve."""
    if facts.train_smooth is None or not facts.train_smooth.size:
        return None
    start = float(np.interp(x_from, facts.x_train, facts.train_smooth))
    end = float(facts.train_smooth[-1])
    threshold = max(STILL_IMPROVING_MIN * abs(start), NOISE_FACTOR * facts.train_noise, 1e-12)
    return "improving" if start - end >= threshold else "flat"


def _value_at(curves: AlignedCurves, x: float) -> float:
    held = curves.held_out if curves.held_out is not None else np.full(len(curves.x), np.nan)
    index = int(np.flatnonzero(np.isclose(curves.x, x))[0])
    return float(held[index])


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
