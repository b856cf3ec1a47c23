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
    _summary_from_sums,
    _unit_sums,
)
from gengap_dash.stats import bootstrap
from gengap_dash.stats.binning import DEFAULT_N_BINS, BinningStrategy
from gengap_dash.stats.bootstrap import Resampling, ResamplingPlan, Seed
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

    Other arguments are those of :func:`calibration_report`. See :func:`calibration_by_cohorts`
    for how the intervals are drawn.
    """
    return calibration_by_cohorts(
        labels,
        outputs,
        {"": cohorts},
        outputs_are=outputs_are,
        min_samples=min_samples,
        n_bins=n_bins,
        strategy=strategy,
        n_resamples=n_resamples,
        seed=seed,
        confidence=confidence,
        resampling=resampling,
        interval=interval,
    )[""]


def calibration_by_cohorts(
    labels: np.ndarray,
    outputs: np.ndarray,
    columns: Mapping[str, np.ndarray | pd.Series],
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
) -> dict[str, CohortCalibration]:
    """:func:`calibration_by_cohort` for several metadata columns of one split (the split's
    predictions are checked and turned into probabilities once).

    The intervals come from resampling the whole split, as the cohort table does
    (``gengap_dash.stats.grouped_bootstrap``): one plan and one set of resamples from ``seed``
    (the split's stream) serve every cohort of every column, and a cohort's replicate is its
    part of the split's replicate. Its size therefore varies from replicate to replicate, as it
    would in a new sample of the split; its metrics are ratios of sums, so they stay defined.
    One draw per split instead of one per cohort keeps a split with many cohorts cheap (at a
    million predictions the draws were most of the cost).

    Classwise ECE is left out of cohorts (NaN): it needs ``n_classes x n_bins`` residual bins,
    which a cohort of a few hundred samples leaves nearly empty (its value is then mostly the
    binning's bias), and its sums were most of a cohort's bootstrap cost.
    """
    prepared = _prepare(labels, outputs, outputs_are=outputs_are)
    check_whole_number(min_samples, name="min_samples", minimum=0)
    n_samples = prepared.labels.shape[0]
    groups = {name: _cohort_codes(values, n_samples) for name, values in columns.items()}
    if n_samples == 0:
        return {name: CohortCalibration({}, {}, int(min_samples)) for name in columns}
    rng = bootstrap.make_rng(seed)
    plan = bootstrap.plan_resampling(
        n_samples, rng=rng, resampling=resampling, n_resamples=n_resamples
    )
    counts = None
    if n_resamples > 0:
        counts = np.vstack(
            [
                block.astype(np.float64)
                for _, block in bootstrap.resample_counts(
                    plan.n_groups, n_resamples=int(n_resamples), rng=rng
                )
            ]
        )
    options = {"n_bins": n_bins, "strategy": strategy}
    results = {}
    for name, (codes, order) in groups.items():
        summaries: dict[str, CalibrationSummary] = {}
        too_few: dict[str, bool] = {}
        for cohort, members in zip(order, _members(codes, len(order)), strict=True):
            subset = prepared.subset(members)
            too_few[cohort] = bool(members.shape[0] < min_samples)
            if counts is None or too_few[cohort]:
                summaries[cohort] = _summarise(
                    subset.confidences,
                    subset.hits,
                    subset,
                    **options,
                    n_resamples=0,
                    seed=seed,
                    confidence=confidence,
                    resampling=resampling,
                    interval=interval,
                    classwise=False,
                )
                continue
            units, unit_of_member = np.unique(plan.groups[members], return_inverse=True)
            sub_plan = ResamplingPlan(plan.method, unit_of_member.astype(np.int64), len(units))
            sums = _unit_sums(
                subset.confidences, subset.hits, subset, sub_plan, **options, classwise=False
            )
            summaries[cohort] = _summary_from_sums(
                sums,
                (counts if len(units) == plan.n_groups else counts[:, units]) @ sums.statistics,
                n_samples=members.shape[0],
                resampling=plan.method,
                n_resamples=n_resamples,
                confidence=confidence,
                interval=interval,
            )
        results[name] = CohortCalibration(summaries, too_few, int(min_samples))
    return results


def _members(codes: np.ndarray, n_cohorts: int) -> list[np.ndarray]:
    """The sample indices of each cohort code, in increasing order (one stable sort)."""
    by_code = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[by_code], np.arange(n_cohorts + 1), side="left")
    return [by_code[bounds[i] : bounds[i + 1]] for i in range(n_cohorts)]


def _cohort_codes(cohorts: np.ndarray | pd.Series, n_samples: int) -> tuple[np.ndarray, list[str]]:
    """``(n,)`` cohort code of each sample (an index into the returned names) and the cohort
    names in display order. Values are factorised first, so only the distinct values are turned
    into strings (values with the same string, such as 1 and "1", form one cohort)."""
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
    if isinstance(values.dtype, pd.CategoricalDtype):
        value_codes = values.cat.codes.to_numpy().astype(np.int64)
        distinct = list(values.cat.categories)
        present = np.bincount(value_codes[value_codes >= 0], minlength=len(distinct)) > 0
        ordered = [category for category, seen in zip(distinct, present, strict=True) if seen]
    else:
        value_codes, uniques = pd.factorize(values, use_na_sentinel=True)
        distinct = list(uniques)
        try:
            ordered = sorted(distinct)
        except TypeError:
            ordered = sorted(distinct, key=str)
    missing = value_codes < 0
    order = list(dict.fromkeys([str(value) for value in ordered]))
    if missing.any():
        order.append(MISSING_COHORT)
    position = {name: index for index, name in enumerate(order)}
    code_of_value = np.array(
        [position.get(str(value), -1) for value in distinct] + [-1], dtype=np.int64
    )
    codes = code_of_value[value_codes]  # the sentinel -1 picks the last entry
    if missing.any():
        codes[missing] = position[MISSING_COHORT]
    return codes, order
