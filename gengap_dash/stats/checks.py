"""Argument checks shared by the analysis modules (one wording for one mistake)."""

from __future__ import annotations

import numpy as np

from gengap_dash.project.errors import ProjectError


def check_labels(labels: np.ndarray) -> np.ndarray:
    """``(n_samples,)`` integer class indices as int64.

    Raises:
        ValueError: not 1-D or not integers.
        ProjectError: a negative class index (bad user data; a ValueError subclass).
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"Expected `labels` of shape (n_samples,), but got shape {labels.shape}.")
    if labels.dtype == np.bool_ or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"Expected `labels` to be integer class indices, but got dtype {labels.dtype}."
        )
    labels = labels.astype(np.int64, copy=False)
    if labels.size and labels.min() < 0:
        raise ProjectError(
            f"Expected `labels` to be non-negative class indices, but got {int(labels.min())}."
        )
    return labels


def check_whole_number(value: object, *, name: str, minimum: int = 0) -> None:
    """A whole number (not a bool) of at least ``minimum`` (0: non-negative, 1: positive).

    Raises:
        ValueError: "Expected `name` to be a positive integer, but got 0."
    """
    kind = (
        "positive integer"
        if minimum == 1
        else ("non-negative integer" if minimum == 0 else f"integer of at least {minimum}")
    )
    # bool is an int subclass: reject it, or `n_resamples=True` would mean 1 replicate.
    if (
        isinstance(value, bool | np.bool_)
        or not isinstance(value, int | np.integer)
        or value < minimum
    ):
        raise ValueError(f"Expected `{name}` to be a {kind}, but got {value!r}.")


PROBABILITY_TOLERANCE = 1e-6
"""How far outside [0, 1] a probability may stray (float rounding) before it is rejected."""

ROW_SUM_TOLERANCE = 1e-3
"""How far a row of probabilities may sum from 1 before it is rejected."""


def check_real_matrix(values: object, name: str) -> np.ndarray:
    """Shape ``(n_samples, n_classes)`` and a real dtype (values are not checked here).

    Raises:
        ValueError: "Expected `probs` of shape (n_samples, n_classes), but got shape (3,)."
    """
    values = np.asarray(values)
    if values.ndim != 2 or values.shape[1] < 1:
        raise ValueError(
            f"Expected `{name}` of shape (n_samples, n_classes), but got shape {values.shape}."
        )
    if not np.issubdtype(values.dtype, np.number) or np.issubdtype(
        values.dtype, np.complexfloating
    ):
        raise ValueError(f"Expected `{name}` to hold real numbers, but got dtype {values.dtype}.")
    return values


def check_probabilities(
    probs: np.ndarray, *, name: str = "probs", rows_sum_to_one: bool = True
) -> np.ndarray:
    """The one check of class probabilities (or of top-label confidences).

    Args:
        probs: ``(n_samples, n_classes)`` class probabilities, or ``(n_samples,)`` confidences.
        name: the argument's name in messages.
        rows_sum_to_one: also check that each row of a matrix sums to 1 (within
            :data:`ROW_SUM_TOLERANCE`).

    Returns:
        float64 values, clipped into [0, 1] (they may stray by :data:`PROBABILITY_TOLERANCE`).

    Raises:
        ProjectError: NaN or infinite values, values outside [0, 1], rows that do not sum to 1
            (bad user data; a ValueError subclass).
    """
    probs = np.asarray(probs).astype(np.float64, copy=False)
    if not probs.size:
        return probs
    finite = np.isfinite(probs) if probs.ndim == 1 else np.isfinite(probs.sum(axis=1))
    if not finite.all():
        row = int(np.flatnonzero(~finite)[0])
        shown = probs[row].tolist()[:5] if probs.ndim == 2 else probs[row]
        raise ProjectError(f"Expected `{name}` to be finite, but row {row} is {shown}.")
    low, high = probs.min(), probs.max()
    if low < -PROBABILITY_TOLERANCE or high > 1.0 + PROBABILITY_TOLERANCE:
        hint = " (apply a softmax to logits)" if probs.ndim == 2 else ""
        raise ProjectError(
            f"Expected `{name}` to be probabilities in [0, 1]{hint}, "
            f"but got values from {low:.4g} to {high:.4g}."
        )
    if rows_sum_to_one and probs.ndim == 2:
        row_sums = probs.sum(axis=1)
        off = np.abs(row_sums - 1.0) > ROW_SUM_TOLERANCE
        if off.any():
            row = int(np.flatnonzero(off)[0])
            raise ProjectError(
                f"Expected each row of `{name}` to sum to 1, but row {row} sums to "
                f"{row_sums[row]:.6g}."
            )
    if low < 0.0 or high > 1.0:
        probs = np.clip(probs, 0.0, 1.0)
    return probs


def check_outputs(
    labels: np.ndarray, outputs: np.ndarray, *, outputs_are: str = "probs"
) -> tuple[np.ndarray, np.ndarray]:
    """Validate one split's labels ``(n,)`` and outputs ``(n, C)``.

    Returns ``labels`` as int64 and, for probabilities, ``outputs`` as float64 (checked by
    :func:`check_probabilities`); logits keep their dtype and are checked where they are used,
    to spare a pass over them.

    Raises:
        ValueError: bad shapes, dtypes or ``outputs_are``.
        ProjectError: labels out of range, probabilities that are not probabilities.
    """
    if outputs_are not in ("probs", "logits"):
        raise ValueError(
            f"Expected `outputs_are` to be one of 'probs', 'logits', but got {outputs_are!r}."
        )
    labels = check_labels(labels)
    outputs = check_real_matrix(outputs, outputs_are)
    n_samples, n_classes = outputs.shape
    if n_samples != labels.shape[0]:
        raise ValueError(
            f"Expected `{outputs_are}` to have one row per label ({labels.shape[0]}), "
            f"but got {n_samples} rows."
        )
    if labels.size and labels.max() >= n_classes:
        raise ProjectError(
            f"Expected `labels` in [0, {n_classes}) to match the {n_classes} columns of "
            f"`{outputs_are}`, but got label {int(labels.max())}."
        )
    if outputs_are == "logits":
        return labels, outputs
    return labels, check_probabilities(outputs, name="probs")


def check_confidences(confidences: object, *, name: str = "confidences") -> np.ndarray:
    """``(n_samples,)`` real probabilities of one event (top-label confidences), as float64.

    Raises:
        ValueError: not 1-D or not real numbers.
        ProjectError: values outside [0, 1] or not finite.
    """
    values = np.asarray(confidences)
    if values.ndim != 1:
        raise ValueError(f"Expected `{name}` of shape (n_samples,), but got shape {values.shape}.")
    if not np.issubdtype(values.dtype, np.number) or np.issubdtype(
        values.dtype, np.complexfloating
    ):
        raise ValueError(f"Expected `{name}` to hold real numbers, but got dtype {values.dtype}.")
    return check_probabilities(values, name=name)
