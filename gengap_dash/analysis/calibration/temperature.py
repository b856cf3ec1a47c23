"""Temperature scaling: fit one temperature on the validation split, apply it to every split,
and judge from the paired bootstrap interval of each split's ECE change whether the gain holds.

A split's before and after summaries share its bootstrap stream, so they are computed on the
same resamples and ``after - before`` per replicate is a paired bootstrap of the change. The
verdicts (:func:`gain_verdict`) are data; ``gengap_dash.analysis.calibration.findings`` turns
them into findings and ``gengap_dash.findings.calibration`` into words.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import pandas as pd

from gengap_dash.analysis.calibration.recalibration import (
    Recalibration,
    RecalibrationMethod,
    apply_recalibration,
    fit_recalibration,
)
from gengap_dash.analysis.calibration.report import (
    METRIC_LABELS,
    METRIC_NAMES,
    CalibrationSummary,
    IntervalKind,
    _logit_row_max,
    _prepare,
    _summarise,
)
from gengap_dash.project.errors import ProjectError
from gengap_dash.stats import bootstrap
from gengap_dash.stats.binning import DEFAULT_N_BINS, BinningStrategy
from gengap_dash.stats.bootstrap import Estimate, Resampling, Seed
from gengap_dash.stats.checks import check_outputs, check_real_matrix

GainVerdict = Literal["fit split", "holds", "partial", "none", "worse"]
"""How temperature scaling changed a split's ECE (see :func:`gain_verdict`)."""

GAIN_TOLERANCE = 0.02
"""A split whose ECE clearly fell "holds" the gain when its ECE after scaling is at most the fit
split's ECE after scaling plus this (2 percentage points); otherwise the gain is "partial"."""

NO_CHANGE_TOLERANCE = 0.005
"""Without bootstrap intervals (``n_resamples=0``), an ECE change smaller than this (half a
percentage point) either way counts as no change."""

_TEMPERATURE_BOUNDS = (1e-4, 1e4)  # the search range of T; a fit at a bound did not converge
_LOGIT_FLOOR = -1e6  # -inf logits (relative to the row maximum) in the temperature fit


@dataclass(frozen=True)
class TemperatureFit:
    """A temperature fitted by minimising the mean NLL of ``softmax(logits / T)``.

    Attributes:
        temperature: ``T``; above 1 the model was overconfident, below 1 underconfident.
        nll_before: mean NLL at ``T = 1`` (nats).
        nll_after: mean NLL at the fitted ``T`` (nats).
        converged: False when the optimum lies outside ``T`` in [1e-4, 1e4] (e.g. logits that
            separate the classes perfectly, whose NLL keeps falling as ``T`` goes to 0).
        n_iterations: Newton/bisection steps taken.
        n_samples: samples the fit used.
    """

    temperature: float
    nll_before: float
    nll_after: float
    converged: bool
    n_iterations: int
    n_samples: int

    @property
    def inverse_temperature(self) -> float:
        """``beta = 1 / T``, the variable the fit optimises."""
        return 1.0 / self.temperature

    def to_dict(self) -> dict[str, float | int | bool]:
        return {
            "temperature": self.temperature,
            "nll_before": self.nll_before,
            "nll_after": self.nll_after,
            "converged": self.converged,
            "n_iterations": self.n_iterations,
            "n_samples": self.n_samples,
        }


def fit_temperature(
    logits: np.ndarray, labels: np.ndarray, *, max_iterations: int = 100
) -> TemperatureFit:
    """Fit one temperature: minimise the mean NLL over ``beta = 1 / T > 0``.

    ``f(beta) = mean(logsumexp(beta z) - beta z_y)`` is convex, with derivative
    ``mean(E_p[z] - z_y)`` and second derivative ``mean(Var_p[z]) >= 0`` under
    ``p = softmax(beta z)``. Newton steps are kept inside a bracket of the minimiser (bisection
    in log space when a step leaves it), so the fit converges from ``beta = 1`` in a few passes.

    Args:
        logits: ``(n_samples, n_classes)`` finite logits.
        labels: ``(n_samples,)`` true class indices.
        max_iterations: cap on the number of steps.
    """
    labels, logits = check_outputs(labels, logits, outputs_are="logits")
    if labels.size == 0:
        raise ProjectError("Expected at least one sample to fit a temperature, but got none.")
    if isinstance(max_iterations, bool) or not isinstance(max_iterations, int | np.integer):
        raise ValueError(
            f"Expected `max_iterations` to be a positive integer, but got {max_iterations!r}."
        )
    if max_iterations < 1:
        raise ValueError(
            f"Expected `max_iterations` to be a positive integer, but got {max_iterations!r}."
        )
    _, row_max = _logit_row_max(logits)
    shifted = logits.astype(np.float64)
    shifted -= row_max[:, None]
    true_class = shifted[np.arange(labels.shape[0]), labels]
    if np.isinf(true_class).any():
        row = int(np.flatnonzero(np.isinf(true_class))[0])
        raise ProjectError(
            "Expected every sample's true class to have a finite logit to fit a temperature, "
            f"but sample {row} gives it -inf (probability 0)."
        )
    np.maximum(shifted, _LOGIT_FLOOR, out=shifted)  # -inf: probability 0 at every T in range
    squares = np.square(shifted)
    buffer = np.empty_like(shifted)

    def evaluate(beta: float) -> tuple[float, float, float]:
        scaled = np.multiply(shifted, beta, out=buffer)
        np.exp(scaled, out=scaled)
        total = scaled.sum(axis=1)
        first = np.einsum("ij,ij->i", scaled, shifted) / total
        second = np.einsum("ij,ij->i", scaled, squares) / total
        value = float(np.mean(np.log(total) - beta * true_class))
        gradient = float(np.mean(first - true_class))
        curvature = float(np.mean(np.maximum(second - np.square(first), 0.0)))
        return value, gradient, curvature

    beta_min, beta_max = 1.0 / _TEMPERATURE_BOUNDS[1], 1.0 / _TEMPERATURE_BOUNDS[0]
    low, high = 0.0, np.inf  # bracket of the minimiser
    beta = 1.0
    nll_before = value = float("nan")
    converged = False
    iteration = 0
    while iteration < max_iterations:
        iteration += 1
        value, gradient, curvature = evaluate(beta)
        if iteration == 1:
            nll_before = value
        # A zero gradient is an optimum when the problem is flat (one class, equal logits) or
        # the minimiser is bracketed; above an open bracket it is an underflow in the tail of
        # separable logits, whose NLL keeps falling as T goes to 0.
        if gradient == 0.0 and (iteration == 1 or np.isfinite(high)):
            converged = True
            break
        if gradient > 0.0:
            high = beta
        else:
            low = beta
        at_bound = (beta >= beta_max and gradient <= 0.0) or (beta <= beta_min and gradient > 0.0)
        if at_bound:
            break
        newton = beta - gradient / curvature if curvature > 0.0 else float("nan")
        if np.isfinite(high) and abs(newton - beta) <= 1e-10 * beta:
            converged = True
            break
        if np.isinf(high):  # not bracketed above yet: grow at least geometrically
            candidate = max(newton, 2.0 * beta) if low < newton else 4.0 * beta
        elif low < newton < high:
            candidate = newton
        elif low == 0.0:
            candidate = beta / 4.0
        else:
            candidate = float(np.sqrt(low * high))
        if np.isfinite(high) and low > 0.0 and high - low <= 1e-12 * high:
            converged = True
            break
        beta = float(np.clip(candidate, beta_min, beta_max))
    if iteration == max_iterations and not converged:
        value = evaluate(beta)[0]
    return TemperatureFit(
        temperature=1.0 / beta,
        nll_before=nll_before,
        nll_after=value,
        converged=converged,
        n_iterations=iteration,
        n_samples=int(labels.shape[0]),
    )


def apply_temperature(logits: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(logits / T)`` in float64.

    Args:
        logits: ``(n_samples, n_classes)`` logits.
        temperature: ``T > 0``.

    Returns:
        ``(n_samples, n_classes)`` probabilities.
    """
    _check_temperature(temperature)
    logits = check_real_matrix(logits, "logits")
    _, row_max = _logit_row_max(logits)
    scaled = logits.astype(np.float64)
    scaled -= row_max[:, None]
    scaled /= float(temperature)
    probs = np.exp(scaled, out=scaled)
    probs /= probs.sum(axis=1, keepdims=True)
    return probs


@dataclass(frozen=True, eq=False)
class TemperatureComparison:
    """Temperature scaling (and a non-parametric recalibration) fit on one split, on every split.

    Attributes:
        fit_split: the split both maps were fit on (the validation split).
        temperature: the fitted temperature.
        recalibration: the fitted non-parametric map.
        before: split -> summary of the raw model.
        after: split -> summary after dividing the logits by ``T``.
        recalibrated: split -> top-label summary after ``recalibration`` (classwise ECE, Brier
            and NLL are NaN: the map only changes the top-label confidence).
        ece_change: split -> ECE after minus ECE before, with a paired bootstrap interval.
        verdicts: split -> ``"fit split"``, or for the other splits :func:`gain_verdict`:
            ``"holds"``, ``"partial"``, ``"none"`` or ``"worse"``.
        roles: split -> role (``"other"`` where none was given).
        confidence: the interval level.
    """

    fit_split: str
    temperature: TemperatureFit
    recalibration: Recalibration
    before: Mapping[str, CalibrationSummary]
    after: Mapping[str, CalibrationSummary]
    recalibrated: Mapping[str, CalibrationSummary]
    ece_change: Mapping[str, Estimate]
    verdicts: Mapping[str, GainVerdict]
    roles: Mapping[str, str]
    confidence: float = bootstrap.DEFAULT_CONFIDENCE

    def without_replicates(self) -> TemperatureComparison:
        """The same comparison with the summaries' bootstrap replicates dropped (the paired
        changes are already in :attr:`ece_change`): what a stored result keeps."""

        def drop(summaries: Mapping[str, CalibrationSummary]) -> dict[str, CalibrationSummary]:
            return {split: summary.without_replicates() for split, summary in summaries.items()}

        return replace(
            self,
            before=drop(self.before),
            after=drop(self.after),
            recalibrated=drop(self.recalibrated),
        )

    # The sentences are rendered from the findings (``gengap_dash.findings.calibration``); these
    # properties keep the callers that still read them as text (the CLI) working.

    @property
    def explanation(self) -> str:
        """What ``T`` means and what it did on the fit split, in one sentence."""
        return _render_kinds(self, ("calibration.temperature_fit",))

    @property
    def transfer(self) -> str:
        """Whether the gain holds on each other held-out split ("" when there is none)."""
        return _render_kinds(self, ("calibration.temperature_transfer",))

    @property
    def recalibration_note(self) -> str:
        """The non-parametric recalibration's ECE per split, in one sentence."""
        return _render_kinds(self, ("calibration.recalibration",))

    @property
    def sentences(self) -> tuple[str, ...]:
        """The non-empty sentences, in reading order."""
        return tuple(
            text for text in (self.explanation, self.transfer, self.recalibration_note) if text
        )

    def to_frame(self) -> pd.DataFrame:
        """One row per (split, metric): value/low/high before, after and recalibrated."""
        rows = []
        for split in self.before:
            for name in METRIC_NAMES:
                row: dict[str, object] = {
                    "split": split,
                    "metric": name,
                    "label": METRIC_LABELS[name],
                }
                for stage, summaries in (
                    ("before", self.before),
                    ("after", self.after),
                    ("recalibrated", self.recalibrated),
                ):
                    estimate = getattr(summaries[split], name)
                    row[stage] = estimate.value
                    row[f"{stage}_low"] = estimate.low
                    row[f"{stage}_high"] = estimate.high
                rows.append(row)
        return pd.DataFrame(rows)


def temperature_scaling_comparison(
    logits: Mapping[str, np.ndarray],
    labels: Mapping[str, np.ndarray],
    *,
    roles: Mapping[str, str] | None = None,
    fit_split: str | None = None,
    recalibration: RecalibrationMethod = "histogram",
    n_bins: int = DEFAULT_N_BINS,
    strategy: BinningStrategy = "uniform",
    n_resamples: int = bootstrap.DEFAULT_RESAMPLES,
    seed: Seed | Mapping[str, Seed] = 0,
    confidence: float = bootstrap.DEFAULT_CONFIDENCE,
    resampling: Resampling = "auto",
    interval: IntervalKind = "auto",
) -> TemperatureComparison:
    """Fit temperature scaling on the validation split, apply it everywhere, and judge it.

    Args:
        logits: split -> ``(n_samples, n_classes)`` logits, in project order.
        labels: split -> ``(n_samples,)`` true class indices.
        roles: split -> role (``"train"``, ``"validation"``, ``"test"``, ``"shifted"``,
            ``"deployment"``); shifted and deployment splits are "under shift" in the sentences,
            train splits are left out of them.
        fit_split: the split to fit on; by default the first split whose role is
            ``"validation"``.
        recalibration: the non-parametric method for comparison.
        seed: one seed for every split, or split -> seed (e.g. ``(0, position)``); a split's
            before, after and recalibrated summaries always share its seed, so their changes
            are paired.

    Other arguments are those of :func:`calibration_report`.
    """
    if set(logits) != set(labels):
        raise ValueError(
            "Expected `logits` and `labels` for the same splits, but got "
            f"{sorted(logits)} and {sorted(labels)}."
        )
    if not logits:
        raise ValueError("Expected at least one split, but got none.")
    roles = {split: (roles or {}).get(split, "other") for split in logits}
    if fit_split is None:
        candidates = [split for split, role in roles.items() if role == "validation"]
        if not candidates:
            raise ValueError(
                "Expected a split with role 'validation' to fit the temperature on, or "
                f"`fit_split`, but got roles {roles}."
            )
        fit_split = candidates[0]
    if fit_split not in logits:
        raise ValueError(
            f"Expected `fit_split` to be one of {list(logits)}, but got {fit_split!r}."
        )
    seeds = {split: seed[split] if isinstance(seed, Mapping) else seed for split in logits}
    options = {
        "n_bins": n_bins,
        "strategy": strategy,
        "n_resamples": n_resamples,
        "confidence": confidence,
        "resampling": resampling,
        "interval": interval,
    }
    temperature = fit_temperature(logits[fit_split], labels[fit_split])
    before: dict[str, CalibrationSummary] = {}
    after: dict[str, CalibrationSummary] = {}
    recalibrated: dict[str, CalibrationSummary] = {}
    prepared = {
        split: _prepare(labels[split], logits[split], outputs_are="logits") for split in logits
    }
    recalibration_map = fit_recalibration(
        prepared[fit_split].confidences,
        prepared[fit_split].hits,
        method=recalibration,
        n_bins=n_bins,
    )
    for split, data in prepared.items():
        scaled_logits = np.asarray(logits[split]) / temperature.temperature
        scaled = _prepare(data.labels, scaled_logits, outputs_are="logits")
        own = {**options, "seed": seeds[split]}
        before[split] = _summarise(data.confidences, data.hits, data, **own)
        after[split] = _summarise(scaled.confidences, scaled.hits, scaled, **own)
        recalibrated[split] = _summarise(
            apply_recalibration(recalibration_map, data.confidences), data.hits, None, **own
        )
    ece_change = {
        split: _paired_change(before[split], after[split], "ece", confidence) for split in logits
    }
    fit_after = after[fit_split].ece.value
    verdicts: dict[str, GainVerdict] = {
        split: "fit split"
        if split == fit_split
        else gain_verdict(ece_change[split], after[split].ece.value, fit_after)
        for split in logits
    }
    return TemperatureComparison(
        fit_split=fit_split,
        temperature=temperature,
        recalibration=recalibration_map,
        before=before,
        after=after,
        recalibrated=recalibrated,
        ece_change=ece_change,
        verdicts=verdicts,
        roles=roles,
        confidence=float(confidence),
    )


def _render_kinds(comparison: TemperatureComparison, kinds: tuple[str, ...]) -> str:
    from gengap_dash.analysis.calibration.findings import temperature_findings
    from gengap_dash.findings.render import render

    return " ".join(
        render(finding) for finding in temperature_findings(comparison) if finding.kind in kinds
    )


def gain_verdict(change: Estimate, ece_after: float, fit_ece_after: float) -> GainVerdict:
    """Whether the temperature-scaling gain holds on a split, from its paired ECE change.

    Args:
        change: ECE after minus ECE before on the split, with its paired bootstrap interval.
        ece_after: the split's ECE after scaling.
        fit_ece_after: the fit split's ECE after scaling.

    Returns:
        ``"worse"`` when the interval lies above 0 (ECE clearly rose); ``"none"`` when it
        contains 0 (no clear change); when it lies below 0 (ECE clearly fell): ``"holds"`` if
        the split's ECE after scaling is within :data:`GAIN_TOLERANCE` of the fit split's, else
        ``"partial"``. Without an interval the point change decides, with
        :data:`NO_CHANGE_TOLERANCE` as "no change".
    """
    if np.isfinite(change.low) and np.isfinite(change.high):
        if change.low > 0:
            return "worse"
        if change.high >= 0:
            return "none"
    elif change.value > NO_CHANGE_TOLERANCE:
        return "worse"
    elif change.value >= -NO_CHANGE_TOLERANCE:
        return "none"
    return "holds" if ece_after <= fit_ece_after + GAIN_TOLERANCE else "partial"


def _check_temperature(temperature: float) -> None:
    if (
        isinstance(temperature, bool)
        or not isinstance(temperature, float | int | np.floating | np.integer)
        or not np.isfinite(temperature)
        or temperature <= 0
    ):
        raise ValueError(
            f"Expected `temperature` to be a positive finite number, but got {temperature!r}."
        )


def _paired_change(
    before: CalibrationSummary, after: CalibrationSummary, name: str, confidence: float
) -> Estimate:
    value = getattr(after, name).value - getattr(before, name).value
    if name not in before.replicates or name not in after.replicates:
        return Estimate(float(value), float("nan"), float("nan"))
    low, high = bootstrap.percentile_interval(
        after.replicates[name] - before.replicates[name], confidence=confidence
    )
    return Estimate(float(value), low, high)
