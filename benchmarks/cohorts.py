"""Benchmark of the cohorts and slices views at 1,000,000 predictions, and the full-size slice
simulations of issue 9.

Builds a brought-predictions project (5 splits, 10 classes, 10 metadata columns and a time
column; 1,000,000 rows in all), then times, as medians of several runs:

- the cohort table of one column (coding, one grouped bootstrap per split, the table) cold,
  for accuracy and for other metrics (error, NLL, Brier, macro-F1, ECE);
- the whole cohorts view cold (``registry.compute(..., use_cache=False)``) and warm (the
  result from the on-disk result cache, for the open workspace as the dashboard has it, and for
  a new workspace, which first hashes the prediction file);
- the slice search (up to 3 predicates) on the deployment split and on a 1,000,000-row split,
  and the slices view warm.

Then the simulations: a planted 2-predicate slice in 50,000 rows x 10 columns (how often it
ranks first) and the null (how often any slice has an adjusted p below 0.05).

Usage::

    python benchmarks/cohorts.py [--rows 1000000] [--repeats 3] [--runs 100] [--skip-sim]
"""

from __future__ import annotations

import argparse
import statistics
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
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from gengap_dash.analysis.cohorts import cohort_codings  # noqa: E402
from gengap_dash.analysis.cohorts.coding import code_column  # noqa: E402
from gengap_dash.analysis.cohorts.slices import errors_of, find_slices  # noqa: E402
from gengap_dash.analysis.cohorts.table import cohort_sums, cohort_table  # noqa: E402
from gengap_dash.views import registry  # noqa: E402
from gengap_dash.views.cohorts import CohortsOptions, hub_frames  # noqa: E402
from gengap_dash.workspace import Workspace  # noqa: E402

SPLITS = {"train": 0.3, "val": 0.1, "test": 0.1, "shifted": 0.2, "field": 0.3}
ROLES = {"train": "train", "val": "validation", "test": "test", "shifted": "shifted",
         "field": "deployment"}  # fmt: skip
N_CLASSES = 10
COLUMNS = ["site", "sensor", "hour", "region", "device", "operator", "lighting", "age",
           "batch", "firmware"]  # fmt: skip


def build_project(root: Path, rows: int) -> Path:
    rng = np.random.default_rng(0)
    parts = []
    for split, share in SPLITS.items():
        n = int(rows * share)
        skill = {"train": 3.5, "val": 3.0, "test": 3.0, "shifted": 2.5, "field": 2.5}[split]
        labels = rng.integers(0, N_CLASSES, n)
        meta = {
            "site": rng.choice(["north", "south", "east", "west"], n),
            "sensor": rng.choice(["A", "B", "C"], n),
            "hour": rng.integers(0, 24, n),
            "region": rng.choice([f"r{k}" for k in range(8)], n),
            "device": rng.choice(["phone", "tablet", "scanner"], n),
            "operator": rng.choice([f"op{k}" for k in range(6)], n),
            "lighting": rng.choice(["day", "night"], n),
            "age": rng.normal(40, 12, n),
            "batch": rng.integers(0, 5, n),
            "firmware": rng.choice(["1.0", "1.1", "2.0"], n),
        }
        weak = (meta["sensor"] == "B") & (meta["lighting"] == "night")
        logits = rng.normal(size=(n, N_CLASSES)).astype(np.float32)
        logits[np.arange(n), labels] += np.where(weak & (split == "field"), 0.3, skill)
        probs = np.exp(logits - logits.max(1, keepdims=True))
        probs /= probs.sum(1, keepdims=True)
        start = pd.Timestamp("2026-01-05") if split == "field" else pd.Timestamp("2025-03-03")
        parts.append(
            pd.DataFrame(
                {
                    "split": split,
                    "sample_id": [f"{split}-{i}" for i in range(n)],
                    "label": labels,
                    **meta,
                    "when": start + pd.to_timedelta(rng.integers(0, 84 * 24, n), unit="h"),
                    "probs": list(probs.astype(np.float32)),
                }
            )
        )
    frame = pd.concat(parts, ignore_index=True)
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), root / "predictions.parquet")
    project = {
        "name": f"cohorts {rows:,}",
        "predictions": "predictions.parquet",
        "classes": [f"c{k}" for k in range(N_CLASSES)],
        "metadata": COLUMNS,
        "time": "when",
        "splits": {name: {"role": role} for name, role in ROLES.items()},
    }
    (root / "project.yaml").write_text(yaml.safe_dump(project, sort_keys=False))
    return root / "project.yaml"


def median_time(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def cohort_table_only(frames, roles, metric: str = "accuracy") -> None:
    coding = cohort_codings(frames, ["site"], known=COLUMNS)
    positions = {s: i for i, s in enumerate(frames)}
    sums = cohort_sums(frames, coding, metric=metric, positions=positions, n_resamples=1000,
                       seed=0, n_classes=N_CLASSES)  # fmt: skip
    cohort_table(sums, metric=metric, reference="val", roles=roles)


def simulations(runs: int) -> None:
    from test_slices import search, simulate

    start = time.perf_counter()
    firsts = []
    for seed in range(runs):
        _, codings, errors = simulate(50_000, 10, seed=seed, planted=True)
        found = search(codings, errors, top=1)
        firsts.append(bool(found.slices) and found.slices[0].name == "c0 = v1 and c1 = v2")
    planted = time.perf_counter() - start
    start = time.perf_counter()
    reported = []
    for seed in range(runs):
        _, codings, errors = simulate(50_000, 10, seed=10_000 + seed, planted=False)
        found = search(codings, errors, top=100_000)
        reported.append(any(s.p_adjusted < 0.05 for s in found.slices))
    null = time.perf_counter() - start
    print(
        f"planted slice ranked first: {np.mean(firsts):.1%} of {runs} runs (50,000 rows x 10 "
        f"columns, error 25% vs 10%, 1/16 of rows; {planted:.0f} s)"
    )
    print(f"null: runs with any adjusted p < 0.05: {np.mean(reported):.1%} of {runs} "
          f"({null:.0f} s)")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--skip-sim", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        started = time.perf_counter()
        project = build_project(root, args.rows)
        print(f"built {args.rows:,} predictions in {time.perf_counter() - started:.1f} s")
        cache = root / "cache"
        workspace = Workspace.from_file(project, cache_dir=cache)
        frames = hub_frames(workspace)
        roles = workspace.split_roles
        view = registry.get_view("cohorts")
        options = CohortsOptions(by=("site",))
        table = median_time(lambda: cohort_table_only(frames, roles), args.repeats)
        other_metrics = {
            metric: median_time(lambda m=metric: cohort_table_only(frames, roles, m), args.repeats)
            for metric in ("error", "nll", "brier", "macro_f1", "ece")
        }
        full = median_time(
            lambda: registry.compute(view, workspace, options, use_cache=False), args.repeats
        )
        registry.compute(view, workspace, options)  # store it

        def warm() -> None:
            fresh = Workspace.from_file(project, cache_dir=cache)
            fresh.split_predictions("val")
            start = time.perf_counter()
            registry.compute(view, fresh, options)
            warm.elapsed.append(time.perf_counter() - start)  # type: ignore[attr-defined]

        warm.elapsed = []  # type: ignore[attr-defined]
        for _ in range(args.repeats):
            warm()
        open_warm = []  # the dashboard's case: the workspace is open, its fingerprint known
        for _ in range(args.repeats):
            start = time.perf_counter()
            registry.compute(view, workspace, options)
            open_warm.append(time.perf_counter() - start)
        slices_view = registry.get_view("slices")
        start = time.perf_counter()
        result = registry.compute(slices_view, workspace)
        slices_cold = time.perf_counter() - start
        start = time.perf_counter()
        registry.compute(slices_view, Workspace.from_file(project, cache_dir=cache))
        slices_warm = time.perf_counter() - start
        pooled = pd.concat(list(frames.values()), ignore_index=True)
        one = {"all": pooled}
        codings = [code_column(one, c, n_bins=4) for c in COLUMNS]
        start = time.perf_counter()
        find_slices(codings, errors_of(one), split="all", positions={"all": 0}, n_resamples=1000)
        slices_million = time.perf_counter() - start
        n_field = len(frames["field"])
        print(f"cohort table of one column, cold (median of {args.repeats}): {table:.3f} s")
        for metric, seconds in other_metrics.items():
            print(f"  the same table of {metric}: {seconds:.3f} s")
        print(f"whole cohorts view (table, decomposition, fairness, confusions, time), cold: "
              f"{full:.3f} s")  # fmt: skip
        print(f"cohorts view warm (result cache, open workspace): "
              f"{statistics.median(open_warm):.3f} s")  # fmt: skip
        print(f"cohorts view warm (result cache, new workspace: hashes the prediction file): "
              f"{statistics.median(warm.elapsed):.3f} s")  # type: ignore[attr-defined]  # fmt: skip
        print(f"slices view cold (field, {n_field:,} rows, up to 3 predicates, clusters none): "
              f"{slices_cold:.2f} s; warm {slices_warm:.2f} s")  # fmt: skip
        print(f"slice search on all {len(pooled):,} rows at once: {slices_million:.2f} s")
        top = result.search.slices[0].name if result.search.slices else "none"
        print(f"  top slice on field: {top}")
    if not args.skip_sim:
        simulations(args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
