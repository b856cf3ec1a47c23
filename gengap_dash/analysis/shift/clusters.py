"""Where the shift lives: clusters of the embedding space, each cluster's share of every split,
and its error rate where labels exist."""

from __future__ import annotations

import numpy as np
import pandas as pd

DEFAULT_CLUSTERS = 8
"""k of the k-means clustering (fitted on at most :data:`CLUSTER_FIT_SAMPLES` pooled rows)."""

CLUSTER_FIT_SAMPLES = 20_000


def cluster_embeddings(
    embeddings: list[np.ndarray], *, n_clusters: int = DEFAULT_CLUSTERS, seed: int = 0
) -> list[np.ndarray]:
    """k-means cluster of every row, fitted on a stratified sample of the pooled splits.

    Args:
        embeddings: one ``(n_i, d)`` array per split.

    Returns:
        One ``(n_i,)`` int array of cluster indices per split.

    Raises:
        ValueError: for ``n_clusters`` below 2 or above the number of rows.
    """
    from sklearn.cluster import KMeans

    total = sum(int(e.shape[0]) for e in embeddings)
    if (
        isinstance(n_clusters, bool)
        or not isinstance(n_clusters, int)
        or not 2 <= n_clusters <= total
    ):
        raise ValueError(
            f"Expected `n_clusters` to be an integer from 2 to {total}, but got {n_clusters!r}."
        )
    rng = np.random.default_rng(seed)
    per_split = max(1, CLUSTER_FIT_SAMPLES // len(embeddings))
    sample = [
        e[rng.choice(e.shape[0], min(per_split, e.shape[0]), replace=False)] for e in embeddings
    ]
    model = KMeans(n_clusters=n_clusters, n_init=3, random_state=seed).fit(np.vstack(sample))
    return [model.predict(np.asarray(e, dtype=model.cluster_centers_.dtype)) for e in embeddings]


def cluster_table(
    clusters: dict[str, np.ndarray],
    *,
    correct: dict[str, np.ndarray | None],
    labels: dict[str, np.ndarray | None],
    predictions: dict[str, np.ndarray],
    class_names: list[str],
    n_clusters: int,
) -> pd.DataFrame:
    """One row per (cluster, split): ``cluster, split, n, share`` (of the split),
    ``error_rate`` (NaN without labels), ``top_class`` (most common label, or prediction
    without labels) and ``top_class_share`` (within the cluster and split)."""
    rows = []
    for split, assigned in clusters.items():
        n_split = max(1, assigned.size)
        classes = labels[split] if labels[split] is not None else predictions[split]
        for k in range(n_clusters):
            members = assigned == k
            n = int(members.sum())
            if n:
                counts = np.bincount(classes[members], minlength=len(class_names))
                top = int(counts.argmax())
                top_share = float(counts[top] / n)
            else:
                top, top_share = 0, float("nan")
            ok = correct[split]
            error = float(1.0 - ok[members].mean()) if ok is not None and n else float("nan")
            rows.append(
                {
                    "cluster": k,
                    "split": split,
                    "n": n,
                    "share": n / n_split,
                    "error_rate": error,
                    "top_class": class_names[top] if n else "",
                    "top_class_share": top_share,
                }
            )
    return pd.DataFrame(rows)


def most_overrepresented(table: pd.DataFrame, *, split: str, reference: str) -> dict | None:
    """The cluster whose share grows most from ``reference`` to ``split`` (``None`` when the
    table lacks either split): ``cluster, share, reference_share, error_rate, top_class,
    top_class_share``."""
    mine = table[table["split"] == split].set_index("cluster")
    theirs = table[table["split"] == reference].set_index("cluster")
    if mine.empty or theirs.empty:
        return None
    growth = mine["share"] - theirs["share"].reindex(mine.index).fillna(0.0)
    k = int(growth.idxmax())
    row = mine.loc[k]
    return {
        "cluster": k,
        "share": float(row["share"]),
        "reference_share": float(theirs["share"].get(k, 0.0)),
        "error_rate": float(row["error_rate"]),
        "top_class": str(row["top_class"]),
        "top_class_share": float(row["top_class_share"]),
    }
