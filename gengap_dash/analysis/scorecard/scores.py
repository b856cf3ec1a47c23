"""The scorecard's numbers: every split's metrics with bootstrap intervals, and the gaps of every
split against the train, validation and shift references.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from gengap_dash.analysis.scorecard.gaps import GapScores
from gengap_dash.findings.unlabelled import UnlabelledSplit
from gengap_dash.metrics.classification import (
    SCORECARD_METRICS,
    get_metric,
    reduce_stacked,
    stacked_group_sums,
)
from gengap_dash.project.errors import ProjectError
from gengap_dash.project.spec import SPLIT_ROLES
from gengap_dash.stats.bootstrap import (
    DEFAULT_CONFIDENCE,
    DEFAULT_RESAMPLES,
    Estimate,
    difference,
    interval_from_replicates,
    plan_resampling,
    resample_column_sums,
    split_stream,
)
from gengap_dash.stats.checks import check_labels, check_whole_number
from gengap_dash.store.json_values import finite_or_none

GapReference = Literal["train", "validation", "shift_reference"]


# Inputs and results
@dataclass(frozen=True, eq=False)
class SplitData:
    """One split's predictions, the scorecard's input.

    Attributes:
        name: the split name from the project file.
        role: ``"train"``, ``"validation"``, ``"test"``, ``"shifted"`` or ``"deployment"``.
        labels: ``(n_samples,)`` int64 true classes.
        probs: ``(n_samples, n_classes)`` float class probabilities.
        losses: ``(n_samples,)`` float per-sample cross-entropy (natural log).
    """

    name: str
    role: str
    labels: np.ndarray
    probs: np.ndarray
    losses: np.ndarray


@dataclass(frozen=True)
class SplitScores:
    """Every metric of one split, with its bootstrap interval.

    Attributes:
        name: split name.
        role: split role.
        n: number of samples.
        metrics: metric name -> estimate (fractions for percentages, e.g. 0.912).
        replicates: metric name -> ``(n_resamples,)`` bootstrap replicates, kept so that gaps
            against any other split can be bootstrapped.
    """

    name: str
    role: str
    n: int
    metrics: Mapping[str, Estimate]
    replicates: Mapping[str, np.ndarray] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class Scorecard:
    """Per-split metrics with intervals and the gaps between splits.

    Attributes:
        splits: per-split scores in project order.
        vs_train: split name -> gap against the first train split (all other splits).
        vs_validation: split name -> gap against the first validation split.
        vs_shift_reference: split name -> gap against the shift reference.
        train: name of the train reference, or ``None`` when there is no train split.
        validation: name of the validation reference, or ``None``.
        shift_reference: the first test split, else the first validation split, else ``None``.
        n_resamples: bootstrap replicates per split.
        confidence: interval level, e.g. 0.95.
        seed: the seed the replicates were drawn with.
        unlabelled: the splits left out because they are not labelled on every row.
    """

    splits: tuple[SplitScores, ...]
    vs_train: Mapping[str, GapScores]
    vs_validation: Mapping[str, GapScores]
    vs_shift_reference: Mapping[str, GapScores]
    train: str | None
    validation: str | None
    shift_reference: str | None
    n_resamples: int
    confidence: float
    seed: int
    unlabelled: tuple[UnlabelledSplit, ...] = ()

    @property
    def split_names(self) -> tuple[str, ...]:
        """Split names in project order."""
        return tuple(split.name for split in self.splits)

    @property
    def split_roles(self) -> dict[str, str]:
        """Split name -> role, in project order (for ``plots.style.split_colors``)."""
        return {split.name: split.role for split in self.splits}

    def split(self, name: str) -> SplitScores:
        """The scores of the split called ``name``."""
        for split in self.splits:
            if split.name == name:
                return split
        known = ", ".join(repr(s) for s in self.split_names)
        raise ValueError(f"Expected a split name among {known}, but got {name!r}.")

    def gaps(self, reference: GapReference) -> Mapping[str, GapScores]:
        """The gaps against ``"train"``, ``"validation"`` or ``"shift_reference"``."""
        if reference == "train":
            return self.vs_train
        if reference == "validation":
            return self.vs_validation
        if reference == "shift_reference":
            return self.vs_shift_reference
        raise ValueError(
            "Expected `reference` to be one of 'train', 'validation', 'shift_reference', "
            f"but got {reference!r}."
        )

    def reference_split(self, reference: GapReference) -> str | None:
        """The name of the split behind ``reference`` (``None`` when the project has none)."""
        self.gaps(reference)  # validates the name
        return {
            "train": self.train,
            "validation": self.validation,
            "shift_reference": self.shift_reference,
        }[reference]

    def gap_against(self, split: str, reference: str) -> GapScores:
        """The gap ``split - reference``: the stored one when ``reference`` is the train,
        validation or shift reference, else bootstrapped by :meth:`gap_between`."""
        for name, gaps in (
            (self.train, self.vs_train),
            (self.validation, self.vs_validation),
            (self.shift_reference, self.vs_shift_reference),
        ):
            if name == reference and split in gaps:
                return gaps[split]
        return self.gap_between(split, reference)

    def gap_between(self, split: str, reference: str) -> GapScores:
        """The gap ``split - reference`` between any two splits, bootstrapped."""
        return _gap(self.split(split), self.split(reference), confidence=self.confidence)

    def to_frame(self) -> pd.DataFrame:
        """Tidy per-split metrics: columns split, role, metric, value, low, high.

        Values are in the metric's own units (fractions for percentages).
        """
        rows = [
            {
                "split": split.name,
                "role": split.role,
                "metric": name,
                "value": estimate.value,
                "low": estimate.low,
                "high": estimate.high,
            }
            for split in self.splits
            for name, estimate in split.metrics.items()
        ]
        columns = ["split", "role", "metric", "value", "low", "high"]
        return pd.DataFrame(rows, columns=columns)

    def gaps_frame(self) -> pd.DataFrame:
        """Tidy gaps: reference (train/validation/shift_reference), reference_split, split, role,
        metric, value, low, high (``split - reference``, metric units)."""
        rows = []
        for reference in ("train", "validation", "shift_reference"):
            for gap in self.gaps(reference).values():
                for name, estimate in gap.metrics.items():
                    rows.append(
                        {
                            "reference": reference,
                            "reference_split": gap.reference,
                            "split": gap.split,
                            "role": gap.role,
                            "metric": name,
                            "value": estimate.value,
                            "low": estimate.low,
                            "high": estimate.high,
                        }
                    )
        columns = [
            "reference",
            "reference_split",
            "split",
            "role",
            "metric",
            "value",
            "low",
            "high",
        ]
        return pd.DataFrame(rows, columns=columns)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable summary (plain floats, NaN as ``None``), as ``gengap summary --json``.

        Shape: ``{"splits": {SPLIT: {"role", "n", METRIC: value, ..., "ci": {METRIC: [lo, hi]}}},
        "gaps": {"vs_train": {SPLIT: {METRIC: {"value", "low", "high"}}}, "vs_validation": ...}}``.
        A missing reference gives an empty mapping. The verdicts are the view's findings
        (:func:`~gengap_dash.analysis.scorecard.findings.scorecard_findings`), which every
        ``--json`` output carries beside this.
        """
        splits: dict[str, Any] = {}
        for split in self.splits:
            entry: dict[str, Any] = {"role": split.role, "n": int(split.n)}
            for name, estimate in split.metrics.items():
                entry[name] = finite_or_none(estimate.value)
            entry["ci"] = {
                name: [finite_or_none(estimate.low), finite_or_none(estimate.high)]
                for name, estimate in split.metrics.items()
            }
            splits[split.name] = entry
        gaps = {
            key: {
                name: {
                    metric: {
                        "value": finite_or_none(estimate.value),
                        "low": finite_or_none(estimate.low),
                        "high": finite_or_none(estimate.high),
                    }
                    for metric, estimate in gap.metrics.items()
                }
                for name, gap in mapping.items()
            }
            for key, mapping in (("vs_train", self.vs_train), ("vs_validation", self.vs_validation))
        }
        result: dict[str, Any] = {"splits": splits, "gaps": gaps}
        if self.unlabelled:  # splits left out for want of labels (docs/project-file.md)
            result["unlabelled"] = {
                split.name: {"role": split.role, "n": split.rows, "labelled": split.labelled}
                for split in self.unlabelled
            }
        return result


# Computing the scorecard
def compute_scorecard(
    splits: Sequence[SplitData],
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> Scorecard:
    """Score every split with bootstrap intervals and take the gaps between splits.

    Split ``i`` is resampled with its own stream ``np.random.default_rng([seed, i])``; one
    resample per replicate serves all metrics of the split, so the same input and seed always
    give the same numbers.

    Args:
        splits: the splits in project order.
        n_resamples: bootstrap replicates per split.
        confidence: interval level in (0, 1).
        seed: non-negative integer seed.

    Returns:
        The scorecard.

    Raises:
        ProjectError: for an empty list of splits, a duplicate name, an unknown role, a split
            with no rows or malformed predictions (the message names the split).
        ValueError: for bad ``n_resamples``, ``confidence`` or ``seed``.
    """
    _check_options(n_resamples=n_resamples, confidence=confidence, seed=seed)
    splits = list(splits)
    _check_splits(splits)
    scores = tuple(
        _score_split(
            split,
            n_resamples=n_resamples,
            confidence=confidence,
            rng=np.random.default_rng(list(split_stream(seed, index))),
        )
        for index, split in enumerate(splits)
    )
    train = _first_with_role(scores, "train")
    validation = _first_with_role(scores, "validation")
    shift_reference = _first_with_role(scores, "test") or validation
    return Scorecard(
        splits=scores,
        vs_train=_gaps_against(scores, train, confidence=confidence),
        vs_validation=_gaps_against(scores, validation, confidence=confidence),
        vs_shift_reference=_gaps_against(scores, shift_reference, confidence=confidence),
        train=train.name if train else None,
        validation=validation.name if validation else None,
        shift_reference=shift_reference.name if shift_reference else None,
        n_resamples=int(n_resamples),
        confidence=float(confidence),
        seed=int(seed),
    )


def splits_from_predictions(
    predictions: pd.DataFrame, split_roles: Mapping[str, str]
) -> list[SplitData]:
    """Build the scorecard's inputs from the hub predictions table.

    Args:
        predictions: one row per sample with ``split``, ``label``, ``loss`` and
            ``prob_0`` ... ``prob_{C-1}`` columns (see ``docs/architecture.md``).
        split_roles: split name -> role, in project order; splits are returned in this order.

    Raises:
        ProjectError: when a required column is missing.
    """
    prob_columns = sorted(
        (c for c in predictions.columns if str(c).startswith("prob_") and str(c)[5:].isdigit()),
        key=lambda c: int(str(c)[5:]),
    )
    missing = [c for c in ("split", "label", "loss") if c not in predictions.columns]
    if missing or not prob_columns:
        needed = ", ".join(missing + ([] if prob_columns else ["prob_0 ... prob_{C-1}"]))
        raise ProjectError(
            f"Expected the predictions table to have the columns {needed}, but they are missing."
        )
    split_column = predictions["split"].astype(str).to_numpy()
    result = []
    for name, role in split_roles.items():
        rows = split_column == str(name)
        part = predictions.loc[rows]
        result.append(
            SplitData(
                name=str(name),
                role=str(role),
                labels=part["label"].to_numpy(dtype=np.int64),
                probs=part[prob_columns].to_numpy(dtype=np.float64),
                losses=part["loss"].to_numpy(dtype=np.float64),
            )
        )
    return result


def _check_options(*, n_resamples: int, confidence: float, seed: int) -> None:
    check_whole_number(n_resamples, name="n_resamples", minimum=1)
    if (
        isinstance(confidence, bool)
        or not isinstance(confidence, int | float | np.floating)
        or not 0.0 < confidence < 1.0
    ):
        raise ValueError(f"Expected `confidence` in (0, 1), but got {confidence!r}.")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"Expected `seed` to be a non-negative integer, but got {seed!r}.")


def _check_splits(splits: list[SplitData]) -> None:
    if not splits:
        raise ProjectError("Expected at least one split to score, but got none.")
    seen: set[str] = set()
    for split in splits:
        if not isinstance(split, SplitData):
            raise ProjectError(
                f"Expected each split to be a SplitData, but got {type(split).__name__}."
            )
        if split.name in seen:
            raise ProjectError(f"Expected unique split names, but {split.name!r} appears twice.")
        seen.add(split.name)
        if split.role not in SPLIT_ROLES:
            raise ProjectError(
                f"Expected the role of split {split.name!r} to be one of "
                f"{', '.join(SPLIT_ROLES)}, but got {split.role!r}."
            )
        try:  # before the bootstrap plan, which needs the number of samples
            check_labels(split.labels)
        except ValueError as error:
            raise ProjectError(f"Split {split.name!r}: {error}") from error
        if np.ndim(split.labels) >= 1 and np.shape(split.labels)[0] == 0:
            raise ProjectError(
                f"Expected split {split.name!r} to have at least one sample, but it has 0 rows."
            )


def _score_split(
    split: SplitData, *, n_resamples: int, confidence: float, rng: np.random.Generator
) -> SplitScores:
    """Point values, intervals and replicates of every metric of one split."""
    try:
        plan = plan_resampling(int(np.shape(split.labels)[0]), rng=rng)
        statistics, columns = stacked_group_sums(split.labels, split.probs, split.losses, plan)
    except ValueError as error:
        raise ProjectError(f"Split {split.name!r}: {error}") from error
    n_samples = plan.n_samples
    values = reduce_stacked(statistics.sum(axis=0), n_samples, columns)
    replicate_sums = resample_column_sums(statistics, n_resamples=n_resamples, rng=rng)
    del statistics
    replicates = reduce_stacked(replicate_sums, n_samples, columns)
    metrics: dict[str, Estimate] = {}
    for metric in SCORECARD_METRICS:
        value = float(values[metric.name])
        low, high = interval_from_replicates(
            value,
            replicates[metric.name],
            kind=metric.interval,
            confidence=confidence,
            floor=0.0,
            ceiling=1.0 if metric.unit == "percent" else None,
        )
        metrics[metric.name] = Estimate(value, low, high)
    return SplitScores(
        name=split.name,
        role=split.role,
        n=int(n_samples),
        metrics=metrics,
        replicates={name: np.asarray(r, dtype=np.float64) for name, r in replicates.items()},
    )


def _first_with_role(scores: Sequence[SplitScores], role: str) -> SplitScores | None:
    return next((split for split in scores if split.role == role), None)


def _gap(split: SplitScores, reference: SplitScores, *, confidence: float) -> GapScores:
    metrics = {
        name: difference(
            split.metrics[name].value,
            split.replicates[name],
            reference.metrics[name].value,
            reference.replicates[name],
            confidence=confidence,
            kind=get_metric(name).interval,
        )
        for name in split.metrics
    }
    return GapScores(split.name, split.role, reference.name, reference.role, metrics)


def _gaps_against(
    scores: Sequence[SplitScores], reference: SplitScores | None, *, confidence: float
) -> dict[str, GapScores]:
    if reference is None:
        return {}
    return {
        split.name: _gap(split, reference, confidence=confidence)
        for split in scores
        if split.name != reference.name
    }
