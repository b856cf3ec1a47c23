"""Benchmark of the attribution engine (issue 11), ratios measured side by side in one run.

1. Saliency and Grad-CAM over 256 images: the engine (:func:`gengap_dash.engine.attribution.
   attribute`: eval mode, device, channels_last rule, batching, copy back to numpy) against a bare
   captum loop on the same model and the same batches. Reported: medians of ``--repeats`` runs,
   alternating, and the throughput ratio engine / bare (the issue asks >= 0.8x).
2. Integrated Gradients, 50 steps, on 64 samples: time and the memory it needs (peak CUDA memory
   on a GPU; on a CPU the growth of the process's peak resident memory).
3. A cached reopen of a grid: 16 maps of the sample project from the on-disk cache through a new
   workspace (what the page does on a fresh server), median of the repeats (< 0.5 s asked).

Models: the sample project's CNN on its 8x8 digits (tiny, overhead-bound), and a wider CNN on
3x64x64 random images (compute-bound). Nothing is downloaded.

    python benchmarks/saliency.py [--device auto] [--repeats 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from captum.attr import LayerAttribution, LayerGradCam, Saliency
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gengap_dash.engine.attribution import (  # noqa: E402
    AttributionSettings,
    attribute,
    find_gradcam_layer,
    ig_internal_batch_size,
)
from gengap_dash.engine.inference import resolve_device  # noqa: E402
from gengap_dash.project.spec import InferenceSpec  # noqa: E402

SAMPLE = ROOT / "sample_data" / "digits"


class WideCNN(nn.Module):
    """A compute-bound stand-in for a real image model (3x64x64 inputs, 10 classes)."""

    def __init__(self, width: int = 64) -> None:
        super().__init__()
        torch.manual_seed(0)
        w = width
        self.features = nn.Sequential(
            nn.Conv2d(3, w, 3, padding=1), nn.ReLU(), nn.Conv2d(w, w, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2), nn.Conv2d(w, 2 * w, 3, padding=1), nn.ReLU(),
            nn.Conv2d(2 * w, 2 * w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(2 * w, 4 * w, 3, padding=1), nn.ReLU(),
        )  # fmt: skip
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4 * w, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def sample_model_and_images(n: int) -> tuple[nn.Module, torch.Tensor]:
    import pandas as pd

    sys.path.insert(0, str(SAMPLE))
    from model import SmallCNN  # the sample's own model file

    model = SmallCNN(num_classes=10)
    model.load_state_dict(torch.load(SAMPLE / "model.pt", map_location="cpu", weights_only=True))
    frame = pd.read_parquet(SAMPLE / "data" / "test.parquet").head(n)
    pixels = np.stack(frame["pixels"].to_numpy()).reshape(-1, 1, 8, 8)
    return model.eval(), torch.tensor(pixels, dtype=torch.float32) / 255.0


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bare_loop(model, x, targets, method, device, batch_size, channels_last) -> np.ndarray:
    """captum called directly, batch by batch, on the same device and memory format."""
    model = model.to(device).eval()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    layer = find_gradcam_layer(model).module if method == "gradcam" else None
    parts = []
    for start in range(0, len(x), batch_size):
        batch = x[start : start + batch_size].to(device)
        if channels_last:
            batch = batch.contiguous(memory_format=torch.channels_last)
        target = torch.as_tensor(targets[start : start + batch_size], device=device)
        if method == "saliency":
            maps = Saliency(model).attribute(batch, target=target)
        else:
            maps = LayerGradCam(model, layer).attribute(batch, target=target,
                                                        relu_attributions=True)  # fmt: skip
            maps = LayerAttribution.interpolate(maps, tuple(batch.shape[-2:]), "bilinear")
        parts.append(maps.detach().float().cpu().numpy())
    return np.concatenate(parts)


def throughput(model, x, method, device, *, batch_size, repeats) -> dict:
    settings = InferenceSpec(batch_size=batch_size, device=str(device))
    channels_last = device.type == "cuda"
    with torch.no_grad():
        targets = model.to(device)(x[:batch_size].to(device)).argmax(1).cpu().numpy()
    targets = np.resize(targets, len(x))
    ours_times, bare_times = [], []
    # warm-up (cuDNN autotuning, lazy init)
    attribute(model, x, targets, settings=AttributionSettings(method=method), inference=settings)
    bare_loop(model, x, targets, method, device, batch_size, channels_last)
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        ours = attribute(model, x, targets, settings=AttributionSettings(method=method),
                         inference=settings)  # fmt: skip
        synchronize(device)
        ours_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        bare = bare_loop(model, x, targets, method, device, batch_size, channels_last)
        synchronize(device)
        bare_times.append(time.perf_counter() - start)
    np.testing.assert_allclose(ours, bare, rtol=1e-3, atol=1e-5)  # the same maps
    ours_median, bare_median = statistics.median(ours_times), statistics.median(bare_times)
    return {
        "method": method,
        "samples": len(x),
        "batch_size": batch_size,
        "engine_s": ours_median,
        "bare_s": bare_median,
        "engine_per_s": len(x) / ours_median,
        "bare_per_s": len(x) / bare_median,
        "ratio": bare_median / ours_median,
    }


def integrated_gradients(model, x, device, *, repeats) -> dict:
    settings = InferenceSpec(batch_size=len(x), device=str(device))
    targets = np.zeros(len(x), dtype=np.int64)
    ig = AttributionSettings(method="integrated_gradients", n_steps=50)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # before the first pass
    attribute(model, x, targets, settings=ig, inference=settings)  # warm-up
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
    times = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        attribute(model, x, targets, settings=ig, inference=settings)
        synchronize(device)
        times.append(time.perf_counter() - start)
    result = {
        "samples": len(x),
        "n_steps": 50,
        "internal_batch_size": ig_internal_batch_size(tuple(x.shape), 50),
        "seconds": statistics.median(times),
    }
    if device.type == "cuda":
        result["peak_cuda_mib"] = (torch.cuda.max_memory_allocated(device) - base) / 2**20
    else:
        grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
        result["peak_rss_growth_mib"] = grown / 1024
    return result


def cached_grid_reopen(repeats: int) -> dict:
    import os

    from gengap_dash.workspace import Workspace

    with tempfile.TemporaryDirectory() as cache:
        os.environ["GENGAP_CACHE_DIR"] = cache
        from gengap_dash.views import saliency as view

        workspace = Workspace.from_file(SAMPLE, cache_dir=cache)
        ids = workspace.split_predictions("rotated")["sample_id"].head(16).tolist()
        view.sample_maps(workspace, "rotated", ids, "gradcam")  # compute and store
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fresh = Workspace.from_file(SAMPLE, cache_dir=cache)  # a new server's workspace
            view.sample_maps(fresh, "rotated", ids, "gradcam")
            times.append(time.perf_counter() - start)
    return {"maps": 16, "median_s": statistics.median(times), "max_s": max(times)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None)
    arguments = parser.parse_args()
    device = resolve_device(arguments.device)
    report: dict = {"device": str(device), "torch": torch.__version__}
    if device.type == "cuda":
        report["gpu"] = torch.cuda.get_device_name(device)
    digits_model, digits = sample_model_and_images(256)
    # on a CPU, a narrower model on 32x32 images keeps the run to minutes
    side, width = (64, 64) if device.type == "cuda" else (32, 16)
    wide = WideCNN(width)
    images = torch.rand(256, 3, side, side, generator=torch.Generator().manual_seed(0))
    wide_name = f"wide CNN 3x{side}x{side}"
    # Integrated Gradients first: the CPU memory figure is the growth of the process's peak
    # resident memory, which the throughput runs would raise beforehand
    report["integrated_gradients"] = {
        "digits CNN 1x8x8": integrated_gradients(digits_model, digits[:64], device,
                                                 repeats=arguments.repeats),
        wide_name: integrated_gradients(wide, images[:64], device,
                                                 repeats=arguments.repeats),
    }  # fmt: skip
    for name, row in report["integrated_gradients"].items():
        print(f"IG 50 steps, 64 samples, {name}: {row}", flush=True)
    rows = []
    for name, model, x in (("digits CNN 1x8x8", digits_model, digits),
                           (wide_name, wide, images)):  # fmt: skip
        for method in ("saliency", "gradcam"):
            row = throughput(model, x, method, device, batch_size=64, repeats=arguments.repeats)
            row["model"] = name
            rows.append(row)
            print(f"{name:18} {method:9} engine {row['engine_per_s']:9.0f}/s  bare "
                  f"{row['bare_per_s']:9.0f}/s  ratio {row['ratio']:.2f}x", flush=True)  # fmt: skip
    report["throughput"] = rows
    report["cached_grid_reopen"] = cached_grid_reopen(arguments.repeats)
    print(f"cached reopen of a 16-map grid: {report['cached_grid_reopen']}", flush=True)
    if arguments.json:
        arguments.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
