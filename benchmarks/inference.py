"""Inference engine vs a bare ``torch.inference_mode()`` loop, side by side in one run.

The engine's time includes everything a user pays for on a cold open of one split: batching,
the embedding hook, moving outputs to the CPU, validating them and writing the cache entry
(checksummed, fsynced, renamed). The bare loop only runs the model and concatenates the logits.
Runs alternate (bare then engine, engine then bare, ...) so that machine noise hits both; the
medians and their ratio are printed as a Markdown table.

    python benchmarks/inference.py                 # CPU, the sample-sized CNN
    python benchmarks/inference.py --device cuda   # on a GPU machine
"""

from __future__ import annotations

import argparse
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


def bare_loop(model: nn.Module, data: torch.Tensor, batch_size: int, device: torch.device) -> float:
    """The reference: the loop anyone would write."""
    start = time.perf_counter()
    outputs = []
    with torch.inference_mode():
        for begin in range(0, len(data), batch_size):
            outputs.append(model(data[begin : begin + batch_size].to(device)))
        torch.cat(outputs).float().cpu()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def engine(
    model: nn.Module, data: torch.Tensor, settings: InferenceSpec, cache: ArrayCache, run: int
) -> float:
    """The project's engine, embedding capture and the cache write included."""
    start = time.perf_counter()
    outputs = run_inference(model, SampleSource(len(data), tensor=data), settings=settings)
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
    arguments = parser.parse_args()

    torch.manual_seed(0)
    device = resolve_device(arguments.device)
    model = BenchmarkCNN().eval().to(device)
    data = torch.rand(arguments.samples, 3, 32, 32)
    settings = InferenceSpec(batch_size=arguments.batch_size, device=str(device))
    with tempfile.TemporaryDirectory() as folder:
        cache = ArrayCache(Path(folder))
        bare_loop(model, data[: arguments.batch_size * 2], arguments.batch_size, device)  # warm-up
        bare_times, engine_times = [], []
        for run in range(arguments.repeats):
            # Alternate which path goes first, so drift in machine load hits both alike.
            if run % 2 == 0:
                bare_times.append(bare_loop(model, data, arguments.batch_size, device))
                engine_times.append(engine(model, data, settings, cache, run))
            else:
                engine_times.append(engine(model, data, settings, cache, run))
                bare_times.append(bare_loop(model, data, arguments.batch_size, device))
    bare, ours = statistics.median(bare_times), statistics.median(engine_times)
    print(f"device: {device} ({platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} threads), torch {torch.__version__}")  # fmt: skip
    print(f"samples: {arguments.samples}, batch size: {arguments.batch_size}, "
          f"repeats: {arguments.repeats} (medians)\n")  # fmt: skip
    print("| path | median time (s) | throughput (samples/s) | ratio to bare loop |")
    print("|---|---|---|---|")
    print(f"| bare `inference_mode` loop | {bare:.3f} | {arguments.samples / bare:,.0f} | 1.00 |")
    print(
        f"| gengap engine (+ embeddings + cache write) | {ours:.3f} | "
        f"{arguments.samples / ours:,.0f} | {bare / ours:.2f} |"
    )


if __name__ == "__main__":
    main()
