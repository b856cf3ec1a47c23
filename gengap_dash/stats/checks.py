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
