"""Clusters of the model's embeddings as automatic cohorts (for projects without metadata too).

k-means (scikit-learn's ``MiniBatchKMeans``, seeded) is fitted on the embeddings of every split
pooled (a seeded subsample of at most ``MAX_FIT`` rows), then every sample is assigned to its
nearest centre. Each cluster is described by its size and error per split, the splits it draws
from, its most common classes and its dominant value of each metadata column, and tested like a
slice: a one-sided hypergeometric p-value of its errors on the searched split, BH-adjusted over
the clusters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from gengap_dash.analysis.cohorts.coding import Coding
from gengap_dash.project.errors import ProjectError
from gengap_dash.stats.multiple_testing import benjamini_hochberg

DEFAULT_CLUSTERS = 8
MAX_FIT = 20_000


@dataclass(frozen=True)
class Cluster:
    """One embedding cluster.

    Attributes:
        index: its number (1-based, ordered by error on the searched split, worst first).
        n: ``{split: samples}``; ``error``: ``{split: error rate}`` (NaN where empty).
        classes: ``((class name, share), ...)`` its three most common true classes.
        metadata: ``((column, value, share), ...)`` the dominant value of each column.
        lift: error on the searched split over the split's error.
        p_value, p_adjusted: the one-sided test on the searched split and its BH adjustment.
    """

    index: int
    n: dict[str, int]
    error: dict[str, float]
    classes: tuple[tuple[str, float], ...]
    metadata: tuple[tuple[str, str, float], ...]
    lift: float
    p_value: float
    p_adjusted: float


@dataclass(frozen=True)
class Clusters:
    """The embedding clusters of a project, described (see :class:`Cluster`).

    Attributes:
        members: per split, ``(n,)`` int16: the cluster index (:attr:`Cluster.index`, 1-based)
            of each row, so a page can open the samples of a cluster.
    """

    split: str
    n_clusters: int
    clusters: tuple[Cluster, ...]
    members: dict[str, np.ndarray] = field(default_factory=dict)

    def rows_of(self, index: int, split: str) -> np.ndarray:
        """``(m,)`` row positions of ``split`` in cluster ``index``.

        Raises:
            ProjectError: for a cluster or split the result does not hold.
        """
        if split not in self.members:
            raise ProjectError(
                f"Split {split!r} has no cluster assignments; the splits are "
                f"{', '.join(self.members)}."
            )
        if not 1 <= index <= len(self.clusters):
            raise ProjectError(
                f"Expected a cluster index from 1 to {len(self.clusters)}, but got {index!r}."
            )
        return np.flatnonzero(self.members[split] == index)


def embedding_clusters(
    embeddings: Mapping[str, np.ndarray],
    frames: Mapping[str, pd.DataFrame],
    codings: Sequence[Coding],
    *,
    classes: Sequence[str],
    split: str,
    n_clusters: int = DEFAULT_CLUSTERS,
    seed: int = 0,
) -> Clusters:
    """Cluster the pooled embeddings and describe each cluster.

    Args:
        embeddings: per split, ``(n, d)`` embeddings (row-aligned with ``frames``).
        frames: per split, hub rows (``label``, ``correct``).
        codings: metadata codings (for the dominant values).
        split: the split whose errors rank and test the clusters.

    Raises:
        ProjectError: for a bad ``n_clusters`` or too few samples.
    """
    from sklearn.cluster import MiniBatchKMeans

    if isinstance(n_clusters, bool) or not isinstance(n_clusters, int) or n_clusters < 2:
        raise ProjectError(
            f"Expected `n_clusters` to be an integer of at least 2, but got {n_clusters!r}."
        )
    names = list(embeddings)
    pooled = np.concatenate([np.asarray(embeddings[s], dtype=np.float32) for s in names])
    if len(pooled) < n_clusters:
        raise ProjectError(
            f"Expected at least {n_clusters} samples to form {n_clusters} clusters, but got "
            f"{len(pooled)}."
        )
    rng = np.random.default_rng([seed, 104729])
    fit_rows = (
        pooled
        if len(pooled) <= MAX_FIT
        else pooled[rng.choice(len(pooled), MAX_FIT, replace=False)]
    )
    model = MiniBatchKMeans(n_clusters=n_clusters, random_state=seed, n_init=3, batch_size=2048)
    model.fit(fit_rows)
    assigned = dict(
        zip(
            names,
            np.split(model.predict(pooled), np.cumsum([len(embeddings[s]) for s in names])[:-1]),
            strict=True,
        )
    )
    wrong_here = 1.0 - frames[split]["correct"].to_numpy(np.float64)
    here = assigned[split]
    counts = np.bincount(here, minlength=n_clusters)
    errs = np.bincount(here, weights=wrong_here, minlength=n_clusters)
    split_error = wrong_here.mean()
    p_values = np.clip(
        stats.hypergeom.sf(errs - 1, len(here), round(wrong_here.sum()), counts), 0, 1
    )
    adjusted = benjamini_hochberg(p_values)
    with np.errstate(invalid="ignore", divide="ignore"):
        error_here = np.where(counts > 0, errs / np.maximum(counts, 1), np.nan)
    order = np.argsort(np.where(np.isnan(error_here), -1.0, -error_here), kind="stable")
    pooled_labels = np.concatenate([frames[s]["label"].to_numpy(np.int64) for s in names])
    pooled_assigned = np.concatenate([assigned[s] for s in names])
    described = []
    for rank, k in enumerate(order, start=1):
        member = pooled_assigned == k
        n_by_split, error_by_split = {}, {}
        for s in names:
            m = assigned[s] == k
            n_by_split[s] = int(m.sum())
            wrong = 1.0 - frames[s]["correct"].to_numpy(np.float64)[m]
            error_by_split[s] = float(wrong.mean()) if m.any() else float("nan")
        class_counts = np.bincount(pooled_labels[member], minlength=len(classes))
        top = np.argsort(-class_counts, kind="stable")[:3]
        total = max(1, int(member.sum()))
        metadata = []
        for coding in codings:
            pooled_codes = np.concatenate([coding.codes[s] for s in names])[member]
            if len(pooled_codes):
                value_counts = np.bincount(pooled_codes, minlength=coding.n_cohorts)
                best = int(np.argmax(value_counts))
                metadata.append(
                    (coding.columns[0], coding.labels[best], float(value_counts[best] / total))
                )
        described.append(
            Cluster(
                index=rank,
                n=n_by_split,
                error=error_by_split,
                classes=tuple(
                    (str(classes[c]), float(class_counts[c] / total))
                    for c in top
                    if class_counts[c]
                ),
                metadata=tuple(metadata),
                lift=float(error_here[k] / split_error) if split_error > 0 else float("nan"),
                p_value=float(p_values[k]),
                p_adjusted=float(adjusted[k]),
            )
        )
    rank_of = np.empty(n_clusters, dtype=np.int16)
    rank_of[order] = np.arange(1, n_clusters + 1)
    members = {s: rank_of[assigned[s]] for s in names}
    return Clusters(split=split, n_clusters=n_clusters, clusters=tuple(described), members=members)
