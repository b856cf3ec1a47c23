"""Turn a split's table into model inputs.

Images come from a column of file paths (relative to the table) or of pixel arrays; tabular
inputs from feature columns. Without a user transform the whole split is converted at once
(vectorised); with one, each raw sample goes through it, as its contract says.
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from gengap_dash.data.tables import (
    non_numeric_value_message,
    select_default_features,
    table_base,
)
from gengap_dash.project.code_references import load_callable
from gengap_dash.project.errors import ProjectError
from gengap_dash.project.spec import InputsSpec, ProjectSpec

RawSample = np.ndarray
Transform = Callable[[RawSample], torch.Tensor]

MAX_IMAGE_PIXELS = 50_000_000
"""Images with more pixels (width x height) are refused before they are decoded: a small file
can declare a huge image (a decompression bomb)."""


@dataclass(frozen=True)
class SampleSource:
    """Model inputs of one split: a ready tensor, or a dataset of per-sample tensors."""

    n_samples: int
    tensor: torch.Tensor | None = None
    dataset: Dataset | None = None


def input_columns(spec: ProjectSpec, available: Sequence[str]) -> list[str]:
    """The table columns the model's inputs are read from.

    Without ``inputs.features`` these are the candidates (every column with no other role);
    the project's default features (:func:`gengap_dash.data.tables.resolve_default_features`)
    are the numeric ones of its first training split.
    """
    inputs = _require_inputs(spec)
    if inputs.kind == "image":
        return [inputs.column or ""]
    if inputs.features is not None:
        return list(inputs.features)
    reserved = {spec.label, spec.id_column, spec.time_column, *spec.metadata}
    return [c for c in available if c not in reserved]


def default_image_transform(image: RawSample) -> torch.Tensor:
    """``uint8`` HxW or HxWxC -> float ``(C, H, W)`` in [0, 1]."""
    # a copy: PIL gives read-only arrays, which torch.from_numpy warns about
    tensor = torch.tensor(np.asarray(image), dtype=torch.float32).div_(255.0)
    return tensor.unsqueeze(0) if tensor.ndim == 2 else tensor.permute(2, 0, 1)


def build_sample_source(
    frame: pd.DataFrame,
    spec: ProjectSpec,
    *,
    table_path: Path,
    features: Sequence[str] | None = None,
    split: str = "",
) -> SampleSource:
    """Model inputs for the rows of ``frame`` (a split table read from ``table_path``).

    Args:
        frame: the split's table (at least its input columns).
        spec: the project.
        table_path: where ``frame`` was read from (image paths are relative to its folder).
        features: the project's resolved default features (tabular inputs without
            ``inputs.features``); without them, the numeric columns of ``frame`` that have no
            other role.
        split: the split's name, for messages.

    Raises:
        ProjectError: a missing or non-numeric feature column, a pixel array of the wrong size, or
            an image file that is missing or corrupt; the message names the file, column and row.
    """
    inputs = _require_inputs(spec)
    transform = (
        load_callable(inputs.transform, base=spec.directory, key="inputs.transform")
        if inputs.transform
        else None
    )
    where = table_path.name
    if len(frame) == 0:
        raise ProjectError(f"Table {where} has no rows; a split needs at least one sample.")
    if inputs.kind == "tabular":
        if inputs.features is not None:
            columns = list(inputs.features)
        elif features is not None:
            columns = list(features)
        else:  # by default, the numeric columns that have no other role
            columns = list(select_default_features(frame, spec, where=where, split=split).columns)
        matrix = _feature_matrix(frame, columns, where=where, split=split)
        if transform is None:
            return SampleSource(len(frame), tensor=torch.from_numpy(matrix))
        return SampleSource(len(frame), dataset=_TransformedSamples(matrix, transform, where))
    column = inputs.column or ""
    if column not in frame.columns:
        raise ProjectError(f"Table {where}: image column {column!r} is missing.")
    values = frame[column]
    if len(values) and isinstance(values.iloc[0], str):
        loader = _ImageFiles(values.tolist(), table_base(table_path), where, transform)
        return SampleSource(len(frame), dataset=loader)
    images = _pixel_arrays(values, inputs.image_shape, where=where, column=column)
    if transform is None:
        batch = torch.from_numpy(images).float().div_(255.0)
        batch = batch.unsqueeze(1) if batch.ndim == 3 else batch.permute(0, 3, 1, 2)
        return SampleSource(len(frame), tensor=batch.contiguous())
    return SampleSource(len(frame), dataset=_TransformedSamples(images, transform, where))


def model_inputs(
    spec: ProjectSpec,
    split: str,
    rows: Sequence[int],
    *,
    table: pd.DataFrame,
    features: Sequence[str] | None = None,
) -> torch.Tensor:
    """The model inputs of ``rows`` (positions) of ``split``'s ``table``, exactly as the
    inference engine builds them: an ``(n, C, H, W)`` or ``(n, F)`` float tensor.

    Raises:
        ProjectError: as :func:`build_sample_source`, for the chosen rows.
    """
    path = spec.split(split).path
    if path is None:  # pragma: no cover - a model project has paths
        raise ProjectError(f"splits.{split}.path is missing.")
    frame = table.iloc[list(rows)].reset_index(drop=True)
    source = build_sample_source(frame, spec, table_path=path, features=features, split=split)
    if source.tensor is not None:
        return source.tensor.float()
    return torch.stack([source.dataset[i] for i in range(source.n_samples)]).float()


def _require_inputs(spec: ProjectSpec) -> InputsSpec:
    if spec.inputs is None:
        raise ProjectError(f"{spec.path.name}: key `inputs` is missing.")
    return spec.inputs


def _feature_matrix(
    frame: pd.DataFrame, columns: list[str], *, where: str, split: str = ""
) -> np.ndarray:
    if not columns:
        raise ProjectError(f"Table {where}: no feature columns; list them under inputs.features.")
    for column in columns:
        if column not in frame.columns:
            raise ProjectError(f"Table {where}: feature column {column!r} is missing.")
        values = frame[column]
        if not pd.api.types.is_numeric_dtype(values):
            numeric = pd.to_numeric(values.where(values.notna()), errors="coerce").notna()
            raise ProjectError(
                non_numeric_value_message(values, numeric | values.isna(), where=where, split=split)
            )
    features = frame[columns].to_numpy(dtype=np.float32)
    bad = ~np.isfinite(features)
    if bad.any():
        row, col = (int(v[0]) for v in np.nonzero(bad))
        raise ProjectError(
            f"Table {where}: feature column {columns[col]!r} has a missing or infinite value in "
            f"row {row} ({int(bad.any(axis=1).sum())} rows in all)."
        )
    return np.ascontiguousarray(features)


def _pixel_arrays(
    values: pd.Series, shape: tuple[int, ...] | None, *, where: str, column: str
) -> np.ndarray:
    arrays = []
    for row, cell in enumerate(values):
        if cell is None:
            raise ProjectError(f"Table {where}: column {column!r} is empty in row {row}.")
        try:
            array = _dense(cell)
        except ValueError:
            raise ProjectError(
                f"Table {where}: column {column!r} row {row} is not a rectangular array of "
                "pixels (its rows have different lengths)."
            ) from None
        if shape is not None:
            if array.size != int(np.prod(shape)):
                raise ProjectError(
                    f"Table {where}: column {column!r} row {row} has {array.size} values; "
                    f"inputs.image_shape {list(shape)} needs {int(np.prod(shape))}."
                )
            array = array.reshape(shape)
        if array.ndim not in (2, 3):
            raise ProjectError(
                f"Table {where}: column {column!r} row {row} has shape {array.shape}; expected "
                "HxW or HxWxC pixels (or set inputs.image_shape for flat arrays)."
            )
        arrays.append(array)
    try:
        stacked = np.stack(arrays)
    except ValueError:
        raise ProjectError(
            f"Table {where}: images in column {column!r} have different shapes; expected one "
            "shape for the whole split."
        ) from None
    if stacked.dtype != np.uint8:
        if (
            not np.issubdtype(stacked.dtype, np.number)
            or np.any(stacked < 0)
            or np.any(stacked > 255)
            or np.any(stacked != np.round(stacked))
        ):
            raise ProjectError(
                f"Table {where}: pixels in column {column!r} must be whole numbers 0..255 (uint8)."
            )
        stacked = stacked.astype(np.uint8)
    return stacked


def _dense(cell: object) -> np.ndarray:
    """A nested cell (lists, or arrays of arrays as Parquet gives them) as one dense array."""
    array = np.asarray(cell)
    if array.dtype == object:
        array = np.stack([_dense(part) for part in array])
    return array


class _TransformedSamples(Dataset):
    def __init__(self, samples: np.ndarray, transform: Transform, where: str) -> None:
        self.samples = samples
        self.transform = transform
        self.where = where

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> torch.Tensor:
        return _apply(self.transform, self.samples[index], self.where, index)


class _ImageFiles(Dataset):
    def __init__(
        self, paths: list[str], base: Path, where: str, transform: Transform | None
    ) -> None:
        self.paths = paths
        self.base = base
        self.where = where
        self.transform = transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        from PIL import Image

        path = Path(self.paths[index])
        path = path if path.is_absolute() else self.base / path
        try:
            with Image.open(path) as image:
                width, height = image.size
                if width * height > MAX_IMAGE_PIXELS:
                    raise ProjectError(
                        f"Table {self.where}: image {path.name} (row {index}) declares "
                        f"{width} x {height} pixels, more than the limit of "
                        f"{MAX_IMAGE_PIXELS:,}; refusing to decode it."
                    )
                image.load()
                if image.mode not in ("L", "RGB"):
                    image = image.convert("RGB")
                pixels = np.array(image, dtype=np.uint8)  # writable, for user transforms
        except FileNotFoundError:
            raise ProjectError(
                f"Table {self.where}: image {path} (row {index}) does not exist."
            ) from None
        except Image.DecompressionBombError:
            raise ProjectError(
                f"Table {self.where}: image {path.name} (row {index}) declares more pixels than "
                f"the limit of {MAX_IMAGE_PIXELS:,}; refusing to decode it."
            ) from None
        except OSError as error:
            if error.errno == errno.ELOOP:
                raise ProjectError(
                    f"Table {self.where}: image {path.name} (row {index}) is a symbolic link "
                    "that loops."
                ) from None
            raise ProjectError(
                f"Table {self.where}: image {path.name} (row {index}) is corrupt or not an "
                f"image ({error})."
            ) from None
        except SyntaxError as error:  # some Pillow decoders raise it on broken files
            raise ProjectError(
                f"Table {self.where}: image {path.name} (row {index}) is corrupt or not an "
                f"image ({error})."
            ) from None
        if self.transform is None:
            return default_image_transform(pixels)
        return _apply(self.transform, pixels, self.where, index)


def _apply(transform: Transform, sample: RawSample, where: str, index: int) -> torch.Tensor:
    try:
        result = transform(sample)
    except Exception as error:  # noqa: BLE001 - the user's transform failed
        raise ProjectError(
            f"inputs.transform raised {type(error).__name__} on row {index} of {where}: {error}"
        ) from None
    if not isinstance(result, torch.Tensor):
        raise ProjectError(
            f"inputs.transform returned {type(result).__name__} for row {index} of {where}; "
            "expected a torch.Tensor."
        )
    return result
