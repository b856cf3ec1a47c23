"""Shared fixtures: small projects built once per session and copied per test, and a private cache.

No test touches ``~/.cache``: ``GENGAP_CACHE_DIR`` points at a per-test folder.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

sys.path.insert(0, str(Path(__file__).parent))
# pytest-xdist runs one worker per core: one thread each (inherited by the CLI subprocesses)
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("GENGAP_UMAP_WARM_UP", "0")  # no background numba compiling in tests
torch.set_num_threads(1)

from projects import make_tabular_project  # noqa: E402

IMAGE_MODEL_SOURCE = """
import torch
from torch import nn


class TinyConvNet(nn.Module):
    def __init__(self, channels: int = 1, num_classes: int = 2):
        super().__init__()
        torch.manual_seed(0)
        self.features = nn.Sequential(
            nn.Conv2d(channels, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()
        )
        self.head = nn.Linear(4, num_classes)

    def forward(self, x):
        return self.head(self.features(x))
"""


def read_yaml(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def write_yaml(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def edit_yaml(path: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    """Apply ``change`` to the parsed project file in place and write it back."""
    data = read_yaml(path)
    change(data)
    return write_yaml(path, data)


def as_parquet_folder(project: Path, split: str = "train") -> Path:
    """Rewrite ``split``'s table as a folder: three Parquet files (one in a subfolder, one in
    row groups of 7), plus the marker and checksum files Spark leaves beside them."""
    table = project.parent / "data" / f"{split}.parquet"
    frame = pd.read_parquet(table)
    folder = project.parent / "data" / split
    (folder / "part=2").mkdir(parents=True)
    frame.iloc[:25].to_parquet(folder / "part-0.parquet", index=False, row_group_size=7)
    frame.iloc[25:60].to_parquet(folder / "part-1.parquet", index=False)
    frame.iloc[60:].to_parquet(folder / "part=2" / "part-0.parquet", index=False)
    (folder / "_SUCCESS").write_text("")
    (folder / ".part-0.parquet.crc").write_bytes(b"\x00")
    (folder / "_temporary").mkdir()
    frame.iloc[:3].to_parquet(folder / "_temporary" / "attempt.parquet", index=False)
    table.unlink()
    edit_yaml(project, lambda data: data["splits"][split].update(path=f"data/{split}"))
    return folder


def cache_entries(cache_dir: Path) -> list[Path]:
    """The complete entry folders of a cache."""
    root = cache_dir / "v1" / "entries"
    if not root.exists():
        return []
    return sorted(p for p in root.glob("*/*") if p.is_dir() and not p.name.startswith("."))


def entry_splits(cache_dir: Path) -> list[str]:
    """The split names recorded in the cache's entries."""
    import json

    return sorted(
        json.loads((entry / "manifest.json").read_text())["info"]["split"]
        for entry in cache_entries(cache_dir)
    )


def make_image_project(root: Path, *, n: int = 8, size: int = 8) -> Path:
    """A project of ``n`` grayscale PNGs (paths relative to the table) and a tiny CNN."""
    from PIL import Image

    root.mkdir(parents=True, exist_ok=True)
    (root / "model.py").write_text(IMAGE_MODEL_SOURCE)
    images = root / "data" / "images"
    images.mkdir(parents=True)
    rng = np.random.default_rng(0)
    rows = []
    for index in range(n):
        pixels = rng.integers(0, 256, (size, size), dtype=np.uint8)
        Image.fromarray(pixels, mode="L").save(images / f"img{index}.png")
        rows.append({"path": f"images/img{index}.png", "label": index % 2, "site": "a"})
    pd.DataFrame(rows).to_csv(root / "data" / "train.csv", index=False)
    pd.DataFrame(rows[::-1]).to_csv(root / "data" / "test.csv", index=False)
    project = {
        "name": "Tiny images",
        "model": {"factory": "model.py:TinyConvNet"},
        "inputs": {"kind": "image", "column": "path"},
        "label": "label",
        "metadata": ["site"],
        "splits": {
            "train": {"path": "data/train.csv", "role": "train"},
            "test": {"path": "data/test.csv", "role": "test"},
        },
    }
    return write_yaml(root / "project.yaml", project)


SAMPLE_DIR = Path(__file__).resolve().parents[1] / "sample_data" / "digits"


@pytest.fixture(scope="session")
def sample(tmp_path_factory: pytest.TempPathFactory):
    """The sample project opened once per session with every split's outputs loaded (read-only:
    tests must not change it)."""
    from gengap_dash.workspace import Workspace

    workspace = Workspace.from_file(SAMPLE_DIR, cache_dir=tmp_path_factory.mktemp("sample-cache"))
    workspace.compute()
    return workspace


@pytest.fixture(autouse=True)
def served_projects(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The dashboard serves only the folders its operator names (issue 14): in tests, the sample
    and the test's own folder. Tests of the refusals clear this themselves."""
    monkeypatch.setenv("GENGAP_PROJECTS_DIR", os.pathsep.join([str(SAMPLE_DIR), str(tmp_path)]))


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private cache folder for every test (``GENGAP_CACHE_DIR``)."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("GENGAP_CACHE_DIR", str(folder))
    monkeypatch.delenv("GENGAP_DEBUG", raising=False)
    return folder


@pytest.fixture(scope="session")
def _tabular_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built once per test session, shared by the pytest-xdist workers of that session."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return make_tabular_project(tmp_path_factory.mktemp("template") / "wine").parent
    shared = tmp_path_factory.getbasetemp().parent  # this session's folder, above the workers'
    target = shared / "wine-template"
    with (shared / "wine-template.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the other worker waits instead of building too
        if not (target / "project.yaml").is_file():
            building = shared / f"wine-template-{os.getpid()}"
            make_tabular_project(building)
            building.rename(target)
    return target


@pytest.fixture
def tabular_project(_tabular_template: Path, tmp_path: Path) -> Path:
    """A fresh copy of the tabular wine project; returns its ``project.yaml``."""
    target = tmp_path / "wine"
    shutil.copytree(_tabular_template, target)
    return target / "project.yaml"


@pytest.fixture(scope="session")
def _image_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_image_project(tmp_path_factory.mktemp("template") / "images").parent


@pytest.fixture
def image_project(_image_template: Path, tmp_path: Path) -> Path:
    """A fresh copy of the tiny PNG project; returns its ``project.yaml``."""
    target = tmp_path / "images"
    shutil.copytree(_image_template, target)
    return target / "project.yaml"
