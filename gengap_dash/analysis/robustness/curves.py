"""Accuracy and ECE against severity, the corruption error, and per-feature sensitivity.

Every condition (clean, and each corruption at each severity) is scored on the same samples, so
the bootstrap resamples the samples once and applies the same resample to every condition
(``stats/bootstrap.py``, the split's stream ``split_stream(seed, position)``): intervals of a
drop or of the corruption error then account for the pairing.

The corruption error (the mCE normalisation of Hendrycks and Dietterich, 2019) of corruption
``c`` is the mean over severities 1..5 of the error ``E_{c,s}``, divided by a baseline error.
ImageNet-C divides by AlexNet's errors; there is no AlexNet here, so the baseline is the model's
own clean error: ``CE_c = mean_s E_{c,s} / E_clean``. ``CE_c = 1`` means the corruption costs
nothing on average, ``3`` that the model errs three times as often. The mean corruption error
(mCE) is the mean of ``CE_c`` over corruptions. With a clean error of zero the ratio is
undefined (reported as missing); the accuracy drop in points is always there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gengap_dash.metrics.classification import (
    get_metric,
    reduce_stacked,
    stacked_group_sums,
)
from gengap_dash.stats.bootstrap import (
    DEFAULT_CONFIDENCE,
    DEFAULT_RESAMPLES,
    Estimate,
    interval_from_replicates,
    make_rng,
    plan_resampling,
    resample_column_sums,
    split_stream,
)

Condition = tuple[str, int]
"""``(corruption, severity)``; severity 0 is the clean data."""


@dataclass(frozen=True)
class SweepCurves:
    """Accuracy and ECE of one split under each corruption and severity.

    Attributes:
        split: the split swept.
        n: samples scored.
        clean_accuracy, clean_ece: the clean data's values with 95% intervals.
        curves: one row per corruption and severity: ``corruption, severity, accuracy,
            accuracy_low, accuracy_high, ece, ece_low, ece_high, drop, drop_low, drop_high``
            (``drop``: clean minus corrupted accuracy, with its paired interval).
        errors: one row per corruption: ``corruption, corruption_error, low, high,
            mean_accuracy, accuracy_drop, drop_low, drop_high`` (means over severities).
        mean_corruption_error: the mCE (mean of ``corruption_error``) with its interval.
        mean_accuracy_drop: the mean accuracy drop over every corruption and severity.
    """

    split: str
    n: int
    clean_accuracy: Estimate
    clean_ece: Estimate
    curves: pd.DataFrame
    errors: pd.DataFrame
    mean_corruption_error: Estimate
    mean_accuracy_drop: Estimate

    def to_dict(self) -> dict:
        from gengap_dash.store.json_values import json_safe

        return json_safe(
            {
                "split": self.split,
                "n": self.n,
                "clean_accuracy": self.clean_accuracy.to_dict(),
                "clean_ece": self.clean_ece.to_dict(),
                "mean_corruption_error": self.mean_corruption_error.to_dict(),
                "mean_accuracy_drop": self.mean_accuracy_drop.to_dict(),
                "curves": self.curves.to_dict(orient="records"),
                "corruption_errors": self.errors.to_dict(orient="records"),
            }
        )


@dataclass(frozen=True)
class FeatureSensitivity:
    """Accuracy drop when one feature at a time is perturbed at a fixed severity.

    Attributes:
        severity: the severity used (1..5).
        table: one row per feature and perturbation: ``feature, perturbation, accuracy, drop,
            low, high``, sorted by ``drop`` (largest first).
    """

    severity: int
    table: pd.DataFrame

    def to_dict(self) -> dict:
        from gengap_dash.store.json_values import json_safe

        return json_safe(
            {"severity": self.severity, "features": self.table.to_dict(orient="records")}
        )


def _check_inputs(labels: np.ndarray, probs: np.ndarray, what: str) -> None:
    if probs.ndim != 2 or probs.shape[0] != labels.shape[0]:
        raise ValueError(
            f"Expected {what} probabilities of shape ({labels.shape[0]}, n_classes), but got "
            f"shape {probs.shape}."
        )


class _PairedBootstrap:
    """Metrics of several conditions on the same samples, resampled together."""

    def __init__(
        self,
        labels: np.ndarray,
        *,
        n_resamples: int,
        seed: int,
        position: int,
        confidence: float,
    ) -> None:
        self.labels = np.asarray(labels, dtype=np.int64)
        if self.labels.ndim != 1 or self.labels.size == 0:
            raise ValueError(
                f"Expected `labels` of shape (n_samples,) with n_samples >= 1, but got shape "
                f"{self.labels.shape}."
            )
        self.rng = make_rng(split_stream(seed, position))
        self.plan = plan_resampling(self.labels.size, rng=self.rng, n_resamples=n_resamples)
        self.n_resamples = n_resamples
        self.confidence = confidence
        self._blocks: list[np.ndarray] = []
        self._columns: list[tuple[int, dict[str, slice], tuple]] = []
        self._width = 0

    def add(self, probs: np.ndarray, metric_names: Sequence[str], what: str) -> int:
        probs = np.asarray(probs, dtype=np.float64)
        _check_inputs(self.labels, probs, what)
        metrics = tuple(get_metric(name) for name in metric_names)
        sums, columns = stacked_group_sums(self.labels, probs, None, self.plan, metrics=metrics)
        self._blocks.append(sums)
        self._columns.append((self._width, columns, metrics))
        self._width += sums.shape[1]
        return len(self._blocks) - 1

    def run(self) -> list[dict[str, tuple[float, np.ndarray]]]:
        """Per condition: metric name -> (value, (B,) replicates)."""
        matrix = np.hstack(self._blocks)
        replicate_sums = resample_column_sums(matrix, n_resamples=self.n_resamples, rng=self.rng)
        point_sums = matrix.sum(axis=0)
        n = self.plan.n_samples
        results = []
        for start, columns, metrics in self._columns:
            width = max(s.stop for s in columns.values())
            point = reduce_stacked(point_sums[start : start + width], n, columns, metrics=metrics)
            reps = reduce_stacked(
                replicate_sums[:, start : start + width], n, columns, metrics=metrics
            )
            results.append({name: (float(point[name]), np.asarray(reps[name])) for name in point})
        return results

    def estimate(self, name: str, value: float, replicates: np.ndarray) -> Estimate:
        metric = get_metric(name)
        low, high = interval_from_replicates(
            value, replicates, kind=metric.interval, confidence=self.confidence,
            floor=0.0, ceiling=1.0,
        )  # fmt: skip
        return Estimate(value, low, high)

    def ratio_estimate(self, value: float, replicates: np.ndarray) -> Estimate:
        if not np.isfinite(value):
            return Estimate(float("nan"), float("nan"), float("nan"))
        low, high = interval_from_replicates(value, replicates, confidence=self.confidence)
        return Estimate(float(value), low, high)


def sweep_curves(
    labels: np.ndarray,
    clean_probs: np.ndarray,
    corrupted: Mapping[Condition, np.ndarray],
    *,
    split: str = "",
    position: int = 0,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> SweepCurves:
    """Accuracy and ECE per corruption and severity, corruption errors and the mCE.

    Args:
        labels: ``(n,)`` true classes.
        clean_probs: ``(n, C)`` probabilities on the clean samples.
        corrupted: ``(corruption, severity) -> (n, C)`` probabilities on the same samples,
            corrupted (severities 1..5).
        split, position: the split's name and position in the project (its bootstrap stream).
        n_resamples, confidence, seed: the bootstrap's.

    Raises:
        ValueError: for probabilities that do not match the labels, or no corrupted condition.
    """
    if not corrupted:
        raise ValueError("Expected at least one corrupted condition, but got none.")
    labels = np.asarray(labels, dtype=np.int64)
    paired = _PairedBootstrap(
        labels, n_resamples=n_resamples, seed=seed, position=position, confidence=confidence
    )
    names = ("accuracy", "ece")
    paired.add(clean_probs, names, "clean")
    conditions = list(corrupted)
    for condition in conditions:
        paired.add(corrupted[condition], names, f"{condition[0]} at severity {condition[1]}")
    scored = paired.run()
    clean = scored[0]
    clean_accuracy, clean_accuracy_reps = clean["accuracy"]
    rows = []
    for condition, values in zip(conditions, scored[1:], strict=True):
        accuracy = paired.estimate("accuracy", *values["accuracy"])
        ece = paired.estimate("ece", *values["ece"])
        drop_reps = clean_accuracy_reps - values["accuracy"][1]
        drop_value = clean_accuracy - accuracy.value
        drop_low, drop_high = interval_from_replicates(drop_value, drop_reps, confidence=confidence)
        rows.append(
            {
                "corruption": condition[0],
                "severity": int(condition[1]),
                "accuracy": accuracy.value,
                "accuracy_low": accuracy.low,
                "accuracy_high": accuracy.high,
                "ece": ece.value,
                "ece_low": ece.low,
                "ece_high": ece.high,
                "drop": drop_value,
                "drop_low": drop_low,
                "drop_high": drop_high,
                "_accuracy_reps": values["accuracy"][1],
            }
        )
    curves = pd.DataFrame(rows)
    clean_error = 1.0 - clean_accuracy
    clean_error_reps = 1.0 - clean_accuracy_reps
    error_rows = []
    ce_values, ce_reps, drop_values, drop_reps_all = [], [], [], []
    for corruption, part in curves.groupby("corruption", sort=False):
        accuracy_reps = np.stack(part["_accuracy_reps"].to_list())  # (S, B)
        mean_accuracy = float(part["accuracy"].mean())
        mean_accuracy_reps = accuracy_reps.mean(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            ce_value = (1.0 - mean_accuracy) / clean_error if clean_error > 0 else float("nan")
            ce_rep = (1.0 - mean_accuracy_reps) / clean_error_reps
        ce = paired.ratio_estimate(ce_value, ce_rep)
        drop_rep = clean_accuracy_reps - mean_accuracy_reps
        drop_value = clean_accuracy - mean_accuracy
        drop_low, drop_high = interval_from_replicates(drop_value, drop_rep, confidence=confidence)
        error_rows.append(
            {
                "corruption": str(corruption),
                "corruption_error": ce.value,
                "low": ce.low,
                "high": ce.high,
                "mean_accuracy": mean_accuracy,
                "accuracy_drop": drop_value,
                "drop_low": drop_low,
                "drop_high": drop_high,
            }
        )
        ce_values.append(ce_value)
        ce_reps.append(ce_rep)
        drop_values.append(drop_value)
        drop_reps_all.append(drop_rep)
    mce_value = float(np.mean(ce_values)) if clean_error > 0 else float("nan")
    mce = paired.ratio_estimate(mce_value, np.mean(np.stack(ce_reps), axis=0))
    mean_drop_value = float(np.mean(drop_values))
    mean_drop_low, mean_drop_high = interval_from_replicates(
        mean_drop_value, np.mean(np.stack(drop_reps_all), axis=0), confidence=confidence
    )
    return SweepCurves(
        split=split,
        n=int(labels.size),
        clean_accuracy=paired.estimate("accuracy", clean_accuracy, clean_accuracy_reps),
        clean_ece=paired.estimate("ece", *clean["ece"]),
        curves=curves.drop(columns="_accuracy_reps").reset_index(drop=True),
        errors=pd.DataFrame(error_rows),
        mean_corruption_error=mce,
        mean_accuracy_drop=Estimate(mean_drop_value, mean_drop_low, mean_drop_high),
    )


def feature_sensitivity(
    labels: np.ndarray,
    clean_probs: np.ndarray,
    perturbed: Mapping[tuple[str, str], np.ndarray],
    *,
    severity: int,
    position: int = 0,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> FeatureSensitivity:
    """The accuracy drop when each feature alone is perturbed.

    Args:
        labels: ``(n,)`` true classes.
        clean_probs: ``(n, C)`` clean probabilities.
        perturbed: ``(feature, perturbation) -> (n, C)`` probabilities with that feature
            perturbed at ``severity``.

    Returns:
        The table, largest drop first (drops with paired 95% bootstrap intervals).
    """
    if not perturbed:
        raise ValueError("Expected at least one perturbed feature, but got none.")
    labels = np.asarray(labels, dtype=np.int64)
    paired = _PairedBootstrap(
        labels, n_resamples=n_resamples, seed=seed, position=position, confidence=confidence
    )
    paired.add(clean_probs, ("accuracy",), "clean")
    keys = list(perturbed)
    for feature, kind in keys:
        paired.add(perturbed[(feature, kind)], ("accuracy",), f"{feature} ({kind})")
    scored = paired.run()
    clean_value, clean_reps = scored[0]["accuracy"]
    rows = []
    for (feature, kind), values in zip(keys, scored[1:], strict=True):
        value, reps = values["accuracy"]
        drop = clean_value - value
        low, high = interval_from_replicates(drop, clean_reps - reps, confidence=confidence)
        rows.append(
            {
                "feature": feature,
                "perturbation": kind,
                "accuracy": value,
                "drop": drop,
                "low": low,
                "high": high,
            }
        )
    table = pd.DataFrame(rows).sort_values("drop", ascending=False, kind="stable")
    return FeatureSensitivity(severity=int(severity), table=table.reset_index(drop=True))
