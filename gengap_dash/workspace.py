"""The workspace: the one object that the pages, the CLI and the report ask.

It holds the validated project, loads each split's model outputs from the cache (running
inference only for splits whose entry is missing), and assembles the hub table. Everything is
lazy: nothing runs until a view asks for it, and then at most once per process.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from gengap_dash.data.predictions import (
    SplitOutputs,
    build_hub_frame,
    probability_columns,
    read_brought_predictions,
)
from gengap_dash.data.tables import labels_to_indices, read_table, table_columns
from gengap_dash.project.errors import ProjectError
from gengap_dash.project.spec import ProjectSpec, load_project
from gengap_dash.store.cache import ArrayCache, FingerprintMemo, hash_key

if TYPE_CHECKING:
    from torch import nn

    from gengap_dash.analysis.scorecard import SplitData

ProgressCallback = Callable[[str, int, int], None]
"""Called with (split name, samples done, samples in the split) during inference."""


@dataclass(frozen=True)
class _SplitState:
    logits: np.ndarray
    embeddings: np.ndarray | None
    frame: pd.DataFrame


class Workspace:
    """A project opened for analysis.

    Use :meth:`from_file`. Split outputs come from the on-disk cache when it is warm; otherwise
    :meth:`compute` (or the first view that needs them) runs inference and stores them.
    """

    def __init__(self, spec: ProjectSpec, *, cache: ArrayCache | None = None) -> None:
        self.spec = spec
        self.cache = cache or ArrayCache()
        self._memo = FingerprintMemo(self.cache.root)
        self._states: dict[str, _SplitState] = {}
        self._model: nn.Module | None = None
        self._brought: dict[str, pd.DataFrame] | None = None
        self._keys: dict[str, str] = {}
        self.embedding_note = ""

    @classmethod
    def from_file(cls, path: str | Path, *, cache_dir: str | Path | None = None) -> Workspace:
        """Open the project file at ``path`` (a ``project.yaml`` or its folder)."""
        return cls(load_project(path), cache=ArrayCache(Path(cache_dir) if cache_dir else None))

    # -- what the project is -------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def split_names(self) -> list[str]:
        return [split.name for split in self.spec.splits]

    @property
    def split_roles(self) -> dict[str, str]:
        return self.spec.split_roles

    @property
    def n_classes(self) -> int:
        if self.spec.classes is not None:
            return len(self.spec.classes)
        first = self.split_names[0]
        return int(self._state(first).logits.shape[1])

    @property
    def class_names(self) -> list[str]:
        return (
            list(self.spec.classes)
            if self.spec.classes
            else [str(k) for k in range(self.n_classes)]
        )

    @property
    def has_model(self) -> bool:
        return self.spec.model is not None

    # -- the cache -----------------------------------------------------------------------------

    def cache_key(self, split: str) -> str:
        """The content key of a split's model outputs."""
        if split not in self._keys:
            self._keys[split] = hash_key(self._key_parts(split))
        return self._keys[split]

    def fingerprint(self) -> str:
        """A key that changes whenever any split's outputs or data change (for UI caches)."""
        parts = {name: self.cache_key(name) for name in self.split_names}
        parts["project"] = self._digest(self.spec.path) or ""
        return hash_key(parts)

    def is_cached(self, split: str) -> bool:
        """Whether the split's outputs are in memory or in the on-disk cache."""
        return (
            split in self._states
            or not self.has_model
            or self.cache.contains(self.cache_key(split))
        )

    def missing_splits(self) -> list[str]:
        """Splits whose model outputs still need inference."""
        return [name for name in self.split_names if not self.is_cached(name)]

    def compute(self, *, progress: ProgressCallback | None = None) -> None:
        """Load every split, running inference (with progress) where the cache misses."""
        for name in self.split_names:
            self._state(name, progress=progress)
        self._memo.save()

    # -- the data ------------------------------------------------------------------------------

    def predictions(self, *, progress: ProgressCallback | None = None) -> pd.DataFrame:
        """The hub table of all splits (see ``docs/architecture.md``)."""
        frames = [self._state(name, progress=progress).frame for name in self.split_names]
        self._memo.save()
        table = pd.concat(frames, ignore_index=True)
        table["split"] = pd.Categorical(table["split"], categories=self.split_names)
        return table

    def split_predictions(self, split: str) -> pd.DataFrame:
        """The hub rows of one split."""
        return self._state(split).frame

    def logits(self, split: str) -> np.ndarray:
        """``(n, C)`` logits (for brought predictions: log-probabilities, equal under softmax)."""
        return self._state(split).logits

    def probs(self, split: str) -> np.ndarray:
        """``(n, C)`` class probabilities."""
        return self._state(split).frame[probability_columns(self.n_classes)].to_numpy(np.float64)

    def labels(self, split: str) -> np.ndarray:
        return self._state(split).frame["label"].to_numpy(np.int64)

    def embeddings(self, split: str) -> np.ndarray | None:
        """``(n, d)`` embeddings, or None (see :attr:`embedding_note` for why)."""
        return self._state(split).embeddings

    def split_data(self) -> list[SplitData]:
        """Per-split arrays for the scorecard."""
        from gengap_dash.analysis.scorecard import SplitData

        data = []
        for name in self.split_names:
            frame = self._state(name).frame
            data.append(
                SplitData(
                    name=name,
                    role=self.split_roles[name],
                    labels=frame["label"].to_numpy(np.int64),
                    probs=frame[probability_columns(self.n_classes)].to_numpy(np.float64),
                    losses=frame["loss"].to_numpy(np.float64),
                )
            )
        return data

    def model(self) -> nn.Module:
        """The model on the CPU in eval mode (built once)."""
        if self.spec.model is None:
            raise ProjectError(
                f"{self.spec.path.name} brings its own predictions and has no model; this view "
                "needs the model itself."
            )
        if self._model is None:
            from gengap_dash.engine.model_loading import build_model

            self._model = build_model(self.spec.model, base=self.spec.directory)
        return self._model

    # -- internals -----------------------------------------------------------------------------

    def _state(self, split: str, *, progress: ProgressCallback | None = None) -> _SplitState:
        if split in self._states:
            return self._states[split]
        spec_split = self.spec.split(split)
        if not self.has_model:
            state = self._brought_state(split)
        else:
            table_path = spec_split.path
            if table_path is None:  # pragma: no cover - the spec guarantees a path with a model
                raise ProjectError(f"splits.{split}.path is missing.")
            side = self._side_columns(table_path)
            key = self.cache_key(split)
            arrays = self.cache.load(key)
            if arrays is None:
                with self.cache.lock(key):
                    arrays = self.cache.load(key)
                    if arrays is None:
                        arrays = self._infer(split, table_path, side, progress)
            else:
                self.embedding_note = self.cache.info(key).get("embedding_note", "")
            logits = arrays["logits"]
            labels = self._labels(side, logits.shape[1], table_path)
            outputs = SplitOutputs.from_logits(logits, labels)
            frame = build_hub_frame(
                split,
                outputs,
                labels=labels,
                sample_ids=self._sample_ids(side, split),
                extra=self._extra_columns(side, table_path),
            )
            state = _SplitState(logits, arrays.get("embeddings"), frame)
        self._states[split] = state
        return state

    def _infer(
        self,
        split: str,
        table_path: Path,
        side: pd.DataFrame,
        progress: ProgressCallback | None,
    ) -> dict[str, np.ndarray]:
        from gengap_dash.data.samples import build_sample_source, input_columns
        from gengap_dash.engine.inference import run_inference

        columns = input_columns(self.spec, table_columns(table_path))
        frame = read_table(table_path, columns=columns)
        source = build_sample_source(frame, self.spec, table_path=table_path)
        if self.spec.model is None:  # pragma: no cover - guarded by the caller
            raise ProjectError("No model to run.")
        outputs = run_inference(
            self.model(),
            source,
            settings=self.spec.inference,
            embedding_layer=self.spec.model.embedding_layer,
            progress=(lambda done, total: progress(split, done, total)) if progress else None,
            where=split,
        )
        width = outputs.logits.shape[1]
        if self.spec.classes is not None and width != len(self.spec.classes):
            raise ProjectError(
                f"The model outputs {width} values per sample, but `classes` lists "
                f"{len(self.spec.classes)}; they must match."
            )
        self._labels(side, width, table_path)  # validate before anything is cached
        arrays = {"logits": outputs.logits}
        if outputs.embeddings is not None:
            arrays["embeddings"] = outputs.embeddings
        self.embedding_note = outputs.embedding_note
        self.cache.store(
            self.cache_key(split),
            arrays,
            info={"split": split, "project": self.name, "embedding_note": outputs.embedding_note},
        )
        return arrays

    def _side_columns(self, table_path: Path) -> pd.DataFrame:
        available = table_columns(table_path)
        wanted = [self.spec.label, *self.spec.metadata]
        if self.spec.id_column:
            wanted.append(self.spec.id_column)
        if self.spec.time_column:
            wanted.append(self.spec.time_column)
        for column in wanted:
            if column not in available:
                role = _column_role(self.spec, column)
                raise ProjectError(
                    f"Table {table_path.name}: {role} column {column!r} is missing; it has "
                    f"{', '.join(map(str, available[:20]))}."
                )
        return read_table(table_path, columns=list(dict.fromkeys(wanted)))

    def _labels(self, side: pd.DataFrame, n_classes: int, table_path: Path) -> np.ndarray:
        return labels_to_indices(
            side[self.spec.label],
            classes=self.spec.classes,
            n_classes=n_classes,
            where=f"Table {table_path.name}, column {self.spec.label!r}",
        )

    def _sample_ids(self, side: pd.DataFrame, split: str) -> list[str]:
        if self.spec.id_column:
            return side[self.spec.id_column].astype(str).tolist()
        return [str(i) for i in range(len(side))]

    def _extra_columns(self, side: pd.DataFrame, table_path: Path) -> pd.DataFrame:
        columns = [*self.spec.metadata]
        if self.spec.time_column:
            columns.append(self.spec.time_column)
        extra = side[list(dict.fromkeys(columns))].copy()
        if self.spec.time_column:
            extra[self.spec.time_column] = _parse_time(
                extra[self.spec.time_column], table_path, self.spec.time_column
            )
        return extra.reset_index(drop=True)

    def _brought_state(self, split: str) -> _SplitState:
        if self._brought is None:
            if self.spec.predictions is None:  # pragma: no cover - guarded by the spec
                raise ProjectError("No predictions file.")
            self._brought = read_brought_predictions(
                self.spec.predictions,
                split_names=self.split_names,
                n_classes=len(self.spec.classes) if self.spec.classes else None,
            )
            self.embedding_note = (
                "This project brings its own predictions, which carry no embeddings: the "
                "feature-space views need a model."
            )
        part = self._brought[split]
        probs = part.attrs["probs"]
        if len(part) == 0:
            raise ProjectError(
                f"Predictions file {self.spec.predictions.name if self.spec.predictions else ''}: "
                f"split {split!r} has no rows."
            )
        labels = labels_to_indices(
            part["label"],
            classes=self.spec.classes,
            n_classes=probs.shape[1],
            where=f"Predictions file, split {split!r}",
        )
        outputs = SplitOutputs.from_probs(probs, labels)
        keep = [
            c
            for c in part.columns
            if c not in ("split", "sample_id", "label", "pred", "confidence", "loss")
        ]
        extra = part[keep].copy()
        if self.spec.time_column and self.spec.time_column in extra:
            extra[self.spec.time_column] = _parse_time(
                extra[self.spec.time_column], self.spec.predictions or Path(), self.spec.time_column
            )
        frame = build_hub_frame(
            split,
            outputs,
            labels=labels,
            sample_ids=part["sample_id"].astype(str).tolist(),
            extra=extra,
        )
        logits = np.log(np.clip(probs, 1e-15, None)).astype(np.float32)
        return _SplitState(logits, None, frame)

    def _key_parts(self, split: str) -> dict[str, Any]:
        spec_split = self.spec.split(split)
        model = self.spec.model
        if model is None or spec_split.path is None:
            return {"kind": "brought", "split": split, "file": self._digest(self.spec.predictions)}
        parts: dict[str, Any] = {
            "kind": "model-outputs",
            "model": model.fingerprint_fields(),
            "weights": self._digest(model.torchscript or model.weights),
            "data": self._digest(spec_split.path),
            "precision": self.spec.inference.precision,
        }
        if model.factory and model.factory.rpartition(":")[0].endswith(".py"):
            parts["factory_source"] = self._digest(
                self.spec.directory / model.factory.rpartition(":")[0]
            )
        inputs = self.spec.inputs
        if inputs is not None:
            parts["inputs"] = {
                "kind": inputs.kind,
                "column": inputs.column,
                "image_shape": inputs.image_shape,
                "features": inputs.features,
                "transform": inputs.transform,
            }
            if inputs.transform and inputs.transform.rpartition(":")[0].endswith(".py"):
                parts["transform_source"] = self._digest(
                    self.spec.directory / inputs.transform.rpartition(":")[0]
                )
            if inputs.kind == "tabular" and inputs.features is None:
                parts["inputs"]["features"] = self._default_features(spec_split.path)
            if inputs.kind == "image" and inputs.column:
                parts["image_files"] = _image_files_fingerprint(spec_split.path, inputs.column)
        return parts

    def _default_features(self, table_path: Path) -> list[str]:
        from gengap_dash.data.samples import input_columns

        return input_columns(self.spec, table_columns(table_path))

    def _digest(self, path: Path | None) -> str | None:
        if path is None:
            return None
        resolved = path if path.is_absolute() else self.spec.directory / path
        if not resolved.is_file():
            raise ProjectError(f"File {resolved} does not exist.")
        return self._memo.file_digest(resolved)


def _image_files_fingerprint(table_path: Path, column: str) -> str | None:
    """Size and modification time of every image a path column names (None for pixel arrays)."""
    import hashlib

    if table_path.suffix.lower() in (".parquet", ".pq"):
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = pq.read_schema(table_path)
        if column not in schema.names:
            return None
        kind = schema.field(column).type
        if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
            return None
    values = read_table(table_path, columns=[column])[column]
    if len(values) == 0 or not isinstance(values.iloc[0], str):
        return None
    digest = hashlib.blake2b(digest_size=20)
    for text in values:
        path = Path(text)
        path = path if path.is_absolute() else table_path.parent / path
        try:
            stat = path.stat()
            digest.update(f"{text}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
        except OSError:
            digest.update(f"{text}|missing\n".encode())
    return digest.hexdigest()


def _column_role(spec: ProjectSpec, column: str) -> str:
    if column == spec.label:
        return "label"
    if column == spec.id_column:
        return "id"
    if column == spec.time_column:
        return "time"
    return "metadata"


def _parse_time(values: pd.Series, path: Path, column: str) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values):
        return values
    parsed = pd.to_datetime(values, errors="coerce")
    bad = parsed.isna() & values.notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise ProjectError(
            f"Table {path.name}: time column {column!r} has {values.iloc[row]!r} in row {row}; "
            "expected a date or timestamp."
        )
    return parsed
