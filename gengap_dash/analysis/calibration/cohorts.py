"""Calibration per cohort: :func:`calibration_report` for each value of a metadata column."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gengap_dash.analysis.calibration.report import (
    CalibrationSummary,
    IntervalKind,
    OutputKind,
    _prepare,
    _summarise,
)
from gengap_dash.stats import bootstrap
from gengap_dash.stats.binning import DEFAULT_N_BINS, BinningStrategy
from gengap_dash.stats.bootstrap import Resampling, Seed
from gengap_dash.stats.checks import check_whole_number

MIN_COHORT_SAMPLES = 100
"""Cohorts smaller than this get point values but no interval (flagged ``too_few``)."""


@dataclass(frozen=True, eq=False)
class CohortCalibration:
    """:class:`CalibrationSummary` per cohort (value of a metadata column).

    Attributes:
        summaries: cohort -> summary, in cohort order. Cohorts smaller than ``min_samples`` have
            point values but NaN intervals.
        too_few: cohort -> whether it has fewer than ``min_samples`` samples.
        min_samples: the size below which a cohort gets no interval.
    """

    summaries: Mapping[str, CalibrationSummary]
    too_few: Mapping[str, bool]
    min_samples: int

    @property
    def cohorts(self) -> tuple[str, ...]:
        return tuple(self.summaries)

    def without_replicates(self) -> CohortCalibration:
        """The same cohorts with the summaries' bootstrap replicates dropped (for storage)."""
        return CohortCalibration(
            summaries={
                cohort: summary.without_replicates() for cohort, summary in self.summaries.items()
            },
            too_few=dict(self.too_few),
            min_samples=self.min_samples,
        )

    def to_frame(self) -> pd.DataFrame:
        """Long format: cohort, n_samples, too_few, metric, label, unit, value, low, high."""
        frames = []
        for cohort, summary in self.summaries.items():
            frame = summary.to_frame().reset_index()
            frame.insert(0, "too_few", self.too_few[cohort])
            frame.insert(0, "n_samples", summary.n_samples)
            frame.insert(0, "cohort", cohort)
            frames.append(frame)
        return pd.concat(frames, ignore_index=True)


MISSING_COHORT = "(missing)"
"""The cohort name given to samples whose metadata value is missing."""


def calibration_by_cohort(
    labels: np.ndarray,
    outputs: np.ndarray,
    cohorts: np.ndarray | pd.Series,
    *,
    outputs_are: OutputKind = "probs",
    min_samples: int = MIN_COHORT_SAMPLES,
    n_bins: int = DEFAULT_N_BINS,
    strategy: BinningStrategy = "uniform",
    n_resamples: int = bootstrap.DEFAULT_RESAMPLES,
    seed: Seed = 0,
    confidence: float = bootstrap.DEFAULT_CONFIDENCE,
    resampling: Resampling = "auto",
    interval: IntervalKind = "auto",
) -> CohortCalibration:
    """:func:`calibration_report` for each cohort of one split.

    Args:
        labels: ``(n_samples,)`` true class indices.
        outputs: ``(n_samples, n_classes)`` probabilities or logits.
        cohorts: ``(n_samples,)`` cohort value of each sample (a metadata column); missing
            values form the cohort :data:`MISSING_COHORT`. Cohorts are ordered as a categorical's
            categories, else sorted.
        min_samples: cohorts with fewer samples are flagged ``too_few`` and get no interval.

    Other arguments are those of :func:`calibration_report`; each cohort uses the same ``seed``.
    """
    prepared = _prepare(labels, outputs, outputs_are=outputs_are)
    check_whole_number(min_samples, name="min_samples", minimum=0)
    keys, order = _cohort_keys(cohorts, prepared.labels.shape[0])
    summaries: dict[str, CalibrationSummary] = {}
    too_few: dict[str, bool] = {}
    for cohort in order:
        mask = keys == cohort
        too_few[cohort] = bool(mask.sum() < min_samples)
        cohort_data = prepared.subset(mask)
        summaries[cohort] = _summarise(
            cohort_data.confidences,
            cohort_data.hits,
            cohort_data,
            n_bins=n_bins,
            strategy=strategy,
            n_resamples=0 if too_few[cohort] else n_resamples,
            seed=seed,
            confidence=confidence,
            resampling=resampling,
            interval=interval,
        )
    return CohortCalibration(summaries, too_few, int(min_samples))


def _cohort_keys(cohorts: np.ndarray | pd.Series, n_samples: int) -> tuple[np.ndarray, list[str]]:
    """``(n,)`` cohort names as strings and the cohorts in display order."""
    values = (
        cohorts.reset_index(drop=True)
        if isinstance(cohorts, pd.Series)
        else pd.Series(
            np.asarray(cohorts, dtype=object)
            if not isinstance(cohorts, pd.Categorical)
            else cohorts
        )
    )
    if values.ndim != 1 or values.shape[0] != n_samples:
        raise ValueError(
            f"Expected `cohorts` with one value per sample ({n_samples}), but got "
            f"{values.shape[0]}."
        )
    missing = values.isna().to_numpy()
    if isinstance(values.dtype, pd.CategoricalDtype):
        present = set(values[~missing])
        ordered = [category for category in values.cat.categories if category in present]
    else:
        distinct = pd.unique(values[~missing])
        try:
            ordered = sorted(distinct)
        except TypeError:
            ordered = sorted(distinct, key=str)
    keys = np.where(missing, MISSING_COHORT, values.astype(object).map(str).to_numpy())
    order = [str(value) for value in ordered] + ([MISSING_COHORT] if missing.any() else [])
    return keys.astype(object), list(dict.fromkeys(order))
