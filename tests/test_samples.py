"""From a split table to model inputs: pixel arrays, image files, tabular features, transforms."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from gengap_dash.data.samples import build_sample_source, default_image_transform, input_columns
from gengap_dash.project.errors import ProjectError
from gengap_dash.project.spec import ProjectSpec, parse_project

TRANSFORMS = """
import numpy as np
import torch


def double(sample):
    return torch.as_tensor(np.asarray(sample, dtype=np.float32) * 2)


def fails(sample):
    raise ValueError("cannot handle this sample")


def not_a_tensor(sample):
    return [1.0, 2.0]


def to_float(image):
    return torch.as_tensor(image, dtype=torch.float32)[None] / 10
"""


def _spec(tmp_path: Path, inputs: dict[str, Any], **extra: Any) -> ProjectSpec:
    raw = {
        "name": "t",
        "model": {"factory": "m.py:f"},
        "inputs": inputs,
        "label": "label",
        "splits": {"train": {"path": "train.csv", "role": "train"}},
        **extra,
    }
    return parse_project(raw, path=tmp_path / "project.yaml")


def _images(n: int = 4, shape: tuple[int, ...] = (4, 5), seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, *shape), dtype=np.uint8)


def _expected(images: np.ndarray) -> torch.Tensor:
    batch = torch.from_numpy(images).float() / 255
    return batch.unsqueeze(1) if batch.ndim == 3 else batch.permute(0, 3, 1, 2)


def _all(source) -> torch.Tensor:
    if source.tensor is not None:
        return source.tensor
    return torch.stack([source.dataset[i] for i in range(len(source.dataset))])


# -- pixel arrays --------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(4, 5), (4, 5, 3)])
def test_flat_pixel_arrays_with_image_shape(tmp_path: Path, shape: tuple[int, ...]) -> None:
    images = _images(shape=shape)
    frame = pd.DataFrame({"pixels": [image.ravel().tolist() for image in images], "label": 0})
    spec = _spec(tmp_path, {"kind": "image", "column": "pixels", "image_shape": list(shape)})
    source = build_sample_source(frame, spec, table_path=tmp_path / "train.csv")
    assert source.n_samples == 4
    assert source.tensor is not None
    assert source.tensor.dtype == torch.float32
    torch.testing.assert_close(source.tensor, _expected(images))


@pytest.mark.parametrize("shape", [(4, 5), (4, 5, 3)])
def test_nested_pixel_arrays_from_parquet(tmp_path: Path, shape: tuple[int, ...]) -> None:
    images = _images(shape=shape)
    path = tmp_path / "train.parquet"
    pd.DataFrame({"pixels": [image.tolist() for image in images], "label": 0}).to_parquet(path)
    frame = pd.read_parquet(path)
    spec = _spec(tmp_path, {"kind": "image", "column": "pixels"})
    source = build_sample_source(frame, spec, table_path=path)
    torch.testing.assert_close(_all(source), _expected(images))


def test_pixel_arrays_as_numpy_cells(tmp_path: Path) -> None:
    images = _images(shape=(3, 3))
    frame = pd.DataFrame({"pixels": list(images), "label": 0})
    spec = _spec(tmp_path, {"kind": "image", "column": "pixels"})
    source = build_sample_source(frame, spec, table_path=tmp_path / "t.parquet")
    torch.testing.assert_close(_all(source), _expected(images))


def test_pixel_array_of_the_wrong_size(tmp_path: Path) -> None:
    frame = pd.DataFrame({"pixels": [[0] * 20, [0] * 19], "label": 0})
    spec = _spec(tmp_path, {"kind": "image", "column": "pixels", "image_shape": [4, 5]})
    with pytest.raises(
        ProjectError,
        match=r"Table t\.parquet: column 'pixels' row 1 has 19 values; inputs\.image_shape "
        r"\[4, 5\] needs 20",
    ):
        build_sample_source(frame, spec, table_path=tmp_path / "t.parquet")


def test_flat_pixels_without_image_shape(tmp_path: Path) -> None:
    frame = pd.DataFrame({"pixels": [[0] * 20], "label": 0})
    spec = _spec(tmp_path, {"kind": "image", "column": "pixels"})
    with pytest.raises(ProjectError, match=r"row 0 has shape \(20,\); expected HxW or HxWxC"):
        build_sample_source(frame, spec, table_path=tmp_path / "t.parquet")


def test_ragged_nested_pixels(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    pd.DataFrame({"pixels": [[[1, 2], [3]]], "label": 0}).to_parquet(path)
    spec = _spec(tmp_path, {"kind": "image", "column": "pixels"})
    with pytest.raises(ProjectError, match=r"Table t\.parquet: column 'pixels' row 0"):
        build_sample_source(pd.read_parquet(path), spec, table_path=path)


def test_images_of_different_shapes(tmp_path: Path) -> None:
    frame = pd.DataFrame({"pixels": [np.zeros((2, 2)), np.zeros((3, 3))], "label": 0})
    spec = _spec(tmp_path, {"kind": "image", "column": "pixels"})
    with pytest.raises(ProjectError, match="images in column 'pixels' have different shapes"):
        build_sample_source(frame, spec, table_path=tmp_path / "t.parquet")


@pytest.mark.parametrize("values", [[[-1, 2], [3, 4]], [[0.5, 2], [3, 4]], [[0, 256], [3, 4]]])
def test_pixels_out_of_range(tmp_path: Path, values: list) -> None:
    frame = pd.DataFrame({"pixels": [np.asarray(values)], "label": 0})
    spec = _spec(tmp_path, {"kind": "image", "column": "pixels"})
    with pytest.raises(
        ProjectError, match=r"pixels in column 'pixels' must be whole numbers 0\.\."
    ):
        build_sample_source(frame, spec, table_path=tmp_path / "t.parquet")


def test_image_column_missing(tmp_path: Path) -> None:
    spec = _spec(tmp_path, {"kind": "image", "column": "pixels"})
    with pytest.raises(ProjectError, match=r"Table t\.csv: image column 'pixels' is missing"):
        build_sample_source(pd.DataFrame({"label": [0]}), spec, table_path=tmp_path / "t.csv")


def test_empty_pixel_cell(tmp_path: Path) -> None:
    frame = pd.DataFrame({"pixels": [np.zeros((2, 2)), None], "label": 0})
    spec = _spec(tmp_path, {"kind": "image", "column": "pixels"})
    with pytest.raises(ProjectError, match=r"column 'pixels' is empty in row 1"):
        build_sample_source(frame, spec, table_path=tmp_path / "t.parquet")


# -- image files ---------------------------------------------------------------------------------


def _write_pngs(folder: Path, images: np.ndarray) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for index, image in enumerate(images):
        Image.fromarray(image).save(folder / f"img{index}.png")
        names.append(f"{folder.name}/img{index}.png")
    return names


@pytest.mark.parametrize("shape", [(6, 7), (6, 7, 3)])
def test_png_paths_relative_to_the_table(tmp_path: Path, shape: tuple[int, ...]) -> None:
    data = tmp_path / "data"
    images = _images(n=3, shape=shape)
    names = _write_pngs(data / "pngs", images)
    frame = pd.DataFrame({"path": names, "label": [0, 1, 0]})
    spec = _spec(tmp_path, {"kind": "image", "column": "path"})
    source = build_sample_source(frame, spec, table_path=data / "train.csv")
    assert source.n_samples == 3
    assert source.dataset is not None
    torch.testing.assert_close(_all(source), _expected(images))


def test_png_absolute_paths(tmp_path: Path) -> None:
    images = _images(n=2, shape=(5, 5))
    names = [str(tmp_path / name) for name in _write_pngs(tmp_path / "abs", images)]
    frame = pd.DataFrame({"path": names, "label": 0})
    spec = _spec(tmp_path, {"kind": "image", "column": "path"})
    source = build_sample_source(frame, spec, table_path=tmp_path / "elsewhere" / "t.csv")
    torch.testing.assert_close(_all(source), _expected(images))


def test_palette_and_alpha_images_become_rgb(tmp_path: Path) -> None:
    Image.new("RGBA", (4, 3), (10, 20, 30, 128)).save(tmp_path / "a.png")
    Image.new("P", (4, 3)).save(tmp_path / "p.png")
    frame = pd.DataFrame({"path": ["a.png", "p.png"], "label": 0})
    spec = _spec(tmp_path, {"kind": "image", "column": "path"})
    source = build_sample_source(frame, spec, table_path=tmp_path / "t.csv")
    first = source.dataset[0]
    assert first.shape == (3, 3, 4)
    torch.testing.assert_close(first[:, 0, 0], torch.tensor([10, 20, 30]) / 255.0)
    assert source.dataset[1].shape == (3, 3, 4)


def test_corrupt_image_names_file_and_row(tmp_path: Path) -> None:
    names = _write_pngs(tmp_path / "pngs", _images(n=2, shape=(4, 4)))
    (tmp_path / "pngs" / "broken.png").write_bytes(b"\x89PNG garbage, not an image")
    frame = pd.DataFrame({"path": [*names, "pngs/broken.png"], "label": 0})
    spec = _spec(tmp_path, {"kind": "image", "column": "path"})
    source = build_sample_source(frame, spec, table_path=tmp_path / "train.csv")
    source.dataset[0]
    with pytest.raises(
        ProjectError,
        match=r"Table train\.csv: image broken\.png \(row 2\) is corrupt or not an image",
    ):
        source.dataset[2]


def test_truncated_png(tmp_path: Path) -> None:
    _write_pngs(tmp_path / "pngs", _images(n=1, shape=(32, 32)))
    path = tmp_path / "pngs" / "img0.png"
    path.write_bytes(path.read_bytes()[:60])
    frame = pd.DataFrame({"path": ["pngs/img0.png"], "label": 0})
    spec = _spec(tmp_path, {"kind": "image", "column": "path"})
    source = build_sample_source(frame, spec, table_path=tmp_path / "t.csv")
    with pytest.raises(ProjectError, match=r"image img0\.png \(row 0\) is corrupt"):
        source.dataset[0]


def test_missing_image_file(tmp_path: Path) -> None:
    frame = pd.DataFrame({"path": ["pngs/none.png"], "label": 0})
    spec = _spec(tmp_path, {"kind": "image", "column": "path"})
    source = build_sample_source(frame, spec, table_path=tmp_path / "t.csv")
    with pytest.raises(
        ProjectError, match=r"Table t\.csv: image .*pngs/none\.png \(row 0\) does not exist"
    ):
        source.dataset[0]


def test_default_image_transform() -> None:
    gray = np.array([[0, 255]], dtype=np.uint8)
    torch.testing.assert_close(default_image_transform(gray), torch.tensor([[[0.0, 1.0]]]))
    rgb = np.zeros((2, 3, 3), dtype=np.uint8)
    assert default_image_transform(rgb).shape == (3, 2, 3)


# -- tabular -------------------------------------------------------------------------------------


def _table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": ["a", "b", "c"],
            "x1": [1.0, 2.0, 3.0],
            "x2": [4, 5, 6],
            "site": ["s1", "s2", "s1"],
            "year": [2020, 2021, 2022],
            "when": ["2024-01-01", "2024-01-02", "2024-01-03"],
            "label": [0, 1, 0],
        }
    )


def test_default_features_are_numeric_columns_except_reserved(tmp_path: Path) -> None:
    spec = _spec(tmp_path, {"kind": "tabular"}, id="id", metadata=["site", "year"], time="when")
    frame = _table()
    source = build_sample_source(frame, spec, table_path=tmp_path / "t.csv")
    assert source.tensor is not None
    assert source.tensor.dtype == torch.float32
    np.testing.assert_array_equal(source.tensor.numpy(), [[1, 4], [2, 5], [3, 6]])


def test_default_features_skip_text_columns_that_are_not_declared(tmp_path: Path) -> None:
    spec = _spec(tmp_path, {"kind": "tabular"})
    source = build_sample_source(_table(), spec, table_path=tmp_path / "t.csv")
    assert source.tensor is not None
    np.testing.assert_array_equal(source.tensor.numpy(), [[1, 4, 2020], [2, 5, 2021], [3, 6, 2022]])
    assert input_columns(spec, list(_table().columns))[:3] == ["id", "x1", "x2"]


def test_explicit_features_keep_their_order(tmp_path: Path) -> None:
    spec = _spec(tmp_path, {"kind": "tabular", "features": ["x2", "x1"]})
    source = build_sample_source(_table(), spec, table_path=tmp_path / "t.csv")
    np.testing.assert_array_equal(source.tensor.numpy(), [[4, 1], [5, 2], [6, 3]])


def test_non_numeric_feature_column(tmp_path: Path) -> None:
    spec = _spec(tmp_path, {"kind": "tabular", "features": ["x1", "site"]})
    with pytest.raises(
        ProjectError,
        match=r"Table t\.csv: feature column 'site' is not numeric \(e\.g\. 's1'\)",
    ):
        build_sample_source(_table(), spec, table_path=tmp_path / "t.csv")


def test_missing_feature_column(tmp_path: Path) -> None:
    spec = _spec(tmp_path, {"kind": "tabular", "features": ["x1", "x9"]})
    with pytest.raises(ProjectError, match=r"Table t\.csv: feature column 'x9' is missing"):
        build_sample_source(_table(), spec, table_path=tmp_path / "t.csv")


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf_feature(tmp_path: Path, bad: float) -> None:
    frame = _table()
    frame.loc[1, "x1"] = bad
    spec = _spec(tmp_path, {"kind": "tabular", "features": ["x1", "x2"]})
    with pytest.raises(
        ProjectError,
        match=r"Table t\.csv: feature column 'x1' has a missing or infinite value in row 1 "
        r"\(1 rows in all\)",
    ):
        build_sample_source(frame, spec, table_path=tmp_path / "t.csv")


def test_no_feature_columns(tmp_path: Path) -> None:
    spec = _spec(tmp_path, {"kind": "tabular"})
    with pytest.raises(ProjectError, match=r"no feature columns; list them under inputs\.features"):
        build_sample_source(pd.DataFrame({"label": [0, 1]}), spec, table_path=tmp_path / "t.csv")


# -- user transforms -----------------------------------------------------------------------------


@pytest.fixture
def transforms_dir(tmp_path: Path) -> Path:
    (tmp_path / "transforms.py").write_text(TRANSFORMS)
    return tmp_path


def test_user_transform_on_tabular_rows(transforms_dir: Path) -> None:
    spec = _spec(
        transforms_dir,
        {"kind": "tabular", "features": ["x1", "x2"], "transform": "transforms.py:double"},
    )
    source = build_sample_source(_table(), spec, table_path=transforms_dir / "t.csv")
    assert source.tensor is None
    assert source.dataset is not None
    assert len(source.dataset) == 3
    torch.testing.assert_close(source.dataset[2], torch.tensor([6.0, 12.0]))


def test_user_transform_on_image_files(transforms_dir: Path) -> None:
    images = _images(n=2, shape=(4, 4))
    names = _write_pngs(transforms_dir / "pngs", images)
    spec = _spec(
        transforms_dir, {"kind": "image", "column": "path", "transform": "transforms.py:to_float"}
    )
    frame = pd.DataFrame({"path": names, "label": 0})
    source = build_sample_source(frame, spec, table_path=transforms_dir / "t.csv")
    torch.testing.assert_close(source.dataset[1], torch.from_numpy(images[1]).float()[None] / 10)


def test_user_transform_on_pixel_arrays(transforms_dir: Path) -> None:
    images = _images(n=2, shape=(3, 3))
    spec = _spec(
        transforms_dir, {"kind": "image", "column": "pixels", "transform": "transforms.py:to_float"}
    )
    frame = pd.DataFrame({"pixels": list(images), "label": 0})
    source = build_sample_source(frame, spec, table_path=transforms_dir / "t.parquet")
    torch.testing.assert_close(source.dataset[0], torch.from_numpy(images[0]).float()[None] / 10)


def test_transform_that_raises(transforms_dir: Path) -> None:
    spec = _spec(transforms_dir, {"kind": "tabular", "transform": "transforms.py:fails"})
    source = build_sample_source(_table(), spec, table_path=transforms_dir / "t.csv")
    with pytest.raises(
        ProjectError,
        match=r"inputs\.transform raised ValueError on row 1 of t\.csv: cannot handle this sample",
    ):
        source.dataset[1]


def test_transform_returning_a_non_tensor(transforms_dir: Path) -> None:
    spec = _spec(transforms_dir, {"kind": "tabular", "transform": "transforms.py:not_a_tensor"})
    source = build_sample_source(_table(), spec, table_path=transforms_dir / "t.csv")
    with pytest.raises(
        ProjectError,
        match=r"inputs\.transform returned list for row 0 of t\.csv; expected a torch\.Tensor",
    ):
        source.dataset[0]


def test_transform_that_does_not_exist(transforms_dir: Path) -> None:
    spec = _spec(transforms_dir, {"kind": "tabular", "transform": "transforms.py:nope"})
    with pytest.raises(ProjectError, match=r"transforms\.py has no callable named 'nope'"):
        build_sample_source(_table(), spec, table_path=transforms_dir / "t.csv")


@pytest.mark.parametrize(
    "inputs",
    [{"kind": "tabular"}, {"kind": "image", "column": "pixels"}],
    ids=["tabular", "image"],
)
def test_empty_table(tmp_path: Path, inputs: dict[str, Any]) -> None:
    frame = pd.DataFrame({"pixels": [], "x": [], "label": []})
    spec = _spec(tmp_path, inputs)
    with pytest.raises(ProjectError, match=r"Table t\.parquet has no rows; a split needs at least"):
        build_sample_source(frame, spec, table_path=tmp_path / "t.parquet")
