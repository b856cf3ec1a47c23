"""Feature space and shift at scale (issue 10), side by side in one run.

1. MMD² permutation test on 50,000 vs 50,000 128-d embeddings (subsampled to
   ``MMD_MAX_SAMPLES`` per side, 500 permutations): time and peak memory, in a new process each,
   median of --repeats; beside it the same test on 2,000 vs 2,000 rows (what the subsample
   costs) and the domain classifier on the same inputs.
2. Power of the subsampled MMD test on planted mean shifts (fraction of seeded runs with
   p < 0.05) and its rate under no shift.
3. With --map: the UMAP map of 100,000 128-d points (fit on 20,000, transform the rest), time
   and peak memory, in a new process (numba's compiled functions come from its on-disk cache
   after the first run; the first run includes compilation).
4. With --page: the feature-space page on a 1,000,000-prediction brought-predictions project
   with embeddings (benchmarks/scale.py's build_project plus an ``embedding`` column of --dim
   numbers), after ``gengap precompute --views shift ood review embed``: the page opened in a
   new process, then again from the disk cache only (scale.py's timer), page time after imports.

    python benchmarks/shift.py [--repeats 3] [--power-runs 40] [--map] [--page]
    python benchmarks/shift.py --only map --repeats 3
    python benchmarks/shift.py --only page --rows 1000000 --dim 32 --keep /tmp/folder
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

TIMED = """
import json, resource, sys, time
import numpy as np
from gengap_dash.stats.two_sample import mmd_test, domain_classifier_auc
n, d, what = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rng = np.random.default_rng(0)
x = rng.normal(size=(n, d)).astype(np.float32)
y = (rng.normal(size=(n, d)) + 0.05).astype(np.float32)
start = time.perf_counter()
if what == "mmd":
    result = mmd_test(x, y, n_permutations=500, seed=0)
    value = result.p_value
else:
    result = domain_classifier_auc(x, y, seed=0)
    value = result.auc
elapsed = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": elapsed, "peak_mb": peak, "value": value}))
"""

MAP = """
import json, resource, sys, time
import numpy as np
from gengap_dash.analysis.embedding_map import fit_map
rng = np.random.default_rng(0)
centres = rng.normal(size=(10, 128)) * 3
def split(n, offset):
    labels = rng.integers(0, 10, n)
    return (centres[labels] + rng.normal(size=(n, 128)) + offset).astype(np.float32)
embeddings = {"train": split(60_000, 0.0), "test": split(20_000, 0.0),
              "shifted": split(20_000, 0.7)}
stages = {}
def progress(message, last=[None, 0.0]):
    now = time.perf_counter()
    if last[0] is not None:
        stages[last[0]] = stages.get(last[0], 0.0) + now - last[1]
    last[0], last[1] = message.split(" ")[0], now
start = time.perf_counter()
cpu = time.process_time()
result = fit_map(embeddings, fit_samples=20_000, progress=progress)
progress("end")
elapsed = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": elapsed, "cpu_seconds": time.process_time() - cpu, "peak_mb": peak,
                  "fit_seconds": stages.get("Fitting", 0.0),
                  "place_seconds": elapsed - stages.get("Fitting", 0.0),
                  "points": int(result.coordinates.shape[0])}))
"""


def run(code: str, *arguments: str, env: dict | None = None) -> dict | float:
    result = subprocess.run(
        [sys.executable, "-c", code, *arguments], capture_output=True, text=True, cwd=ROOT,
        env=env,
    )  # fmt: skip
    if result.returncode != 0:
        raise SystemExit(result.stderr[-800:])
    line = result.stdout.strip().splitlines()[-1]
    return json.loads(line) if line.startswith("{") else float(line)


def median_of(code: str, repeats: int, *arguments: str) -> dict:
    runs = [run(code, *arguments) for _ in range(repeats)]
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


def power(runs: int) -> dict[float, float]:
    import numpy as np

    from gengap_dash.stats.two_sample import mmd_test

    rates = {}
    for shift in (0.0, 0.02, 0.05):
        rejections = 0
        for run_index in range(runs):
            rng = np.random.default_rng(run_index)
            x = rng.normal(size=(2_500, 128))
            y = rng.normal(size=(2_500, 128)) + shift
            rejections += mmd_test(x, y, n_permutations=100, seed=run_index).p_value < 0.05
        rates[shift] = rejections / runs
    return rates


def add_embeddings(project: Path, dim: int) -> None:
    """Add an ``embedding`` list column (``dim`` float32 numbers a row) to the project's
    predictions: class centres plus noise, the shifted and field splits moved off them."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = project.parent / "predictions.parquet"
    table = pq.read_table(path)
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(10, dim)).astype(np.float32) * 3
    labels = table["label"].to_numpy()
    split = table["split"].to_numpy().astype(str)
    values = centres[labels] + rng.normal(size=(len(labels), dim)).astype(np.float32)
    values[split == "shifted"] += 0.8
    values[split == "field"] += 0.4
    column = pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), dim)
    pq.write_table(table.append_column("embedding", column), path, row_group_size=1_000_000)


def page(rows: int, dim: int, repeats: int, keep: Path | None) -> dict[str, float]:
    """The feature-space page on a brought-predictions project with embeddings: `gengap
    precompute` (the views) and `gengap embed` (the UMAP map) first, then the page opened in
    a new process: first open, then warm from the disk cache only (scale.py's timer)."""
    import os
    import time

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from scale import PAGE_TIMER as SCALE_PAGE_TIMER
    from scale import build_project

    folder = keep or Path(tempfile.mkdtemp())
    root = folder / f"embedded{rows}"
    project = root / "project.yaml"
    cache = root / "cache"
    timings: dict[str, float] = {}
    if not project.is_file():
        project = build_project(root, rows)
        add_embeddings(project, dim)
    env = {**os.environ, "GENGAP_CACHE_DIR": str(cache), "GENGAP_PROJECT": str(project)}
    for command in (["precompute", "--views", "shift", "ood", "review", "embed"],):
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "gengap_dash.cli.main", command[0], str(project),
             *command[1:], "--cache-dir", str(cache)],
            capture_output=True, text=True, cwd=ROOT, env=env,
        )  # fmt: skip
        if done.returncode != 0:
            raise SystemExit(done.stderr[-800:])
        timings[f"gengap {command[0]} (s)"] = time.perf_counter() - start
        print(f"  {command[0]}: {timings[f'gengap {command[0]} (s)']:.1f} s", file=sys.stderr)
    warm = []
    for _ in range(repeats):
        done = subprocess.run(
            [sys.executable, "-c", SCALE_PAGE_TIMER, "feature_space"], capture_output=True,
            text=True, cwd=ROOT, env=env,
        )  # fmt: skip
        if done.returncode != 0:
            raise SystemExit(done.stderr[-800:])
        first, again = (float(v) for v in done.stdout.split()[-2:])
        warm.append(again)
        print(f"  page: first open {first:.2f} s, warm {again:.2f} s", file=sys.stderr)
    timings["page warm (disk cache only, after imports) (s)"] = statistics.median(warm)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--power-runs", type=int, default=40)
    parser.add_argument("--map", action="store_true")
    parser.add_argument("--page", action="store_true")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the --page project")
    parser.add_argument("--dim", type=int, default=32, help="embedding width of the --page project")
    parser.add_argument("--keep", type=Path, default=None, help="folder to keep the project in")
    parser.add_argument("--only", choices=("map", "page"), default=None,
                        help="run only this part")  # fmt: skip
    arguments = parser.parse_args()
    if arguments.only == "page":
        for name, value in page(arguments.rows, arguments.dim, arguments.repeats,
                                arguments.keep).items():  # fmt: skip
            print(f"| feature-space, {arguments.rows:,} predictions x {arguments.dim}: {name} | "
                  f"{value:.2f} |")  # fmt: skip
        return
    if arguments.only == "map":
        runs = [run(MAP) for _ in range(arguments.repeats)]
        print(json.dumps(runs))
        return
    print("| what | seconds (median) | peak MB |\n|---|---|---|")
    for n, what in ((50_000, "mmd"), (2_000, "mmd"), (50_000, "domain")):
        result = median_of(TIMED, arguments.repeats, str(n), "128", what)
        name = "MMD² test, 500 permutations" if what == "mmd" else "domain classifier AUC"
        print(f"| {name}, {n:,} vs {n:,} x 128 | {result['seconds']:.2f} | "
              f"{result['peak_mb']:.0f} |")  # fmt: skip
    if arguments.map:
        result = run(MAP)
        print(f"| UMAP map, 100,000 x 128 (fit 20,000) | {result['seconds']:.1f} | "
              f"{result['peak_mb']:.0f} |")  # fmt: skip
    if arguments.page:
        for name, value in page(arguments.rows, arguments.dim, arguments.repeats,
                                arguments.keep).items():  # fmt: skip
            print(
                f"| feature-space, {arguments.rows:,} x {arguments.dim}: {name} | {value:.2f} | |"
            )
    rates = power(arguments.power_runs)
    print("\nPower of the subsampled MMD test (2,000 per side of 2,500 x 128, 100 permutations):")
    for shift, rate in rates.items():
        print(f"- mean shift {shift:.2f} sd per dimension: p < 0.05 in {100 * rate:.0f}% of runs")


if __name__ == "__main__":
    main()
