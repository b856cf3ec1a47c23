"""The bridge to real shift: which corruption, at which severity, does a real shifted or
deployment split resemble most in the model's feature space?

For each real split ``S`` and each candidate ``(corruption, severity)`` (the swept split's
samples corrupted; severity 0 is the clean swept split), the unbiased MMD² between ``S``'s
embeddings and the candidate's embeddings (``stats/two_sample.py``, RBF kernel). The candidates
are compared on one footing:

- one bandwidth for every candidate and split: the median distance between the clean swept
  split's embeddings (the median heuristic, ``median_bandwidth``);
- each side subsampled (seeded, without replacement) to at most ``max_samples`` rows, and every
  candidate on the same rows of the swept split (they differ only by the corruption).

The smallest MMD² names the closest candidate; the runner-up is the closest candidate of another
corruption (the same corruption at the next severity is nearly always second, and says nothing
new; the clean split is reported on its own). The clean swept split is kept as a candidate: a
split closest to clean data is not explained by any corruption.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gengap_dash.stats.bootstrap import make_rng
from gengap_dash.stats.two_sample import MIN_SAMPLES, median_bandwidth, rbf_kernel

DEFAULT_BRIDGE_SAMPLES = 500
"""Rows per side in the bridge's MMD² (seeded subsample)."""

CLEAN = "clean"
"""The name of the clean candidate (severity 0)."""


@dataclass(frozen=True)
class BridgeMatch:
    """The closest candidates of one real split.

    Attributes:
        split: the real shifted or deployment split.
        role: its role.
        corruption, severity, mmd2: the closest candidate (``corruption == "clean"`` when the
            clean swept split is closest).
        runner_up, runner_up_severity, runner_up_mmd2: the closest candidate of another
            corruption (empty when there is none).
        clean_mmd2: the MMD² to the clean swept split.
        n_split, n_reference: rows used from each side.
    """

    split: str
    role: str
    corruption: str
    severity: int
    mmd2: float
    runner_up: str
    runner_up_severity: int
    runner_up_mmd2: float
    clean_mmd2: float
    n_split: int
    n_reference: int


@dataclass(frozen=True)
class Bridge:
    """The bridge of every real split.

    Attributes:
        reference: the swept split.
        bandwidth: the RBF kernel's sigma shared by all comparisons.
        matches: one :class:`BridgeMatch` per real split with embeddings.
        distances: ``split, corruption, severity, mmd2, rank`` for every pair, in the
            candidates' order (clean first; rank 1: closest).
        skipped: split -> why it has no match (no embeddings, too few rows).
    """

    reference: str
    bandwidth: float
    matches: tuple[BridgeMatch, ...]
    distances: pd.DataFrame
    skipped: Mapping[str, str]

    def to_dict(self) -> dict:
        from dataclasses import asdict

        from gengap_dash.store.json_values import json_safe

        return json_safe(
            {
                "reference": self.reference,
                "bandwidth": self.bandwidth,
                "matches": [asdict(match) for match in self.matches],
                "skipped": dict(self.skipped),
            }
        )


def _subsample(n: int, limit: int, rng: np.random.Generator) -> np.ndarray:
    if n <= limit:
        return np.arange(n)
    return np.sort(rng.choice(n, limit, replace=False))


def _mean_off_diagonal(kernel: np.ndarray) -> float:
    n = kernel.shape[0]
    return float((kernel.sum() - np.trace(kernel)) / (n * (n - 1)))


def bridge_to_shift(
    splits: Mapping[str, tuple[str, np.ndarray]],
    clean: np.ndarray,
    candidates: Mapping[tuple[str, int], np.ndarray],
    *,
    reference: str = "",
    max_samples: int = DEFAULT_BRIDGE_SAMPLES,
    seed: int = 0,
) -> Bridge:
    """Rank the candidates by MMD² to each real split.

    Args:
        splits: real split name -> ``(role, (n_s, d) embeddings)``.
        clean: ``(n, d)`` embeddings of the clean swept split.
        candidates: ``(corruption, severity) -> (n, d)`` embeddings of the same ``n`` samples
            corrupted (row-aligned with ``clean``).
        reference: the swept split's name.
        max_samples: rows per side (seeded subsample).
        seed: the subsample's seed.

    Raises:
        ValueError: for candidates not row-aligned with ``clean``, widths that differ, or a
            ``max_samples`` below the smallest test size.
    """
    if (
        isinstance(max_samples, bool)
        or not isinstance(max_samples, int)
        or (max_samples < MIN_SAMPLES)
    ):
        raise ValueError(
            f"Expected `max_samples` to be an integer of at least {MIN_SAMPLES}, but got "
            f"{max_samples!r}."
        )
    clean = np.asarray(clean, dtype=np.float64)
    if clean.ndim != 2 or clean.shape[0] < MIN_SAMPLES:
        raise ValueError(
            f"Expected clean embeddings of shape (n, d) with n >= {MIN_SAMPLES}, but got shape "
            f"{clean.shape}."
        )
    for key, values in candidates.items():
        if np.shape(values) != clean.shape:
            raise ValueError(
                f"Expected the embeddings of {key[0]} at severity {key[1]} to have the clean "
                f"split's shape {clean.shape}, but got {np.shape(values)}."
            )
    rng = make_rng(seed)
    rows = _subsample(clean.shape[0], max_samples, rng)
    bandwidth = median_bandwidth(clean[rows])
    pool: dict[tuple[str, int], np.ndarray] = {(CLEAN, 0): clean[rows]}
    for key, values in candidates.items():
        pool[(str(key[0]), int(key[1]))] = np.asarray(values, dtype=np.float64)[rows]
    within = {
        key: _mean_off_diagonal(rbf_kernel(values, values, bandwidth=bandwidth))
        for key, values in pool.items()
    }
    matches, records, skipped = [], [], {}
    for name, (role, embeddings) in splits.items():
        if embeddings is None:
            skipped[name] = "no embeddings"
            continue
        embeddings = np.asarray(embeddings, dtype=np.float64)
        if embeddings.ndim != 2 or embeddings.shape[1] != clean.shape[1]:
            skipped[name] = (
                f"embeddings of shape {embeddings.shape}, expected width {clean.shape[1]}"
            )
            continue
        if embeddings.shape[0] < MIN_SAMPLES:
            skipped[name] = f"only {embeddings.shape[0]} rows (at least {MIN_SAMPLES} needed)"
            continue
        if not np.isfinite(embeddings).all():
            skipped[name] = "embeddings with NaN or infinite values"
            continue
        side = embeddings[_subsample(embeddings.shape[0], max_samples, rng)]
        self_term = _mean_off_diagonal(rbf_kernel(side, side, bandwidth=bandwidth))
        scores = {}
        for key, values in pool.items():
            between = float(rbf_kernel(side, values, bandwidth=bandwidth).mean())
            scores[key] = self_term + within[key] - 2.0 * between
        ranked = sorted(scores, key=lambda key: scores[key])
        ranks = {key: rank for rank, key in enumerate(ranked, start=1)}
        for key in pool:  # in the candidates' order (clean first), with each one's rank
            records.append(
                {
                    "split": name,
                    "corruption": key[0],
                    "severity": key[1],
                    "mmd2": scores[key],
                    "rank": ranks[key],
                }
            )
        best = ranked[0]
        runner = next((key for key in ranked[1:] if key[0] not in (best[0], CLEAN)), None)
        matches.append(
            BridgeMatch(
                split=name,
                role=role,
                corruption=best[0],
                severity=best[1],
                mmd2=float(scores[best]),
                runner_up=runner[0] if runner else "",
                runner_up_severity=runner[1] if runner else 0,
                runner_up_mmd2=float(scores[runner]) if runner else float("nan"),
                clean_mmd2=float(scores[(CLEAN, 0)]),
                n_split=int(side.shape[0]),
                n_reference=int(rows.size),
            )
        )
    distances = pd.DataFrame(records, columns=["split", "corruption", "severity", "mmd2", "rank"])
    return Bridge(reference, float(bandwidth), tuple(matches), distances, skipped)
