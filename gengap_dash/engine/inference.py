"""The batched inference engine.

One pass per split under ``torch.inference_mode()``: logits, and the embedding captured by a
forward hook on the embedding layer. The device is chosen automatically (CUDA, then MPS, then
CPU) unless overridden; ``channels_last`` is used for convolutional models on CUDA (where it is
faster) unless overridden; mixed precision (bfloat16/float16 autocast) is opt-in on a GPU.
Batches of an in-memory split are sliced from pinned memory and copied without blocking, so the
device is not left waiting; per-sample inputs (image files, user transforms) come through a
``DataLoader`` with optional worker processes.
"""

from __future__ import annotations

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
    use_channels_last = (
        settings.channels_last
        if settings.channels_last is not None
        else device.type == "cuda" and not is_script and has_convolutions(model)
    )
    model = model.to(device).eval()
    if use_channels_last:
        model = model.to(memory_format=torch.channels_last)
    autocast = _autocast(device, settings.precision)

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
            for batch in _batches(source, settings, device):
                if use_channels_last and batch.ndim == 4:
                    batch = batch.contiguous(memory_format=torch.channels_last)
                try:
                    output = model(batch)
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
    return InferenceOutputs(logits, embeddings, embedding_note)


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
