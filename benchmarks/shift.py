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
   (benchmarks/scale.py's build_project), cold and warm (result cache on disk, new process),
   page time after imports (AppTest).

    python benchmarks/shift.py [--repeats 3] [--power-runs 40] [--map] [--page]
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

PAGE_TIMER = """
import sys, time
from streamlit.testing.v1 import AppTest
app = AppTest.from_file("app.py", default_timeout=3600)
start = time.perf_counter()
app.switch_page("pages/feature_space.py").run()
elapsed = time.perf_counter() - start
if app.exception:
    raise SystemExit(str(app.exception))
print(elapsed)
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


def page(repeats: int) -> dict[str, float]:
    import os
    import shutil

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from scale import build_project

    with tempfile.TemporaryDirectory() as folder:
        project = build_project(Path(folder) / "project", 1_000_000)
        cache = Path(folder) / "cache"
        env = {**os.environ, "GENGAP_CACHE_DIR": str(cache), "GENGAP_PROJECT": str(project)}
        cold = []
        for _ in range(repeats):
            shutil.rmtree(cache / "results", ignore_errors=True)
            cold.append(run(PAGE_TIMER, env=env))
        warm = [run(PAGE_TIMER, env=env) for _ in range(repeats)]
    return {"cold": statistics.median(cold), "warm": statistics.median(warm)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--power-runs", type=int, default=40)
    parser.add_argument("--map", action="store_true")
    parser.add_argument("--page", action="store_true")
    arguments = parser.parse_args()
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
        times = page(arguments.repeats)
        print(f"| feature-space page, 1M predictions, cold | {times['cold']:.2f} | |")
        print(f"| feature-space page, 1M predictions, warm | {times['warm']:.2f} | |")
    rates = power(arguments.power_runs)
    print("\nPower of the subsampled MMD test (2,000 per side of 2,500 x 128, 100 permutations):")
    for shift, rate in rates.items():
        print(f"- mean shift {shift:.2f} sd per dimension: p < 0.05 in {100 * rate:.0f}% of runs")


if __name__ == "__main__":
    main()
