"""Leakage between train and held-out data: exact duplicates and near-duplicates ("twins").

- Exact duplicates: equal digests of the model input (computed by the view from the pixels or
  the feature columns; here they are just ``uint64`` arrays).
- Near-duplicates: for each held-out sample, its nearest training sample by cosine similarity of
  the embeddings **centred on the training mean** (post-ReLU embeddings are all non-negative, so
  raw cosines crowd near 1 for any two samples of a class; centring spreads them). Exact search
  (blocked matrix products) up to :data:`BRUTE_FORCE_MAX` pairs, pynndescent's approximate graph
  above it (its recall against brute force is measured in tests and the benchmark).

A held-out sample has a *twin* when its nearest training sample is at least ``threshold``
similar, or an exact duplicate. :func:`summarize` applies a threshold to the stored nearest
neighbours, so moving the threshold costs no new search. Intervals are Wilson score intervals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from gengap_dash.stats.bootstrap import DEFAULT_CONFIDENCE
from gengap_dash.stats.proportions import wilson_interval

DEFAULT_THRESHOLD = 0.995
"""Default cosine similarity (centred embeddings) from which a pair counts as near-duplicate
(docs/data-quality.md explains the choice)."""
BRUTE_FORCE_MAX = 20_000 * 20_000
"""Query x train pairs up to which the exact search runs (above: pynndescent)."""
SEARCH_DIMENSIONS = 32
"""pynndescent searches the embeddings projected on their 32 main directions (2.6x faster than
in 128-d at 50,000 x 50,000, the same planted twins, top-1 agreement 0.956 against 0.964)."""
QUERY_CANDIDATES = 10
"""Candidates pynndescent returns per query; the nearest of them by exact cosine is kept."""
_BLOCK_ELEMENTS = 16_000_000  # similarity entries materialised at once (64 MB as float32)

Method = Literal["auto", "brute", "nndescent"]


@dataclass(frozen=True)
class SplitNeighbours:
    """Each sample of one held-out split against the training data.

    Attributes:
        nearest: ``(n,)`` int64 row (in the concatenated training data) of the nearest training
            sample by cosine similarity (``-1`` without embeddings).
        similarity: ``(n,)`` float32 its cosine similarity (``NaN`` without embeddings).
        exact: ``(n,)`` int64 row of a training sample with the same input digest, or ``-1``.
        correct: ``(n,)`` bool whether the model's prediction is right.
        sample_ids: ``(n,)`` str sample ids.
        labels: ``(n,)`` int64 given labels (``-1`` where missing).
        labelled: every row has a label (else accuracies are NaN).
    """

    split: str
    role: str
    nearest: np.ndarray
    similarity: np.ndarray
    exact: np.ndarray
    correct: np.ndarray
    sample_ids: np.ndarray
    labels: np.ndarray
    labelled: bool = True

    @property
    def n(self) -> int:
        return int(self.correct.shape[0])

    def twins(self, threshold: float) -> np.ndarray:
        """``(n,)`` bool: an exact duplicate, or a nearest training sample at least
        ``threshold`` similar."""
        with np.errstate(invalid="ignore"):
            near = self.similarity >= threshold
        return (self.exact >= 0) | near


@dataclass(frozen=True)
class LeakageSummary:
    """One split at one threshold: fractions with Wilson intervals."""

    split: str
    role: str
    n: int
    n_twins: int
    n_exact: int
    share: float
    share_low: float
    share_high: float
    accuracy: float
    accuracy_twins: float
    accuracy_twins_low: float
    accuracy_twins_high: float
    accuracy_rest: float
    accuracy_rest_low: float
    accuracy_rest_high: float

    @property
    def inflation(self) -> float:
        """How much the split's accuracy exceeds its accuracy without the twins."""
        return self.accuracy - self.accuracy_rest


@dataclass(frozen=True)
class LeakageResult:
    """Nearest training neighbours of every held-out split, and summaries at ``threshold``.

    Attributes:
        splits: one :class:`SplitNeighbours` per held-out split, in project order.
        summaries: one :class:`LeakageSummary` per split at ``threshold``.
        train_splits: ``(m,)`` str the training split of each training row.
        train_ids: ``(m,)`` str training sample ids; ``train_rows``: ``(m,)`` their row in
            their split; ``train_labels``: ``(m,)`` their labels.
        method: ``"brute"``, ``"nndescent"`` or ``"none"`` (no embeddings: exact only).
        notes: what could not be checked, in plain words.
    """

    splits: tuple[SplitNeighbours, ...]
    summaries: tuple[LeakageSummary, ...]
    threshold: float
    train_splits: np.ndarray
    train_ids: np.ndarray
    train_rows: np.ndarray
    train_labels: np.ndarray
    method: str
    notes: tuple[str, ...] = ()
    confidence: float = DEFAULT_CONFIDENCE

    def split(self, name: str) -> SplitNeighbours:
        return next(s for s in self.splits if s.split == name)

    def to_dict(self) -> dict:
        from gengap_dash.store.json_values import json_safe

        return json_safe(
            {
                "threshold": self.threshold,
                "method": self.method,
                "train_splits": sorted(set(self.train_splits.tolist())),
                "notes": list(self.notes),
                "splits": [s.__dict__ | {"inflation": s.inflation} for s in self.summaries],
                "pairs": {
                    s.split: pairs(self, s.split, self.threshold, limit=50).to_dict("records")
                    for s in self.splits
                },
            }
        )


def normalise(
    train: np.ndarray, others: Sequence[np.ndarray]
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Centre every embedding on the training mean and scale it to unit length.

    Args:
        train: ``(m, d)`` training embeddings; others: ``(n_i, d)`` each.

    Returns:
        float32 ``(m, d)`` and ``[(n_i, d)]``; a zero vector stays zero.
    """
    train = np.asarray(train, dtype=np.float32)
    mean = train.mean(axis=0, dtype=np.float64).astype(np.float32)

    def unit(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32) - mean
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)

    return unit(train), [unit(x) for x in others]


def nearest_neighbours(
    query: np.ndarray,
    train: np.ndarray,
    *,
    method: Method = "auto",
    seed: int = 0,
    n_jobs: int | None = None,
) -> tuple[np.ndarray, np.ndarray, str]:
    """The nearest training row of each query row by cosine similarity (inner product of unit
    vectors).

    Args:
        query: ``(n, d)`` unit vectors; train: ``(m, d)`` unit vectors.
        method: ``"brute"`` (exact), ``"nndescent"`` (pynndescent, approximate) or ``"auto"``
            (exact up to :data:`BRUTE_FORCE_MAX` pairs).

    Returns:
        ``(n,)`` int64 rows, ``(n,)`` float32 similarities, and the method used.

    Raises:
        ValueError: for mismatched widths, an empty training set or an unknown method.
    """
    query = np.ascontiguousarray(query, dtype=np.float32)
    train = np.ascontiguousarray(train, dtype=np.float32)
    if query.ndim != 2 or train.ndim != 2 or query.shape[1] != train.shape[1]:
        raise ValueError(
            f"Expected query (n, d) and train (m, d) embeddings of one width, but got shapes "
            f"{query.shape} and {train.shape}."
        )
    if train.shape[0] == 0:
        raise ValueError("Expected at least one training embedding, but got none.")
    if method not in ("auto", "brute", "nndescent"):
        raise ValueError(
            f"Expected `method` to be 'auto', 'brute' or 'nndescent', but got {method!r}."
        )
    if query.shape[0] == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float32), "brute"
    if method == "auto":
        method = "brute" if query.shape[0] * train.shape[0] <= BRUTE_FORCE_MAX else "nndescent"
    if method == "brute":
        return (*_brute(query, train), "brute")
    return (*_nndescent(query, train, seed=seed, n_jobs=n_jobs), "nndescent")


def _brute(query: np.ndarray, train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rows = np.empty(query.shape[0], dtype=np.int64)
    best = np.empty(query.shape[0], dtype=np.float32)
    block = max(1, _BLOCK_ELEMENTS // train.shape[0])
    for start in range(0, query.shape[0], block):
        similarity = query[start : start + block] @ train.T
        top = similarity.argmax(axis=1)
        rows[start : start + block] = top
        best[start : start + block] = similarity[np.arange(len(top)), top]
    return rows, best


def _nndescent(
    query: np.ndarray, train: np.ndarray, *, seed: int, n_jobs: int | None
) -> tuple[np.ndarray, np.ndarray]:
    from pynndescent import NNDescent

    # the graph is searched in the main directions of the training embeddings (fewer dimensions,
    # a faster search); its candidates are then re-scored by exact cosine in every dimension.
    # Euclidean on unit vectors ranks as cosine, and pynndescent's euclidean is its fastest.
    basis = _principal_directions(train, seed=seed)
    searched_train, searched_query = (
        (train, query) if basis is None else (train @ basis, query @ basis)
    )
    index = NNDescent(
        searched_train,
        metric="euclidean",
        n_neighbors=15,
        random_state=seed,
        n_jobs=n_jobs,
        low_memory=True,
    )
    rows, _ = index.query(searched_query, k=min(QUERY_CANDIDATES, train.shape[0]))
    candidates = train[rows]  # (n, k, d): re-score the candidates exactly
    similarity = np.einsum("nkd,nd->nk", candidates, query)
    pick = similarity.argmax(axis=1)
    return rows[np.arange(len(rows)), pick].astype(np.int64), similarity[
        np.arange(len(rows)), pick
    ].astype(np.float32)


def _principal_directions(train: np.ndarray, *, seed: int) -> np.ndarray | None:
    """``(d, SEARCH_DIMENSIONS)`` main directions of the (centred) training embeddings, from a
    seeded sample of at most 20,000 rows; None when there are not more dimensions than that."""
    if train.shape[1] <= SEARCH_DIMENSIONS:
        return None
    rng = np.random.default_rng(seed)
    rows = rng.choice(train.shape[0], min(train.shape[0], 20_000), replace=False)
    sample = train[rows].astype(np.float64)
    _, vectors = np.linalg.eigh(sample.T @ sample)
    return np.ascontiguousarray(vectors[:, -SEARCH_DIMENSIONS:], dtype=np.float32)


def exact_matches(query: np.ndarray, train: np.ndarray) -> np.ndarray:
    """``(n,)`` int64: a training row with the same digest as each query digest, or ``-1``.

    Args:
        query: ``(n,)`` uint64 digests; train: ``(m,)`` uint64 digests.
    """
    query = np.asarray(query, dtype=np.uint64)
    train = np.asarray(train, dtype=np.uint64)
    order = np.argsort(train, kind="stable")
    ordered = train[order]
    position = np.searchsorted(ordered, query)
    position = np.minimum(position, max(0, len(ordered) - 1))
    found = (
        (len(ordered) > 0) & (ordered[position] == query)
        if len(ordered)
        else np.zeros(len(query), dtype=bool)
    )
    return np.where(found, order[position] if len(ordered) else -1, -1).astype(np.int64)


@dataclass(frozen=True)
class SplitInputs:
    """What the leakage search reads of one split: ``embeddings`` ``(n, d)`` or None,
    ``digests`` ``(n,)`` uint64 or None, ``labels`` and ``correct`` ``(n,)``, ``sample_ids``;
    ``labelled``: every row has a label (else the accuracies are NaN: the share of twins needs
    no labels)."""

    name: str
    role: str
    labels: np.ndarray
    correct: np.ndarray
    sample_ids: np.ndarray
    embeddings: np.ndarray | None = None
    digests: np.ndarray | None = None
    labelled: bool = True


def find_leakage(
    splits: Sequence[SplitInputs],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    method: Method = "auto",
    seed: int = 0,
    confidence: float = DEFAULT_CONFIDENCE,
) -> LeakageResult:
    """Exact and near-duplicates between the training splits and every other split.

    Raises:
        ValueError: no training split, or a threshold outside [-1, 1].
    """
    check_threshold(threshold)
    train = [s for s in splits if s.role == "train"]
    held_out = [s for s in splits if s.role != "train"]
    if not train:
        raise ValueError("Expected a split with role 'train' to compare with, but found none.")
    notes = []
    with_embeddings = all(s.embeddings is not None for s in splits)
    with_digests = all(s.digests is not None for s in splits)
    if not with_embeddings:
        notes.append("No embeddings: only exact duplicates of the model input are searched.")
    if not with_digests:
        notes.append("The model inputs could not be read: exact duplicates are not searched.")
    if with_embeddings:
        train_unit, held_unit = normalise(
            np.concatenate([s.embeddings for s in train]), [s.embeddings for s in held_out]
        )
    train_digests = np.concatenate([s.digests for s in train]) if with_digests else None
    used = "none"
    results = []
    for position, split in enumerate(held_out):
        n = len(split.labels)
        if with_embeddings:
            nearest, similarity, used = nearest_neighbours(
                held_unit[position], train_unit, method=method, seed=seed
            )
        else:
            nearest, similarity = np.full(n, -1, np.int64), np.full(n, np.nan, np.float32)
        exact = (
            exact_matches(split.digests, train_digests)
            if with_digests
            else np.full(n, -1, np.int64)
        )
        results.append(
            SplitNeighbours(
                split.name,
                split.role,
                nearest,
                similarity,
                exact,
                np.asarray(split.correct, dtype=bool),
                np.asarray(split.sample_ids).astype(str),
                np.asarray(split.labels, dtype=np.int64),
                split.labelled,
            )
        )
    result = LeakageResult(
        splits=tuple(results),
        summaries=(),
        threshold=float(threshold),
        train_splits=np.concatenate([np.full(len(s.labels), s.name) for s in train]).astype(str),
        train_ids=np.concatenate([np.asarray(s.sample_ids).astype(str) for s in train]),
        train_rows=np.concatenate([np.arange(len(s.labels)) for s in train]).astype(np.int64),
        train_labels=np.concatenate([np.asarray(s.labels) for s in train]).astype(np.int64),
        method=used,
        notes=tuple(notes),
        confidence=confidence,
    )
    return at_threshold(result, threshold)


def check_threshold(threshold: float) -> None:
    """A cosine similarity in [-1, 1].

    Raises:
        ValueError: "Expected `threshold` to be a cosine similarity in [-1, 1], but got 2."
    """
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, int | float | np.floating)
        or not (-1.0 <= threshold <= 1.0)
    ):
        raise ValueError(
            f"Expected `threshold` to be a cosine similarity in [-1, 1], but got {threshold!r}."
        )


def summarize(
    split: SplitNeighbours, threshold: float, *, confidence: float = DEFAULT_CONFIDENCE
) -> LeakageSummary:
    """Share of ``split`` with a twin in train and accuracy with and without one."""
    check_threshold(threshold)
    twins = split.twins(threshold)
    correct = split.correct
    counts = np.array([split.n, twins.sum(), (~twins).sum()], dtype=np.float64)
    hits = np.array([twins.sum(), correct[twins].sum(), correct[~twins].sum()], dtype=np.float64)
    low, high = wilson_interval(hits, counts, confidence=confidence)
    with np.errstate(invalid="ignore", divide="ignore"):
        value = np.where(counts > 0, hits / np.maximum(counts, 1), np.nan)
    if not split.labelled:  # the share needs no labels; accuracies do
        value[1:] = low[1:] = high[1:] = np.nan
    return LeakageSummary(
        split.split,
        split.role,
        split.n,
        int(twins.sum()),
        int((split.exact >= 0).sum()),
        float(value[0]),
        float(low[0]),
        float(high[0]),
        float(correct.mean()) if split.n and split.labelled else float("nan"),
        float(value[1]),
        float(low[1]),
        float(high[1]),
        float(value[2]),
        float(low[2]),
        float(high[2]),
    )


def at_threshold(result: LeakageResult, threshold: float) -> LeakageResult:
    """``result`` with its summaries recomputed at ``threshold`` (no new search)."""
    from dataclasses import replace

    summaries = tuple(summarize(s, threshold, confidence=result.confidence) for s in result.splits)
    return replace(result, summaries=summaries, threshold=float(threshold))


def pairs(
    result: LeakageResult, split: str, threshold: float, *, limit: int | None = None
) -> pd.DataFrame:
    """The twins of ``split`` with their training sample, most similar first.

    Columns: ``split, sample_id, row, label, correct, train_split, train_id, train_row,
    train_label, similarity, exact``.
    """
    data = result.split(split)
    rows = np.flatnonzero(data.twins(threshold))
    partner = np.where(data.exact[rows] >= 0, data.exact[rows], data.nearest[rows])
    frame = pd.DataFrame(
        {
            "split": split,
            "sample_id": data.sample_ids[rows],
            "row": rows.astype(np.int64),
            "label": data.labels[rows],
            "correct": data.correct[rows],
            "train_split": result.train_splits[partner],
            "train_id": result.train_ids[partner],
            "train_row": result.train_rows[partner],
            "train_label": result.train_labels[partner],
            "similarity": np.where(data.exact[rows] >= 0, 1.0, data.similarity[rows]),
            "exact": data.exact[rows] >= 0,
        }
    )
    frame = frame.sort_values(["exact", "similarity"], ascending=False, kind="stable")
    frame = frame.reset_index(drop=True)
    return frame if limit is None else frame.head(limit)
