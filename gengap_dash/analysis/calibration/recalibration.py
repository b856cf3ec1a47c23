"""Non-parametric recalibration of top-label confidence: histogram binning and isotonic
regression, fit on one split and applied to any."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from gengap_dash.analysis.calibration.report import check_top_label
from gengap_dash.project.errors import ProjectError
from gengap_dash.stats.binning import DEFAULT_N_BINS, assign_bins, binned_sums, equal_mass_edges
from gengap_dash.stats.checks import check_confidences

RecalibrationMethod = Literal["histogram", "isotonic"]


@dataclass(frozen=True, eq=False)
class Recalibration:
    """A monotone map from top-label confidence to recalibrated confidence, fit on one split.

    Attributes:
        method: ``"histogram"``: ``inputs`` are ``(m + 1,)`` equal-mass bin edges and ``outputs``
            the ``(m,)`` accuracy of each bin (a step function, bins ``(lo, hi]``);
            ``"isotonic"``: ``inputs``/``outputs`` are the knots of a non-decreasing
            piecewise-linear map (constant beyond the outer knots).
        inputs: see ``method``.
        outputs: see ``method``.
        n_samples: samples the map was fit on.
    """

    method: RecalibrationMethod
    inputs: np.ndarray
    outputs: np.ndarray
    n_samples: int


def fit_recalibration(
    confidences: np.ndarray,
    hits: np.ndarray,
    *,
    method: RecalibrationMethod = "histogram",
    n_bins: int = DEFAULT_N_BINS,
) -> Recalibration:
    """Fit a non-parametric recalibration of top-label confidence.

    ``"histogram"`` (histogram binning, Zadrozny and Elkan 2001) maps each equal-mass bin of the
    confidences to the accuracy observed in it. ``"isotonic"`` fits the non-decreasing map that
    minimises the squared error to the hits (pool-adjacent-violators, scikit-learn's
    ``IsotonicRegression``).

    Args:
        confidences: ``(n_samples,)`` top-label confidences of the fit split.
        hits: ``(n_samples,)`` 1 where the top label is right.
        method: ``"histogram"`` or ``"isotonic"``.
        n_bins: bins for ``"histogram"``.
    """
    confidences, hits = check_top_label(confidences, hits)
    if method not in ("histogram", "isotonic"):
        raise ValueError(
            f"Expected `method` to be one of 'histogram', 'isotonic', but got {method!r}."
        )
    if confidences.size == 0:
        raise ProjectError("Expected at least one sample to fit a recalibration, but got none.")
    if method == "histogram":
        edges = equal_mass_edges(confidences, n_bins)
        sums = binned_sums(confidences, hits, edges=edges)
        n_edges = edges.shape[0] - 1
        counts, hit_sums = sums[:n_edges], sums[2 * n_edges :]
        midpoints = (edges[:-1] + edges[1:]) / 2.0
        with np.errstate(invalid="ignore", divide="ignore"):
            values = np.where(counts > 0, hit_sums / counts, midpoints)
        return Recalibration("histogram", edges, values, int(confidences.shape[0]))
    from sklearn.isotonic import IsotonicRegression

    model = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
    model.fit(confidences, hits)
    knots_x = np.asarray(model.X_thresholds_, dtype=np.float64)
    knots_y = np.asarray(model.y_thresholds_, dtype=np.float64)
    return Recalibration("isotonic", knots_x, knots_y, int(confidences.shape[0]))


def apply_recalibration(recalibration: Recalibration, confidences: np.ndarray) -> np.ndarray:
    """Recalibrated confidences ``(n_samples,)`` for top-label ``confidences`` ``(n_samples,)``."""
    confidences = check_confidences(confidences)
    if recalibration.method == "histogram":
        return recalibration.outputs[assign_bins(confidences, recalibration.inputs)]
    return np.interp(confidences, recalibration.inputs, recalibration.outputs)
