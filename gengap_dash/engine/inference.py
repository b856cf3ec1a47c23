"""The batched inference engine.

One pass per split under ``torch.inference_mode()``: logits, and the embedding captured by a
forward hook on the embedding layer. The device is chosen automatically (CUDA, then MPS, then
CPU) unless overridden. Batches of an in-memory split are sliced from pinned memory and copied
without blocking, so the device is not left waiting; per-sample inputs (image files, user
transforms) come through a ``DataLoader`` with optional worker processes.

The fastest safe settings are the defaults:

- ``channels_last`` memory layout for convolutional models, on every device, where a quick probe
  shows it faster (:func:`probe_channels_last`: the first batch timed in both layouts, once per
  model, device and batch shape in a process). ``inference.channels_last: true/false`` decides
  instead. The layout changes the order of floating-point sums only (logits agree to ~1e-6).
- ``torch.compile`` is opt-in (``inference.compile: true``): compiling takes seconds to minutes
  (reported in :attr:`InferenceOutputs.compile_seconds`) and pays off on large splits.
- mixed precision (bfloat16/float16 autocast) is opt-in (``inference.precision``): it changes
  the numbers, so it enters the cache key.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from gengap_dash.data.samples import SampleSource
from gengap_dash.engine.model_loading import find_embedding_layer, has_convolutions
from gengap_dash.project.errors import ProjectError
from gengap_dash.project.spec import InferenceSpec

ProgressCallback = Callable[[int, int], None]
"""Called with (samples done, samples in all) after each batch."""

PROBE_MIN_BATCHES = 16
"""Runs of fewer batches are never probed (the probe costs about six batches, and the layout
saves at most a third of each): the default layout is kept."""

PROBE_MIN_SECONDS = 2.0
"""The layout probe runs only when the split's estimated run time (the first batch's time in
the default layout times the number of batches) is at least this: on shorter runs the probe
would cost more than it can save, and the default layout is kept."""

PROBE_MARGIN = 0.9
"""``channels_last`` is chosen only when its probe time is under this fraction of the default
layout's (a 10% margin, so that timing noise does not flip the choice)."""

_logger = logging.getLogger(__name__)
_probes: dict[tuple, LayoutProbe] = {}
_probes_lock = threading.Lock()
_compiled: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class InferenceOutputs:
    """Raw model outputs for one split.

    Attributes:
        logits: ``(n_samples, n_classes)`` float32.
        embeddings: ``(n_samples, dim)`` float32, or None when unavailable.
        embedding_note: why embeddings are unavailable (empty when they are there).
    """

    logits: np.ndarray
    embeddings: np.ndarray | None
    embedding_note: str = ""
    channels_last: bool = False
    compile_seconds: float | None = None


@dataclass(frozen=True)
class LayoutProbe:
    """The outcome of timing one batch in both memory layouts.

    Attributes:
        channels_last: whether ``channels_last`` was chosen.
        default_seconds: the batch's best time in the default (NCHW) layout.
        channels_last_seconds: its best time in ``channels_last``.
    """

    channels_last: bool
    default_seconds: float
    channels_last_seconds: float


def resolve_device(request: str = "auto") -> torch.device:
    """``"auto"`` -> CUDA, then MPS, then CPU; otherwise the named device.

    Raises:
        ProjectError: the requested device is not available here.
    """
    if request == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(request)
    except RuntimeError:
        device = None
    if device is None or device.type not in ("cpu", "cuda", "mps"):
        raise ProjectError(
            f"inference.device is {request!r}; expected auto, cpu, cuda, cuda:N or mps."
        ) from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ProjectError(
                f"inference.device is {request!r}, but no CUDA GPU is available here."
            )
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise ProjectError(
                f"inference.device is {request!r}, but this machine has {count} CUDA GPU(s) "
                f"(cuda:0..cuda:{count - 1})."
            )
    if device.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ProjectError(
                f"inference.device is {request!r}, but MPS (Apple GPU) is not available here."
            )
    return device


def run_inference(
    model: nn.Module,
    source: SampleSource,
    *,
    settings: InferenceSpec,
    embedding_layer: str | None = None,
    capture_embeddings: bool = True,
    progress: ProgressCallback | None = None,
    where: str = "split",
) -> InferenceOutputs:
    """Run the model over every sample of ``source``.

    Args:
        model: the classifier (in eval mode; moved to the chosen device here).
        source: the split's inputs.
        settings: batch size, device, precision, ``channels_last``, workers.
        embedding_layer: the layer whose output is the embedding (default: the input of the last
            ``nn.Linear``).
        capture_embeddings: whether to capture embeddings at all.
        progress: called after each batch.
        where: the split name, for error messages.

    Raises:
        ProjectError: the model fails on the inputs, or returns non-finite logits.
    """
    if source.n_samples == 0:
        raise ProjectError(
            f"The table of split {where!r} has no rows; nothing to run the model on."
        )
    device = resolve_device(settings.device)
    is_script = isinstance(model, torch.jit.ScriptModule)
    model = model.to(device).eval()
    autocast = _autocast(device, settings.precision)
    batches = _batches(source, settings, device)
    first = next(batches, None)
    if first is None:  # pragma: no cover - n_samples > 0
        raise ProjectError(f"The split {where!r} gave no batches to run the model on.")
    use_channels_last = settings.channels_last
    if use_channels_last is None:
        use_channels_last = False
        if not is_script and first.ndim == 4 and has_convolutions(model):
            n_batches = -(-source.n_samples // settings.batch_size)
            with autocast:
                probe = probe_channels_last(model, first, n_batches=n_batches, where=where)
            use_channels_last = probe is not None and probe.channels_last
    if use_channels_last:
        model = model.to(memory_format=torch.channels_last)
    elif not is_script:
        model = model.to(memory_format=torch.contiguous_format)  # undo an earlier run's layout
    runner: Callable[[torch.Tensor], object] = model
    compile_seconds = None
    if getattr(settings, "compile", False):
        runner = _compile(model, where=where)

    captured: list[torch.Tensor] = []
    handle = None
    embedding_note = ""
    embed_method = None
    if capture_embeddings and is_script:
        embed_method = getattr(model, "embed", None)
        if embed_method is None:
            embedding_note = (
                "This is a TorchScript model: TorchScript does not run Python forward hooks, so "
                "its features cannot be captured. Add an `embed(x)` method that returns them (or "
                "give the model as a factory + state_dict) to enable the feature-space views."
            )
    elif capture_embeddings:
        try:
            layer, _, use_input = find_embedding_layer(model, embedding_layer)
        except ProjectError as error:
            if embedding_layer is not None:  # a layer the user named must exist
                raise
            layer, use_input, embedding_note = None, False, str(error)
        if layer is not None and use_input:
            handle = layer.register_forward_pre_hook(
                lambda _module, args: captured.append(args[0].flatten(1))
            )
        elif layer is not None:
            handle = layer.register_forward_hook(
                lambda _module, _args, output: captured.append(_first_tensor(output).flatten(1))
            )

    logits_parts: list[torch.Tensor] = []
    done = 0
    try:
        with torch.inference_mode(), autocast:
            for batch in itertools.chain([first], batches):
                if use_channels_last and batch.ndim == 4:
                    batch = batch.contiguous(memory_format=torch.channels_last)
                try:
                    if compile_seconds is None and runner is not model:
                        started = time.perf_counter()
                        output = runner(batch)
                        compile_seconds = time.perf_counter() - started
                        _logger.info(
                            "torch.compile on split %r: %.1f s (first batch)",
                            where,
                            compile_seconds,
                        )
                    else:
                        output = runner(batch)
                    if embed_method is not None:
                        captured.append(embed_method(batch).flatten(1))
                except ProjectError:
                    raise
                except Exception as error:  # noqa: BLE001 - the model failed on the user's data
                    raise ProjectError(
                        f"The model failed on split {where!r} (batch starting at row {done}): "
                        f"{type(error).__name__}: {_first_line(error)}"
                    ) from None
                output = _first_tensor(output)
                if output.ndim != 2:
                    raise ProjectError(
                        f"The model returned shape {tuple(output.shape)} on split {where!r}; "
                        "expected logits of shape (batch, n_classes)."
                    )
                logits_parts.append(output)
                done += output.shape[0]
                if progress is not None:
                    progress(done, source.n_samples)
    finally:
        if handle is not None:
            handle.remove()

    logits = _to_numpy(logits_parts, source.n_samples, width=None)
    bad_rows = ~np.isfinite(logits).all(axis=1)
    if bad_rows.any():
        first = int(np.flatnonzero(bad_rows)[0])
        raise ProjectError(
            f"The model returned NaN or infinite logits for {int(bad_rows.sum())} of "
            f"{len(logits)} samples of split {where!r} (first: row {first}). Check the inputs "
            "and weights; nothing was cached for this split."
        )
    embeddings = _to_numpy(captured, source.n_samples, width=None) if captured else None
    return InferenceOutputs(
        logits, embeddings, embedding_note, bool(use_channels_last), compile_seconds
    )


def probe_channels_last(
    model: nn.Module, batch: torch.Tensor, *, n_batches: int = 1, where: str = "split"
) -> LayoutProbe | None:
    """Time ``model`` on ``batch`` in the default and the ``channels_last`` layout.

    One warm-up and two timed forward passes in each layout; ``channels_last`` wins when its
    best time is under :data:`PROBE_MARGIN` of the default's. The outcome is remembered in this
    process per model (class and parameter shapes), device, batch shape and dtype, so later
    splits and runs do not probe again. Short runs (fewer than :data:`PROBE_MIN_BATCHES`
    batches, or estimated under :data:`PROBE_MIN_SECONDS`) are not probed: None, and the
    default layout is kept.

    Args:
        model: in eval mode, on ``batch``'s device, in the default layout (left in it).
        batch: ``(n, C, H, W)``, the first batch of the split.
        n_batches: batches in the run, to estimate its length.
        where: the split name, for error messages.

    Raises:
        ProjectError: the model fails on the batch.
    """
    key = _probe_key(model, batch)
    with _probes_lock:
        known = _probes.get(key)
    if known is not None:
        return known
    if n_batches < PROBE_MIN_BATCHES:
        return None
    try:
        with torch.inference_mode():
            model(batch)  # warm-up: the first call allocates
            default = _best_time(model, batch)
            if default * n_batches < PROBE_MIN_SECONDS:
                return None
            model.to(memory_format=torch.channels_last)
            try:
                fast = batch.contiguous(memory_format=torch.channels_last)
                model(fast)
                channels_last = _best_time(model, fast)
            finally:
                model.to(memory_format=torch.contiguous_format)
    except Exception as error:  # noqa: BLE001 - the model failed on the user's data
        raise ProjectError(
            f"The model failed on split {where!r} (batch starting at row 0): "
            f"{type(error).__name__}: {_first_line(error)}"
        ) from None
    probe = LayoutProbe(channels_last < PROBE_MARGIN * default, default, channels_last)
    _logger.info(
        "layout probe on split %r: NCHW %.4f s, channels_last %.4f s per batch -> %s",
        where,
        default,
        channels_last,
        "channels_last" if probe.channels_last else "NCHW",
    )
    with _probes_lock:
        _probes[key] = probe
    return probe


def _best_time(model: nn.Module, batch: torch.Tensor, repeats: int = 2) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        model(batch)
        if batch.device.type == "cuda":
            torch.cuda.synchronize(batch.device)
        best = min(best, time.perf_counter() - started)
    return best


def _probe_key(model: nn.Module, batch: torch.Tensor) -> tuple:
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{type(model).__module__}.{type(model).__qualname__}".encode())
    for name, parameter in model.named_parameters():
        digest.update(f"{name}{tuple(parameter.shape)}{parameter.dtype}".encode())
    autocast = torch.is_autocast_enabled(batch.device.type) if batch.device.type != "mps" else False
    return (digest.hexdigest(), str(batch.device), tuple(batch.shape), str(batch.dtype), autocast)


def _compile(model: nn.Module, *, where: str) -> Callable[[torch.Tensor], object]:
    """``torch.compile(model)``, once per model object (compiling happens at the first call).

    Raises:
        ProjectError: this torch cannot compile (no ``torch.compile``, or a TorchScript model).
    """
    if isinstance(model, torch.jit.ScriptModule):
        raise ProjectError(
            "inference.compile is true, but the model is TorchScript, which torch.compile does "
            "not take; set inference.compile to false."
        )
    compiled = _compiled.get(model)
    if compiled is None:
        compiler = getattr(torch, "compile", None)
        if compiler is None:  # pragma: no cover - torch < 2.0
            raise ProjectError("inference.compile needs torch >= 2.0.")
        compiled = compiler(model)
        _compiled[model] = compiled
    return compiled


def _batches(source: SampleSource, settings: InferenceSpec, device: torch.device) -> Iterator:
    pin = device.type == "cuda"
    if source.tensor is not None:
        data = source.tensor.pin_memory() if pin else source.tensor
        for start in range(0, source.n_samples, settings.batch_size):
            yield data[start : start + settings.batch_size].to(device, non_blocking=pin)
        return
    if source.dataset is None:
        raise ProjectError("The split has no inputs to run the model on.")
    loader = DataLoader(
        source.dataset,
        batch_size=settings.batch_size,
        shuffle=False,
        num_workers=settings.num_workers,
        pin_memory=pin,
        persistent_workers=False,
        collate_fn=_stack,
    )
    batches = iter(loader)
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except ProjectError as error:  # raised in a worker process: drop torch's traceback
            raise ProjectError(_worker_message(error)) from None
        yield batch.to(device, non_blocking=pin)


def _stack(samples: list[torch.Tensor]) -> torch.Tensor:
    """``default_collate`` for tensors, with a clear error when their shapes differ."""
    shapes = list(dict.fromkeys(tuple(sample.shape) for sample in samples))
    if len(shapes) > 1:
        raise ProjectError(
            f"The inputs of a split have different shapes ({shapes[0]}, {shapes[1]}); every "
            "sample must have the same shape: resize images in inputs.transform."
        )
    return torch.stack(samples)


def _worker_message(error: ProjectError) -> str:
    text = str(error)
    marker = f"{ProjectError.__module__}.{ProjectError.__qualname__}: "
    if text.startswith("Caught ") and marker in text:
        return text.rsplit(marker, 1)[1].strip()
    return text


def _autocast(device: torch.device, precision: str):
    if precision == "float32":
        return nullcontext()
    dtype = torch.bfloat16 if precision == "bfloat16" else torch.float16
    if device.type == "cpu" and dtype is torch.float16:
        raise ProjectError("inference.precision float16 needs a GPU; use bfloat16 or float32.")
    return torch.autocast(device_type=device.type, dtype=dtype)


def _first_tensor(output: object) -> torch.Tensor:
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, tuple | list) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    if isinstance(output, dict) and isinstance(output.get("logits"), torch.Tensor):
        return output["logits"]
    raise ProjectError(f"The model returned {type(output).__name__}; expected a tensor of logits.")


def _to_numpy(parts: list[torch.Tensor], n_rows: int, *, width: int | None) -> np.ndarray:
    joined = torch.cat(parts) if parts else torch.empty((0, width or 0))
    array = joined.float().cpu().numpy()
    if array.shape[0] != n_rows:
        raise ProjectError(
            f"The model produced {array.shape[0]} outputs for {n_rows} samples; expected one "
            "output row per input row."
        )
    return np.ascontiguousarray(array, dtype=np.float32)


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
