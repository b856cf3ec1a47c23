"""What the feature-space views read of one split: plain arrays, checked once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True, eq=False)
class SplitArrays:
    """One split's arrays.

    Attributes:
        name, role: the split and its role (``train``, ``validation``, ``test``, ``shifted``,
            ``deployment``).
        probs: ``(n, C)`` class probabilities.
        logits: ``(n, C)`` logits (log-probabilities for brought predictions).
        labels: ``(n,)`` int labels, or ``None`` for an unlabelled split.
        embeddings: ``(n, d)`` embeddings, or ``None``.
        sample_ids: ``(n,)`` sample ids (strings: a numpy or pandas string array).
        times: ``(n,)`` datetime64 values of the project's time column, or ``None``.
    """

    name: str
    role: str
    probs: np.ndarray
    logits: np.ndarray
    labels: np.ndarray | None = None
    embeddings: np.ndarray | None = None
    sample_ids: Any = None
    times: np.ndarray | None = None

    @property
    def n(self) -> int:
        return int(self.probs.shape[0])

    @property
    def predictions(self) -> np.ndarray:
        return self.probs.argmax(axis=1)

    @property
    def confidence(self) -> np.ndarray:
        return self.probs.max(axis=1)


def check_embeddings(splits: list[SplitArrays]) -> int | None:
    """The embedding width shared by every split, or ``None`` when no split has embeddings.

    Raises:
        ValueError: for splits of different widths, some with and some without embeddings, a
            row count that differs from the predictions, or a NaN/infinite embedding.
    """
    widths = {}
    for split in splits:
        if split.embeddings is None:
            continue
        embeddings = split.embeddings
        if embeddings.ndim != 2 or embeddings.shape[0] != split.n:
            raise ValueError(
                f"Expected the embeddings of split {split.name!r} to have shape ({split.n}, d), "
                f"but got {tuple(embeddings.shape)}."
            )
        finite = np.isfinite(embeddings).all(axis=1)
        if not finite.all():
            raise ValueError(
                f"Expected finite embeddings, but {int((~finite).sum())} rows of split "
                f"{split.name!r} hold NaN or infinity "
                f"(first: row {int(np.flatnonzero(~finite)[0])})."
            )
        widths[split.name] = int(embeddings.shape[1])
    if not widths:
        return None
    missing = [split.name for split in splits if split.embeddings is None]
    if missing:
        raise ValueError(
            f"Expected embeddings for every split, but split {missing[0]!r} has none while "
            f"{next(iter(widths))!r} has them."
        )
    if len(set(widths.values())) > 1:
        listed = ", ".join(f"{name}: {width}" for name, width in widths.items())
        raise ValueError(f"Expected embeddings of the same width in every split, but got {listed}.")
    return next(iter(widths.values()))
