"""The saliency view: what does the model look at, and does that change under shift?

``compute`` answers the shift question (:class:`~gengap_dash.analysis.attribution.SaliencyShift`):
paired shifted/clean maps against a noise floor, class-average maps where splits are not paired,
the randomization test, deletion curves and, for tabular projects, feature rankings. With
``Options.samples`` it returns the maps of chosen samples instead
(:class:`~gengap_dash.analysis.attribution.SampleMaps`), which ``gengap saliency --samples ...
--out FILE.npz`` writes.

Attributions are computed by :mod:`gengap_dash.engine.attribution` and cached on disk in the
workspace's array cache, keyed by the split's model outputs key (model weights, data and
preprocessing), the method and its parameters, and the sample ids and targets.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gengap_dash.analysis.attribution import (
    ExampleMaps,
    NoiseFloor,
    SaliencyShift,
    SampleMaps,
    class_average_maps,
    deletion_auc,
    deletion_orders,
    image_maps,
    random_orders,
    rank_correlation,
    top_k_overlap,
)
from gengap_dash.analysis.attribution.findings import METHOD_NAMES, saliency_findings
from gengap_dash.analysis.attribution.results import Deletion
from gengap_dash.analysis.attribution.sanity import randomization_check
from gengap_dash.analysis.attribution.statistics import (
    average_map_distance,
    compare_pairs,
    mean_estimate,
    paired_difference,
)
from gengap_dash.analysis.attribution.tabular import feature_importance, feature_shift
from gengap_dash.findings.model import Finding
from gengap_dash.project.errors import ProjectError
from gengap_dash.store.keys import hash_key
from gengap_dash.views._engine import add_engine_arguments, wants_ray
from gengap_dash.views.registry import View, register
from gengap_dash.views.report_html import figure_block, findings_block, paragraph, table_block

ATTRIBUTION_VERSION = 2
"""2: SmoothGrad's noise is drawn per batch from the seed and the batch's position in the set."""
NOISE_FLOOR_LEVEL = 0.01
"""The noise floor compares each clean map with the map of the same image plus Gaussian noise of
this standard deviation (a fraction of the input's range) and another random seed: two "clean
runs" that a person could not tell apart."""
DELETION_STEPS = 11
Progress = Callable[[str, float], None]
"""Called with (what is being computed, fraction done of the whole) while computing."""


@dataclass(frozen=True)
class SaliencyOptions:
    """Options of the saliency view (defaults: the page's and the CLI's).

    Attributes:
        methods: the methods to run (empty: every method that fits the inputs).
        n_samples: samples (or pairs) per split.
        top_k: the fraction of pixels in a map's top-k set.
        target: explain the ``"predicted"`` class or the ``"label"``.
        baseline: Integrated Gradients' baseline for images (black, blurred, training_mean).
        n_steps: Integrated Gradients' steps.
        sanity_samples, deletion_samples: samples in the randomization test and deletion curves.
        group_by: a metadata column to break paired comparisons down by (default: ``severity``
            when the project has it).
        seed: seed of the sample choice, SmoothGrad's noise and the bootstrap.
        split, samples, method: set ``samples`` to get the maps of those ids of ``split`` by
            ``method`` instead of the shift analysis.
    """

    methods: tuple[str, ...] = ()
    n_samples: int = 48
    top_k: float = 0.2
    target: str = "predicted"
    baseline: str = "black"
    n_steps: int = 50
    sanity_samples: int = 16
    deletion_samples: int = 24
    group_by: str | None = None
    seed: int = 0
    split: str = ""
    samples: tuple[str, ...] = ()
    method: str = "saliency"

    def __post_init__(self) -> None:
        for name in ("n_samples", "n_steps", "sanity_samples", "deletion_samples"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ProjectError(
                    f"Expected `{name}` to be a positive integer, but got {value!r}."
                )
        if not (0 < self.top_k <= 1):
            raise ProjectError(
                f"Expected `top_k` to be a fraction in (0, 1], but got {self.top_k!r}."
            )
        if self.target not in ("predicted", "label"):
            raise ProjectError(
                f"Expected `target` to be 'predicted' or 'label', but got {self.target!r}."
            )


# -- inputs and maps -----------------------------------------------------------------------------


def _engine():
    from gengap_dash.engine import attribution

    return attribution


def is_tabular(workspace) -> bool:
    return workspace.spec.inputs is not None and workspace.spec.inputs.kind == "tabular"


def available_methods(workspace) -> tuple[str, ...]:
    """The methods that fit the project's inputs (Grad-CAM only where it finds a layer)."""
    engine = _engine()
    if is_tabular(workspace):
        return engine.TABULAR_METHODS
    return engine.IMAGE_METHODS


def check_model(workspace) -> None:
    """Raises ProjectError with the reason attributions cannot run (brought predictions)."""
    if not workspace.has_model:
        raise ProjectError(
            "Attributions need the model itself: this project brings its predictions "
            "(a predictions file), so there is no model to take gradients of. Give the model "
            "(model.factory + weights, or model.torchscript) to see saliency maps."
        )


def split_inputs(workspace, split: str, rows: Sequence[int], *, table: Any = None) -> Any:
    """The model inputs of ``rows`` (positions) of ``split``, exactly as the inference engine
    builds them: ``(n, C, H, W)`` or ``(n, F)`` float tensor (``table``: the split's table, when
    the caller has read it already)."""
    from gengap_dash.data.samples import model_inputs
    from gengap_dash.data.tables import read_table

    spec = workspace.spec
    if table is None:
        table = read_table(spec.split(split).path)
    return model_inputs(spec, split, rows, table=table, features=default_features(workspace))


def default_features(workspace) -> list[str] | None:
    """The tabular feature columns when the project does not list them (else None)."""
    from gengap_dash.data.tables import resolve_default_features

    spec = workspace.spec
    if spec.inputs is not None and spec.inputs.kind == "tabular" and spec.inputs.features is None:
        return list(resolve_default_features(spec).columns)
    return None


def training_mean(workspace) -> Any:
    """The mean model input of the first training split (up to 1,000 rows), or None."""
    train = next((s for s in workspace.spec.splits if s.role == "train"), None)
    if train is None:
        return None
    n = len(workspace.split_predictions(train.name))
    return split_inputs(workspace, train.name, range(min(n, 1000))).mean(dim=0)


def _targets(workspace, split: str, rows: Sequence[int], target: str) -> np.ndarray:
    frame = workspace.split_predictions(split)
    column = "pred" if target == "predicted" else "label"
    if column == "label" and not workspace.is_labelled(split):
        raise ProjectError(
            f"Split {split!r} has no labels (on every row), so its maps cannot explain the "
            "label; explain the predicted class instead (--target predicted)."
        )
    return frame[column].to_numpy(np.int64)[np.asarray(rows, dtype=np.int64)]


def _settings(method: str, options: SaliencyOptions, *, seed: int | None = None):
    return _engine().AttributionSettings(
        method=method,
        n_steps=options.n_steps,
        baseline=options.baseline,  # type: ignore[arg-type]
        seed=options.seed if seed is None else seed,
    )


class _Maps:
    """Computes and caches the maps of one workspace (model, inputs and baseline built once)."""

    def __init__(self, workspace, options: SaliencyOptions, remote: Any = None) -> None:
        check_model(workspace)
        self.workspace = workspace
        self.options = options
        self.remote = remote
        """A :class:`~gengap_dash.engine.ray_attribution.RayAttributor`: the plain maps run
        there (the same maps, under the same keys)."""
        self.model = workspace.model()
        self._mean = None
        self._mean_done = False
        self.hits = 0
        self.misses = 0
        self._tables: dict[str, Any] = {}

    def inputs(self, split: str, rows: Sequence[int]) -> Any:
        """The model inputs of ``rows`` of ``split`` (each table is read once)."""
        from gengap_dash.data.tables import read_table

        if split not in self._tables:
            self._tables[split] = read_table(self.workspace.spec.split(split).path)
        return split_inputs(self.workspace, split, rows, table=self._tables[split])

    @property
    def mean(self):
        if not self._mean_done:
            self._mean, self._mean_done = training_mean(self.workspace), True
        return self._mean

    def key(self, split: str, settings, rows: Sequence[int], targets, variant: str) -> str:
        frame = self.workspace.split_predictions(split)
        ids = frame["sample_id"].astype(str).to_numpy()[np.asarray(rows, dtype=np.int64)]
        spec = self.workspace.spec
        return hash_key(
            {
                "kind": "attribution",
                "version": ATTRIBUTION_VERSION,
                "outputs": self.workspace.cache_key(split),
                "settings": dataclasses.asdict(settings),
                "gradcam_layer": spec.model.gradcam_layer if spec.model else None,
                "samples": ids.tolist(),
                "targets": [int(t) for t in targets],
                "variant": variant,
            }
        )

    def maps(
        self,
        split: str,
        rows: Sequence[int],
        method: str,
        *,
        targets: np.ndarray | None = None,
        variant: str = "",
        seed: int | None = None,
        model=None,
        inputs=None,
    ) -> np.ndarray:
        """``(n, ...)`` maps of ``rows`` of ``split``; ``variant`` names inputs or models that
        differ from the plain ones (noise floor, randomized layers)."""
        engine = _engine()
        rows = list(rows)
        settings = _settings(method, self.options, seed=seed)
        if targets is None:
            targets = _targets(self.workspace, split, rows, self.options.target)
        key = self.key(split, settings, rows, targets, variant)

        def compute() -> dict[str, np.ndarray]:
            needs_mean = method in ("integrated_gradients", "feature_ablation") and (
                is_tabular(self.workspace) or settings.baseline == "training_mean"
            )
            if self.remote is not None and model is None and inputs is None:
                mean = self.mean if needs_mean else None
                maps = self.remote.maps(
                    split,
                    rows,
                    targets,
                    settings,
                    training_mean=None if mean is None else mean.numpy(),
                )
                return {"maps": maps}
            x = inputs if inputs is not None else self.inputs(split, rows)
            maps = engine.attribute(
                model if model is not None else self.model,
                x,
                targets,
                settings=settings,
                inference=self.workspace.spec.inference,
                training_mean=self.mean if needs_mean else None,
                gradcam_layer=self.workspace.spec.model.gradcam_layer,
                where=split,
            )
            return {"maps": maps}

        arrays, hit = engine.cached_maps(
            self.workspace.cache,
            key,
            compute,
            info={"kind": "attribution", "split": split, "method": method, "variant": variant},
            n_rows=len(rows),
        )
        self.hits += int(hit)
        self.misses += int(not hit)
        return arrays["maps"]


def gradcam_note(workspace) -> str:
    """Which layer Grad-CAM reads and why (raises ProjectError when there is none)."""
    engine = _engine()
    return engine.find_gradcam_layer(workspace.model(), workspace.spec.model.gradcam_layer).note


def _methods(workspace, options: SaliencyOptions) -> tuple[tuple[str, ...], list[str]]:
    available = available_methods(workspace)
    chosen = options.methods or available
    unknown = [m for m in chosen if m not in available]
    if unknown:
        raise ProjectError(
            f"Attribution method {unknown[0]!r} does not fit this project's inputs; expected one "
            f"of {', '.join(available)}."
        )
    notes = []
    if "gradcam" in chosen:
        try:
            notes.append(gradcam_note(workspace))
        except ProjectError as error:
            if options.methods or workspace.spec.model.gradcam_layer:
                raise
            chosen = tuple(m for m in chosen if m != "gradcam")
            notes.append(f"Grad-CAM left out: {error}")
    return tuple(chosen), notes


# -- one sample, every method ---------------------------------------------------------------------


def read_sample_ids(path: Path) -> list[str]:
    """The sample ids in ``path``: a CSV file's ``sample_id`` column (the review queue's
    download), or one id per line.

    Raises:
        ProjectError: the file is missing or unreadable, a CSV has no ``sample_id`` column, or
            there is no id.
    """
    import csv

    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or "not UTF-8 text"
        raise ProjectError(f"--samples-file {path}: cannot be read ({reason}).") from None
    lines = [line for line in text.splitlines() if line.strip()]
    if lines and path.suffix.lower() == ".csv":
        rows = list(csv.reader(lines))
        header = [name.strip() for name in rows[0]]
        if "sample_id" not in header:
            raise ProjectError(
                f"--samples-file {path}: expected a sample_id column, but the header is "
                f"{', '.join(header[:6])}."
            )
        column = header.index("sample_id")
        ids = [row[column].strip() for row in rows[1:] if len(row) > column]
    else:
        ids = [line.strip() for line in lines]
    ids = [sample_id for sample_id in ids if sample_id]
    if not ids:
        raise ProjectError(f"--samples-file {path}: expected sample ids, but it holds none.")
    return ids


def rows_of(workspace, split: str, sample_ids: Sequence[str]) -> list[int]:
    """Positions of ``sample_ids`` in ``split``.

    Raises:
        ProjectError: an id that the split does not have.
    """
    frame = workspace.split_predictions(split)
    position = {sid: i for i, sid in enumerate(frame["sample_id"].astype(str))}
    missing = [str(s) for s in sample_ids if str(s) not in position]
    if missing:
        example = ", ".join(list(position)[:3])
        raise ProjectError(
            f"Sample id {missing[0]!r} is not in split {split!r} ({len(missing)} of "
            f"{len(sample_ids)} ids not found); its ids look like {example}."
        )
    if not sample_ids:
        raise ProjectError("Expected at least one sample id, but got none.")
    return [position[str(s)] for s in sample_ids]


def sample_maps(
    workspace,
    split: str,
    sample_ids: Sequence[str],
    method: str,
    options: SaliencyOptions | None = None,
    *,
    remote: Any = None,
) -> SampleMaps:
    """The maps of ``sample_ids`` of ``split`` by ``method`` (cached on disk; ``remote``: a
    :class:`~gengap_dash.engine.ray_attribution.RayAttributor` to compute them on).

    Raises:
        ProjectError: a brought-predictions project, an unknown split, method or sample id, a
            model without gradients, or a Grad-CAM layer that does not exist.
    """
    options = options or SaliencyOptions()
    check_model(workspace)
    workspace.spec.split(split)
    if method not in available_methods(workspace):
        raise ProjectError(
            f"Attribution method {method!r} does not fit this project's inputs; expected one of "
            f"{', '.join(available_methods(workspace))}."
        )
    rows = rows_of(workspace, split, sample_ids)
    maker = _Maps(workspace, options, remote)
    maps = maker.maps(split, rows, method)
    frame = workspace.split_predictions(split).iloc[rows]
    inputs = maker.inputs(split, rows).numpy()
    targets = _targets(workspace, split, rows, options.target)
    note = gradcam_note(workspace) if method == "gradcam" else ""
    delta = None
    if method == "integrated_gradients":
        delta = _completeness_gap(maker, maps, inputs, targets)
    return SampleMaps(
        split=split,
        method=method,
        signed=_engine().AttributionSettings(method=method).signed,
        sample_ids=tuple(frame["sample_id"].astype(str)),
        maps=maps,
        inputs=inputs,
        labels=frame["label"].to_numpy(np.int64),
        preds=frame["pred"].to_numpy(np.int64),
        confidences=frame["confidence"].to_numpy(np.float64),
        targets=targets,
        note=note,
        convergence_delta=delta,
    )


def _completeness_gap(maker: _Maps, maps: np.ndarray, inputs: np.ndarray, targets) -> np.ndarray:
    """``sum(attributions) - (f(x) - f(baseline))`` per sample (captum's convergence delta)."""
    import torch

    engine = _engine()
    x = torch.from_numpy(np.asarray(inputs, dtype=np.float32))
    settings = _settings("integrated_gradients", maker.options)
    baseline = engine._baseline(x, settings, maker.mean, is_image=not is_tabular(maker.workspace))
    base = baseline if isinstance(baseline, torch.Tensor) else torch.full_like(x, baseline)
    model = maker.model.cpu().eval()
    with torch.inference_mode():
        index = torch.as_tensor(targets)[:, None]
        gap = model(x).gather(1, index)[:, 0] - model(base).gather(1, index)[:, 0]
    total = maps.reshape(len(maps), -1).sum(axis=1)
    return (total - gap.numpy()).astype(np.float64)


def write_npz(result: SampleMaps, path: Path) -> Path:
    """Write ``result`` as ``.npz``: ``maps`` (n, C, H, W) or (n, F), row-aligned with
    ``sample_ids``; ``inputs``, ``labels``, ``preds``, ``confidences``, ``targets``, ``method``,
    ``split``, ``signed`` (and ``convergence_delta`` for Integrated Gradients)."""
    path = Path(path)
    if path.suffix != ".npz":
        raise ProjectError(f"--out is {str(path)!r}; expected a file name ending in .npz.")
    arrays = {
        "maps": result.maps,
        "sample_ids": np.asarray(result.sample_ids, dtype=str),
        "inputs": result.inputs,
        "labels": result.labels,
        "preds": result.preds,
        "confidences": result.confidences,
        "targets": result.targets,
        "method": np.asarray(result.method),
        "split": np.asarray(result.split),
        "signed": np.asarray(result.signed),
    }
    if result.convergence_delta is not None:
        arrays["convergence_delta"] = result.convergence_delta
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp.npz")
    np.savez_compressed(temp, **arrays)
    temp.replace(path)
    return path


# -- does attention move under shift? ------------------------------------------------------------


def reference_split(workspace) -> str:
    """The clean split maps are compared with: the pairing split, else the first test split,
    else the first validation split, else the first split."""
    if workspace.spec.pairs is not None:
        return workspace.spec.pairs.split
    roles = workspace.split_roles
    for role in ("test", "validation"):
        found = next((name for name in workspace.split_names if roles[name] == role), None)
        if found:
            return found
    return workspace.split_names[0]


def compared_splits(workspace, reference: str) -> list[str]:
    """The splits compared with the reference: every split but the reference and training."""
    roles = workspace.split_roles
    return [n for n in workspace.split_names if n != reference and roles[n] != "train"]


def _pair_sources(workspace, split: str) -> np.ndarray | None:
    """The pairing column of ``split`` (as text), or None when the split has none."""
    from gengap_dash.data.tables import read_table, table_columns

    pairs = workspace.spec.pairs
    path = workspace.spec.split(split).path
    if pairs is None or path is None or pairs.column not in table_columns(path):
        return None
    values = read_table(path, columns=[pairs.column])[pairs.column]
    return values.astype("string").fillna("").to_numpy(dtype=str)


def _group_column(workspace, options: SaliencyOptions) -> str | None:
    if options.group_by is not None:
        if options.group_by not in workspace.spec.metadata:
            raise ProjectError(
                f"--group-by is {options.group_by!r}; expected a metadata column "
                f"({', '.join(workspace.spec.metadata) or 'the project has none'})."
            )
        return options.group_by
    return "severity" if "severity" in workspace.spec.metadata else None


def compute_shift(
    workspace,
    options: SaliencyOptions,
    *,
    progress: Progress | None = None,
    remote: Any = None,
) -> SaliencyShift:
    """The shift analysis (see :class:`~gengap_dash.analysis.attribution.SaliencyShift`;
    ``remote``: a :class:`~gengap_dash.engine.ray_attribution.RayAttributor` for its plain
    maps)."""
    import torch

    engine = _engine()
    maker = _Maps(workspace, options, remote)
    methods, notes = _methods(workspace, options)
    reference = reference_split(workspace)
    others = compared_splits(workspace, reference)
    position = {name: i for i, name in enumerate(workspace.split_names)}
    rng = np.random.default_rng([options.seed, 11])
    tabular = is_tabular(workspace)
    ref_frame = workspace.split_predictions(reference)
    n_ref = len(ref_frame)
    ref_rows = np.sort(rng.choice(n_ref, size=min(options.n_samples, n_ref), replace=False))
    group_column = _group_column(workspace, options)
    steps_total = len(methods) * (3 + 2 * len(others))
    step = [0]

    def tick(what: str) -> None:
        step[0] += 1
        if progress is not None:
            progress(what, min(1.0, step[0] / max(1, steps_total)))

    # which rows of each split, and which reference rows they pair with
    chosen: dict[str, np.ndarray] = {}
    partners: dict[str, np.ndarray] = {}
    for split in others:
        frame = workspace.split_predictions(split)
        sources = _pair_sources(workspace, split)
        if sources is not None:
            lookup = {sid: i for i, sid in enumerate(ref_frame["sample_id"].astype(str))}
            matched = np.array([lookup.get(s, -1) for s in sources])
            valid = np.flatnonzero(matched >= 0)
            if valid.size:
                take = np.sort(
                    rng.choice(valid, size=min(options.n_samples, valid.size), replace=False)
                )
                chosen[split], partners[split] = take, matched[take]
                continue
        n = len(frame)
        chosen[split] = np.sort(rng.choice(n, size=min(options.n_samples, n), replace=False))

    pairs, floors, sanity, deletions, averages, features, examples = [], [], [], [], [], [], []
    class_maps: dict[str, np.ndarray] = {}
    n_classes = workspace.n_classes
    fractions = np.linspace(0.0, 1.0, DELETION_STEPS)
    fill = maker.mean if tabular else 0.0
    ref_inputs = maker.inputs(reference, ref_rows)
    ref_labels = ref_frame["label"].to_numpy(np.int64)
    for method in methods:
        name = METHOD_NAMES.get(method, method)
        ref_maps = maker.maps(reference, ref_rows, method)
        tick(f"{name} on {reference}")
        class_maps[f"{reference}|{method}"] = class_average_maps(
            ref_maps, ref_labels[ref_rows], n_classes
        )
        # the noise floor: the same clean images with imperceptible noise and another seed
        generator = torch.Generator().manual_seed(options.seed + 1)
        spread = float(ref_inputs.max() - ref_inputs.min()) or 1.0
        noisy = ref_inputs + NOISE_FLOOR_LEVEL * spread * torch.randn(
            ref_inputs.shape, generator=generator
        )
        floor_maps = maker.maps(
            reference, ref_rows, method, variant="noise-floor", seed=options.seed + 1, inputs=noisy
        )
        floors.append(
            NoiseFloor(
                method=method,
                n_pairs=len(ref_rows),
                rank_correlation=mean_estimate(
                    rank_correlation(ref_maps, floor_maps),
                    seed=options.seed,
                    position=position[reference],
                ),
                topk_overlap=mean_estimate(
                    top_k_overlap(ref_maps, floor_maps, fraction=options.top_k),
                    seed=options.seed,
                    position=position[reference],
                ),
                how=f"each clean map against the map of the same image with Gaussian noise of "
                f"{NOISE_FLOOR_LEVEL:.0%} of the input range and another seed",
            )
        )
        tick(f"{name}: noise floor")
        sanity.append(
            _sanity(
                maker,
                reference,
                ref_rows[: options.sanity_samples],
                method,
                ref_inputs[: options.sanity_samples],
                options,
                position[reference],
            )
        )
        tick(f"{name}: randomization test")
        deletions.append(
            _deletion(
                maker,
                reference,
                ref_rows[: options.deletion_samples],
                ref_maps[: options.deletion_samples],
                method,
                fractions,
                fill,
                options,
                position[reference],
            )
        )
        if tabular:
            ref_importance = feature_importance(ref_maps)
            features.append(
                feature_shift(
                    ref_maps, ref_inputs.numpy(), ref_importance, split=reference, method=method
                )
            )
        for split in others:
            rows = chosen[split]
            maps = maker.maps(split, rows, method)
            tick(f"{name} on {split}")
            by = "label" if workspace.is_labelled(split) else "pred"  # unlabelled: predicted
            labels = workspace.split_predictions(split)[by].to_numpy(np.int64)[rows]
            class_maps[f"{split}|{method}"] = class_average_maps(maps, labels, n_classes)
            if split in partners:
                clean = maker.maps(reference, partners[split], method)
                groups = None
                if group_column is not None:
                    groups = (
                        workspace.split_predictions(split)[group_column]
                        .astype(str)
                        .to_numpy()[rows]
                    )
                pairs.append(
                    compare_pairs(
                        rank_correlation(clean, maps),
                        top_k_overlap(clean, maps, fraction=options.top_k),
                        split=split,
                        method=method,
                        groups=groups,
                        group_column=group_column,
                        seed=options.seed,
                        position=position[split],
                    )
                )
            elif not tabular:
                averages.append(
                    average_map_distance(
                        class_maps[f"{reference}|{method}"],
                        maps,
                        labels,
                        split=split,
                        method=method,
                        seed=options.seed,
                        position=position[split],
                    )
                )
            if tabular:
                values = maker.inputs(split, rows).numpy()
                features.append(
                    feature_shift(maps, values, ref_importance, split=split, method=method)
                )
            deletions.append(
                _deletion(
                    maker,
                    split,
                    rows[: options.deletion_samples],
                    maps[: options.deletion_samples],
                    method,
                    fractions,
                    fill,
                    options,
                    position[split],
                )
            )
            tick(f"{name}: deletion on {split}")
    if not tabular:
        chosen[reference] = ref_rows
        examples = _examples(workspace, maker, methods, reference, others, chosen, partners)
    shape = tuple(int(v) for v in ref_inputs.shape[1:])
    return SaliencyShift(
        kind="tabular" if tabular else "image",
        reference=reference,
        methods=methods,
        signed={m: engine.AttributionSettings(method=m).signed for m in methods},
        top_k=options.top_k,
        target=options.target,
        pair_column=workspace.spec.pairs.column if workspace.spec.pairs else None,
        image_shape=shape,
        pairs=tuple(pairs),
        noise_floor=tuple(floors),
        sanity=tuple(sanity),
        deletion=tuple(deletions),
        average_shift=tuple(averages),
        features=tuple(features),
        feature_names=tuple(_feature_names(workspace, shape)) if tabular else (),
        class_maps=class_maps,
        examples=tuple(examples),
        notes=tuple(notes),
    )


def _feature_names(workspace, shape: tuple[int, ...]) -> list[str]:
    from gengap_dash.data.tables import resolve_default_features

    inputs = workspace.spec.inputs
    if inputs.features is not None:
        return list(inputs.features)
    names = list(resolve_default_features(workspace.spec).columns)
    return names if len(names) == shape[0] else [f"feature {k}" for k in range(shape[0])]


def _sanity(maker: _Maps, split, rows, method, inputs, options, position):
    engine = _engine()
    layers = engine.parametric_layers(maker.model)
    steps = engine.cascade_steps(len(layers))
    randomized = []
    for n_top in steps:
        model = engine.randomized_copy(maker.model.cpu(), n_top=n_top, seed=options.seed)
        randomized.append(
            maker.maps(
                split, rows, method, variant=f"randomized-top-{n_top}", model=model, inputs=inputs
            )
        )
    original = maker.maps(split, rows, method, inputs=inputs)
    return randomization_check(
        original,
        randomized,
        method=method,
        steps=steps,
        n_layers=len(layers),
        seed=options.seed,
        position=position,
    )


def _deletion(maker: _Maps, split, rows, maps, method, fractions, fill, options, position):
    engine = _engine()
    inputs = maker.inputs(split, rows)
    targets = _targets(maker.workspace, split, rows, options.target)
    orders = deletion_orders(maps)
    rng = np.random.default_rng([options.seed, position, 7])
    shuffled = random_orders(len(rows), orders.shape[1], rng=rng)
    curves = engine.deletion_confidences(
        maker.model,
        inputs,
        orders,
        targets,
        fractions=fractions,
        inference=maker.workspace.spec.inference,
        fill=fill,
    )
    random = engine.deletion_confidences(
        maker.model,
        inputs,
        shuffled,
        targets,
        fractions=fractions,
        inference=maker.workspace.spec.inference,
        fill=fill,
    )
    auc, random_auc = deletion_auc(curves, fractions), deletion_auc(random, fractions)
    return Deletion(
        split=split,
        method=method,
        n_samples=len(rows),
        fractions=fractions,
        mean_curve=curves.mean(axis=0),
        random_curve=random.mean(axis=0),
        auc=mean_estimate(auc, seed=options.seed, position=position),
        random_auc=mean_estimate(random_auc, seed=options.seed, position=position),
        auc_gap=paired_difference(auc, random_auc, seed=options.seed, position=position),
    )


def _examples(workspace, maker, methods, reference, others, chosen, partners, n: int = 4):
    method = "gradcam" if "gradcam" in methods else methods[0]
    examples = []
    for split in [reference, *others]:
        rows = chosen.get(split)
        if rows is None:
            rows = np.arange(min(n, len(workspace.split_predictions(split))))
        rows = rows[:n]
        frame = workspace.split_predictions(split).iloc[rows]
        maps = image_maps(maker.maps(split, rows, method))
        images = image_maps(maker.inputs(split, rows).numpy())
        paired = None
        paired_ids: tuple[str, ...] = ()
        if split in partners:
            clean_rows = partners[split][:n]
            paired = image_maps(maker.maps(reference, clean_rows, method))
            ref = workspace.split_predictions(reference)
            paired_ids = tuple(ref["sample_id"].astype(str).to_numpy()[clean_rows])
        examples.append(
            ExampleMaps(
                split=split,
                method=method,
                sample_ids=tuple(frame["sample_id"].astype(str)),
                labels=tuple(int(v) for v in frame["label"]),
                preds=tuple(int(v) for v in frame["pred"]),
                confidences=tuple(float(v) for v in frame["confidence"]),
                images=images,
                maps=maps,
                paired_maps=paired,
                paired_ids=paired_ids,
            )
        )
    return examples


# -- tables --------------------------------------------------------------------------------------


def shift_rows(result: SaliencyShift) -> list[dict[str, Any]]:
    """One row per compared split and method: the ``--shift --json`` table."""
    rows = []
    methods = result.methods
    splits = list(dict.fromkeys([d.split for d in result.deletion]))
    for split in splits:
        for method in methods:
            pair = next((p for p in result.pairs if p.split == split and p.method == method), None)
            average = next(
                (a for a in result.average_shift if a.split == split and a.method == method), None
            )
            floor = result.floor(method)
            check = result.sanity_of(method)
            deletion = result.deletion_of(split, method)
            rows.append(
                {
                    "split": split,
                    "method": method,
                    "paired": pair is not None,
                    "n_pairs": pair.n_pairs if pair else 0,
                    "rank_correlation": pair.rank_correlation.to_dict() if pair else None,
                    "topk_overlap": pair.topk_overlap.to_dict() if pair else None,
                    "by_group": {
                        g.group: {
                            "n_pairs": g.n_pairs,
                            "rank_correlation": g.rank_correlation.to_dict(),
                            "topk_overlap": g.topk_overlap.to_dict(),
                        }
                        for g in (pair.groups if pair else ())
                    },
                    "average_map_distance": average.distance.to_dict() if average else None,
                    "noise_floor": {
                        "rank_correlation": floor.rank_correlation.to_dict(),
                        "topk_overlap": floor.topk_overlap.to_dict(),
                    }
                    if floor
                    else None,
                    "sanity_similarity": check.final.to_dict() if check else None,
                    "deletion_auc": deletion.auc.to_dict() if deletion else None,
                    "random_deletion_auc": deletion.random_auc.to_dict() if deletion else None,
                }
            )
    return rows


def shift_table(result: SaliencyShift) -> Any:
    """The shift table for people (page and report): one row per split and method."""
    import pandas as pd

    from gengap_dash.findings.words import interval, number, percent

    records = []
    for row in shift_rows(result):
        floor = row["noise_floor"] or {}
        overlap = row["topk_overlap"]
        correlation = row["rank_correlation"]
        distance = row["average_map_distance"]
        deletion = row["deletion_auc"]
        records.append(
            {
                "Split": row["split"],
                "Method": METHOD_NAMES.get(row["method"], row["method"]),
                f"Top-{round(100 * result.top_k)}% overlap": (
                    f"{percent(overlap['value'], digits=0)} "
                    f"{interval(overlap['low'], overlap['high'], unit='percent', digits=0)}"
                    if overlap
                    else ""
                ),
                "Clean runs": percent(floor.get("topk_overlap", {}).get("value"), digits=0)
                if floor
                else "",
                "Rank corr.": (
                    f"{number(correlation['value'], digits=2)} "
                    f"{interval(correlation['low'], correlation['high'], digits=2)}"
                    if correlation
                    else ""
                ),
                "Avg-map distance": number(distance["value"], digits=2) if distance else "",
                "Deletion AUC": (
                    f"{number(deletion['value'], digits=2)} vs "
                    f"{number(row['random_deletion_auc']['value'], digits=2)} random"
                    if deletion
                    else ""
                ),
            }
        )
    return pd.DataFrame(records)


# -- the view ------------------------------------------------------------------------------------


@register
class SaliencyView(View):
    name = "saliency"
    title = "Saliency"
    question = (
        "What does the model look at, does that change under shift, and can the maps be trusted?"
    )
    needs = frozenset({"model"})
    page = "pages/saliency.py"
    version = 3
    order = 60
    slow = True
    Options = SaliencyOptions

    def __init__(self) -> None:
        self._out: Path | None = None
        self._ray: dict[str, Any] | None = None
        self._attributor: Any = None

    def use_ray(self, address: str | None = None, workers: int | None = None) -> None:
        """Compute the plain maps on an actor pool on Ray from now on in this process (the
        same maps under the same keys, so it is no option of the result)."""
        self._ray = {"address": address, "workers": workers}
        self._attributor = None

    def _remote(self, workspace) -> Any:
        if self._ray is None:
            return None
        if self._attributor is None or self._attributor.spec is not workspace.spec:
            from gengap_dash.engine.ray_attribution import RayAttributor

            features = default_features(workspace)
            self._attributor = RayAttributor(workspace.spec, features=features, **self._ray)
        return self._attributor

    def unavailable(self, workspace) -> str | None:
        if not workspace.has_model:
            return (
                "Saliency needs the model itself: this project brings its predictions, so there "
                "is no model to take gradients of."
            )
        return super().unavailable(workspace)

    def compute(self, workspace, options: SaliencyOptions) -> SaliencyShift | SampleMaps:
        remote = self._remote(workspace)
        if options.samples:
            return sample_maps(
                workspace, options.split, options.samples, options.method, options, remote=remote
            )
        return compute_shift(workspace, options, remote=remote)

    def findings(self, result) -> list[Finding]:
        if isinstance(result, SampleMaps):
            return []
        return saliency_findings(result)

    def headline(self, result) -> list[Finding]:
        if isinstance(result, SampleMaps):
            return []
        from gengap_dash.analysis.attribution.findings import saliency_headline

        return saliency_headline(result)

    def to_json(self, result) -> dict[str, Any]:
        if isinstance(result, SampleMaps):
            return self._export(result)
        return {
            "reference": result.reference,
            "methods": list(result.methods),
            "signed": dict(result.signed),
            "top_k": result.top_k,
            "target": result.target,
            "pair_column": result.pair_column,
            "notes": list(result.notes),
            "splits": shift_rows(result),
            "features": [
                {
                    "split": f.split,
                    "method": f.method,
                    "ranking_correlation": f.ranking_correlation,
                    "importance": dict(
                        zip(result.feature_names, map(float, f.importance), strict=True)
                    ),
                }
                for f in result.features
            ],
        }

    def to_text(self, result) -> str:
        if isinstance(result, SampleMaps):
            info = self._export(result)
            return (
                f"Wrote {len(result.sample_ids)} {METHOD_NAMES[result.method]} maps of split "
                f"{result.split!r}, shape {tuple(result.maps.shape)}, to {info['out']}."
                + (f"\n{result.note}" if result.note else "")
            )
        table = shift_table(result).to_string(index=False)
        return table + "\n\n" + super().to_text(result)

    def _export(self, result: SampleMaps) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "split": result.split,
            "method": result.method,
            "signed": result.signed,
            "sample_ids": list(result.sample_ids),
            "shape": list(result.maps.shape),
        }
        if self._out is not None:
            payload["out"] = str(write_npz(result, self._out))
        if result.convergence_delta is not None:
            payload["convergence_delta"] = [float(v) for v in result.convergence_delta]
        return payload

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--shift",
            action="store_true",
            help="compare maps between clean and shifted splits (the default)",
        )
        parser.add_argument("--split", default=None, help="split of --samples")
        parser.add_argument("--samples", default=None, help="comma-separated sample ids")
        parser.add_argument(
            "--samples-file",
            type=Path,
            default=None,
            help="a CSV file with a sample_id column (the review queue's download), or a text "
            "file of one id per line: the chosen set, instead of --samples",
        )
        parser.add_argument("--method", default="saliency", help="method for --samples")
        parser.add_argument("--out", type=Path, default=None, help="the .npz file for --samples")
        parser.add_argument(
            "--methods", default=None, help="comma-separated methods for --shift (default: all)"
        )
        parser.add_argument(
            "--n-samples",
            type=int,
            default=SaliencyOptions.n_samples,
            help="samples or pairs per split",
        )
        parser.add_argument("--target", default="predicted", choices=("predicted", "label"))
        parser.add_argument(
            "--baseline", default="black", choices=("black", "blurred", "training_mean")
        )
        parser.add_argument("--seed", type=int, default=0)
        add_engine_arguments(parser, work="the maps are computed", workers=True)

    def options_from_arguments(self, arguments: argparse.Namespace) -> SaliencyOptions:
        self._out = None
        if wants_ray(arguments):
            self.use_ray(arguments.address, arguments.workers)
        ids: tuple[str, ...] | None = None
        if getattr(arguments, "samples_file", None) is not None:
            if arguments.samples is not None:
                raise ProjectError("Give either --samples or --samples-file, not both.")
            ids = tuple(read_sample_ids(arguments.samples_file))
        elif arguments.samples is not None:
            ids = tuple(s.strip() for s in arguments.samples.split(",") if s.strip())
        if ids is not None:
            if arguments.shift:
                raise ProjectError("Give either --shift or --samples, not both.")
            if not arguments.split:
                raise ProjectError("--samples needs --split (the split the ids belong to).")
            if arguments.out is None and not arguments.json:
                raise ProjectError("--samples needs --out FILE.npz (where to write the maps).")
            if arguments.out is not None and Path(arguments.out).suffix != ".npz":
                raise ProjectError(
                    f"--out is {str(arguments.out)!r}; expected a file name ending in .npz."
                )
            if not ids:
                raise ProjectError("--samples is empty; expected comma-separated sample ids.")
            self._out = arguments.out
            return SaliencyOptions(
                split=arguments.split,
                samples=ids,
                method=arguments.method,
                target=arguments.target,
                baseline=arguments.baseline,
                seed=arguments.seed,
            )
        methods = ()
        if arguments.methods:
            methods = tuple(m.strip() for m in arguments.methods.split(",") if m.strip())
        return SaliencyOptions(
            methods=methods,
            n_samples=arguments.n_samples,
            target=arguments.target,
            baseline=arguments.baseline,
            seed=arguments.seed,
        )

    def report_section(self, result) -> str:
        if isinstance(result, SampleMaps):
            return ""
        from gengap_dash.findings.render import render
        from gengap_dash.plots.saliency import example_grid_figure, shift_overlap_figure

        parts = [findings_block(self.findings(result))]
        if result.pairs:
            headline = next(iter(saliency_findings(result)), None)
            parts.append(
                figure_block(
                    shift_overlap_figure(result),
                    takeaway=render(headline) if headline else "",
                    shows="For each shifted split and method: the share of the clean map's "
                    f"top-{round(100 * result.top_k)}% pixels that stay in the shifted map's, "
                    "with its 95% interval; the grey band is the same statistic between two "
                    "clean runs (the noise floor).",
                )
            )
        for example in result.examples:
            parts.append(
                figure_block(
                    example_grid_figure(example),
                    takeaway=f"{METHOD_NAMES.get(example.method, example.method)} maps of "
                    f"{len(example.sample_ids)} samples of {example.split}.",
                    shows="Each sample's input and its map (absolute, brighter = more "
                    "attribution), pixels shown as they are (nearest neighbour).",
                )
            )
        parts.append(table_block(shift_table(result)))
        for note in result.notes:
            parts.append(paragraph(note, css="caption"))
        return "".join(parts)


# -- for the page: cached lookups and computing with progress ------------------------------------


def maps_cached(
    workspace, split: str, sample_ids: Sequence[str], method: str, options: SaliencyOptions
) -> bool:
    """Whether the maps of ``sample_ids`` by ``method`` are in the on-disk cache already."""
    check_model(workspace)
    maker = _Maps(workspace, options)
    rows = rows_of(workspace, split, sample_ids)
    settings = _settings(method, options)
    targets = _targets(workspace, split, rows, options.target)
    return workspace.cache.contains(maker.key(split, settings, rows, targets, ""))


def cached_shift(workspace, options: SaliencyOptions) -> SaliencyShift | None:
    """The shift result from the on-disk result cache, or None (nothing is computed)."""
    from gengap_dash.views.registry import get_view, result_cache, result_key

    view = get_view("saliency")
    found, result = result_cache(workspace).load(view.name, result_key(view, workspace, options))
    return result if found and isinstance(result, SaliencyShift) else None


def shift_result(
    workspace, options: SaliencyOptions, *, progress: Progress | None = None
) -> SaliencyShift:
    """The shift result: from the result cache, or computed with ``progress`` and stored."""
    from gengap_dash.views.registry import get_view, result_cache, result_key

    found = cached_shift(workspace, options)
    if found is not None:
        return found
    view = get_view("saliency")
    result = compute_shift(workspace, options, progress=progress)
    result_cache(workspace).store(view.name, result_key(view, workspace, options), result)
    return result
