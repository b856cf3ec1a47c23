"""Benchmark of the corruption sweep (issue 12, section 1), measured side by side in one run.

1. A full sweep of the sample project: 9 corruptions x 5 severities on its test split, cold
   (every corrupted inference runs and is cached) and warm (the perturbed outputs come from the
   array cache; only the curves, bootstrap and bridge are recomputed). Reported: wall time, and
   the cost per corrupted image (cold wall time / (45 x n_test)).
2. Where the cold time goes, per corrupted image: each corruption alone (median of ``--repeats``
   runs over the test images), one clean inference pass of the project's engine over the same
   images, and the analysis (curves with paired bootstrap, bridge) of the warm run.

Run on a shared CPU machine, absolute times are indicative only (docs/robustness.md quotes the
ratios); with ``--device cuda`` the inference part runs on the GPU.

    python benchmarks/robustness.py [--max-samples 2000] [--repeats 3] [--device auto]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gengap_dash.analysis.robustness.corruptions import (  # noqa: E402
    IMAGE_CORRUPTIONS,
    SEVERITIES,
    corrupt_images,
)
from gengap_dash.engine.corrupted_inference import model_source, read_raw_inputs  # noqa: E402
from gengap_dash.engine.inference import resolve_device, run_inference  # noqa: E402
from gengap_dash.views.registry import compute, get_view  # noqa: E402
from gengap_dash.workspace import Workspace  # noqa: E402

SAMPLE = ROOT / "sample_data" / "digits"


def _median_time(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-samples", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", type=Path, default=None)
    arguments = parser.parse_args()

    with tempfile.TemporaryDirectory() as cache:
        workspace = Workspace.from_file(SAMPLE, cache_dir=cache)
        if arguments.device != "auto":
            workspace.spec = dataclasses.replace(
                workspace.spec,
                inference=dataclasses.replace(workspace.spec.inference, device=arguments.device),
            )
        workspace.compute()
        view = get_view("robustness")
        options = view.Options(max_samples=arguments.max_samples)
        started = time.perf_counter()
        result = compute(view, workspace, options, use_cache=False)
        cold = time.perf_counter() - started
        started = time.perf_counter()
        compute(view, workspace, options, use_cache=False)  # perturbed outputs cached
        warm = time.perf_counter() - started

        n = result.curves.n
        raw = read_raw_inputs(workspace.spec, result.split, rows=np.arange(n))
        per_corruption = {
            name: _median_time(
                lambda name=name: [corrupt_images(raw.values, name, s) for s in SEVERITIES],
                arguments.repeats,
            )
            / (len(SEVERITIES) * n)
            for name in IMAGE_CORRUPTIONS
        }
        model = workspace.model()
        inference = (
            _median_time(
                lambda: run_inference(
                    model, model_source(raw, raw.values), settings=workspace.spec.inference
                ),
                arguments.repeats,
            )
            / n
        )

    conditions = len(IMAGE_CORRUPTIONS) * len(SEVERITIES)
    report = {
        "device": str(resolve_device(arguments.device)),
        "threads": os.environ.get("OMP_NUM_THREADS", "default"),
        "split": result.split,
        "n_images": n,
        "conditions": conditions,
        "cold_sweep_s": round(cold, 2),
        "warm_sweep_s": round(warm, 2),
        "cold_ms_per_corrupted_image": round(1000 * cold / (conditions * n), 4),
        "corruption_ms_per_image": {k: round(1000 * v, 4) for k, v in per_corruption.items()},
        "inference_ms_per_image": round(1000 * inference, 4),
        "mean_corruption_error": round(result.curves.mean_corruption_error.value, 3),
        "bridge": {m.split: f"{m.corruption}@{m.severity}" for m in result.bridge.matches},
    }
    print(json.dumps(report, indent=2))
    if arguments.json:
        arguments.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
