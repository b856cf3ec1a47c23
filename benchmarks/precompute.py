"""Precompute: the local engine vs the Ray engine on this machine, side by side in one run.

Builds a synthetic image project (28x28 grayscale pixel arrays in Parquet, a small CNN with
saved weights; 200,000 samples by default, ``--samples`` for fewer) and precomputes it twice
into fresh caches: ``gengap precompute`` with the local engine (one process, torch on every
core) and with ``--engine ray`` (a local Ray instance, one single-threaded actor per core).
Both times cover what a user waits for: reading the table, inference, embeddings and the cache
write. Ray's startup (``ray.init``) is timed apart, since on a cluster it is paid once.

Prints a Markdown table: wall times, throughput, the Ray/local throughput ratio (with and
without startup), and each Ray worker's throughput, from which ``docs/distributed.md``
projects the wall time of larger runs.

    python benchmarks/precompute.py                  # 200,000 samples
    python benchmarks/precompute.py --samples 20000  # while developing
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
import yaml

MODEL_SOURCE = '''
import torch
from torch import nn


class Net(nn.Module):
    """A small CNN for 28x28 grayscale images (10 classes)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.head = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))

    def forward(self, x):
        return self.head(self.features(x))
'''


def build_project(root: Path, n_samples: int, *, seed: int = 0) -> Path:
    """Write the synthetic project under ``root``; returns its ``project.yaml``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "model.py").write_text(MODEL_SOURCE)
    namespace: dict = {}
    exec(compile(MODEL_SOURCE, "model.py", "exec"), namespace)
    torch.manual_seed(seed)
    torch.save(namespace["Net"]().state_dict(), root / "weights.pt")
    rng = np.random.default_rng(seed)
    (root / "data").mkdir(exist_ok=True)
    writer = None
    path = root / "data" / "images.parquet"
    chunk = 20_000
    for start in range(0, n_samples, chunk):
        rows = min(chunk, n_samples - start)
        pixels = rng.integers(0, 256, (rows, 28 * 28), dtype=np.uint8)
        table = pa.table(
            {
                "id": [f"s{i}" for i in range(start, start + rows)],
                "pixels": pa.FixedSizeListArray.from_arrays(pa.array(pixels.ravel()), 28 * 28).cast(
                    pa.list_(pa.uint8())
                ),
                "label": rng.integers(0, 10, rows),
            }
        )
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table, row_group_size=8192)
    if writer is not None:
        writer.close()
    project = {
        "name": "Synthetic images",
        "model": {"factory": "model.py:Net", "weights": "weights.pt"},
        "inputs": {"kind": "image", "column": "pixels", "image_shape": [28, 28]},
        "id": "id",
        "label": "label",
        "splits": {"test": {"path": "data/images.parquet", "role": "test"}},
        "inference": {"batch_size": 512},
    }
    (root / "project.yaml").write_text(yaml.safe_dump(project, sort_keys=False))
    return root / "project.yaml"


def run_local(project: Path, cache: Path) -> float:
    """``gengap precompute`` with the local engine (inference + cache write), in seconds."""
    from gengap_dash.workspace import Workspace

    started = time.perf_counter()
    Workspace.from_file(project, cache_dir=cache).compute()
    return time.perf_counter() - started


def run_ray(project: Path, cache: Path, *, shard_rows: int | None):
    """``gengap precompute --engine ray`` on the running Ray instance: (seconds, report)."""
    from gengap_dash.cli.ray_precompute import precompute_with_ray
    from gengap_dash.workspace import Workspace

    started = time.perf_counter()
    workspace = Workspace.from_file(project, cache_dir=cache)
    report = precompute_with_ray(workspace, progress=False, shard_rows=shard_rows)
    workspace.compute()  # what `gengap precompute` does next: reads the sharded entry back
    return time.perf_counter() - started, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200_000)
    parser.add_argument("--cpus", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--shard-rows", type=int, default=None)
    parser.add_argument("--order", choices=("local-first", "ray-first"), default="local-first")
    arguments = parser.parse_args()

    import ray

    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        built = time.perf_counter()
        project = build_project(base / "project", arguments.samples)
        built = time.perf_counter() - built
        started = time.perf_counter()
        ray.init(num_cpus=arguments.cpus, include_dashboard=False, logging_level="WARNING")
        startup = time.perf_counter() - started
        try:
            if arguments.order == "local-first":
                local = run_local(project, base / "local-cache")
                ray_seconds, report = run_ray(project, base / "ray-cache", shard_rows=None)
            else:
                ray_seconds, report = run_ray(project, base / "ray-cache", shard_rows=None)
                local = run_local(project, base / "local-cache")
            from gengap_dash.workspace import Workspace

            a = Workspace.from_file(project, cache_dir=base / "local-cache")
            b = Workspace.from_file(project, cache_dir=base / "ray-cache")
            gap = float(np.abs(a.logits("test") - b.logits("test")).max())
        finally:
            ray.shutdown()
    n = arguments.samples
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"torch {torch.__version__}, ray {ray.__version__}")  # fmt: skip
    print(f"samples: {n:,} (28x28 grayscale, Parquet, built in {built:.0f} s); batch size 512; "
          f"Ray: {report.workers} workers, {report.shards} shards; largest logit difference "
          f"Ray vs local: {gap:.1e}\n")  # fmt: skip
    print("| engine | wall time (s) | samples/s | Ray / local throughput |")
    print("|---|---|---|---|")
    print(f"| local (one process, {torch.get_num_threads()} torch threads) | {local:.1f} | "
          f"{n / local:,.0f} | |")  # fmt: skip
    print(f"| Ray, instance running (cluster case) | {ray_seconds:.1f} | {n / ray_seconds:,.0f} | "
          f"{local / ray_seconds:.2f} |")  # fmt: skip
    cold = ray_seconds + startup
    print(f"| Ray, startup included ({startup:.1f} s) | {cold:.1f} | {n / cold:,.0f} | "
          f"{local / cold:.2f} |")  # fmt: skip
    print("\n| Ray worker | shards | samples | busy seconds | samples/s while busy |")
    print("|---|---|---|---|---|")
    for worker in report.per_worker:
        print(f"| {worker.worker} | {worker.shards} | {worker.samples:,} | {worker.seconds:.1f} | "
              f"{worker.samples_per_second:,.0f} |")  # fmt: skip
    busy = sum(worker.seconds for worker in report.per_worker)
    overhead = ray_seconds - busy / report.workers
    print(
        f"\nRay time beyond the workers' mean busy time: {overhead:.1f} s (actor start, "
        "scheduling, imbalance at the end, reading the entry back)"
    )


if __name__ == "__main__":
    main()
