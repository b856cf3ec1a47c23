"""How the class proportions moved, without labels: black-box shift estimation (BBSE, Lipton,
Wang and Smola 2018).

Under label shift (``p(x | y)`` fixed, ``p(y)`` changed), the target's distribution of
predictions is ``mu = C w`` where ``C[i, j] = P(pred = i, y = j)`` on validation and
``w_j = q(y = j) / p(y = j)``. Solving for ``w`` and multiplying by validation's class
proportions gives the target's class proportions ``q`` (clipped at 0 and renormalised). The
interval resamples validation and the target (the bootstrap engine, one stream per split).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gengap_dash.stats.bootstrap import (
    make_rng,
    percentile_interval,
    plan_resampling,
    resample_column_sums,
    split_stream,
)


@dataclass(frozen=True)
class LabelShift:
    """Estimated class proportions of a split.

    Attributes:
        estimated: ``(C,)`` estimated class proportions of the split.
        low, high: ``(C,)`` their 95% bootstrap intervals.
        reference: ``(C,)`` class proportions of validation.
        observed: ``(C,)`` the split's true proportions where it has labels (else NaN).
        total_variation: half the L1 distance between ``estimated`` and ``reference``.
    """

    estimated: np.ndarray
    low: np.ndarray
    high: np.ndarray
    reference: np.ndarray
    observed: np.ndarray
    total_variation: float


def _proportions(joint: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """``joint: (..., C, C)`` P(pred=i, y=j); ``predicted: (..., C)`` P(pred=i) -> ``(..., C)``."""
    n_classes = joint.shape[-1]
    reference = joint.sum(axis=-2)  # P(y = j)
    regularised = joint + 1e-9 * np.eye(n_classes)
    weights = (
        np.linalg.lstsq(regularised, predicted, rcond=None)[0]
        if joint.ndim == 2
        else (
            np.stack(
                [
                    np.linalg.lstsq(c, m, rcond=None)[0]
                    for c, m in zip(regularised, predicted, strict=True)
                ]
            )
        )
    )
    estimate = np.clip(weights * reference, 0.0, None)
    total = estimate.sum(axis=-1, keepdims=True)
    return np.where(total > 0, estimate / np.where(total > 0, total, 1.0), reference)


def estimate_label_shift(
    validation_labels: np.ndarray,
    validation_predictions: np.ndarray,
    target_predictions: np.ndarray,
    n_classes: int,
    *,
    target_labels: np.ndarray | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
    positions: tuple[int, int] = (0, 1),
) -> LabelShift:
    """BBSE estimate of the target's class proportions.

    Args:
        validation_labels, validation_predictions: ``(n_v,)`` ints in ``[0, n_classes)``.
        target_predictions: ``(n_t,)`` predicted classes of the target split.
        target_labels: ``(n_t,)`` its labels, if any (only reported as ``observed``).
        positions: the project positions of validation and the target (their bootstrap
            streams, :func:`gengap_dash.stats.bootstrap.split_stream`).

    Raises:
        ValueError: for empty inputs or classes outside ``[0, n_classes)``.
    """
    validation_labels = np.asarray(validation_labels, dtype=np.int64)
    validation_predictions = np.asarray(validation_predictions, dtype=np.int64)
    target_predictions = np.asarray(target_predictions, dtype=np.int64)
    for name, values in (
        ("validation_labels", validation_labels),
        ("validation_predictions", validation_predictions),
        ("target_predictions", target_predictions),
    ):
        if values.size == 0:
            raise ValueError(f"Expected `{name}` to be non-empty, but got 0 values.")
        if values.min() < 0 or values.max() >= n_classes:
            raise ValueError(
                f"Expected `{name}` in [0, {n_classes}), but got values from {values.min()} to "
                f"{values.max()}."
            )
    if validation_labels.shape != validation_predictions.shape:
        raise ValueError(
            "Expected `validation_labels` and `validation_predictions` of the same length, but "
            f"got {validation_labels.size} and {validation_predictions.size}."
        )
    n_v, n_t = validation_labels.size, target_predictions.size
    pair = validation_predictions * n_classes + validation_labels
    joint = np.bincount(pair, minlength=n_classes**2).reshape(n_classes, n_classes) / n_v
    predicted = np.bincount(target_predictions, minlength=n_classes) / n_t
    estimated = _proportions(joint, predicted)
    rng_v = make_rng(split_stream(seed, positions[0]))
    rng_t = make_rng(split_stream(seed, positions[1]))
    plan_v = plan_resampling(n_v, rng=rng_v, n_resamples=n_resamples)
    plan_t = plan_resampling(n_t, rng=rng_t, n_resamples=n_resamples)
    joint_reps = (
        resample_column_sums(
            plan_v.sum_binned(pair, n_classes**2), n_resamples=n_resamples, rng=rng_v
        ).reshape(n_resamples, n_classes, n_classes)
        / n_v
    )
    predicted_reps = (
        resample_column_sums(
            plan_t.sum_binned(target_predictions, n_classes), n_resamples=n_resamples, rng=rng_t
        )
        / n_t
    )
    replicates = _proportions(joint_reps, predicted_reps)
    bounds = np.array([percentile_interval(replicates[:, k]) for k in range(n_classes)])
    reference = joint.sum(axis=0)
    if target_labels is not None:
        observed = np.bincount(np.asarray(target_labels, dtype=np.int64), minlength=n_classes)
        observed = observed / max(1, observed.sum())
    else:
        observed = np.full(n_classes, np.nan)
    return LabelShift(
        estimated,
        bounds[:, 0],
        bounds[:, 1],
        reference,
        observed.astype(np.float64),
        float(0.5 * np.abs(estimated - reference).sum()),
    )
