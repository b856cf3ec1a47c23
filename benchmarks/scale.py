"""How the commands and pages scale from 10,000 to 1,000,000 predictions (issue 7).

Builds brought-predictions projects (5 splits, 10 classes, 3 metadata columns) of each size,
then times, side by side in one run, each in a NEW process (so nothing is cached in memory):

- `gengap scorecard --json`, `gengap summary --json` (every view's headline) and
  `gengap calibration --json`, cold (no result cache on disk) and
  warm (result cache on disk);
- the overview and calibration pages through Streamlit's AppTest, cold and warm; the page time
  is measured inside the process: the first open (imports of the page's modules included), then
  a second open after clearing Streamlit's in-memory caches, which reads only the disk cache.

Medians of --repeats runs. Prints a Markdown table and the 1M/10k ratios of the cold commands.

    python benchmarks/scale.py [--rows 10000 1000000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

ROOT = Path(__file__).resolve().parents[1]
SPLITS = {"train": 0.4, "val": 0.15, "test": 0.15, "shifted": 0.15, "field": 0.15}
ROLES = {"train": "train", "val": "validation", "test": "test", "shifted": "shifted",
         "field": "deployment"}  # fmt: skip
N_CLASSES = 10

PAGE_TIMER = """
import sys, time
from streamlit.testing.v1 import AppTest
import gengap_dash.views.registry, gengap_dash.workspace, plotly.graph_objects  # imports first
import streamlit as st


def open_page():
    at = AppTest.from_file("app.py", default_timeout=600)
    start = time.perf_counter()
    at.run()
    if sys.argv[1] != "overview":
        at.switch_page(f"pages/{sys.argv[1]}.py").run()
    if at.exception:
        raise SystemExit(f"page failed: {at.exception[0].value}")
    return time.perf_counter() - start


first = open_page()  # imports the page's modules (and, cold, computes into the disk cache)
st.cache_resource.clear()  # forget everything held in memory: the next open reads the disk
st.cache_data.clear()
print(first, open_page())
"""


def build_project(root: Path, rows: int) -> Path:
    """A brought-predictions project: one Parquet file with a `probs` list column."""
    rng = np.random.default_rng(0)
    parts = []
    for split, share in SPLITS.items():
        n = int(rows * share)
        skill = {"train": 3.0, "val": 2.0, "test": 2.0, "shifted": 1.2, "field": 1.0}[split]
        labels = rng.integers(0, N_CLASSES, n)
        logits = rng.normal(size=(n, N_CLASSES)).astype(np.float32)
        logits[np.arange(n), labels] += skill
        probs = np.exp(logits - logits.max(1, keepdims=True))
        probs /= probs.sum(1, keepdims=True)
        parts.append(
            pd.DataFrame(
                {
                    "split": split,
                    "sample_id": [f"{split}-{i}" for i in range(n)],
                    "label": labels,
                    "site": rng.choice(["north", "south", "east", "west"], n),
                    "sensor": rng.choice(["A", "B", "C"], n),
                    "hour": rng.integers(0, 24, n),
                    "probs": list(probs.astype(np.float32)),
                }
            )
        )
    frame = pd.concat(parts, ignore_index=True)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(table, root / "predictions.parquet")
    project = {
        "name": f"scale {rows:,}",
        "predictions": "predictions.parquet",
        "classes": [f"c{k}" for k in range(N_CLASSES)],
        "metadata": ["site", "sensor", "hour"],
        "splits": {name: {"role": role} for name, role in ROLES.items()},
    }
    (root / "project.yaml").write_text(yaml.safe_dump(project, sort_keys=False))
    return root / "project.yaml"


def run_command(arguments: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "gengap_dash.cli.main", *arguments],
        capture_output=True, text=True, env=env, cwd=ROOT,
    )  # fmt: skip
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{arguments[0]} failed: {result.stderr.strip()[-500:]}")
    json.loads(result.stdout)
    return elapsed


def run_page(page: str, project: Path, env: dict[str, str]) -> tuple[float, float]:
    result = subprocess.run(
        [sys.executable, "-c", PAGE_TIMER, page],
        capture_output=True, text=True, cwd=ROOT,
        env={**env, "GENGAP_PROJECT": str(project)},
    )  # fmt: skip
    if result.returncode != 0:
        raise SystemExit(f"page {page} failed: {result.stderr.strip()[-800:]}")
    first, after_imports = result.stdout.strip().splitlines()[-1].split()
    return float(first), float(after_imports)


def clear_results(cache: Path) -> None:
    shutil.rmtree(cache / "results", ignore_errors=True)


def measure(rows: int, repeats: int, folder: Path) -> dict[str, float]:
    root = folder / f"rows{rows}"
    root.mkdir()
    project = build_project(root, rows)
    cache = root / "cache"
    env = {**os.environ, "GENGAP_CACHE_DIR": str(cache)}
    base = ["--cache-dir", str(cache), "--json"]
    timings: dict[str, list[float]] = {}
    run_command(["summary", str(project), *base], env)  # fills the fingerprint memo once
    for _ in range(repeats):
        for name, arguments in (
            ("scorecard", ["scorecard", str(project), *base]),
            ("summary", ["summary", str(project), *base]),
            ("calibration", ["calibration", str(project), *base]),
        ):
            clear_results(cache)
            timings.setdefault(f"{name} cold", []).append(run_command(arguments, env))
            timings.setdefault(f"{name} warm", []).append(run_command(arguments, env))
        for page in ("overview", "calibration"):
            clear_results(cache)
            cold, _ = run_page(page, project, env)
            timings.setdefault(f"page {page} cold (first open, imports included)", []).append(cold)
            warm, after_imports = run_page(page, project, env)
            timings.setdefault(f"page {page} warm (new process, imports included)", []).append(warm)
            timings.setdefault(f"page {page} warm (disk cache only, after imports)", []).append(
                after_imports
            )
    return {name: statistics.median(values) for name, values in timings.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        results = {rows: measure(rows, arguments.repeats, Path(folder)) for rows in arguments.rows}
    sizes = list(results)
    print(f"medians of {arguments.repeats} runs, each in a new process\n")
    print("| what | " + " | ".join(f"{rows:,} rows (s)" for rows in sizes) + " | ratio |")
    print("|---|" + "---|" * (len(sizes) + 1))
    for name in results[sizes[0]]:
        values = [results[rows][name] for rows in sizes]
        ratio = values[-1] / values[0] if values[0] > 0 else float("nan")
        print(f"| {name} | " + " | ".join(f"{v:.2f}" for v in values) + f" | {ratio:.1f}x |")


if __name__ == "__main__":
    main()
