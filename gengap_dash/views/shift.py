"""Feature space and shift: the ``shift`` view (did each shifted and deployment split move away
from the reference, where to, and how sure are we) and the ``embed`` view (the 2-D map of the
embeddings of every split, ``gengap embed``).

:func:`split_arrays` is how every feature-space view reads the workspace.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gengap_dash.analysis.embedding_map import (
    DEFAULT_FIT_SAMPLES,
    DEFAULT_MIN_DIST,
    DEFAULT_NEIGHBORS,
    EmbeddingMap,
    fit_map,
    map_separation,
    place_by_neighbours,
    use_numba_cache,
    warm_up,
)
from gengap_dash.analysis.shift import ShiftReport, SplitArrays, compute_shift
from gengap_dash.analysis.shift.clusters import DEFAULT_CLUSTERS
from gengap_dash.findings.model import Finding
from gengap_dash.project.defaults import DEFAULT_RESAMPLES, DEFAULT_SEED
from gengap_dash.project.errors import ProjectError
from gengap_dash.stats.two_sample import DEFAULT_PERMUTATIONS, MMD_MAX_SAMPLES
from gengap_dash.views._engine import add_engine_arguments, wants_ray
from gengap_dash.views.registry import View, register
from gengap_dash.views.report_html import figure_block, findings_block, table_block

REFERENCE_ROLES = ("test", "validation")


def split_arrays(workspace, *, with_embeddings: bool = True) -> list[SplitArrays]:
    """Every split of ``workspace`` as :class:`SplitArrays`, in project order."""
    arrays = []
    time_column = workspace.spec.time_column
    for name in workspace.split_names:
        frame = workspace.split_predictions(name)
        arrays.append(
            SplitArrays(
                name=name,
                role=workspace.split_roles[name],
                probs=workspace.probs(name),
                logits=np.asarray(workspace.logits(name), dtype=np.float64),
                labels=workspace.labels(name) if workspace.is_labelled(name) else None,
                embeddings=workspace.embeddings(name) if with_embeddings else None,
                # a string array (Arrow-backed), not 10M Python str objects in a numpy array
                sample_ids=frame["sample_id"].astype(str).array,
                times=frame[time_column].to_numpy()
                if time_column and time_column in frame
                else None,
            )
        )
    return arrays


def default_reference(workspace) -> str:
    """The first test split, else the first validation split, else the first non-train one."""
    roles = workspace.split_roles
    for role in REFERENCE_ROLES:
        for name, split_role in roles.items():
            if split_role == role:
                return name
    return next((n for n, r in roles.items() if r != "train"), workspace.split_names[0])


def resolve_reference(workspace, reference: str) -> str:
    """``reference``, or the default when empty.

    Raises:
        ProjectError: for a split the project does not have.
    """
    if not reference:
        return default_reference(workspace)
    if reference not in workspace.split_names:
        raise ProjectError(
            f"--reference is {reference!r}; expected one of the project's splits: "
            f"{', '.join(workspace.split_names)}."
        )
    return reference


def add_reference_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--reference",
        default="",
        help="the in-distribution split to compare with (default: test, else validation)",
    )


@dataclass(frozen=True)
class ShiftOptions:
    """``reference`` ("" = test, else validation); MMD permutations and per-side subsample;
    k-means clusters; bootstrap replicates of the label-shift intervals; seed."""

    reference: str = ""
    n_permutations: int = DEFAULT_PERMUTATIONS
    max_samples: int = MMD_MAX_SAMPLES
    n_clusters: int = DEFAULT_CLUSTERS
    n_resamples: int = DEFAULT_RESAMPLES
    seed: int = DEFAULT_SEED


def _positive(arguments: argparse.Namespace, name: str, flag: str) -> int:
    value = getattr(arguments, name)
    if value < 1:
        raise ProjectError(f"{flag} is {value}; expected a positive integer.")
    return int(value)


@register
class ShiftView(View):
    name = "shift"
    title = "Distribution shift"
    question = (
        "Did each shifted and deployment split move away from the reference in the model's "
        "feature space, where to, and how sure are we?"
    )
    page = "pages/feature_space.py"
    order = 40
    Options = ShiftOptions

    def canonical_options(self, workspace, options):
        if options.reference:
            return options
        return dataclasses.replace(options, reference=default_reference(workspace))

    def compute(self, workspace, options: ShiftOptions) -> ShiftReport:
        return compute_shift(
            split_arrays(workspace),
            reference=resolve_reference(workspace, options.reference),
            class_names=workspace.class_names,
            n_permutations=options.n_permutations,
            max_samples=options.max_samples,
            n_clusters=options.n_clusters,
            n_resamples=options.n_resamples,
            seed=options.seed,
        )

    def findings(self, result: ShiftReport) -> list[Finding]:
        from gengap_dash.analysis.shift.findings import shift_findings

        return shift_findings(result)

    def to_json(self, result: ShiftReport) -> dict[str, Any]:
        from gengap_dash.store.json_values import json_safe

        return json_safe(result.to_dict())  # NaN (no labels: cluster error rates) -> null

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        add_reference_argument(parser)
        parser.add_argument(
            "--permutations", type=int, default=DEFAULT_PERMUTATIONS, help="MMD permutations"
        )
        parser.add_argument(
            "--max-samples",
            type=int,
            default=MMD_MAX_SAMPLES,
            help="rows per side of the MMD test (a seeded subsample above)",
        )
        parser.add_argument("--clusters", type=int, default=DEFAULT_CLUSTERS, help="k-means k")
        parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed")

    def options_from_arguments(self, arguments: argparse.Namespace) -> ShiftOptions:
        if arguments.clusters < 2:
            raise ProjectError(f"--clusters is {arguments.clusters}; expected at least 2.")
        return ShiftOptions(
            reference=arguments.reference,
            n_permutations=_positive(arguments, "permutations", "--permutations"),
            max_samples=_positive(arguments, "max_samples", "--max-samples"),
            n_clusters=int(arguments.clusters),
            seed=int(arguments.seed),
        )

    def report_section(self, result: ShiftReport) -> str:
        from gengap_dash.findings.render import render
        from gengap_dash.findings.shift import shift_table
        from gengap_dash.plots.feature_space import cluster_share_figure, domain_auc_figure

        findings = self.findings(result)
        blocks = [findings_block(findings)]
        verdicts = [f for f in findings if f.kind == "shift.split"]
        if verdicts:
            worst = max(verdicts, key=lambda f: f.value or 0.0)
            blocks.append(
                figure_block(
                    domain_auc_figure(result),
                    takeaway=render(worst),
                    shows=DOMAIN_AUC_SHOWS,
                )
            )
            clusters = [f for f in findings if f.kind == "shift.cluster"]
            split = clusters[0].split if clusters else worst.split
            blocks.append(
                figure_block(
                    cluster_share_figure(result, split),
                    takeaway=render(clusters[0]) if clusters else CLUSTERS_NO_GROWTH,
                    shows=CLUSTER_SHOWS,
                )
            )
        blocks.append(table_block(shift_table(result)))
        return "".join(blocks)


DOMAIN_AUC_SHOWS = (
    "For each shifted and deployment split: how well a logistic regression on the embeddings "
    "tells it from the reference (held-out AUC with its 95% interval). 0.5 (dashed) means the "
    "two cannot be told apart."
)
CLUSTER_SHOWS = (
    "k-means clusters of the embedding space: the share of the reference (grey) and of the split "
    "in each cluster; the label gives the split's error rate there."
)
CLUSTERS_NO_GROWTH = "No cluster grows by 10 points or more from the reference to this split."


@dataclass(frozen=True)
class EmbedOptions:
    """The map's method and parameters (docs/feature-space.md, "The map"); ``reference`` only
    names the split the map's finding measures separation from ("" = test, else validation):
    the page passes "" and measures from its own reference, so one cached map serves all."""

    method: str = "umap"
    fit_samples: int = DEFAULT_FIT_SAMPLES
    n_neighbors: int = DEFAULT_NEIGHBORS
    min_dist: float = DEFAULT_MIN_DIST
    seed: int = DEFAULT_SEED
    reference: str = ""


RAY_PLACEMENT_ROWS = 50_000
"""Points each Ray task places (``ray_placer``)."""


def ray_placer(address: str | None = None, *, chunk_rows: int = RAY_PLACEMENT_ROWS):
    """A placer for :func:`fit_map` that places the points beyond the fitted sample on Ray, in
    tasks of ``chunk_rows`` points (``gengap embed --engine ray``, ``gengap precompute --engine
    ray --views embed``); the fitted sample and its coordinates go to the object store once."""
    from gengap_dash.engine.distributed import map_chunks_on_ray

    def place(fitted_points, fitted_coordinates, points, n_neighbors: int) -> np.ndarray:
        return map_chunks_on_ray(
            _place_chunk, (fitted_points, fitted_coordinates, n_neighbors), points,
            chunk_rows=chunk_rows, address=address,
        )  # fmt: skip

    return place


def _place_chunk(fitted_points, fitted_coordinates, n_neighbors: int, chunk) -> np.ndarray:
    return place_by_neighbours(fitted_points, fitted_coordinates, chunk, n_neighbors=n_neighbors)


def embedding_map(workspace, options: EmbedOptions, *, progress=None, placer=None) -> EmbeddingMap:
    """The map of ``workspace``'s embeddings (computed; see :func:`registry.compute` for the
    cached one). The lead's ``gengap precompute`` can call
    ``registry.compute(get_view("embed"), workspace)``.

    Raises:
        ProjectError: the project has no embeddings.
    """
    embeddings = {name: workspace.embeddings(name) for name in workspace.split_names}
    if any(value is None for value in embeddings.values()):
        raise ProjectError(EmbedView.NO_EMBEDDINGS)
    if options.method == "umap":
        use_numba_cache(numba_cache_dir(workspace))
    return fit_map(
        embeddings,
        method=options.method,
        fit_samples=options.fit_samples,
        n_neighbors=options.n_neighbors,
        min_dist=options.min_dist,
        seed=options.seed,
        reference=resolve_reference(workspace, options.reference),
        progress=progress,
        placer=placer,
    )


def numba_cache_dir(workspace=None) -> Path:
    """Where numba keeps UMAP's compiled functions: ``numba`` under the gengap cache folder
    (the workspace's, else ``$GENGAP_CACHE_DIR``/``~/.cache/gengap``)."""
    from gengap_dash.store.cache import default_cache_dir

    root = getattr(getattr(workspace, "cache", None), "root", None)
    return Path(root or default_cache_dir()) / "numba"


_WARM = {"thread": None}
_WARM_LOCK = threading.Lock()


def warm_umap_in_background(workspace=None) -> threading.Thread:
    """Compile UMAP's numba functions in a daemon thread, once per process (later calls
    return the same thread), with numba's disk cache under :func:`numba_cache_dir`; the page
    calls this while it shows the PCA map, so the UMAP button does not wait for compilation."""
    with _WARM_LOCK:
        thread = _WARM["thread"]
        if thread is None:
            use_numba_cache(numba_cache_dir(workspace))
            thread = threading.Thread(target=_warm_quietly, name="gengap-umap-warm-up",
                                      daemon=True)  # fmt: skip
            _WARM["thread"] = thread
            thread.start()
        return thread


def _warm_quietly() -> None:
    with contextlib.suppress(Exception):  # a failed warm-up only means compiling later
        warm_up()


@register
class EmbedView(View):
    name = "embed"
    title = "Feature-space map"
    question = "Where does each split land in the model's feature space?"
    needs = frozenset({"predictions", "embeddings"})
    page = "pages/feature_space.py"
    order = 45
    version = 3  # 3: init="pca", the rest placed by neighbours (no transform)
    slow = True
    Options = EmbedOptions
    NO_EMBEDDINGS = (
        "The map needs embeddings: this project has none (set `model.embedding_layer`, or bring "
        "`embedding` columns with the predictions)."
    )

    def unavailable(self, workspace) -> str | None:
        reason = super().unavailable(workspace)
        if reason:
            return reason
        if not workspace.has_embeddings():  # brought predictions: read from the columns
            return self.NO_EMBEDDINGS
        return None

    placer = None
    """Where the points beyond the fitted sample are placed: None here, else
    :func:`ray_placer` (set by ``--engine ray``; the map is the same, so it is no option)."""

    def use_ray(self, address: str | None = None) -> None:
        """Place the points beyond the fitted sample on Ray from now on in this process."""
        self.placer = ray_placer(address)

    def compute(self, workspace, options: EmbedOptions) -> EmbeddingMap:
        return embedding_map(workspace, options, placer=self.placer)

    def findings(self, result: EmbeddingMap) -> list[Finding]:
        from gengap_dash.analysis.shift.findings import map_findings

        return map_findings(result)

    def to_json(self, result: EmbeddingMap) -> dict[str, Any]:
        return {
            "method": result.method,
            "parameters": dict(result.parameters),
            "n_points": int(result.coordinates.shape[0]),
            "splits": list(result.splits),
            "reference": result.reference,
            "separation": map_separation(result),
        }

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--method", choices=("umap", "pca"), default="umap")
        parser.add_argument(
            "--fit-samples",
            type=int,
            default=DEFAULT_FIT_SAMPLES,
            help="points UMAP is fitted on (stratified by split; the rest are placed)",
        )
        parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed")
        add_reference_argument(parser)
        add_engine_arguments(parser, work="the points beyond the fitted sample are placed")

    def options_from_arguments(self, arguments: argparse.Namespace) -> EmbedOptions:
        if wants_ray(arguments):
            self.use_ray(arguments.address)
        return EmbedOptions(
            method=arguments.method,
            fit_samples=_positive(arguments, "fit_samples", "--fit-samples"),
            seed=int(arguments.seed),
            reference=arguments.reference,
        )

    def report_section(self, result: EmbeddingMap) -> str:
        from gengap_dash.findings.render import render
        from gengap_dash.plots.feature_space import map_figure

        findings = self.findings(result)
        figure = map_figure(result, max_points=10_000)
        return findings_block(findings) + figure_block(
            figure,
            takeaway=render(findings[0]) if findings else "",
            shows=map_shows(result),
        )


MAP_SHOWS = (
    "Every sample's embedding placed in 2-D (UMAP fitted on a stratified sample, the rest placed "
    "among their nearest fitted neighbours), coloured by split. Nearby points look alike to the "
    "model; distances between far clusters are not to scale."
)
PCA_MAP_SHOWS = (
    "Every sample's embedding projected on its two main directions of variation (PCA), coloured "
    "by split. A linear view: splits that overlap here may still separate on the UMAP map."
)


def map_shows(embedding_map: EmbeddingMap) -> str:
    return MAP_SHOWS if embedding_map.method == "umap" else PCA_MAP_SHOWS
