"""Opening a project whose cache is warm: 100k predictions must load in under a second.

Builds a tabular project with N rows split into train/validation/test/shifted (a small MLP, 10
classes, 32 features, 64-dim embeddings), runs inference once (cold), then times warm opens
(a new ``Workspace`` each time: read the project file, fingerprint the data via the memo, load
and verify the checksummed cache entries, assemble the hub table) side by side with the floor of
reading the same predictions back from one plain Parquet export. Medians of several runs.

    python benchmarks/cache_load.py [--rows 100000] [--repeats 7]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

from gengap_dash.data.predictions import to_export_frame
from gengap_dash.workspace import Workspace

MODEL_SOURCE = """
from torch import nn

def mlp(n_features=32, num_classes=10):
    return nn.Sequential(nn.Linear(n_features, 64), nn.ReLU(), nn.Linear(64, num_classes))
"""


def build_project(root: Path, rows: int) -> Path:
    rng = np.random.default_rng(0)
    (root / "model.py").write_text(MODEL_SOURCE)
    torch.manual_seed(0)
    namespace: dict = {}
    exec(MODEL_SOURCE, namespace)
    torch.save(namespace["mlp"]().state_dict(), root / "weights.pt")
    features = [f"x{k}" for k in range(32)]
    splits = {"train": 0.4, "val": 0.2, "test": 0.2, "shifted": 0.2}
    spec_splits = {}
    roles = {"train": "train", "val": "validation", "test": "test", "shifted": "shifted"}
    for name, share in splits.items():
        n = int(rows * share)
        frame = pd.DataFrame(rng.normal(size=(n, 32)).astype(np.float32), columns=features)
        frame["label"] = rng.integers(0, 10, n)
        frame["site"] = rng.choice(["a", "b", "c"], n)
        frame.to_parquet(root / f"{name}.parquet", index=False)
        spec_splits[name] = {"path": f"{name}.parquet", "role": roles[name]}
    project = {
        "name": "cache benchmark",
        "model": {"factory": "model.py:mlp", "weights": "weights.pt"},
        "inputs": {"kind": "tabular", "features": features},
        "label": "label",
        "metadata": ["site"],
        "splits": spec_splits,
        "inference": {"batch_size": 4096},
    }
    (root / "project.yaml").write_text(yaml.safe_dump(project))
    return root / "project.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=7)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        project = build_project(root, arguments.rows)
        cache = root / "cache"
        start = time.perf_counter()
        cold = Workspace.from_file(project, cache_dir=cache)
        table = cold.predictions()
        cold_time = time.perf_counter() - start
        export = root / "export.parquet"
        to_export_frame(table, cold.n_classes).to_parquet(export, index=False)
        warm_times, floor_times = [], []
        for _ in range(arguments.repeats):
            start = time.perf_counter()
            warm = Workspace.from_file(project, cache_dir=cache)
            frame = warm.predictions()
            warm.embeddings("train")
            warm_times.append(time.perf_counter() - start)
            if len(frame) != len(table):
                raise SystemExit("warm open returned a different number of rows")
            start = time.perf_counter()
            pd.read_parquet(export)
            floor_times.append(time.perf_counter() - start)
    warm, floor = statistics.median(warm_times), statistics.median(floor_times)
    print(
        f"rows: {len(table):,} predictions over 4 splits, repeats: {arguments.repeats} (medians)\n"
    )
    print("| path | median time (s) | ratio to plain Parquet read |")
    print("|---|---|---|")
    print(f"| cold open (inference + cache write) | {cold_time:.3f} | {cold_time / floor:.1f} |")
    print(
        f"| warm open (`Workspace.from_file().predictions()`) | {warm:.3f} | {warm / floor:.1f} |"
    )
    print(f"| plain `pd.read_parquet` of the export | {floor:.3f} | 1.0 |")


if __name__ == "__main__":
    main()
