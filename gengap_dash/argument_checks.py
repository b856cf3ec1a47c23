"""Argument checks shared by the analysis modules (one wording for one mistake)."""

from __future__ import annotations

import numpy as np

from gengap_dash.errors import ProjectError


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
