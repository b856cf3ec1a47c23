"""The cohorts view: where the gap sits. A cohort table of one metadata column (or two crossed)
with intervals and gaps to the reference split, the mix/performance decomposition of each
split's change, fairness across cohorts, confusions and the metric over time."""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from gengap_dash.analysis.cohorts import CohortsResult, analyse_cohorts
from gengap_dash.analysis.cohorts.coding import PERIODS, code_column
from gengap_dash.analysis.cohorts.table import (
    COHORT_METRICS,
    DEFAULT_MIN_COUNT,
    default_reference,
    widest_column,
)
from gengap_dash.findings.model import Finding
from gengap_dash.project.defaults import DEFAULT_RESAMPLES, DEFAULT_SEED
from gengap_dash.project.errors import ProjectError
from gengap_dash.views._unlabelled import unlabelled_of
from gengap_dash.views.registry import View, register
from gengap_dash.views.report_html import figure_block, findings_block, paragraph, table_block


@dataclass(frozen=True)
class CohortsOptions:
    """``by``: one or two metadata columns (empty: the column whose cohorts differ most);
    ``reference``: the split gaps are measured against (``None``: validation, else test)."""

    by: tuple[str, ...] = ()
    reference: str | None = None
    metric: str = "accuracy"
    n_bins: int = 5
    period: str = "auto"
    min_count: int = DEFAULT_MIN_COUNT
    decompose: bool = True
    n_resamples: int = DEFAULT_RESAMPLES
    seed: int = DEFAULT_SEED


def hub_frames(workspace) -> dict[str, pd.DataFrame]:
    """Every split's hub rows, in project order."""
    return {split: workspace.split_predictions(split) for split in workspace.split_names}


def labelled_frames(workspace, *, reference: str | None = None) -> dict[str, pd.DataFrame]:
    """The hub rows of every split labelled on every row, in project order.

    Raises:
        ProjectError: ``reference`` names a split without labels.
    """
    if reference and reference in workspace.split_names and not workspace.is_labelled(reference):
        raise ProjectError(
            f"Reference split {reference!r} has no labels (on every row); choose one of the "
            f"labelled splits: {', '.join(workspace.labelled_splits)}."
        )
    return {split: workspace.split_predictions(split) for split in workspace.labelled_splits}


def eligible_columns(workspace, frames: dict[str, pd.DataFrame]) -> list[str]:
    """Metadata columns with at least two values (the ones cohorts can be formed from)."""
    eligible = []
    for column in workspace.spec.metadata:
        try:
            code_column(frames, column)
        except ProjectError:
            continue
        eligible.append(column)
    return eligible


def chosen_columns(workspace, frames, options: CohortsOptions) -> tuple[tuple[str, ...], bool]:
    """The columns asked for, or the one whose cohorts differ most (and whether it was picked).

    Raises:
        ProjectError: when the project has no metadata column with two values or more.
    """
    if options.by:
        return tuple(options.by), False
    eligible = eligible_columns(workspace, frames)
    if not eligible:
        raise ProjectError(
            "The project has no metadata column with two values or more; list cohort columns "
            "under `metadata` in the project file."
        )
    codings = [code_column(frames, column, n_bins=options.n_bins) for column in eligible]
    reference = options.reference or default_reference(workspace.split_roles)
    if reference not in frames:
        raise ProjectError(
            f"Reference split {reference!r} does not exist; the splits are {', '.join(frames)}."
        )
    best = widest_column(frames, codings, min_count=options.min_count, reference=reference)
    return (eligible[best],), True


def check_options(options: CohortsOptions) -> None:
    """Raise ``ProjectError`` for options no analysis could run with."""
    if options.metric not in COHORT_METRICS:
        raise ProjectError(
            f"Expected `metric` to be one of {', '.join(COHORT_METRICS)}, but got "
            f"{options.metric!r}."
        )
    if options.period not in PERIODS:
        raise ProjectError(
            f"Expected `period` to be one of {', '.join(PERIODS)}, but got {options.period!r}."
        )
    if len(options.by) > 2:
        raise ProjectError(f"Expected at most two --by columns, but got {len(options.by)}.")
    for name in ("n_bins", "min_count", "n_resamples"):
        value = getattr(options, name)
        minimum = 2 if name == "n_bins" else 1
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ProjectError(
                f"Expected `{name}` to be an integer of at least {minimum}, but got {value!r}."
            )


@register
class CohortsView(View):
    name = "cohorts"
    title = "Cohorts and slices"
    question = (
        "Where is the gap: which cohorts carry the loss, is it a changed mix or worse "
        "performance inside cohorts, which classes get confused, and when did it start?"
    )
    page = "pages/cohorts.py"
    order = 30
    version = 4
    Options = CohortsOptions

    def compute(self, workspace, options: CohortsOptions) -> CohortsResult:
        check_options(options)
        frames = labelled_frames(workspace, reference=options.reference)
        columns, automatic = chosen_columns(workspace, frames, options)
        result = analyse_cohorts(
            frames,
            roles={split: workspace.split_roles[split] for split in frames},
            classes=workspace.class_names,
            columns=columns,
            known=list(workspace.spec.metadata),
            time_column=workspace.spec.time_column,
            reference=options.reference,
            metric=options.metric,
            n_bins=options.n_bins,
            period=options.period,  # type: ignore[arg-type]
            min_count=options.min_count,
            n_resamples=options.n_resamples,
            seed=options.seed,
            chosen_automatically=automatic,
            with_decomposition=options.decompose,
        )
        return dataclasses.replace(result, unlabelled=unlabelled_of(workspace))

    def findings(self, result: CohortsResult) -> list[Finding]:
        from gengap_dash.analysis.cohorts.findings import cohort_findings

        return cohort_findings(result)

    def to_json(self, result: CohortsResult) -> dict[str, Any]:
        from gengap_dash.findings.cohorts import cohorts_json

        return cohorts_json(result)

    def to_text(self, result: CohortsResult) -> str:
        from gengap_dash.findings.cohorts import cohort_text_table, decomposition_text

        parts = [cohort_text_table(result.table)]
        if result.decompositions:
            parts.append(decomposition_text(result.decompositions))
        return "\n\n".join([*parts, super().to_text(result)])

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--by", action="append", default=[], metavar="COLUMN",
            help="metadata column of the cohorts (twice to cross two columns; default: the "
            "column whose cohorts differ most)",
        )  # fmt: skip
        parser.add_argument("--reference", default=None, help="split gaps are measured against")
        parser.add_argument(
            "--metric", default="accuracy", choices=list(COHORT_METRICS), metavar="NAME",
            help="metric of the cohort table: " + ", ".join(COHORT_METRICS) + " (with 95%% "
            "intervals; the decomposition, fairness and time view are about accuracy)",
        )  # fmt: skip
        parser.add_argument("--bins", type=int, default=5, help="quantile bins of numeric columns")
        parser.add_argument("--period", default="auto", choices=PERIODS, help="time windows")
        parser.add_argument(
            "--decompose", action="store_true",
            help="print the mix/performance decomposition of each split's change",
        )  # fmt: skip
        parser.add_argument("--resamples", type=int, default=DEFAULT_RESAMPLES)
        parser.add_argument("--seed", type=int, default=DEFAULT_SEED)

    def options_from_arguments(self, arguments: argparse.Namespace) -> CohortsOptions:
        options = CohortsOptions(
            by=tuple(arguments.by),
            reference=arguments.reference,
            metric=arguments.metric,
            n_bins=arguments.bins,
            period=arguments.period,
            decompose=arguments.decompose,
            n_resamples=arguments.resamples,
            seed=arguments.seed,
        )
        check_options(options)
        return options

    def report_section(self, result: CohortsResult) -> str:
        from gengap_dash.analysis.cohorts.findings import (
            decomposition_takeaway,
            heatmap_takeaway,
        )
        from gengap_dash.findings.cohorts import cohort_frame, decomposition_frame
        from gengap_dash.findings.render import render
        from gengap_dash.plots.cohorts import decomposition_figure, gap_heatmap

        table = result.table
        column = " × ".join(table.columns)
        blocks = [findings_block(self.findings(result))]
        blocks.append(
            figure_block(
                gap_heatmap(table),
                takeaway=render(heatmap_takeaway(table)),
                shows=heatmap_shows(table),
            )
        )
        if result.decompositions:
            blocks.append(
                figure_block(
                    decomposition_figure(result.decompositions),
                    takeaway=render(decomposition_takeaway(result.decompositions, table.roles)),
                    shows="Each split's accuracy change against the reference, split into the "
                    "part due to a different cohort mix and the part due to worse accuracy "
                    "inside cohorts (they add up to the change).",
                )
            )
            blocks.append(table_block(decomposition_frame(result.decompositions)))
        blocks.append(table_block(cohort_frame(table), caption=f"Cohorts of {column}."))
        for note in result.notes:
            blocks.append(paragraph(note, css="caption"))
        return "".join(blocks)


def heatmap_shows(table) -> str:
    """What the gap heatmap shows, in the table's metric and direction."""
    from gengap_dash.findings.cohorts import in_sentence

    column = " × ".join(table.columns)
    unit = "points" if table.unit in ("percent", "points") else "units"
    colours = {
        "higher": "red where it fell (worse), blue where it rose",
        "lower": "red where it rose (worse), blue where it fell",
        "zero": "colours say the sign of the change, not whether it is worse (0 is ideal)",
        "none": "colours say the sign of the change (neither direction is better)",
    }[table.direction]
    return (
        f"Each cell: the change of {in_sentence(table.label)} ({unit}) of a {column} cohort on "
        "a split "
        f"against the same cohort on {table.reference}: {colours}. Grey cells hold fewer than "
        f"{table.min_count} samples, too few to show a number. Hover for the count."
    )


def splits_with_time(result: CohortsResult) -> list[str]:
    """Splits that have at least one non-empty time window."""
    if result.over_time is None:
        return []
    table = result.over_time.table
    return [s for i, s in enumerate(table.splits) if np.any(table.n[i] > 0)]


# -- the samples behind a cell: the gallery of errors ---------------------------------------------


def cohort_rows(workspace, options: CohortsOptions, columns, split: str, cohort: str):
    """The hub rows of ``split`` in one cohort of ``columns`` (worst loss first)."""
    from gengap_dash.analysis.cohorts import cohort_codings

    frames = hub_frames(workspace)
    coding = cohort_codings(
        frames, columns, known=list(workspace.spec.metadata), n_bins=options.n_bins,
        period=options.period,  # type: ignore[arg-type]
    )  # fmt: skip
    if cohort not in coding.labels:
        raise ProjectError(f"There is no cohort {cohort!r} of {' × '.join(columns)}.")
    mask = coding.codes[split] == coding.labels.index(cohort)
    return _by_loss(frames[split], mask)


def slice_rows(workspace, predicates, split: str, *, n_bins: int = 4):
    """The hub rows of ``split`` in the slice ``predicates`` (worst loss first)."""
    from gengap_dash.analysis.cohorts.slices import slice_mask
    from gengap_dash.views.slices import slice_codings

    frames = hub_frames(workspace)
    codings, _ = slice_codings(frames, workspace.spec.metadata, n_bins=n_bins)
    return _by_loss(frames[split], slice_mask(codings, predicates, split))


def cluster_rows(workspace, clusters, index: int, split: str):
    """The hub rows of ``split`` in embedding cluster ``index`` (worst loss first).

    Raises:
        ProjectError: for a cluster or split the clusters do not hold.
    """
    frame = workspace.split_predictions(split)
    mask = np.zeros(len(frame), dtype=bool)
    mask[clusters.rows_of(index, split)] = True
    return _by_loss(frame, mask)


GALLERY_CAP = 240
"""At most this many samples of a selection are shown (the CSV holds them all)."""


def gallery_sample(rows: pd.DataFrame, *, cap: int = GALLERY_CAP, seed: int = 0) -> pd.DataFrame:
    """At most ``cap`` of ``rows``, drawn without replacement from a fixed seed (the same
    selection always shows the same samples), in the order of ``rows`` (worst loss first).

    Raises:
        ValueError: for a ``cap`` that is not a positive integer.
    """
    if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1:
        raise ValueError(f"Expected `cap` to be a positive integer, but got {cap!r}.")
    if len(rows) <= cap:
        return rows
    rng = np.random.default_rng([seed, len(rows)])
    chosen = np.sort(rng.choice(len(rows), size=cap, replace=False))
    return rows.iloc[chosen]


def confusion_rows(workspace, split: str, true: int, predicted: int):
    """The hub rows of ``split`` with label ``true`` predicted as ``predicted``."""
    frame = workspace.split_predictions(split)
    mask = (frame["label"].to_numpy() == true) & (frame["pred"].to_numpy() == predicted)
    return _by_loss(frame, mask)


def _by_loss(frame: pd.DataFrame, mask: np.ndarray) -> pd.DataFrame:
    rows = frame.loc[mask].copy()
    rows.insert(0, "row", np.flatnonzero(mask))
    return rows.sort_values("loss", ascending=False, kind="stable")


def sample_inputs(workspace, split: str, rows: np.ndarray):
    """What the model read for the given row positions of ``split``: ``("image", (m, H, W[, C])
    uint8)``, ``("tabular", frame of features)`` or ``("none", None)`` (brought predictions).

    Images are shown as stored (pixel arrays) or as the default transform reads them (files).
    """
    from gengap_dash.data.tables import read_table

    spec = workspace.spec
    inputs = spec.inputs
    split_spec = spec.split(split)
    path = getattr(split_spec, "path", None)
    rows = np.asarray(rows, dtype=np.int64)
    if inputs is None or path is None or len(rows) == 0:
        return "none", None
    if inputs.kind == "tabular":
        features = list(inputs.features) if inputs.features else None
        table = read_table(path, columns=features)
        if features is None:
            table = table.select_dtypes("number")
        return "tabular", table.iloc[rows].reset_index(drop=True)
    column = inputs.column or ""
    table = read_table(path, columns=[column])
    values = table[column].iloc[rows]
    if len(values) and isinstance(values.iloc[0], str):
        from gengap_dash.data.samples import build_sample_source

        source = build_sample_source(table.iloc[rows].reset_index(drop=True), spec,
                                     table_path=path, split=split)  # fmt: skip
        images = [_to_uint8(source.dataset[i]) for i in range(len(rows))]
        return "image", np.stack(images)
    shape = tuple(inputs.image_shape) if inputs.image_shape else None
    images = [np.asarray(v, dtype=np.uint8) for v in values]
    if shape is not None:
        images = [image.reshape(shape) for image in images]
    return "image", np.stack(images)


def _to_uint8(tensor) -> np.ndarray:
    array = tensor.detach().cpu().numpy()
    array = array[0] if array.shape[0] == 1 else np.moveaxis(array, 0, -1)
    low, high = float(array.min()), float(array.max())
    scaled = (array - low) / (high - low) if high > low else np.zeros_like(array)
    return (255 * scaled).astype(np.uint8)


def upscale(image: np.ndarray, *, size: int = 64) -> np.ndarray:
    """Nearest-neighbour upscaling of a small image to about ``size`` pixels a side."""
    factor = max(1, size // max(image.shape[0], image.shape[1]))
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)
