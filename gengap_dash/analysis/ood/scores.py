"""Per-sample out-of-distribution and uncertainty scores; every score is oriented so that a
HIGHER value means MORE unusual (more likely out of distribution, or wrong).

- ``msp``: ``1 - max softmax probability`` (Hendrycks and Gimpel 2017);
- ``max_logit``: minus the largest logit (Hendrycks et al. 2022);
- ``energy``: ``-logsumexp(logits)`` (Liu et al. 2020, temperature 1);
- ``mahalanobis``: the smallest Mahalanobis distance² to a class mean, with class means and one
  shared (pooled within-class) covariance fitted on train embeddings (Lee et al. 2018);
- ``knn``: distance to the k-th nearest train embedding after L2 normalisation (Sun et al.
  2022; k = :data:`DEFAULT_K`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gengap_dash.findings.ood import SCORE_LABELS  # noqa: F401  (re-exported)

SCORES = ("msp", "max_logit", "energy", "mahalanobis", "knn")
OUTPUT_SCORES = ("msp", "max_logit", "energy")
"""Scores that need only the model's outputs (the others need embeddings)."""


DEFAULT_K = 10
"""The k of the kNN score."""

KNN_MAX_TRAIN = 50_000
"""Train embeddings the kNN score compares with (a seeded sample above this)."""

_BLOCK_ROWS = 2_048


_ROW_CHUNK = 262_144
"""Rows per chunk of the output scores: their float64 temporaries stay small at any size."""


def _by_row_chunks(values: np.ndarray, score) -> np.ndarray:
    """``score`` applied to float64 chunks of rows of ``values: (n, C)`` (row-wise scores, so
    the result is the one call on all rows would give)."""
    values = np.asarray(values)
    out = np.empty(values.shape[0], dtype=np.float64)
    for start in range(0, values.shape[0], _ROW_CHUNK):
        out[start : start + _ROW_CHUNK] = score(
            np.asarray(values[start : start + _ROW_CHUNK], dtype=np.float64)
        )
    return out


def msp_score(probs: np.ndarray) -> np.ndarray:
    """``(n,)``: ``1 - max_k probs[:, k]`` for ``probs: (n, C)``."""
    return _by_row_chunks(probs, lambda chunk: 1.0 - chunk.max(axis=1))


def max_logit_score(logits: np.ndarray) -> np.ndarray:
    """``(n,)``: ``-max_k logits[:, k]``."""
    return _by_row_chunks(logits, lambda chunk: -chunk.max(axis=1))


def energy_score(logits: np.ndarray) -> np.ndarray:
    """``(n,)``: ``-log sum_k exp(logits[:, k])`` (stable)."""
    from scipy.special import logsumexp

    return _by_row_chunks(logits, lambda chunk: -logsumexp(chunk, axis=1))


@dataclass(frozen=True)
class GaussianFit:
    """Class means ``(C, d)`` and the inverse ``(d, d)`` of the shared covariance."""

    means: np.ndarray
    precision: np.ndarray


def fit_class_gaussians(embeddings: np.ndarray, labels: np.ndarray, n_classes: int) -> GaussianFit:
    """Class means and the pooled within-class covariance of train ``embeddings: (n, d)``
    (pseudo-inverse, so a singular covariance is handled).

    Raises:
        ValueError: for labels outside ``[0, n_classes)`` or fewer rows than classes.
    """
    embeddings = np.asarray(embeddings, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if embeddings.shape[0] < 2:
        raise ValueError(
            f"Expected at least 2 train embeddings for the Mahalanobis score, but got "
            f"{embeddings.shape[0]}."
        )
    if labels.min() < 0 or labels.max() >= n_classes:
        raise ValueError(f"Expected train labels in [0, {n_classes}), but got {labels.max()}.")
    means = np.zeros((n_classes, embeddings.shape[1]))
    present = np.bincount(labels, minlength=n_classes)
    np.add.at(means, labels, embeddings)
    means[present > 0] /= present[present > 0, None]
    means[present == 0] = np.nan
    centred = embeddings - means[labels]
    covariance = centred.T @ centred / embeddings.shape[0]
    return GaussianFit(means, np.linalg.pinv(covariance, hermitian=True))


def mahalanobis_score(embeddings: np.ndarray, fit: GaussianFit) -> np.ndarray:
    """``(n,)``: ``min_c (x - mu_c)^T Sigma^-1 (x - mu_c)`` over classes seen in train."""
    embeddings = np.asarray(embeddings, dtype=np.float64)
    means = fit.means[~np.isnan(fit.means).any(axis=1)]
    out = np.empty(embeddings.shape[0])
    projected_means = means @ fit.precision  # (C, d)
    mean_terms = np.einsum("cd,cd->c", projected_means, means)
    for start in range(0, embeddings.shape[0], _BLOCK_ROWS):
        block = embeddings[start : start + _BLOCK_ROWS]
        own = np.einsum("nd,de,ne->n", block, fit.precision, block)
        distances = own[:, None] - 2.0 * block @ projected_means.T + mean_terms[None, :]
        out[start : start + block.shape[0]] = np.maximum(distances.min(axis=1), 0.0)
    return out


def normalise_rows(embeddings: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero), as float32."""
    embeddings = np.asarray(embeddings, dtype=np.float32)
    norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
    return embeddings / np.where(norms > 0, norms, 1.0)


def knn_score(
    embeddings: np.ndarray,
    train: np.ndarray,
    *,
    k: int = DEFAULT_K,
    exclude_self: bool = False,
) -> np.ndarray:
    """``(n,)``: Euclidean distance of each L2-normalised row of ``embeddings`` to its k-th
    nearest L2-normalised ``train`` row (brute force in blocks).

    Args:
        exclude_self: ``embeddings`` are the train rows themselves, in the same order: each
            row's own match is skipped.

    Raises:
        ValueError: for ``k`` not in ``[1, len(train)]`` (minus one with ``exclude_self``).
    """
    queries = normalise_rows(embeddings)
    references = normalise_rows(train)
    available = references.shape[0] - (1 if exclude_self else 0)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= available:
        raise ValueError(
            f"Expected `k` to be an integer from 1 to {available} (the train rows), but got {k!r}."
        )
    out = np.empty(queries.shape[0])
    for start in range(0, queries.shape[0], _BLOCK_ROWS):
        block = queries[start : start + _BLOCK_ROWS]
        similarity = block @ references.T
        if exclude_self:
            rows = np.arange(block.shape[0])
            similarity[rows, start + rows] = -np.inf
        kth = -np.partition(-similarity, k - 1, axis=1)[:, k - 1]
        out[start : start + block.shape[0]] = np.sqrt(np.maximum(2.0 - 2.0 * kth, 0.0))
    return out
