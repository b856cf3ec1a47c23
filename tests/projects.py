"""Small projects that the tests build: a tabular MLP on scikit-learn's bundled wine data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml
from torch import nn

TABULAR_MODEL_SOURCE = """
from torch import nn


class WineMLP(nn.Module):
    def __init__(self, n_features: int = 13, num_classes: int = 3, hidden: int = 16):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(n_features, hidden), nn.ReLU())
        self.out = nn.Linear(hidden, num_classes)

    def forward(self, x):
        return self.out(self.body(x))
"""

WINE_FEATURES = [f"f{k}" for k in range(13)]


def make_tabular_project(root: Path, *, epochs: int = 60, seed: int = 0) -> Path:
    """Write a tabular project (3 classes, 13 features) with train/val/test/shifted splits.

    Returns:
        The path of its ``project.yaml``.
    """
    from sklearn.datasets import load_wine

    root.mkdir(parents=True, exist_ok=True)
    (root / "model.py").write_text(TABULAR_MODEL_SOURCE)
    data = load_wine()
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(data.target))
    features = data.data.astype(np.float32)
    mean, std = features[order[:90]].mean(0), features[order[:90]].std(0) + 1e-6
    features = (features - mean) / std
    parts = {"train": order[:90], "val": order[90:130], "test": order[130:]}
    tables = {}
    for name, index in parts.items():
        frame = pd.DataFrame(features[index], columns=WINE_FEATURES)
        frame.insert(0, "row_id", [f"{name}-{i}" for i in range(len(index))])
        frame["target"] = data.target[index]
        frame["batch"] = np.where(np.arange(len(index)) % 2 == 0, "early", "late")
        tables[name] = frame
    shifted = tables["test"].copy()
    shifted[WINE_FEATURES] = shifted[WINE_FEATURES] + rng.normal(0, 1.2, (len(shifted), 13))
    shifted["row_id"] = [f"noisy-{i}" for i in range(len(shifted))]
    tables["noisy"] = shifted

    torch.manual_seed(seed)
    exec_globals: dict = {}
    exec(compile(TABULAR_MODEL_SOURCE, "model.py", "exec"), exec_globals)
    model: nn.Module = exec_globals["WineMLP"]()
    x = torch.tensor(tables["train"][WINE_FEATURES].to_numpy(np.float32))
    y = torch.tensor(tables["train"]["target"].to_numpy())
    optimiser = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(epochs):
        optimiser.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimiser.step()
    torch.save(model.state_dict(), root / "weights.pt")

    (root / "data").mkdir(exist_ok=True)
    for name, frame in tables.items():
        if name == "val":
            frame.to_csv(root / "data" / f"{name}.csv", index=False)
        else:
            frame.to_parquet(root / "data" / f"{name}.parquet", index=False)
    project = {
        "name": "Wine MLP",
        "classes": ["class_0", "class_1", "class_2"],
        "model": {
            "factory": "model.py:WineMLP",
            "kwargs": {"n_features": 13, "num_classes": 3},
            "weights": "weights.pt",
        },
        "inputs": {"kind": "tabular", "features": WINE_FEATURES},
        "id": "row_id",
        "label": "target",
        "metadata": ["batch"],
        "splits": {
            "train": {"path": "data/train.parquet", "role": "train"},
            "val": {"path": "data/val.csv", "role": "validation"},
            "test": {"path": "data/test.parquet", "role": "test"},
            "noisy": {"path": "data/noisy.parquet", "role": "shifted"},
        },
    }
    path = root / "project.yaml"
    path.write_text(yaml.safe_dump(project, sort_keys=False))
    return path
