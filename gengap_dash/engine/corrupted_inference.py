"""Running the model over corrupted or perturbed inputs of a split, cached per perturbation.

A split's raw inputs are read as stored (``uint8`` images before the project's transform, or
the feature matrix), a perturbation is applied to them, and the result goes through the
project's own transform (or the default one: pixels / 255) and the inference engine
(:func:`gengap_dash.engine.inference.run_inference`). Logits and embeddings are cached in the
array cache under a content key made of the split's own output key (model, weights, data,
preprocessing, precision), the perturbation's name, severity, seed and code version, the
feature it touches and the rows swept, so a second sweep, a restarted server or a remote worker
reads them instead of running the model again.

This module does not know what a corruption is: the caller (the robustness view) passes each
perturbation as a :class:`Perturbation`, whose ``apply`` function it builds from
``gengap_dash.analysis.robustness``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

# the table readers of data/samples.py, so that raw inputs are read, checked and transformed
# exactly as the inference engine's are (they are private there: one implementation)
from gengap_dash.data.samples import (
    SampleSource,
    Transform,
    _feature_matrix,
    _ImageFiles,
    _pixel_arrays,
    _TransformedSamples,
    input_columns,
)
from gengap_dash.data.tables import read_table, table_base, table_columns
from gengap_dash.engine.inference import InferenceOutputs, run_inference
from gengap_dash.project.code_references import load_callable
from gengap_dash.project.errors import ProjectError
from gengap_dash.project.spec import ProjectSpec
from gengap_dash.store.cache import ArrayCache
from gengap_dash.store.keys import hash_key

SweepProgress = Callable[[int, int, str], None]
"""Called with (perturbations done, perturbations in all, what runs next or "done")."""


@dataclass(frozen=True, eq=False)
class RawInputs:
    """A split's inputs as stored, before the project's transform.

    Attributes:
        kind: ``"image"`` or ``"tabular"``.
        values: images: a ``(n, H, W)`` / ``(n, H, W, C)`` ``uint8`` stack, or a list of such
            images when their sizes differ; tabular: the ``(n, F)`` float32 feature matrix.
        columns: the feature names (tabular) or the image column.
        transform: the project's ``inputs.transform`` (``None``: the default one).
        where: the table's file name, for messages.
        rows: the table rows read (positions).
    """

    kind: Literal["image", "tabular"]
    values: Any
    columns: tuple[str, ...]
    transform: Transform | None
    where: str
    rows: np.ndarray

    @property
    def n_samples(self) -> int:
        return len(self.values)


@dataclass(frozen=True)
class Perturbation:
    """One perturbation of a split's raw inputs.

    Attributes:
        name: e.g. ``"gaussian_blur"`` or ``"noise"``.
        severity: 1..5 (0: the clean inputs).
        seed: the seed of its random draws.
        version: the version of the perturbation code (part of the cache key).
        feature: the feature perturbed alone (tabular), or ``None``.
        context: a content key of anything else the perturbation depends on (e.g. the
            reference data whose spread scales tabular noise), or empty.
        apply: ``raw values -> perturbed values`` of the same kind and shape.
    """

    name: str
    severity: int
    seed: int
    version: int
    feature: str | None = None
    context: str = ""
    apply: Callable[[Any], Any] = field(default=lambda values: values, compare=False, repr=False)

    @property
    def label(self) -> str:
        target = f" of {self.feature}" if self.feature else ""
        return f"{self.name}{target} at severity {self.severity}"


def read_raw_inputs(
    spec: ProjectSpec,
    split: str,
    *,
    rows: Sequence[int] | None = None,
    features: Sequence[str] | None = None,
) -> RawInputs:
    """The stored inputs of ``rows`` (positions; all when ``None``) of ``split``.

    Args:
        spec: the project (with a model and a table per split).
        split: the split's name.
        rows: table positions to read.
        features: the resolved default features (tabular projects without
            ``inputs.features``).

    Raises:
        ProjectError: the table or an image cannot be read, or its values are not valid inputs
            (the same messages as inference gives).
    """
    inputs = spec.inputs
    path = spec.split(split).path
    if inputs is None or path is None:
        raise ProjectError(f"Split {split!r} has no table of model inputs to perturb.")
    transform = (
        load_callable(inputs.transform, base=spec.directory, key="inputs.transform")
        if inputs.transform
        else None
    )
    where = path.name
    if inputs.kind == "tabular":
        columns = list(inputs.features or features or input_columns(spec, table_columns(path)))
    else:
        columns = input_columns(spec, table_columns(path))
    frame = read_table(path, columns=columns)
    positions = np.arange(len(frame)) if rows is None else np.asarray(rows, dtype=np.int64)
    frame = frame.iloc[positions].reset_index(drop=True)
    if len(frame) == 0:
        raise ProjectError(f"Table {where} has no rows; a split needs at least one sample.")
    if inputs.kind == "tabular":
        matrix = _feature_matrix(frame, columns, where=where, split=split)
        return RawInputs("tabular", matrix, tuple(columns), transform, where, positions)
    column = columns[0]
    values = frame[column]
    if isinstance(values.iloc[0], str):
        files = _ImageFiles(values.tolist(), table_base(path), where, _raw_pixels)
        images = [files[index].numpy() for index in range(len(files))]
        shapes = {image.shape for image in images}
        stacked: Any = np.stack(images) if len(shapes) == 1 else images
        return RawInputs("image", stacked, (column,), transform, where, positions)
    images = _pixel_arrays(values, inputs.image_shape, where=where, column=column)
    return RawInputs("image", images, (column,), transform, where, positions)


def _raw_pixels(pixels: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(pixels))


def model_source(raw: RawInputs, values: Any) -> SampleSource:
    """Model inputs from (perturbed) raw ``values`` of the same kind as ``raw.values``: through
    the project's transform, or the default one (features as they are; pixels / 255)."""
    n = len(values)
    if raw.transform is not None:
        return SampleSource(n, dataset=_TransformedSamples(values, raw.transform, raw.where))
    if raw.kind == "tabular":
        return SampleSource(n, tensor=torch.from_numpy(np.ascontiguousarray(values, np.float32)))
    if isinstance(values, list):
        from gengap_dash.data.samples import default_image_transform

        shapes = list(dict.fromkeys(np.shape(value) for value in values))
        if len(shapes) > 1:
            raise ProjectError(
                f"The images of {raw.where} have different shapes ({shapes[0]}, {shapes[1]}); "
                "every sample must have the same shape: resize images in inputs.transform."
            )
        return SampleSource(n, tensor=torch.stack([default_image_transform(v) for v in values]))
    batch = torch.from_numpy(np.ascontiguousarray(values)).float().div_(255.0)
    batch = batch.unsqueeze(1) if batch.ndim == 3 else batch.permute(0, 3, 1, 2)
    return SampleSource(n, tensor=batch.contiguous())


def perturbed_output_key(split_key: str, perturbation: Perturbation, rows: np.ndarray) -> str:
    """The content key of the model outputs on ``rows`` of a split perturbed by
    ``perturbation`` (``split_key``: the split's own output key)."""
    rows_digest = hash_key({"rows": np.asarray(rows, dtype=np.int64).tolist()})
    return hash_key(
        {
            "kind": "perturbed-outputs",
            "split": split_key,
            "perturbation": perturbation.name,
            "severity": int(perturbation.severity),
            "seed": int(perturbation.seed),
            "version": int(perturbation.version),
            "feature": perturbation.feature,
            "context": perturbation.context,
            "rows": rows_digest,
        }
    )


def run_perturbed_inference(
    model: nn.Module,
    raw: RawInputs,
    perturbations: Sequence[Perturbation],
    *,
    spec: ProjectSpec,
    split: str,
    split_key: str,
    cache: ArrayCache,
    progress: SweepProgress | None = None,
) -> list[InferenceOutputs]:
    """The model's outputs under each perturbation, from the cache or by inference.

    Args:
        model: the project's model.
        raw: the split's raw inputs (:func:`read_raw_inputs`).
        perturbations: what to run.
        spec: the project (inference settings, embedding layer).
        split: the split's name, for messages and the cache's info.
        split_key: the split's own output key (``Workspace.cache_key``).
        cache: the array cache.
        progress: called before each perturbation and once at the end.

    Returns:
        One :class:`InferenceOutputs` per perturbation, in order.

    Raises:
        ProjectError: the model fails on the perturbed inputs, or a perturbation returns values
            of another shape.
    """
    results: list[InferenceOutputs] = []
    total = len(perturbations)
    embedding_layer = spec.model.embedding_layer if spec.model is not None else None
    for done, perturbation in enumerate(perturbations):
        if progress is not None:
            progress(done, total, perturbation.label)
        key = perturbed_output_key(split_key, perturbation, raw.rows)
        what = f"{split!r} under {perturbation.label}"
        found = _load(cache, key, raw.n_samples, what=what)
        if found is None:
            with cache.lock(key):
                found = _load(cache, key, raw.n_samples, what=what)
                if found is None:
                    found = _infer(
                        model, raw, perturbation, spec=spec, split=split,
                        embedding_layer=embedding_layer, cache=cache, key=key,
                    )  # fmt: skip
        results.append(found)
    if progress is not None:
        progress(total, total, "done")
    return results


def _load(cache: ArrayCache, key: str, n_rows: int, *, what: str) -> InferenceOutputs | None:
    arrays = cache.load(key, what=what)
    if arrays is None:
        return None
    logits = arrays.get("logits")
    embeddings = arrays.get("embeddings")
    if (
        logits is None
        or logits.ndim != 2
        or logits.shape[0] != n_rows
        or not np.isfinite(logits).all()
        or (embeddings is not None and embeddings.shape[0] != n_rows)
    ):
        cache.discard(key, reason="it does not hold one row of logits per sample", what=what)
        return None
    return InferenceOutputs(logits, embeddings, cache.info(key).get("embedding_note", ""))


def _infer(
    model: nn.Module,
    raw: RawInputs,
    perturbation: Perturbation,
    *,
    spec: ProjectSpec,
    split: str,
    embedding_layer: str | None,
    cache: ArrayCache,
    key: str,
) -> InferenceOutputs:
    values = perturbation.apply(raw.values)
    if len(values) != raw.n_samples or (
        isinstance(values, np.ndarray) and np.shape(values) != np.shape(raw.values)
    ):
        raise ProjectError(
            f"{perturbation.label} returned {len(values)} values of shape "
            f"{np.shape(values)} for {raw.n_samples} samples of shape {np.shape(raw.values)}."
        )
    outputs = run_inference(
        model,
        model_source(raw, values),
        settings=spec.inference,
        embedding_layer=embedding_layer,
        where=f"{split} ({perturbation.label})",
    )
    arrays = {"logits": outputs.logits}
    if outputs.embeddings is not None:
        arrays["embeddings"] = outputs.embeddings
    cache.store(
        key,
        arrays,
        info={
            "split": split,
            "perturbation": perturbation.name,
            "severity": perturbation.severity,
            "seed": perturbation.seed,
            "version": perturbation.version,
            "feature": perturbation.feature,
            "rows": raw.n_samples,
            "embedding_note": outputs.embedding_note,
        },
    )
    return outputs


def table_path(spec: ProjectSpec, split: str) -> Path:
    """The table of ``split`` (a model project has one per split)."""
    path = spec.split(split).path
    if path is None:
        raise ProjectError(f"splits.{split}.path is missing.")
    return path
