"""All calibration numbers for 1M cached predictions, against the naive bootstrap, side by side.

Synthetic cached predictions: 1,000,000 float32 logits over 10 classes in seven splits (train,
validation, test, three shifted splits, a deployment split), each a little more overconfident and
less accurate than the last. Timed, for every split:

- *core*: every calibration metric with its 95% bootstrap interval (B = 1000) and the reliability
  bins (:func:`calibration_report`), the temperature fit on validation and its application to every
  split, and the risk-coverage curve;
- *comparison*: :func:`temperature_scaling_comparison` (every metric with its interval before and
  after temperature scaling and after histogram binning, plus the sentences).

Against, at the same B and on the same data:

- *exact matrix bootstrap*: the sample-level bootstrap of the same statistics (one
  ``(B, n) @ (n, k)`` product per split; :func:`calibration_report` with ``resampling="exact"``);
- *naive bootstrap*: a loop that draws ``n`` indices per replicate and recomputes every metric.

Both baselines are timed on a 10,000-sample subsample of each split and scaled linearly to the full
size (their cost is linear in ``n``). Runs alternate and medians are reported.

    python benchmarks/calibration.py            # prints the Markdown table
    python benchmarks/calibration.py --write    # and writes it into docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from gengap_dash.analysis.calibration.report import calibration_report, top_label
from gengap_dash.analysis.calibration.selective import risk_coverage_curve
from gengap_dash.analysis.calibration.temperature import (
    apply_temperature,
    fit_temperature,
    temperature_scaling_comparison,
)
from gengap_dash.stats import bootstrap as calibration

N_CLASSES = 10
N_RESAMPLES = 1000
SUBSAMPLE = 10_000
# split -> (role, samples, logit margin of the true class, logit scale: higher = overconfident)
SPLITS: dict[str, tuple[str, int, float, float]] = {
    "train": ("train", 300_000, 2.6, 2.0),
    "val": ("validation", 100_000, 2.0, 2.2),
    "test": ("test", 100_000, 2.0, 2.2),
    "rotated": ("shifted", 150_000, 1.0, 2.6),
    "blurred": ("shifted", 150_000, 1.3, 2.5),
    "noisy": ("shifted", 150_000, 1.6, 2.4),
    "field": ("deployment", 50_000, 1.2, 2.6),
}
SECTION = "## Calibration (issue 4)"
ROOT = Path(__file__).resolve().parents[1]

Data = dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]


def make_predictions(seed: int = 0) -> Data:
    """split -> (float32 logits ``(n, 10)``, int64 labels, confidences, hits), as the cache and
    the predictions table hold them (``confidence`` and ``correct`` are columns there)."""
    rng = np.random.default_rng(seed)
    data: Data = {}
    for split, (_, n_samples, margin, scale) in SPLITS.items():
        labels = rng.integers(0, N_CLASSES, n_samples)
        logits = rng.normal(0.0, 1.0, (n_samples, N_CLASSES))
        logits[np.arange(n_samples), labels] += margin
        logits = (scale * logits).astype(np.float32)
        data[split] = (logits, labels, *top_label(labels, logits, outputs_are="logits"))
    return data


def roles() -> dict[str, str]:
    return {split: role for split, (role, *_) in SPLITS.items()}


def core(data: Data, *, resampling: str = "auto") -> None:
    """Every metric with its interval, the bins, temperature fit + application, risk-coverage."""
    for logits, labels, _, _ in data.values():
        calibration_report(labels, logits, outputs_are="logits", resampling=resampling)
    fit = fit_temperature(*data["val"][:2])
    for logits, _, confidences, hits in data.values():
        apply_temperature(logits, fit.temperature)
        risk_coverage_curve(confidences, hits)


def comparison(data: Data) -> None:
    temperature_scaling_comparison(
        {split: values[0] for split, values in data.items()},
        {split: values[1] for split, values in data.items()},
        roles=roles(),
    )


def naive_bootstrap(data: Data, *, n_resamples: int) -> None:
    """Per replicate: draw n indices, recompute every metric from the resampled predictions."""
    rng = np.random.default_rng(0)
    for logits, labels, _, _ in data.values():
        calibration_report(labels, logits, outputs_are="logits", n_resamples=0)
        for _ in range(n_resamples):
            rows = rng.integers(0, labels.shape[0], labels.shape[0])
            calibration_report(labels[rows], logits[rows], outputs_are="logits", n_resamples=0)


def subsample(data: Data, size: int) -> Data:
    return {split: tuple(values[:size] for values in arrays) for split, arrays in data.items()}


def timed(function: Callable[[], None]) -> tuple[float, float]:
    """Wall time and CPU time of this process (all its threads), in seconds."""
    wall, cpu = time.perf_counter(), time.process_time()
    function()
    return time.perf_counter() - wall, time.process_time() - cpu


def run(repeats: int, naive_resamples: int) -> str:
    data = make_predictions()
    small = subsample(data, SUBSAMPLE)
    total = sum(values[1].shape[0] for values in data.values())
    scale_n = total / sum(values[1].shape[0] for values in small.values())
    core(data)  # warm-up: imports, allocator
    loads = [os.getloadavg()[0]]
    runs: dict[str, list[tuple[float, float]]] = {
        "core": [],
        "core_one_thread": [],
        "comparison": [],
        "exact": [],
        "naive": [],
    }
    for _ in range(repeats):
        runs["core"].append(timed(lambda: core(data)))
        with threadpool_limits(limits=1, user_api="blas"):
            runs["core_one_thread"].append(timed(lambda: core(data)))
        wall, cpu = timed(lambda: core(small, resampling="exact"))
        runs["exact"].append((wall * scale_n, cpu * scale_n))
        runs["comparison"].append(timed(lambda: comparison(data)))
        wall, cpu = timed(lambda: naive_bootstrap(small, n_resamples=naive_resamples))
        factor = scale_n * N_RESAMPLES / naive_resamples
        runs["naive"].append((wall * factor, cpu * factor))
        loads.append(os.getloadavg()[0])
    wall = {name: statistics.median(w for w, _ in values) for name, values in runs.items()}
    cpu = {name: statistics.median(c for _, c in values) for name, values in runs.items()}
    sizes = ", ".join(f"{split} {n_samples:,}" for split, (_, n_samples, *_) in SPLITS.items())

    def row(what: str, name: str) -> str:
        return (
            f"| {what} | {_seconds(wall[name])} | {_seconds(cpu[name])} | "
            f"{wall[name] / wall['core']:.3g}x |"
        )

    lines = [
        SECTION,
        "",
        "All calibration numbers for every split of 1,000,000 cached predictions (float32 "
        f"logits, {N_CLASSES} classes, seven splits: {sizes}); B = {N_RESAMPLES} bootstrap "
        f"replicates, 95% intervals. Medians of {repeats} alternating runs on "
        f"{os.cpu_count()} CPU cores ({platform.processor() or platform.machine()}, "
        f"numpy {np.__version__}). The machine was shared: the 1-minute load average was "
        f"{min(loads):.1f} to {max(loads):.1f} on its {os.cpu_count()} cores, so wall times are "
        "inflated; the CPU time of the process (all its threads, including BLAS threads that "
        "spin while waiting) bounds what an idle machine would need. Produced by "
        "`python benchmarks/calibration.py --write`.",
        "",
        "| what (all seven splits) | median wall time | median CPU time | wall vs. core |",
        "|---|---:|---:|---:|",
        row(
            "core: every metric with its interval, reliability bins, temperature fit on "
            "validation and application to every split, risk-coverage curves",
            "core",
        ),
        row("core, with BLAS limited to one thread (no spinning threads)", "core_one_thread"),
        row(
            "comparison: every metric with its interval before / after temperature scaling / "
            "after histogram binning, and the sentences",
            "comparison",
        ),
        row(
            "core with the exact sample-level bootstrap (one `(B, n) @ (n, k)` product per "
            f"split; timed on {SUBSAMPLE:,} samples per split, scaled to the full size)",
            "exact",
        ),
        row(
            "core with a naive bootstrap loop (draw n indices, recompute every metric; timed "
            f"with {naive_resamples} replicates on {SUBSAMPLE:,} samples per split, scaled to "
            f"B = {N_RESAMPLES} and the full size)",
            "naive",
        ),
        "",
        "The point estimates come from bincount sums (O(n)); the intervals from a bootstrap over "
        "per-group sums: single samples up to "
        f"{calibration.EXACT_MAX_SAMPLES:,} samples per split (the exact bootstrap), "
        f"{calibration.N_BLOCKS:,} random equal-size blocks above (see "
        "`docs/calibration.md`). The confidence and correctness of each prediction are read "
        "from the predictions table (columns `confidence`, `correct`), as the app does.",
        "",
    ]
    return "\n".join(lines)


def _seconds(value: float) -> str:
    return f"{value:.2f} s" if value < 10 else f"{value:,.0f} s"


def write_section(text: str, path: Path) -> None:
    """Replace this benchmark's section of ``path`` (or append it), leaving the others alone."""
    current = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(current):
        updated = pattern.sub(lambda _: text.rstrip("\n") + "\n\n", current, count=1)
    else:
        updated = current.rstrip("\n") + "\n\n" + text.rstrip("\n") + "\n"
    path.write_text(updated.rstrip("\n") + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs per measurement (median)")
    parser.add_argument(
        "--naive-resamples", type=int, default=20, help="replicates timed for the naive loop"
    )
    parser.add_argument("--write", action="store_true", help="write into docs/benchmarks.md")
    args = parser.parse_args()
    text = run(args.repeats, args.naive_resamples)
    print(text)
    if args.write:
        write_section(text, ROOT / "docs" / "benchmarks.md")


if __name__ == "__main__":
    main()
