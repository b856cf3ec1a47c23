"""Where is the gap: cohort tables, the mix/performance decomposition, fairness across cohorts,
confusions, the metric over time, weak slices and embedding clusters.

Pure maths on the hub rows of each split (``frames``: one pandas frame per split with
``label``, ``pred``, ``correct``, ``loss`` and the metadata columns); no workspace, no words.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from gengap_dash.analysis.cohorts.coding import Coding, Period, check_column, code_column, cross
from gengap_dash.analysis.cohorts.confusions import Confusions, confusions
from gengap_dash.analysis.cohorts.decomposition import Decomposition, decompose
from gengap_dash.analysis.cohorts.fairness import Fairness, fairness
from gengap_dash.analysis.cohorts.over_time import (
    ChangePoint,
    OverTime,
    adjust,
    change_point,
    split_period,
)
from gengap_dash.analysis.cohorts.table import (
    DEFAULT_MIN_COUNT,
    CohortTable,
    cohort_sums,
    cohort_table,
    compared_splits,
    default_reference,
)
from gengap_dash.findings.unlabelled import UnlabelledSplit
from gengap_dash.project.errors import ProjectError

__all__ = [
    "ChangePoint",
    "CohortTable",
    "CohortsResult",
    "Confusions",
    "Decomposition",
    "Fairness",
    "OverTime",
    "analyse_cohorts",
    "cohort_codings",
]


@dataclass(frozen=True)
class CohortsResult:
    """Everything the cohorts view shows.

    Attributes:
        table: the cohort table of the chosen column(s).
        decompositions: mix/performance decomposition of each compared split (accuracy).
        fairness: between-cohort differences per split.
        confusions: confusion matrices and their change against the reference.
        over_time: the metric per time window and the change tests (``None`` without a time
            column; ``notes`` says why).
        classes: the class names.
        chosen_automatically: the column was picked as the one whose cohorts differ most.
        notes: plain notes (no time column, ...).
        unlabelled: splits left out because they are not labelled on every row.
    """

    table: CohortTable
    decompositions: tuple[Decomposition, ...]
    fairness: tuple[Fairness, ...]
    confusions: Confusions
    over_time: OverTime | None
    classes: tuple[str, ...]
    chosen_automatically: bool
    notes: tuple[str, ...]
    unlabelled: tuple[UnlabelledSplit, ...] = ()


def cohort_codings(
    frames: Mapping[str, pd.DataFrame],
    columns: Sequence[str],
    *,
    known: Sequence[str],
    n_bins: int = 5,
    period: Period = "auto",
) -> Coding:
    """The cohorts of one column, or of two crossed.

    Raises:
        ProjectError: for an unknown column, a column with one value, or more than two columns.
    """
    if not 1 <= len(columns) <= 2:
        raise ProjectError(f"Expected one or two cohort columns, but got {len(columns)}.")
    for column in columns:
        check_column(frames, column, known=known)
    codings = [code_column(frames, column, n_bins=n_bins, period=period) for column in columns]
    return codings[0] if len(codings) == 1 else cross(codings[0], codings[1])


def analyse_cohorts(
    frames: Mapping[str, pd.DataFrame],
    *,
    roles: Mapping[str, str],
    classes: Sequence[str],
    columns: Sequence[str],
    known: Sequence[str],
    time_column: str | None = None,
    reference: str | None = None,
    metric: str = "accuracy",
    n_bins: int = 5,
    period: Period = "auto",
    min_count: int = DEFAULT_MIN_COUNT,
    n_resamples: int = 1000,
    seed: int = 0,
    chosen_automatically: bool = False,
    with_decomposition: bool = True,
) -> CohortsResult:
    """The whole cohort analysis of ``columns`` (see :class:`CohortsResult`).

    Args:
        frames: per split (project order), the hub rows.
        known: the project's metadata columns (``columns`` must be among them).
        reference: the split gaps are measured against (default: validation, else test).
        metric: the cohort table's metric (``gengap_dash.analysis.cohorts.metrics``); the
            decomposition, fairness and the view over time are about accuracy.
        with_decomposition: compute the mix/performance decompositions.

    Raises:
        ProjectError: for bad columns, reference or options.
    """
    positions = {split: position for position, split in enumerate(frames)}
    reference = reference or default_reference(roles)
    if reference not in frames:
        raise ProjectError(
            f"Reference split {reference!r} does not exist; the splits are {', '.join(frames)}."
        )
    coding = cohort_codings(frames, columns, known=known, n_bins=n_bins, period=period)
    sums = cohort_sums(
        frames, coding, metric=metric, positions=positions, n_resamples=n_resamples, seed=seed,
        n_classes=len(classes),
    )  # fmt: skip
    table = cohort_table(sums, metric=metric, reference=reference, roles=roles, min_count=min_count)
    accuracy_sums = sums if metric == "accuracy" else cohort_sums(
        frames, coding, metric="accuracy", positions=positions, n_resamples=n_resamples, seed=seed
    )  # fmt: skip
    compared = [s for s in compared_splits(roles, reference) if s in frames]
    decompositions = tuple(
        decompose(accuracy_sums, split=split, reference=reference, metric="accuracy")
        for split in (compared if with_decomposition else [])
    )
    fair = tuple(
        fairness(
            accuracy_sums, frames[split], split=split, n_classes=len(classes),
            position=positions[split], min_count=min_count, n_resamples=n_resamples, seed=seed,
        )
        for split in frames
    )  # fmt: skip
    confusion = confusions(
        frames, classes=tuple(classes), reference=reference, positions=positions,
        n_resamples=n_resamples, seed=seed,
    )  # fmt: skip
    notes = []
    over_time = None
    if time_column is None:
        notes.append("The project has no time column, so there is no view over time.")
    else:
        windows = (
            period
            if period != "auto"
            else split_period([frame[time_column] for frame in frames.values()])
        )
        time_coding = code_column(frames, time_column, period=windows, allow_constant=True)
        time_sums = cohort_sums(
            frames, time_coding, metric="accuracy", positions=positions,
            n_resamples=n_resamples, seed=seed,
        )  # fmt: skip
        time_table = cohort_table(
            time_sums, metric="accuracy", reference=reference, roles=roles, min_count=min_count
        )
        changes = adjust(
            [
                change
                for split in frames
                if (change := change_point(time_table, split, seed=seed)) is not None
            ]
        )
        over_time = OverTime(time_column, time_coding.period, time_table, changes)
    return CohortsResult(
        table=table,
        decompositions=decompositions,
        fairness=fair,
        confusions=confusion,
        over_time=over_time,
        classes=tuple(classes),
        chosen_automatically=chosen_automatically,
        notes=tuple(notes),
    )
