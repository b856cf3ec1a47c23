"""Perturbations of tabular inputs, per feature or all features at once.

- ``noise``: add Gaussian noise with standard deviation ``c x`` the feature's standard deviation
  on the reference data (the training split), ``c`` in :data:`NOISE_SCALES`;
- ``missing``: set a share of the values to missing (:data:`MISSING_SHARES`) and impute them.
  gengap-dash feeds the model the table's numbers as they are and refuses missing values, so a
  project has no imputation of its own: the sweep imputes the reference (train) mean, as a
  pipeline with ``SimpleImputer(strategy="mean")`` would;
- ``quantile_shift``: move every value up by ``d`` in the reference distribution's quantiles
  (:data:`QUANTILE_SHIFTS`): a value at the median moves to the ``0.5 + d`` quantile (capped at
  the maximum); a drift of the whole feature that keeps it inside the range it was trained on.

Every draw comes from ``numpy.random.default_rng([seed, crc32(kind), severity, feature
position + 1])`` (0 for all features at once), so each perturbation is reproducible on its own.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

TABULAR_PERTURBATIONS: tuple[str, ...] = ("noise", "missing", "quantile_shift")

NOISE_SCALES: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0, 2.0)
"""Noise standard deviation per severity, in units of the feature's reference std."""

MISSING_SHARES: tuple[float, ...] = (0.1, 0.25, 0.5, 0.75, 1.0)
"""Share of values set to missing (and imputed) per severity."""

QUANTILE_SHIFTS: tuple[float, ...] = (0.05, 0.1, 0.2, 0.3, 0.5)
"""Upward move in reference quantiles per severity."""

PARAMETERS: dict[str, tuple[float, ...]] = {
    "noise": NOISE_SCALES,
    "missing": MISSING_SHARES,
    "quantile_shift": QUANTILE_SHIFTS,
}


@dataclass(frozen=True, eq=False)
class FeatureReference:
    """What the perturbations need to know of the reference (training) data.

    Attributes:
        means: ``(F,)`` feature means (the imputation value).
        stds: ``(F,)`` feature standard deviations (the noise scale; 1 where constant).
        sorted_values: ``(m, F)`` each feature's reference values, sorted (the quantiles).
    """

    means: np.ndarray
    stds: np.ndarray
    sorted_values: np.ndarray

    @classmethod
    def from_data(cls, reference: np.ndarray) -> FeatureReference:
        """From the ``(m, F)`` reference feature matrix (finite values)."""
        reference = np.asarray(reference, dtype=np.float64)
        if reference.ndim != 2 or reference.shape[0] < 2:
            raise ValueError(
                "Expected `reference` of shape (m, F) with at least 2 rows, but got shape "
                f"{reference.shape}."
            )
        stds = reference.std(axis=0)
        stds[~(stds > 0)] = 1.0
        return cls(reference.mean(axis=0), stds, np.sort(reference, axis=0))


def perturbation_rng(
    kind: str, severity: int, seed: int, feature: int | None
) -> np.random.Generator:
    """The random stream of one perturbation (``feature``: its column, ``None`` for all)."""
    position = 0 if feature is None else int(feature) + 1
    return np.random.default_rng([int(seed), zlib.crc32(kind.encode()), int(severity), position])


def check_perturbation(kind: str, severity: int) -> None:
    """Raises ValueError for an unknown kind or a severity outside 0..5."""
    if kind not in PARAMETERS:
        raise ValueError(
            f"Expected `perturbation` to be one of {', '.join(TABULAR_PERTURBATIONS)}, but got "
            f"{kind!r}."
        )
    if (
        isinstance(severity, bool)
        or not isinstance(severity, int | np.integer)
        or not (0 <= severity <= 5)
    ):
        raise ValueError(f"Expected `severity` to be an integer 0..5, but got {severity!r}.")


def perturb_features(
    features: np.ndarray,
    kind: str,
    severity: int,
    reference: FeatureReference,
    *,
    columns: Sequence[int] | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Perturb some columns of a feature matrix.

    Args:
        features: ``(n, F)`` model-ready feature values.
        kind: one of :data:`TABULAR_PERTURBATIONS`.
        severity: 0 (the identity) to 5.
        reference: the reference data's statistics (:class:`FeatureReference`).
        columns: the columns to perturb (``None``: all of them at once).
        seed: the seed of the random draws.

    Returns:
        A perturbed ``(n, F)`` copy, in ``features``' dtype.

    Raises:
        ValueError: an unknown kind or severity, or ``features`` whose width differs from the
            reference's.
    """
    check_perturbation(kind, severity)
    matrix = np.asarray(features)
    if matrix.ndim != 2 or matrix.shape[1] != reference.means.shape[0]:
        raise ValueError(
            f"Expected `features` of shape (n, {reference.means.shape[0]}), but got shape "
            f"{matrix.shape}."
        )
    out = matrix.astype(np.float64, copy=True)
    if severity == 0:
        return out.astype(matrix.dtype)
    chosen = np.arange(matrix.shape[1]) if columns is None else np.asarray(columns, dtype=np.int64)
    feature = None if columns is None or len(chosen) != 1 else int(chosen[0])
    rng = perturbation_rng(kind, severity, seed, feature)
    value = PARAMETERS[kind][severity - 1]
    block = out[:, chosen]
    if kind == "noise":
        block = block + rng.normal(0.0, 1.0, size=block.shape) * (value * reference.stds[chosen])
    elif kind == "missing":
        hole = rng.random(block.shape) < value if value < 1.0 else np.ones(block.shape, bool)
        block = np.where(hole, reference.means[chosen][None, :], block)
    else:
        block = _quantile_shift(block, reference.sorted_values[:, chosen], value)
    out[:, chosen] = block
    return out.astype(matrix.dtype)


def _quantile_shift(block: np.ndarray, sorted_reference: np.ndarray, shift: float) -> np.ndarray:
    """Move each value up by ``shift`` in its column's reference quantiles (linear
    interpolation between the order statistics, as ``numpy.quantile`` does)."""
    m = sorted_reference.shape[0]
    positions = np.linspace(0.0, 1.0, m)
    shifted = np.empty_like(block)
    for column in range(block.shape[1]):
        ranks = np.interp(block[:, column], sorted_reference[:, column], positions)
        target = np.minimum(1.0, ranks + shift)
        moved = np.interp(target, positions, sorted_reference[:, column])
        # values beyond the reference's range keep their distance to it
        below = block[:, column] < sorted_reference[0, column]
        above = block[:, column] > sorted_reference[-1, column]
        moved = np.where(below, moved + block[:, column] - sorted_reference[0, column], moved)
        moved = np.where(above, block[:, column], moved)
        shifted[:, column] = moved
    return shifted
