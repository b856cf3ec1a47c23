"""A 2-D map of the embeddings of every split (pure functions; no caching, no I/O).

UMAP (umap-learn) is fitted on a stratified sample of at most :data:`DEFAULT_FIT_SAMPLES`
points (every split represented, in proportion to its size with at least
:data:`MIN_PER_SPLIT` points where it has them); the other points are placed by
:func:`place_by_neighbours`: the weighted mean of the map coordinates of their nearest fitted
points, with UMAP's own membership weights (what ``UMAP.transform`` starts from, without its
refinement epochs, and without its numba-compiled neighbour search). Parameters (documented in
docs/feature-space.md): ``n_neighbors=15``, ``min_dist=0.1``, Euclidean metric on the raw
embeddings, ``init="pca"``, ``random_state=seed`` (a fixed seed makes UMAP single-threaded and
reproducible). ``method="pca"`` is the instant fallback shown while UMAP is computed: a 2-D PCA
fitted the same way.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

DEFAULT_FIT_SAMPLES = 20_000
MIN_PER_SPLIT = 200
DEFAULT_NEIGHBORS = 15
DEFAULT_MIN_DIST = 0.1

Method = Literal["umap", "pca"]


@dataclass(frozen=True)
class EmbeddingMap:
    """Map coordinates of every sample.

    Attributes:
        method: ``"umap"`` or ``"pca"``.
        coordinates: ``(n, 2)`` float32, the splits' rows concatenated in project order.
        splits: the split names, in order; offsets: ``(len(splits) + 1,)`` row offsets.
        fitted: ``(n,)`` bool, whether the row was in the fitting sample.
        parameters: what produced it (``n_neighbors``, ``min_dist``, ``fit_samples``, ``seed``).
        reference: the split :func:`map_separation` measures from.
    """

    method: str
    coordinates: np.ndarray
    splits: tuple[str, ...]
    offsets: np.ndarray
    fitted: np.ndarray
    parameters: dict = field(default_factory=dict)
    reference: str = ""

    def rows(self, split: str) -> slice:
        i = self.splits.index(split)
        return slice(int(self.offsets[i]), int(self.offsets[i + 1]))

    def split_of_rows(self) -> np.ndarray:
        """``(n,)`` split index of every row."""
        return np.repeat(np.arange(len(self.splits)), np.diff(self.offsets))


def stratified_sample(
    sizes: list[int], *, total: int = DEFAULT_FIT_SAMPLES, seed: int = 0
) -> list[np.ndarray]:
    """Row indices to fit on, per split: :data:`MIN_PER_SPLIT` rows (or the whole split), and
    the rest of ``total`` shared in proportion to what each split has left; at most ``total``
    in all."""
    rng = np.random.default_rng(seed)
    n = sum(sizes)
    if n <= total:
        return [np.arange(size) for size in sizes]
    floors = [min(size, MIN_PER_SPLIT) for size in sizes]
    budget = max(0, total - sum(floors))
    spare = sum(size - floor for size, floor in zip(sizes, floors, strict=True)) or 1
    chosen = []
    for size, floor in zip(sizes, floors, strict=True):
        want = min(size, floor + int(budget * (size - floor) / spare))
        chosen.append(np.sort(rng.choice(size, want, replace=False)))
    return chosen


def membership_weights(distances: np.ndarray, *, iterations: int = 64) -> np.ndarray:
    """UMAP's membership weights of a new point's ``k`` nearest fitted points, as
    ``UMAP.transform`` computes them (``smooth_knn_dist`` with ``local_connectivity=0``, so
    ``rho = 0``), vectorised in numpy (no numba).

    For a row of distances ``d`` (ascending), ``sigma`` is found by bisection so that
    ``sum(exp(-d[1:] / sigma)) = log2(k)``; the weights are ``exp(-d / sigma)``; ``sigma`` is
    at least 1e-3 of the mean of all distances.

    Args:
        distances: ``(m, k)`` non-negative distances, each row ascending.

    Returns:
        ``(m, k)`` float64 weights in ``(0, 1]``.
    """
    d = np.asarray(distances, dtype=np.float64)
    target = np.log2(d.shape[1])
    rest = d[:, 1:]
    low = np.zeros(d.shape[0])
    high = np.full(d.shape[0], np.inf)
    sigma = np.ones(d.shape[0])
    for _ in range(iterations):
        total = np.where(rest > 0, np.exp(-rest / sigma[:, None]), 1.0).sum(axis=1)
        too_big = total > target  # sigma too large: shrink it
        high = np.where(too_big, sigma, high)
        low = np.where(too_big, low, sigma)
        sigma = np.where(np.isinf(high), sigma * 2.0, (low + high) / 2.0)
    sigma = np.maximum(sigma, 1e-3 * d.mean())
    return np.exp(-d / sigma[:, None])


Placer = Callable[[np.ndarray, np.ndarray, np.ndarray, int], np.ndarray]
"""``(fitted_points, fitted_coordinates, points, n_neighbors) -> (m, 2)`` coordinates."""

PLACEMENT_BATCH = 8_192
"""Points placed per batch by :func:`place_by_neighbours` (bounds memory at ~``batch x fit``
distances)."""


def place_by_neighbours(
    fitted_points: np.ndarray,
    fitted_coordinates: np.ndarray,
    points: np.ndarray,
    *,
    n_neighbors: int = DEFAULT_NEIGHBORS,
    progress: Callable[[str], None] | None = None,
) -> np.ndarray:
    """Place new points on a fitted map: each at the weighted mean of the map coordinates of
    its ``n_neighbors`` nearest fitted points (exact Euclidean neighbours, in batches), with
    :func:`membership_weights`.

    This is the initial placement ``UMAP.transform`` computes before refining it with a few
    epochs of its layout optimisation; the refinement costs numba compilation and minutes at
    100,000 points, and moves points little (tests/test_shift.py compares both).

    Args:
        fitted_points: ``(f, d)`` the points the map was fitted on.
        fitted_coordinates: ``(f, 2)`` their map coordinates.
        points: ``(m, d)`` the points to place.

    Returns:
        ``(m, 2)`` float32 coordinates.
    """
    from sklearn.neighbors import NearestNeighbors

    k = min(n_neighbors, fitted_points.shape[0])
    index = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(fitted_points)
    coordinates = np.asarray(fitted_coordinates, dtype=np.float64)
    placed = np.empty((points.shape[0], 2), dtype=np.float32)
    for start in range(0, points.shape[0], PLACEMENT_BATCH):
        stop = min(start + PLACEMENT_BATCH, points.shape[0])
        if progress and start:
            progress(f"Placed {start:,} of {points.shape[0]:,} points")
        distances, neighbours = index.kneighbors(points[start:stop])
        weights = membership_weights(distances)
        weights /= weights.sum(axis=1, keepdims=True)
        batch = np.einsum("mk,mkc->mc", weights, coordinates[neighbours])
        twins = distances[:, 0] == 0  # a copy of a fitted point lands on it, as in umap
        batch[twins] = coordinates[neighbours[twins, 0]]
        placed[start:stop] = batch
    return placed


def use_numba_cache(directory: str | os.PathLike[str]) -> None:
    """Keep numba's compiled functions under ``directory`` (``NUMBA_CACHE_DIR``), so a new
    process loads them from disk instead of compiling. Takes effect for modules imported
    afterwards; an explicit ``NUMBA_CACHE_DIR`` in the environment wins."""
    import sys

    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    os.environ["NUMBA_CACHE_DIR"] = str(directory)
    if "numba" in sys.modules:  # numba read its configuration at import: update it too
        sys.modules["numba"].config.CACHE_DIR = str(directory)


WARM_UP_POINTS = 4_200
"""Points of the warm-up fit: above umap's 4,096, where it switches from exact neighbours to
pynndescent (what a real map uses), so both get compiled."""


def warm_up(*, seed: int = 0) -> None:
    """Compile UMAP's and pynndescent's numba functions (or load them from numba's disk
    cache) with a tiny fit of the map's parameters on random float32 data: a later
    :func:`fit_map` in this process does no compilation."""
    import warnings

    import umap

    data = np.random.default_rng(seed).normal(size=(WARM_UP_POINTS, 8)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        umap.UMAP(
            n_neighbors=DEFAULT_NEIGHBORS, min_dist=DEFAULT_MIN_DIST, random_state=seed,
            n_components=2, init="pca", n_epochs=5,
        ).fit(data)  # fmt: skip


def _check(embeddings: dict[str, np.ndarray]) -> None:
    widths = {name: e.shape[1] if e.ndim == 2 else -1 for name, e in embeddings.items()}
    if not embeddings:
        raise ValueError("Expected embeddings of at least one split, but got none.")
    if len(set(widths.values())) > 1 or -1 in widths.values():
        listed = ", ".join(f"{name}: {width}" for name, width in widths.items())
        raise ValueError(f"Expected 2-D embeddings of one width in every split, but got {listed}.")
    for name, e in embeddings.items():
        if not np.isfinite(e).all():
            raise ValueError(
                f"Expected finite embeddings, but split {name!r} holds NaN or infinity."
            )


def fit_map(
    embeddings: dict[str, np.ndarray],
    *,
    method: Method = "umap",
    fit_samples: int = DEFAULT_FIT_SAMPLES,
    n_neighbors: int = DEFAULT_NEIGHBORS,
    min_dist: float = DEFAULT_MIN_DIST,
    seed: int = 0,
    reference: str | None = None,
    progress: Callable[[str], None] | None = None,
    placer: Placer | None = None,
) -> EmbeddingMap:
    """The 2-D map of ``embeddings`` (split name -> ``(n_i, d)``, in project order).

    ``placer`` places the points beyond the fitted sample (``placer(fitted_points,
    fitted_coordinates, points, n_neighbors)``); default :func:`place_by_neighbours` in this
    process. The Ray engine passes one that spreads the points over a cluster
    (``views.shift.ray_placer``): every point is placed independently, so the map is the same.

    Raises:
        ValueError: for splits of different widths or non-finite embeddings, or an unknown
            ``method``.
    """
    if method not in ("umap", "pca"):
        raise ValueError(f"Expected `method` to be 'umap' or 'pca', but got {method!r}.")
    _check(embeddings)
    names = list(embeddings)
    arrays = [np.asarray(embeddings[name], dtype=np.float32) for name in names]
    sizes = [a.shape[0] for a in arrays]
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    picks = stratified_sample(sizes, total=fit_samples, seed=seed)
    fit_rows = np.vstack([a[p] for a, p in zip(arrays, picks, strict=True)])
    fitted = np.zeros(offsets[-1], dtype=bool)
    for start, pick in zip(offsets[:-1], picks, strict=True):
        fitted[start + pick] = True
    everything = np.vstack(arrays)
    if method == "pca":
        from sklearn.decomposition import PCA

        model = PCA(n_components=2, random_state=seed).fit(fit_rows)
        coordinates = model.transform(everything)
        parameters = {"fit_samples": int(fit_rows.shape[0]), "seed": seed}
    else:
        import warnings

        import umap

        if progress:
            progress(f"Fitting UMAP on {fit_rows.shape[0]:,} points")
        with warnings.catch_warnings():  # "n_jobs overridden by setting random_state"
            warnings.simplefilter("ignore", UserWarning)
            model = umap.UMAP(
                n_neighbors=min(n_neighbors, fit_rows.shape[0] - 1),
                min_dist=min_dist,
                random_state=seed,
                n_components=2,
                init="pca",
            ).fit(fit_rows)
        coordinates = np.empty((everything.shape[0], 2), dtype=np.float32)
        coordinates[fitted] = model.embedding_
        rest = ~fitted
        if rest.any():
            if progress:
                progress(f"Placing the other {int(rest.sum()):,} points")
            if placer is None:
                coordinates[rest] = place_by_neighbours(
                    fit_rows, model.embedding_, everything[rest], n_neighbors=n_neighbors,
                    progress=progress,
                )  # fmt: skip
            else:
                coordinates[rest] = placer(
                    fit_rows, np.asarray(model.embedding_), everything[rest], n_neighbors
                )
        parameters = {
            "n_neighbors": int(n_neighbors),
            "min_dist": float(min_dist),
            "init": "pca",
            "placement": "neighbours",
            "fit_samples": int(fit_rows.shape[0]),
            "seed": seed,
        }
    coordinates = np.asarray(coordinates, dtype=np.float32)
    reference = reference if reference in names else names[0]
    return EmbeddingMap(
        method=method,
        coordinates=coordinates,
        splits=tuple(names),
        offsets=offsets,
        fitted=fitted,
        parameters=parameters,
        reference=reference,
    )


SEPARATION_SAMPLE = 1_000
"""Points per side :func:`map_separation` compares (a seeded sample above)."""

SEPARATION_NEIGHBOURS = 10


def map_separation(
    embedding_map: EmbeddingMap, reference: str | None = None, *, seed: int = 0
) -> dict[str, float]:
    """How apart each split lies from the reference on the map, from 0 (mixed) to 1 (apart).

    Equal-sized samples of the split and the reference (at most :data:`SEPARATION_SAMPLE`
    each) are pooled; for each point of the split, the share ``s`` of its
    :data:`SEPARATION_NEIGHBOURS` nearest map neighbours that come from the split too. Perfect
    mixing gives ``s = 0.5`` (up to the sampling of neighbours); the separation is
    ``max(0, 2 mean(s) - 1)``. The reference itself gets 0.
    """
    from scipy.spatial import cKDTree  # 2-D points: a k-d tree, a few ms per split

    reference = reference or embedding_map.reference or embedding_map.splits[0]
    rng = np.random.default_rng(seed)
    points = embedding_map.coordinates.astype(np.float64)
    ref = points[embedding_map.rows(reference)]
    result = {}
    for name in embedding_map.splits:
        if name == reference:
            result[name] = 0.0
            continue
        mine = points[embedding_map.rows(name)]
        size = min(SEPARATION_SAMPLE, mine.shape[0], ref.shape[0])
        k = min(SEPARATION_NEIGHBOURS, 2 * size - 1)
        if size < 2:
            result[name] = float("nan")
            continue
        a = mine[rng.choice(mine.shape[0], size, replace=False)]
        b = ref[rng.choice(ref.shape[0], size, replace=False)]
        pooled = np.vstack([a, b])
        _, index = cKDTree(pooled).query(a, k=k + 1)
        same = (index[:, 1:] < size).mean()
        result[name] = float(max(0.0, 2.0 * same - 1.0))
    return result
