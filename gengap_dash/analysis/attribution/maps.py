"""Attribution maps as pixel maps, and the statistics that compare them.

Every comparison works on pixel maps ``(n, P)``: an image map ``(n, C, H, W)`` summed over its
channels (signed maps keep their sign, absolute maps stay absolute) and flattened; a tabular map
``(n, F)`` as it is. Rankings compare the *magnitude* of attribution (a pixel that argues
strongly against the class is as looked-at as one that argues for it).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata


def pixel_maps(maps: np.ndarray) -> np.ndarray:
    """``(n, P)`` pixel maps of ``maps``: ``(n, C, H, W)`` summed over C, or ``(n, F)`` as is.

    Raises:
        ValueError: for maps of another dimension.
    """
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim == 4:
        return maps.sum(axis=1).reshape(maps.shape[0], -1)
    if maps.ndim == 2:
        return maps
    raise ValueError(f"Expected maps of shape (n, C, H, W) or (n, F), but got shape {maps.shape}.")


def image_maps(maps: np.ndarray) -> np.ndarray:
    """``(n, H, W)``: image maps summed over their channels."""
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim != 4:
        raise ValueError(f"Expected maps of shape (n, C, H, W), but got shape {maps.shape}.")
    return maps.sum(axis=1)


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.abs(pixel_maps(a)), np.abs(pixel_maps(b))
    if a.shape != b.shape:
        raise ValueError(f"Expected maps of the same shape, but got {a.shape} and {b.shape}.")
    return a, b


def rank_correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(n,)`` Spearman rank correlation of each pair of maps' magnitudes (ties: average
    ranks; a constant map gives NaN).

    Args:
        a, b: maps of one shape, ``(n, C, H, W)`` or ``(n, F)``.
    """
    a, b = _pair(a, b)
    ra = rankdata(a, axis=1) - (a.shape[1] + 1) / 2
    rb = rankdata(b, axis=1) - (b.shape[1] + 1) / 2
    numerator = (ra * rb).sum(axis=1)
    denominator = np.sqrt((ra**2).sum(axis=1) * (rb**2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(
            denominator > 0, numerator / np.where(denominator > 0, denominator, 1), np.nan
        )


def top_k_mask(maps: np.ndarray, fraction: float) -> np.ndarray:
    """``(n, P)`` bool: each map's ``ceil(fraction * P)`` largest magnitudes (ties: the first
    pixels in reading order).

    Raises:
        ValueError: for a fraction outside (0, 1].
    """
    if not (0 < fraction <= 1):
        raise ValueError(f"Expected `top_k` to be a fraction in (0, 1], but got {fraction!r}.")
    values = np.abs(pixel_maps(maps))
    k = max(1, int(np.ceil(fraction * values.shape[1] - 1e-9)))
    order = np.argsort(-values, axis=1, kind="stable")[:, :k]
    mask = np.zeros(values.shape, dtype=bool)
    np.put_along_axis(mask, order, True, axis=1)
    return mask


def top_k_overlap(a: np.ndarray, b: np.ndarray, *, fraction: float = 0.2) -> np.ndarray:
    """``(n,)`` the share of ``a``'s top-``fraction`` pixels that are also in ``b``'s
    (both sets have ``ceil(fraction * P)`` pixels, so the share is symmetric)."""
    _pair(a, b)
    mask_a, mask_b = top_k_mask(a, fraction), top_k_mask(b, fraction)
    return (mask_a & mask_b).sum(axis=1) / mask_a.sum(axis=1)


def deletion_orders(maps: np.ndarray) -> np.ndarray:
    """``(n, P)`` pixel indices by decreasing attribution magnitude (ties: reading order)."""
    return np.argsort(-np.abs(pixel_maps(maps)), axis=1, kind="stable")


def random_orders(n: int, n_pixels: int, *, rng: np.random.Generator) -> np.ndarray:
    """``(n, P)`` random pixel orders (the deletion curve of a method that knows nothing)."""
    return np.argsort(rng.random((n, n_pixels)), axis=1)


def deletion_auc(confidences: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    """``(n,)`` area under each deletion curve (trapezoid rule over the removed fraction).

    Args:
        confidences: ``(n, K)`` the probability of the class at each step.
        fractions: ``(K,)`` increasing fractions removed, from 0 to 1.

    Lower is more faithful: removing the pixels a method ranks first should make the confidence
    fall fast.
    """
    confidences = np.asarray(confidences, dtype=np.float64)
    fractions = np.asarray(fractions, dtype=np.float64)
    if confidences.ndim != 2 or confidences.shape[1] != fractions.shape[0]:
        raise ValueError(
            f"Expected confidences of shape (n, {fractions.shape[0]}), but got {confidences.shape}."
        )
    if np.any(np.diff(fractions) <= 0):
        raise ValueError("Expected `fractions` to increase strictly.")
    widths = np.diff(fractions)
    return ((confidences[:, 1:] + confidences[:, :-1]) / 2 * widths).sum(axis=1)


def class_average_maps(maps: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """``(n_classes, P)`` the mean magnitude map of each class (NaN for a class with no
    sample)."""
    values = np.abs(pixel_maps(maps))
    labels = np.asarray(labels, dtype=np.int64)
    out = np.full((n_classes, values.shape[1]), np.nan)
    for k in range(n_classes):
        chosen = labels == k
        if chosen.any():
            out[k] = values[chosen].mean(axis=0)
    return out
