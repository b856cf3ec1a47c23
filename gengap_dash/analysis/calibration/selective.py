"""Selective prediction: the error rate when the model may abstain on its least confident samples.

A risk-coverage curve keeps the ``k`` most confident samples (coverage ``k / n``) and reports the
error rate among them (the risk). Samples with equal confidence cannot be told apart by a
threshold, so ties are broken *in expectation*: inside a group of equal confidences the expected
number of errors grows linearly, which is the average over every order of the tied samples. The
curve, its area (AURC) and :func:`risk_at_coverage` therefore do not depend on the order of the
samples.

- AURC: the mean risk over the coverages ``1/n, 2/n, ..., 1`` (Geifman et al., 2019).
- Optimal AURC: the AURC of a confidence that ranks every error below every correct prediction;
  it depends only on the error rate. E-AURC = AURC - optimal AURC is what the confidence ranking
  itself costs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from gengap_dash.project.errors import ProjectError

DEFAULT_COVERAGE = 0.9
"""The coverage the ``calibration.selective`` finding compares splits at."""

DEFAULT_N_POINTS = 200
"""Points of the coverage grid kept for figures (0.5% steps)."""

MAX_KNOTS = 1001
"""At most this many knots of the exact curve are kept (:attr:`RiskCoverage.kept`). A split with
more distinct confidences (about one per sample in a large split) keeps the exact expected error
counts at the 1,001 coverages ``0, 0.001, ..., 1`` instead: :func:`risk_at_coverage` is then
exact at every multiple of 0.1% coverage (the sentences use 90%) and linearly interpolated in
between, and a stored curve stays a few KB at a million samples. The AURC is always computed
from every knot, before thinning."""


@dataclass(frozen=True, eq=False)
class RiskCoverage:
    """A risk-coverage curve.

    Attributes:
        coverage: ``(n_points,)`` grid of coverages ``j / n_points`` in (0, 1].
        risk: ``(n_points,)`` error rate among the kept samples at each coverage.
        threshold: ``(n_points,)`` confidence of the least confident kept sample: abstaining
            below it gives that coverage.
        aurc: area under the exact curve (mean risk over coverages ``k / n``).
        optimal_aurc: the AURC of a perfect ranking with the same number of errors.
        n_samples: samples in the split.
        n_errors: wrong top-label predictions.
        kept: ``(m + 1,)`` the number of samples kept at 0 and at the end of each group of equal
            confidences (the exact curve's knots), from most to least confident; above
            :data:`MAX_KNOTS` knots, the counts at every 0.1% of coverage instead.
        errors: ``(m + 1,)`` the (expected) number of errors among them.
    """

    coverage: np.ndarray
    risk: np.ndarray
    threshold: np.ndarray
    aurc: float
    optimal_aurc: float
    n_samples: int
    n_errors: int
    kept: np.ndarray
    errors: np.ndarray

    @property
    def excess_aurc(self) -> float:
        """E-AURC: ``aurc - optimal_aurc``, what the confidence ranking costs (0 is perfect)."""
        return self.aurc - self.optimal_aurc

    @property
    def error_rate(self) -> float:
        """The risk at full coverage (no abstention)."""
        return self.n_errors / self.n_samples

    def to_frame(self) -> pd.DataFrame:
        """One row per grid point: coverage, risk, threshold."""
        return pd.DataFrame(
            {"coverage": self.coverage, "risk": self.risk, "threshold": self.threshold}
        )

    def to_dict(self) -> dict[str, object]:
        """JSON-ready summary and grid."""
        return {
            "aurc": self.aurc,
            "optimal_aurc": self.optimal_aurc,
            "excess_aurc": self.excess_aurc,
            "error_rate": self.error_rate,
            "n_samples": self.n_samples,
            "n_errors": self.n_errors,
            **self.to_frame().to_dict(orient="list"),
        }


def risk_coverage_curve(
    confidences: np.ndarray, hits: np.ndarray, *, n_points: int = DEFAULT_N_POINTS
) -> RiskCoverage:
    """The risk-coverage curve of one split.

    Args:
        confidences: ``(n_samples,)`` confidence of each prediction (higher: kept longer).
        hits: ``(n_samples,)`` 1 where the prediction is right, else 0.
        n_points: points of the coverage grid kept for figures.

    Raises:
        ProjectError: when there are no samples or the confidences are not finite.
    """
    confidences, hits = _check_inputs(confidences, hits)
    if isinstance(n_points, bool) or not isinstance(n_points, int | np.integer) or n_points < 1:
        raise ValueError(f"Expected `n_points` to be a positive integer, but got {n_points!r}.")
    n_samples = confidences.shape[0]
    order = np.argsort(-confidences)
    ranked = confidences[order]
    cumulative_errors = np.cumsum(1.0 - hits[order])
    group_ends = np.flatnonzero(ranked[1:] != ranked[:-1])
    kept = np.concatenate([[0], group_ends + 1, [n_samples]]).astype(np.float64)
    errors = np.concatenate([[0.0], cumulative_errors[group_ends], cumulative_errors[-1:]])

    counts = np.arange(1, n_samples + 1, dtype=np.float64)
    aurc = float(np.mean(np.interp(counts, kept, errors) / counts))
    n_errors = int(np.rint(errors[-1]))
    best_errors = np.maximum(counts - (n_samples - n_errors), 0.0)
    optimal_aurc = float(np.mean(best_errors / counts))

    coverage = np.arange(1, n_points + 1, dtype=np.float64) / n_points
    grid_counts = coverage * n_samples
    risk = np.interp(grid_counts, kept, errors) / grid_counts
    last_kept = np.clip(np.ceil(grid_counts - 1e-9).astype(np.int64), 1, n_samples) - 1
    if kept.shape[0] > MAX_KNOTS:
        thinned = np.linspace(0.0, float(n_samples), MAX_KNOTS)
        errors = np.interp(thinned, kept, errors)
        kept = thinned
    return RiskCoverage(
        coverage=coverage,
        risk=risk,
        threshold=ranked[last_kept],
        aurc=aurc,
        optimal_aurc=optimal_aurc,
        n_samples=int(n_samples),
        n_errors=n_errors,
        kept=kept,
        errors=errors,
    )


def risk_at_coverage(curve: RiskCoverage, coverage: float) -> float:
    """The error rate among the ``coverage`` most confident share of the samples.

    Exact (from the curve's knots, not the grid), with ties broken in expectation; for a curve
    thinned to :data:`MAX_KNOTS` knots, exact at multiples of 0.1% coverage.

    Args:
        curve: a curve from :func:`risk_coverage_curve`.
        coverage: the share of samples kept, in (0, 1].
    """
    if (
        isinstance(coverage, bool)
        or not isinstance(coverage, float | int | np.floating | np.integer)
        or not 0.0 < coverage <= 1.0
    ):
        raise ValueError(f"Expected `coverage` in (0, 1], but got {coverage!r}.")
    count = float(coverage) * curve.n_samples
    return float(np.interp(count, curve.kept, curve.errors) / count)


def _check_inputs(confidences: np.ndarray, hits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    confidences = np.asarray(confidences)
    hits = np.asarray(hits)
    if confidences.ndim != 1 or hits.shape != confidences.shape:
        raise ValueError(
            "Expected `confidences` and `hits` to be 1-D arrays of the same length, but got "
            f"shapes {confidences.shape} and {hits.shape}."
        )
    if not np.issubdtype(confidences.dtype, np.number) or np.issubdtype(
        confidences.dtype, np.complexfloating
    ):
        raise ValueError(
            f"Expected `confidences` to hold real numbers, but got dtype {confidences.dtype}."
        )
    if not (np.issubdtype(hits.dtype, np.number) or hits.dtype == np.bool_):
        raise ValueError(f"Expected `hits` to be 0/1 or boolean, but got dtype {hits.dtype}.")
    if confidences.shape[0] == 0:
        raise ProjectError("Expected at least one sample for a risk-coverage curve, but got none.")
    confidences = confidences.astype(np.float64, copy=False)
    if not np.isfinite(confidences).all():
        raise ProjectError("Expected finite `confidences`, but got NaN or infinite values.")
    hits = hits.astype(np.float64)
    if not np.isin(hits, (0.0, 1.0)).all():
        raise ValueError("Expected `hits` to be 0/1 or boolean, but got other values.")
    return confidences, hits
