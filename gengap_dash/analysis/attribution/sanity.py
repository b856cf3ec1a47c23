"""The model-parameter randomization test (Adebayo et al., "Sanity Checks for Saliency Maps",
NeurIPS 2018): a method whose maps barely change when the model's weights are randomized shows
the input, not what the model learned."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gengap_dash.analysis.attribution.maps import rank_correlation
from gengap_dash.analysis.attribution.results import SanityCheck
from gengap_dash.analysis.attribution.statistics import DEFAULT_RESAMPLES, mean_estimate


def randomization_check(
    original: np.ndarray,
    randomized: Sequence[np.ndarray],
    *,
    method: str,
    steps: Sequence[int],
    n_layers: int,
    seed: int = 0,
    position: int = 0,
    n_resamples: int = DEFAULT_RESAMPLES,
) -> SanityCheck:
    """Similarity (mean Spearman correlation of magnitudes) between the trained model's maps
    and each randomized model's maps.

    Args:
        original: ``(n, ...)`` maps of the trained model.
        randomized: one ``(n, ...)`` array per cascade step.
        steps: how many top layers each step randomized.
        n_layers: the model's parametric layers.

    Raises:
        ValueError: ``randomized`` and ``steps`` differ in length.
    """
    if len(randomized) != len(steps) or not steps:
        raise ValueError(
            f"Expected one set of randomized maps per step, but got {len(randomized)} sets for "
            f"{len(steps)} steps."
        )
    similarity = tuple(
        mean_estimate(
            rank_correlation(original, maps), seed=seed, position=position, n_resamples=n_resamples
        )
        for maps in randomized
    )
    return SanityCheck(
        method=method,
        n_samples=int(np.asarray(original).shape[0]),
        steps=tuple(int(s) for s in steps),
        similarity=similarity,
        n_layers=int(n_layers),
    )
