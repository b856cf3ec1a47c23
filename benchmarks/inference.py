"""Inference engine vs a bare ``torch.inference_mode()`` loop, side by side in one run.

The engine's time includes everything a user pays for on a cold open of one split: batching,
the embedding hook, moving outputs to the CPU, validating them and writing the cache entry
(checksummed, fsynced, renamed). The bare loop only runs the model and concatenates the logits.
Three paths, each on its own copy of the model:

- the naive loop: NCHW (the layout a model and its inputs have unless someone changes it);
- the same loop in the layout the engine chose (the same-settings comparison: the engine's
  own overhead);
- the engine at its defaults (``channels_last`` where its probe finds it faster; the probe
  runs in the first repeat and is remembered for the others, as in a long-lived process).

Runs rotate the order of the paths so that machine noise hits all alike; the medians and
their ratios are printed as a Markdown table. ``--compile`` adds the engine with
``inference.compile: true`` (its compile time reported separately).

    python benchmarks/inference.py                 # CPU, the sample-sized CNN
    python benchmarks/inference.py --device cuda   # on a GPU machine
"""

from __future__ import annotations

import argparse
import copy
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from gengap_dash.data.samples import SampleSource
from gengap_dash.engine.inference import resolve_device, run_inference
from gengap_dash.project.spec import InferenceSpec
from gengap_dash.store.cache import ArrayCache


class BenchmarkCNN(nn.Module):
    """A small image classifier (32x32 RGB, 10 classes) with a feature head like real ones."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 128, 3, padding=1), nn.BatchNorm2d(128), nn.ReLU(), nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )  # fmt: skip
        self.head = nn.Sequential(nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def bare_loop(
    model: nn.Module,
    data: torch.Tensor,
    batch_size: int,
    device: torch.device,
    *,
    channels_last: bool = False,
) -> float:
    """The reference: the loop anyone would write (in ``channels_last`` if asked)."""
    start = time.perf_counter()
    outputs = []
    with torch.inference_mode():
        for begin in range(0, len(data), batch_size):
            batch = data[begin : begin + batch_size].to(device)
            if channels_last:
                batch = batch.contiguous(memory_format=torch.channels_last)
            outputs.append(model(batch))
        torch.cat(outputs).float().cpu()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def engine(
    model: nn.Module,
    data: torch.Tensor,
    settings: InferenceSpec,
    cache: ArrayCache,
    run: int,
    facts: dict | None = None,
) -> float:
    """The project's engine, embedding capture and the cache write included."""
    start = time.perf_counter()
    outputs = run_inference(model, SampleSource(len(data), tensor=data), settings=settings)
    if facts is not None:
        facts["channels_last"] = outputs.channels_last
        if outputs.compile_seconds is not None:
            facts.setdefault("compile_seconds", outputs.compile_seconds)
    arrays = {"logits": outputs.logits}
    if outputs.embeddings is not None:
        arrays["embeddings"] = outputs.embeddings
    cache.store(f"benchmark{run:04d}" + "0" * 32, arrays)
    if settings.device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--compile", action="store_true", help="add the torch.compile path")
    arguments = parser.parse_args()

    torch.manual_seed(0)
    device = resolve_device(arguments.device)
    reference = BenchmarkCNN().eval()
    models = {name: copy.deepcopy(reference).to(device) for name in ("naive", "same", "engine")}
    data = torch.rand(arguments.samples, 3, 32, 32)
    settings = InferenceSpec(batch_size=arguments.batch_size, device=str(device))
    size = arguments.batch_size
    facts: dict = {}
    paths = {
        "naive": lambda run: bare_loop(models["naive"], data, size, device),
        "same": lambda run: bare_loop(
            models["same"], data, size, device, channels_last=facts.get("channels_last", False)
        ),
        "engine": lambda run: engine(models["engine"], data, settings, cache, run, facts),
    }
    if arguments.compile:
        models["compiled"] = copy.deepcopy(reference).to(device)
        compiled_settings = InferenceSpec(
            batch_size=arguments.batch_size, device=str(device), compile=True
        )
        compile_facts: dict = {}
        paths["compiled"] = lambda run: engine(
            models["compiled"], data, compiled_settings, cache, 1000 + run, compile_facts
        )
    times: dict[str, list[float]] = {name: [] for name in paths}
    with tempfile.TemporaryDirectory() as folder:
        cache = ArrayCache(Path(folder))
        bare_loop(models["naive"], data[: size * 2], size, device)  # warm-up
        # the engine's first run probes the layout: it decides the same-settings loop's layout
        times["engine"].append(paths["engine"](0))
        order = [name for name in paths if name != "engine"]
        for name in order:
            times[name].append(paths[name](0))
        for run in range(1, arguments.repeats):
            names = list(paths)
            shift = run % len(names)  # rotate the order: drift in machine load hits all alike
            for name in names[shift:] + names[:shift]:
                times[name].append(paths[name](run))
    median = {name: statistics.median(values) for name, values in times.items()}
    n = arguments.samples
    layout = "channels_last" if facts.get("channels_last") else "NCHW"
    print(f"device: {device} ({platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} threads), torch {torch.__version__}")  # fmt: skip
    print(f"samples: {n}, batch size: {size}, repeats: {arguments.repeats} (medians); "
          f"engine's layout: {layout}\n")  # fmt: skip
    print("| path | median time (s) | throughput (samples/s) | vs naive NCHW loop "
          "| vs same-settings loop |")  # fmt: skip
    print("|---|---|---|---|---|")
    labels = {
        "naive": "naive `inference_mode` loop, NCHW",
        "same": f"same loop, {layout} (the engine's layout)",
        "engine": "gengap engine at its defaults (+ embeddings + cache write)",
        "compiled": "gengap engine, `compile: true`",
    }
    for name, seconds in median.items():
        versus_same = "" if name == "naive" else f"{median['same'] / seconds:.2f}"
        print(f"| {labels[name]} | {seconds:.3f} | {n / seconds:,.0f} | "
              f"{median['naive'] / seconds:.2f} | {versus_same} |")  # fmt: skip
    if "compiled" in median:
        compile_seconds = compile_facts.get("compile_seconds", float("nan"))
        print(f"\ntorch.compile time (first batch of the first run, not in the medians): "
              f"{compile_seconds:.1f} s")  # fmt: skip
    print(f"\nfirst engine run (layout probe included): {times['engine'][0]:.3f} s")


if __name__ == "__main__":
    main()
