"""The workspace: the one object that the pages, the CLI and the report ask.

It holds the validated project, loads each split's model outputs from the cache (running
inference only for splits whose entry is missing), and assembles the hub table. Everything is
lazy: nothing runs until a view asks for it, and then at most once per process.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from gengap_dash.data.predictions import (
    SplitOutputs,
    build_hub_frame,
    probability_columns,
    read_brought_predictions,
)
from gengap_dash.data.tables import (
    UNLABELLED,
    FeatureSelection,
    check_split_columns,
    check_unique_ids,
    labels_to_indices,
    missing_column_message,
    read_table,
    resolve_default_features,
    table_columns,
)
from gengap_dash.project.errors import ProjectError
from gengap_dash.project.spec import ProjectSpec, load_project
from gengap_dash.store.cache import ArrayCache
from gengap_dash.store.keys import FingerprintMemo, hash_key, output_key
from gengap_dash.store.results import ResultCache

if TYPE_CHECKING:
    from torch import nn


ProgressCallback = Callable[[str, int, int], None]
"""Called with (split name, samples done, samples in the split) during inference."""


@dataclass(frozen=True)
class _SplitState:
    logits: np.ndarray | None  # None for brought predictions: log(probs) made on demand
    embeddings: np.ndarray | None
    frame: pd.DataFrame
    n_labelled: int


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
        self._brought_probs: dict[str, np.ndarray] = {}
        self._brought_embeddings: dict[str, np.ndarray | None] = {}
        self._brought_logits: dict[str, np.ndarray] = {}
        self._keys: dict[str, str] = {}
        self._features: FeatureSelection | None = None
        self._width: int | None = None
        self.embedding_note = ""

    @classmethod
    def from_file(cls, path: str | Path, *, cache_dir: str | Path | None = None) -> Workspace:
        """Open the project file at ``path`` (a ``project.yaml`` or its folder)."""
        try:
            spec = load_project(path)
        except RuntimeError as error:  # Path.resolve on a symbolic link that loops
            if "symlink loop" not in str(error).lower():
                raise
            raise ProjectError(
                f"{error}: a path in the project is a symbolic link that loops (it never "
                "reaches a file)."
            ) from None
        return cls(spec, cache=ArrayCache(Path(cache_dir) if cache_dir else None))

    # -- what the user should know -------------------------------------------------------------

    @property
    def cache_notes(self) -> list[str]:
        """One line per cache entry (or fingerprint memo) found corrupt and discarded, in this
        session. The CLI prints each on stderr, the page shows them as a caption."""
        notes = [self._memo.note] if self._memo.note else []
        return notes + list(self.cache.notes)

    @property
    def notes(self) -> list[str]:
        """Plain-English notes for the user, one line each: the columns the default feature
        list left out and why, then :attr:`cache_notes` (empty when nothing needs saying)."""
        selection = self._default_features()
        read = [selection.note()] if selection is not None and selection.note() else []
        return read + self.cache_notes

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
        return int(self.logits(first).shape[1])

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
        """The content key of a split's model outputs (see :mod:`gengap_dash.store.keys`)."""
        if split not in self._keys:
            selection = self._default_features()
            self._keys[split] = output_key(
                self.spec,
                split,
                self._memo,
                default_features=selection.columns if selection is not None else None,
            )
        return self._keys[split]

    def fingerprint(self) -> str:
        """A key that changes whenever any split's outputs or data change (for UI caches)."""
        parts = {name: self.cache_key(name) for name in self.split_names}
        parts["project"] = self._memo.file_digest(self.spec.path)
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
        """``(n, C)`` logits (for brought predictions: float32 log-probabilities, equal under
        softmax, made on first use from the hub's probability columns)."""
        state = self._state(split)
        if state.logits is not None:
            return state.logits
        if split not in self._brought_logits:
            frame = state.frame
            width = 0
            while f"prob_{width}" in frame.columns:
                width += 1
            probs = frame[probability_columns(width)].to_numpy(np.float32, copy=True)
            self._brought_logits[split] = np.log(np.clip(probs, 1e-15, None, out=probs), out=probs)
        return self._brought_logits[split]

    def probs(self, split: str) -> np.ndarray:
        """``(n, C)`` class probabilities."""
        return self._state(split).frame[probability_columns(self.n_classes)].to_numpy(np.float64)

    def labels(self, split: str) -> np.ndarray:
        """``(n,)`` int64 class indices of a labelled split.

        Raises:
            ProjectError: the split is not labelled on every row (see :meth:`is_labelled`);
                views ask :meth:`is_labelled` first and show what needs no labels.
        """
        state = self._state(split)
        if state.n_labelled < len(state.frame):
            labelled = ", ".join(self.labelled_splits) or "none"
            raise ProjectError(
                f"{self.label_note(split)} This needs labels; the labelled splits are {labelled}."
            )
        return state.frame["label"].to_numpy(np.int64)

    def is_labelled(self, split: str) -> bool:
        """Whether every row of ``split`` has a label.

        Splits of role ``shifted`` or ``deployment`` may come without labels, or with some;
        label-needing views (accuracy, calibration, error slices) use labelled splits only and
        say so (:meth:`label_note`). The hub table marks a missing label as ``-1`` (its
        ``loss`` is NaN and ``correct`` False).
        """
        if self.split_roles[split] not in ("shifted", "deployment"):
            # train, validation and test must be labelled on every row (a missing label is an
            # error when the split is read), so the answer needs no read of the split
            return True
        if split not in self._states:
            # a page that only shows cached results need not read a million rows to know:
            # the counts were kept beside the cache when the split was last read
            counts = self._label_counts_on_disk(split)
            if counts is not None:
                return counts[0] == counts[1]
        state = self._state(split)
        return state.n_labelled == len(state.frame)

    def labelled_count(self, split: str) -> int:
        """How many rows of ``split`` carry a label."""
        return self._state(split).n_labelled

    @property
    def labelled_splits(self) -> list[str]:
        """Splits labelled on every row, in project order."""
        return [name for name in self.split_names if self.is_labelled(name)]

    @property
    def unlabelled_splits(self) -> list[str]:
        """Splits with no label, or labels on some rows only, in project order."""
        return [name for name in self.split_names if not self.is_labelled(name)]

    def label_note(self, split: str) -> str:
        """One sentence on a split's missing labels (empty for a labelled split)."""
        state = self._state(split)
        n = len(state.frame)
        if state.n_labelled == n:
            return ""
        if state.n_labelled == 0:
            return f"Split {split!r} has no labels."
        return (
            f"Split {split!r} has labels on {state.n_labelled:,} of {n:,} rows only; views "
            "that need labels leave it out (put the labelled rows in a split of their own to "
            "measure them)."
        )

    def has_embeddings(self) -> bool:
        """Whether the splits carry embeddings; for brought predictions the file's column names
        say so without reading a split (a page that shows cached results reads none)."""
        if not self.has_model and self.spec.predictions is not None and not self._states:
            names = set(table_columns(self.spec.predictions))
            return "embedding" in names or "embedding_0" in names
        return self.embeddings(self.split_names[0]) is not None

    def embeddings(self, split: str) -> np.ndarray | None:
        """``(n, d)`` embeddings, or None (see :attr:`embedding_note` for why)."""
        return self._state(split).embeddings

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
            side = self._side_columns(table_path, split)
            sample_ids = self._sample_ids(side, split, table_path)
            key = self.cache_key(split)
            arrays = self._load_checked(key, split, table_path, n_rows=len(side))
            if arrays is None:
                with self.cache.lock(key):
                    arrays = self._load_checked(key, split, table_path, n_rows=len(side))
                    if arrays is None:
                        arrays = self._infer(split, table_path, side, progress)
            else:
                self.embedding_note = self.cache.info(key).get("embedding_note", "")
            logits = arrays["logits"]
            labels = self._labels(side, logits.shape[1], table_path, split)
            outputs = SplitOutputs.from_logits(logits, labels)
            frame = build_hub_frame(
                split,
                outputs,
                labels=labels,
                sample_ids=sample_ids,
                extra=self._extra_columns(side, table_path),
            )
            state = _SplitState(
                logits, arrays.get("embeddings"), frame, int((labels != UNLABELLED).sum())
            )
        self._states[split] = state
        if self.split_roles[split] in ("shifted", "deployment"):
            self._keep_label_counts(split, state)
        return state

    _LABEL_COUNTS = "label_counts"

    def _label_counts_on_disk(self, split: str) -> tuple[int, int] | None:
        """``(labelled rows, rows)`` of ``split`` as kept under its content key, or None."""
        found, counts = ResultCache(self.cache.root).load(self._LABEL_COUNTS, self.cache_key(split))
        if not found or not isinstance(counts, dict):
            return None
        labelled, rows = counts.get("labelled"), counts.get("rows")
        if not (isinstance(labelled, int) and isinstance(rows, int) and 0 <= labelled <= rows):
            return None
        return labelled, rows

    def _keep_label_counts(self, split: str, state: _SplitState) -> None:
        counts = {"labelled": state.n_labelled, "rows": len(state.frame)}
        if self._label_counts_on_disk(split) != (counts["labelled"], counts["rows"]):
            with contextlib.suppress(OSError):  # a read-only cache folder: only slower pages
                ResultCache(self.cache.root).store(
                    self._LABEL_COUNTS, self.cache_key(split), counts
                )

    def _load_checked(
        self, key: str, split: str, table_path: Path, *, n_rows: int
    ) -> dict[str, np.ndarray] | None:
        """A cache entry that holds what it claims, or None (a mismatch is discarded and noted).

        Raises:
            ProjectError: the entry is sound but its output width differs from ``classes``
                (the same message as a cold run gives).
        """
        what = f"split {split!r}"
        arrays = self.cache.load(key, what=what)
        if arrays is None:
            return None
        problem = self._entry_problem(key, arrays, table_path, n_rows=n_rows)
        if problem:
            self.cache.discard(key, reason=problem, what=what)
            return None
        self._check_width(int(arrays["logits"].shape[1]))
        return arrays

    def _entry_problem(
        self, key: str, arrays: dict[str, np.ndarray], table_path: Path, *, n_rows: int
    ) -> str:
        """Why an entry does not describe this split's data (empty when it does)."""
        logits = arrays.get("logits")
        if logits is None or logits.ndim != 2 or logits.shape[1] < 1:
            return "it holds no (n, C) logits"
        if logits.shape[0] != n_rows:
            return f"it holds {logits.shape[0]} rows of logits, the table has {n_rows}"
        embeddings = arrays.get("embeddings")
        if embeddings is not None and (embeddings.ndim != 2 or embeddings.shape[0] != n_rows):
            return f"its embeddings have shape {embeddings.shape}, the table has {n_rows} rows"
        info = self.cache.info(key)
        recorded = info.get("data")
        if recorded is not None and recorded != self._memo.table_digest(table_path):
            return "it was computed from other data"
        if info.get("rows") is not None and info.get("rows") != n_rows:
            return f"it was computed from {info.get('rows')} rows, the table has {n_rows}"
        if not np.isfinite(logits).all():
            return "its logits are not all finite"
        if self.spec.classes is None and self._width is not None and logits.shape[1] != self._width:
            return f"it holds {logits.shape[1]} classes, the other splits {self._width}"
        return ""

    def _check_width(self, width: int) -> None:
        if self.spec.classes is not None and width != len(self.spec.classes):
            raise ProjectError(
                f"The model outputs {width} values per sample, but `classes` lists "
                f"{len(self.spec.classes)}; they must match."
            )
        if self._width is None:
            self._width = width

    def _infer(
        self,
        split: str,
        table_path: Path,
        side: pd.DataFrame,
        progress: ProgressCallback | None,
    ) -> dict[str, np.ndarray]:
        from gengap_dash.data.samples import build_sample_source, input_columns
        from gengap_dash.engine.inference import run_inference

        available = table_columns(table_path)
        selection = self._default_features()
        if selection is not None:
            check_split_columns(selection, self.spec, available, where=table_path.name, split=split)
            columns = list(selection.columns)
        else:
            columns = input_columns(self.spec, available)
        frame = read_table(table_path, columns=columns)
        source = build_sample_source(
            frame,
            self.spec,
            table_path=table_path,
            features=selection.columns if selection is not None else None,
            split=split,
        )
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
        width = int(outputs.logits.shape[1])
        self._check_width(width)
        self._labels(side, width, table_path, split)  # validate before anything is cached
        arrays = {"logits": outputs.logits}
        if outputs.embeddings is not None:
            arrays["embeddings"] = outputs.embeddings
        self.embedding_note = outputs.embedding_note
        self.cache.store(
            self.cache_key(split),
            arrays,
            info={
                "split": split,
                "project": self.name,
                "embedding_note": outputs.embedding_note,
                "data": self._memo.table_digest(table_path),
                "rows": len(side),
                "width": width,
            },
        )
        return arrays

    def _side_columns(self, table_path: Path, split: str) -> pd.DataFrame:
        available = table_columns(table_path)
        wanted = [self.spec.label, *self.spec.metadata]
        if self.spec.label not in available and self.spec.split(split).may_be_unlabelled:
            wanted.remove(self.spec.label)  # an unlabelled split: no label column at all
        if self.spec.id_column:
            wanted.append(self.spec.id_column)
        if self.spec.time_column:
            wanted.append(self.spec.time_column)
        for column in wanted:
            if column not in available:
                role = _column_role(self.spec, column)
                raise ProjectError(
                    missing_column_message(table_path.name, column, available, role=role)
                )
        return read_table(table_path, columns=list(dict.fromkeys(wanted)))

    def _labels(
        self, side: pd.DataFrame, n_classes: int, table_path: Path, split: str
    ) -> np.ndarray:
        if self.spec.label not in side:
            return np.full(len(side), UNLABELLED, dtype=np.int64)
        return _split_labels(
            side[self.spec.label],
            spec=self.spec,
            split=split,
            n_classes=n_classes,
            where=f"Table {table_path.name}, column {self.spec.label!r}",
        )

    def _sample_ids(self, side: pd.DataFrame, split: str, table_path: Path) -> list[str]:
        if self.spec.id_column:
            ids = side[self.spec.id_column]
            check_unique_ids(
                ids, where=f"Table {table_path.name} (split {split!r}), column {ids.name!r}"
            )
            return ids.astype(str).tolist()
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
                classes=self.spec.classes,
            )
            # the arrays leave ``attrs`` (pandas deep-copies attrs on every operation)
            self._brought_probs = {
                name: part.attrs.pop("probs") for name, part in self._brought.items()
            }
            self._brought_embeddings = {
                name: part.attrs.pop("embeddings", None) for name, part in self._brought.items()
            }
            if all(value is None for value in self._brought_embeddings.values()):
                self.embedding_note = (
                    "This project brings its own predictions without embeddings: the "
                    "feature-space views need a model, or an `embedding` list column (or "
                    "embedding_0 .. embedding_<d-1> columns) in the predictions file."
                )
        part = self._brought[split]
        probs = self._brought_probs[split]
        embeddings = self._brought_embeddings.get(split)
        file_name = self.spec.predictions.name if self.spec.predictions else ""
        if len(part) == 0:
            raise ProjectError(f"Predictions file {file_name}: split {split!r} has no rows.")
        check_unique_ids(part["sample_id"], where=f"Predictions file {file_name}, split {split!r}")
        labels = _split_labels(
            part["label"],
            spec=self.spec,
            split=split,
            n_classes=probs.shape[1],
            where=f"Predictions file {file_name}, split {split!r}",
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
            sample_ids=part["sample_id"],
            extra=extra,
        )
        # the file's rows now live in the hub frame: keep no second copy (10M rows: ~1 GB)
        del self._brought[split], self._brought_probs[split], self._brought_embeddings[split]
        return _SplitState(None, embeddings, frame, int((labels != UNLABELLED).sum()))

    def _default_features(self) -> FeatureSelection | None:
        """The project's default feature list, resolved once (None with explicit features)."""
        inputs = self.spec.inputs
        if inputs is None or inputs.kind != "tabular" or inputs.features is not None:
            return None
        if self._features is None:
            self._features = resolve_default_features(self.spec)
        return self._features


def _split_labels(
    values: pd.Series, *, spec: ProjectSpec, split: str, n_classes: int, where: str
) -> np.ndarray:
    """Class indices of a split's labels, ``-1`` where missing (shifted and deployment splits).

    Raises:
        ProjectError: a missing label in a train, validation or test split (naming the row), or
            a label that is not a class.
    """
    split_spec = spec.split(split)
    labels = labels_to_indices(
        values, classes=spec.classes, n_classes=n_classes, where=where, allow_missing=True
    )
    missing = labels == UNLABELLED
    if missing.any() and not split_spec.may_be_unlabelled:
        row = int(np.flatnonzero(missing)[0])
        raise ProjectError(
            f"{where}: label is missing in row {row} ({int(missing.sum()):,} rows in all); split "
            f"{split!r} has role {split_spec.role}, which needs a label on every row (only "
            "shifted and deployment splits may be unlabelled)."
        )
    return labels


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
