"""How the commands and pages scale with the number of predictions (issues 7 and 13).

Builds brought-predictions projects (5 splits, 10 classes, 3 metadata columns) of each size
(or reuses one under --keep, so the 10,000,000-row project is built once), then times, side by
side in one run, each in a NEW process (so nothing is cached in memory), with the process's
peak resident memory (``ru_maxrss`` from ``os.wait4``):

- each view's ``--json`` command that runs on such a project (scorecard, calibration, cohorts,
  slices, shift, ood) and ``gengap summary --json`` (every view's headline), cold (no result
  cache on disk) and warm (result cache on disk);
- the overview, calibration, cohorts and feature-space pages through Streamlit's AppTest, cold
  and warm; the page time is measured inside the process: the first open (imports of the
  page's modules included), then a second open after clearing Streamlit's in-memory caches,
  which reads only the disk cache.

Medians of --repeats runs. Prints a Markdown table with the ratio of the last size to the first.

    python benchmarks/scale.py [--rows 10000 1000000] [--repeats 3]
    python benchmarks/scale.py --rows 1000000 10000000 --repeats 1 --keep /tmp/gengap-scale
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
    """A brought-predictions project: one Parquet file with a `probs` list column, written one
    split at a time (vectorised: 10,000,000 rows in about a minute and under 3 GB)."""
    import pyarrow.compute as pc

    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    writer = None
    for split, share in SPLITS.items():
        n = int(rows * share)
        skill = {"train": 3.0, "val": 2.0, "test": 2.0, "shifted": 1.2, "field": 1.0}[split]
        labels = rng.integers(0, N_CLASSES, n)
        logits = rng.normal(size=(n, N_CLASSES)).astype(np.float32)
        logits[np.arange(n), labels] += skill
        logits -= logits.max(1, keepdims=True)
        np.exp(logits, out=logits)
        logits /= logits.sum(1, keepdims=True)
        probs = pa.FixedSizeListArray.from_arrays(pa.array(logits.reshape(-1)), N_CLASSES)
        del logits
        numbers = pa.array(np.arange(n)).cast(pa.string())
        table = pa.table(
            {
                "split": pa.array(np.full(n, split)).dictionary_encode(),
                "sample_id": pc.binary_join_element_wise(split, numbers, "-"),
                "label": labels,
                "site": pa.array(
                    np.array(["north", "south", "east", "west"])[rng.integers(0, 4, n)]
                ),
                "sensor": pa.array(np.array(["A", "B", "C"])[rng.integers(0, 3, n)]),
                "hour": rng.integers(0, 24, n),
                "probs": probs,
            }
        )
        if writer is None:
            writer = pq.ParquetWriter(root / "predictions.parquet", table.schema)
        writer.write_table(table, row_group_size=1_000_000)
        del table, probs, numbers
    if writer is not None:
        writer.close()
    project = {
        "name": f"scale {rows:,}",
        "predictions": "predictions.parquet",
        "classes": [f"c{k}" for k in range(N_CLASSES)],
        "metadata": ["site", "sensor", "hour"],
        "splits": {name: {"role": role} for name, role in ROLES.items()},
    }
    (root / "project.yaml").write_text(yaml.safe_dump(project, sort_keys=False))
    return root / "project.yaml"


COMMANDS = ("scorecard", "summary", "calibration", "cohorts", "slices", "shift", "ood")
PAGES = ("overview", "calibration", "cohorts", "feature_space")


CPU_SECONDS: list[float] = []
"""CPU time (user + system, s) of each process run, in order: on a shared machine it moves less
with the load than the wall time does."""


def run_process(arguments: list[str], env: dict[str, str]) -> tuple[str, float, float]:
    """Run ``arguments`` in a new process: its stdout, wall time (s) and peak memory (GB, the
    child's own ``ru_maxrss`` from ``os.wait4``); its CPU time goes to :data:`CPU_SECONDS`."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        process = subprocess.Popen(arguments, stdout=out, stderr=err, env=env, cwd=ROOT)
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        CPU_SECONDS.append(usage.ru_utime + usage.ru_stime)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if process.returncode != 0:
        raise SystemExit(f"{arguments[2:4]} failed: {stderr.strip()[-800:]}")
    return stdout, elapsed, usage.ru_maxrss / 1e6


def run_command(arguments: list[str], env: dict[str, str]) -> tuple[float, float]:
    stdout, elapsed, peak = run_process(
        [sys.executable, "-m", "gengap_dash.cli.main", *arguments], env
    )
    json.loads(stdout)
    return elapsed, peak


def run_page(page: str, project: Path, env: dict[str, str]) -> tuple[float, float, float]:
    stdout, _, peak = run_process(
        [sys.executable, "-c", PAGE_TIMER, page], {**env, "GENGAP_PROJECT": str(project)}
    )
    first, after_imports = stdout.strip().splitlines()[-1].split()
    return float(first), float(after_imports), peak


def clear_results(cache: Path) -> None:
    shutil.rmtree(cache / "results", ignore_errors=True)


def measure(
    rows: int,
    repeats: int,
    folder: Path,
    *,
    commands: tuple[str, ...] = COMMANDS,
    pages: tuple[str, ...] = PAGES,
) -> dict[str, float]:
    root = folder / f"rows{rows}"
    if (root / "project.yaml").is_file():
        project = root / "project.yaml"  # built by an earlier run (--keep)
    else:
        project = build_project(root, rows)
    cache = root / "cache"
    env = {**os.environ, "GENGAP_CACHE_DIR": str(cache)}
    base = ["--cache-dir", str(cache), "--json"]
    timings: dict[str, list[float]] = {}

    def record(name: str, value: float) -> None:
        timings.setdefault(name, []).append(value)
        print(f"  {rows:,} rows: {name}: {value:.2f}", file=sys.stderr, flush=True)

    run_command(["scorecard", str(project), *base], env)  # fills the fingerprint memo once
    for _ in range(repeats):
        for name in commands:
            arguments = [name, str(project), *base]
            clear_results(cache)
            elapsed, peak = run_command(arguments, env)
            record(f"`{name}` cold (s)", elapsed)
            record(f"`{name}` cold, CPU time (s)", CPU_SECONDS[-1])
            record(f"`{name}` cold, peak memory (GB)", peak)
            elapsed, peak = run_command(arguments, env)
            record(f"`{name}` warm (s)", elapsed)
            record(f"`{name}` warm, peak memory (GB)", peak)
        for page in pages:
            clear_results(cache)
            cold, _, peak = run_page(page, project, env)
            record(f"page {page} cold (first open, imports included) (s)", cold)
            record(f"page {page} cold, peak memory (GB)", peak)
            warm, after_imports, peak = run_page(page, project, env)
            record(f"page {page} warm (new process, imports included) (s)", warm)
            record(f"page {page} warm (disk cache only, after imports) (s)", after_imports)
            record(f"page {page} warm, peak memory (GB)", peak)
    return {name: statistics.median(values) for name, values in timings.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--keep", type=Path, default=None,
        help="build (or reuse) the projects and their caches under this folder",
    )  # fmt: skip
    parser.add_argument("--commands", nargs="*", default=list(COMMANDS), choices=COMMANDS)
    parser.add_argument("--pages", nargs="*", default=list(PAGES), choices=PAGES)
    arguments = parser.parse_args()
    chosen = {"commands": tuple(arguments.commands), "pages": tuple(arguments.pages)}
    if arguments.keep is not None:
        arguments.keep.mkdir(parents=True, exist_ok=True)
        results = {
            rows: measure(rows, arguments.repeats, arguments.keep, **chosen)
            for rows in arguments.rows
        }
    else:
        with tempfile.TemporaryDirectory() as folder:
            results = {
                rows: measure(rows, arguments.repeats, Path(folder), **chosen)
                for rows in arguments.rows
            }
    sizes = list(results)
    print(f"medians of {arguments.repeats} runs, each in a new process\n")
    print("| what | " + " | ".join(f"{rows:,} rows" for rows in sizes) + " | ratio |")
    print("|---|" + "---|" * (len(sizes) + 1))
    for name in results[sizes[0]]:
        values = [results[rows][name] for rows in sizes]
        ratio = values[-1] / values[0] if values[0] > 0 else float("nan")
        print(f"| {name} | " + " | ".join(f"{v:.2f}" for v in values) + f" | {ratio:.1f}x |")


if __name__ == "__main__":
    main()
