"""The slices view: weak slices found automatically (conjunctions of up to three metadata
predicates, SliceLine's score, Benjamini-Hochberg-adjusted p-values) and the model's embedding
clusters as automatic cohorts."""

from __future__ import annotations

import argparse
import contextlib
import sys
from dataclasses import dataclass
from typing import Any

from gengap_dash.analysis.cohorts.clusters import DEFAULT_CLUSTERS, Clusters, embedding_clusters
from gengap_dash.analysis.cohorts.coding import code_column
from gengap_dash.analysis.cohorts.slices import (
    DEFAULT_ALPHA,
    DEFAULT_MAX_PREDICATES,
    DEFAULT_TOP,
    SliceSearch,
    errors_of,
    find_slices,
)
from gengap_dash.findings.model import Finding
from gengap_dash.findings.unlabelled import UnlabelledSplit, unlabelled_findings
from gengap_dash.project.defaults import DEFAULT_RESAMPLES, DEFAULT_SEED
from gengap_dash.project.errors import ProjectError
from gengap_dash.views._progress import Progress, ViewProgress
from gengap_dash.views._unlabelled import unlabelled_of
from gengap_dash.views.cohorts import labelled_frames
from gengap_dash.views.registry import View, register
from gengap_dash.views.report_html import findings_block, paragraph, table_block

_PROGRESS = ViewProgress("slices", "slice search", width=60)


def slice_progress(callback: Progress) -> contextlib.AbstractContextManager[None]:
    """Report the slice search's progress to ``callback(fraction, note)`` inside the block (the
    page's progress bar)."""
    return _PROGRESS.reporting(callback)


@dataclass(frozen=True)
class SlicesOptions:
    """``split``: the split searched (``None``: the deployment split, else the worst one);
    ``min_support``: the smallest slice (``None``: ``max(20, 1% of the split)``)."""

    split: str | None = None
    max_predicates: int = DEFAULT_MAX_PREDICATES
    min_support: int | None = None
    alpha: float = DEFAULT_ALPHA
    n_bins: int = 4
    top: int = DEFAULT_TOP
    n_clusters: int = DEFAULT_CLUSTERS
    n_resamples: int = DEFAULT_RESAMPLES
    seed: int = DEFAULT_SEED


@dataclass(frozen=True)
class SlicesResult:
    """The slice search and the embedding clusters (``None``, with ``clusters_note``, when the
    project has no embeddings)."""

    search: SliceSearch
    clusters: Clusters | None
    clusters_note: str
    unlabelled: tuple[UnlabelledSplit, ...] = ()


def default_split(roles: dict[str, str], frames) -> str:
    """The deployment split, else the non-train split with the highest error."""
    for split, role in roles.items():
        if role == "deployment":
            return split
    others = [s for s, role in roles.items() if role != "train"] or list(roles)
    return max(others, key=lambda s: 1.0 - frames[s]["correct"].mean())


def slice_codings(frames, columns, *, n_bins: int):
    """Codings of the columns that can form slices, and notes on those left out."""
    codings, skipped = [], []
    for column in columns:
        try:
            codings.append(code_column(frames, column, n_bins=n_bins))
        except ProjectError as error:
            skipped.append(str(error))
    return codings, skipped


@register
class SlicesView(View):
    name = "slices"
    title = "Weak slices"
    question = "Which combinations of metadata values does the model fail on most?"
    page = "pages/cohorts.py"
    order = 31
    version = 4
    Options = SlicesOptions

    def compute(self, workspace, options: SlicesOptions) -> SlicesResult:
        if options.split and options.split not in workspace.split_names:
            raise ProjectError(
                f"Split {options.split!r} does not exist; the splits are "
                f"{', '.join(workspace.split_names)}."
            )
        if options.split and not workspace.is_labelled(options.split):
            raise ProjectError(
                f"Split {options.split!r} has no labels (on every row), and the slice search "
                f"ranks errors; choose a labelled split: {', '.join(workspace.labelled_splits)}."
            )
        frames = labelled_frames(workspace)
        roles = {s: workspace.split_roles[s] for s in frames}
        split = options.split or default_split(roles, frames)
        unlabelled = unlabelled_of(workspace)
        codings, skipped = slice_codings(frames, workspace.spec.metadata, n_bins=options.n_bins)
        positions = {s: i for i, s in enumerate(frames)}
        search = find_slices(
            codings,
            errors_of(frames),
            split=split,
            positions=positions,
            alpha=options.alpha,
            min_support=options.min_support,
            max_predicates=options.max_predicates,
            top=options.top,
            n_resamples=options.n_resamples,
            seed=options.seed,
            skipped=skipped,
            roles=roles,
            progress=_PROGRESS.callback(),
        )
        embeddings = {s: workspace.embeddings(s) for s in frames}
        if any(e is None for e in embeddings.values()):
            note = getattr(workspace, "embedding_note", None) or (
                "The project has no embeddings, so there are no embedding clusters."
            )
            return SlicesResult(search, None, note, unlabelled)
        clusters = embedding_clusters(
            embeddings, frames, codings, classes=workspace.class_names, split=split,
            n_clusters=options.n_clusters, seed=options.seed,
        )  # fmt: skip
        return SlicesResult(search, clusters, "", unlabelled)

    def findings(self, result: SlicesResult) -> list[Finding]:
        from gengap_dash.analysis.cohorts.findings import slice_findings

        return slice_findings(result.search, result.clusters) + unlabelled_findings(
            result.unlabelled, view="slices", needs=("the weak-slice search",)
        )

    def to_json(self, result: SlicesResult) -> dict[str, Any]:
        from gengap_dash.findings.slices import slices_json

        return slices_json(result)

    def to_text(self, result: SlicesResult) -> str:
        from gengap_dash.findings.slices import slices_frame

        frame = slices_frame(result.search)
        table = frame.to_string(index=False) if len(frame) else "(no slice with a positive score)"
        return f"Weak slices of {result.search.split}\n{table}\n\n" + super().to_text(result)

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--split", default=None, help="split to search (default: deployment)")
        parser.add_argument("--max-predicates", type=int, default=DEFAULT_MAX_PREDICATES)
        parser.add_argument("--min-support", type=int, default=None)
        parser.add_argument("--top", type=int, default=DEFAULT_TOP, help="slices to list")
        parser.add_argument("--resamples", type=int, default=DEFAULT_RESAMPLES)
        parser.add_argument("--seed", type=int, default=DEFAULT_SEED)

    def options_from_arguments(self, arguments: argparse.Namespace) -> SlicesOptions:
        if arguments.max_predicates not in (1, 2, 3):
            raise ProjectError(
                f"--max-predicates is {arguments.max_predicates}; expected 1, 2 or 3."
            )
        if arguments.min_support is not None and arguments.min_support < 1:
            raise ProjectError(
                f"--min-support is {arguments.min_support}; expected a positive integer."
            )
        if arguments.top < 1 or arguments.resamples < 1:
            raise ProjectError("--top and --resamples must be positive integers.")
        _PROGRESS.ask_command_line()  # `gengap slices` shows the search's progress
        return SlicesOptions(
            split=arguments.split,
            max_predicates=arguments.max_predicates,
            min_support=arguments.min_support,
            top=arguments.top,
            n_resamples=arguments.resamples,
            seed=arguments.seed,
        )

    def report_section(self, result: SlicesResult) -> str:
        from gengap_dash.findings.slices import clusters_frame, slices_frame

        splits = list(result.search.slices[0].by_split) if result.search.slices else []
        blocks = [
            findings_block(self.findings(result)),
            table_block(
                slices_frame(result.search, splits=splits[:4]),
                caption=f"Weak slices of {result.search.split}: conjunctions of up to "
                f"{result.search.max_predicates} metadata values, ranked by SliceLine's score "
                "(error excess against size); p-values adjusted (Benjamini-Hochberg) over the "
                f"{result.search.n_tested} slices tested.",
            ),
        ]
        if result.clusters is not None:
            blocks.append(
                table_block(clusters_frame(result.clusters), caption="Embedding clusters.")
            )
        elif result.clusters_note:
            blocks.append(paragraph(result.clusters_note, css="caption"))
        return "".join(blocks)

    sys.stderr.flush()
