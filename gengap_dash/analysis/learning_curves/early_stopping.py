"""What Keras/Lightning ``EarlyStopping`` would have done on a logged curve, for one patience or a
sweep.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from gengap_dash.analysis.learning_curves.curves import AlignedCurves, Mode, _check_mode

DEFAULT_PATIENCE = 5
"""Early-stopping patience used by :func:`diagnose_run` and the CLI."""


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
