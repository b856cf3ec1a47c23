"""Attributions with captum: which input pixels (or features) a prediction rests on.

Every method runs the user's model in eval mode on the inputs the inference engine uses (the same
transform, device and ``channels_last`` rule, see :mod:`gengap_dash.engine.inference`), in
batches, with a progress callback. The maps are the ones captum returns, with no rescaling:

============================  ======================================================  ========
method                         captum                                                  sign
============================  ======================================================  ========
``saliency``                   ``Saliency`` (absolute gradient)                        absolute
``integrated_gradients``       ``IntegratedGradients`` (baseline: black, blurred       signed
                               input or training mean; ``n_steps``)
``smoothgrad``                 ``NoiseTunnel(Saliency)``, ``nt_type="smoothgrad"``       absolute
``gradcam``                    ``LayerGradCam`` on the last convolution (ReLU),        absolute
                               upsampled to the input (bilinear)
``occlusion``                  ``Occlusion`` (window and stride from the input size)   signed
``feature_ablation``           ``FeatureAblation`` (tabular; baseline: training mean)  signed
============================  ======================================================  ========

Maps have the input's shape, ``(n, C, H, W)`` for images and ``(n, F)`` for tabular inputs,
except Grad-CAM's, which is ``(n, 1, H, W)``. The on-disk cache lives with the caller (the view
builds the key from the model, the data, the method, its parameters and the samples) and is
reached through :func:`cached_maps`, which takes any object with ``load``/``store``/``lock`` (an
:class:`gengap_dash.store.cache.ArrayCache`).
"""

from __future__ import annotations

import contextlib
import copy
import math
import warnings
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np
import torch
from torch import nn

from gengap_dash.engine.inference import _first_tensor, resolve_device
from gengap_dash.engine.model_loading import has_convolutions
from gengap_dash.project.errors import ProjectError
from gengap_dash.project.spec import InferenceSpec

Method = Literal[
    "saliency", "integrated_gradients", "smoothgrad", "gradcam", "occlusion", "feature_ablation"
]
IMAGE_METHODS: tuple[str, ...] = (
    "saliency",
    "integrated_gradients",
    "smoothgrad",
    "gradcam",
    "occlusion",
)
TABULAR_METHODS: tuple[str, ...] = ("integrated_gradients", "feature_ablation")
SIGNED_METHODS: frozenset[str] = frozenset(
    {"integrated_gradients", "occlusion", "feature_ablation"}
)
Baseline = Literal["black", "blurred", "training_mean"]
ProgressCallback = Callable[[int, int], None]
"""Called with (samples done, samples in all) after each batch."""
AttributeFunction = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]
"""``(model, inputs, targets) -> maps``: one batch, on the model's device."""


@dataclass(frozen=True)
class AttributionSettings:
    """One method and its parameters (everything that changes the maps enters the cache key).

    Attributes:
        method: one of :data:`IMAGE_METHODS` or :data:`TABULAR_METHODS`.
        n_steps: Integrated Gradients' steps.
        baseline: Integrated Gradients' baseline (tabular projects: always the training mean).
        nt_samples: SmoothGrad's noisy copies per sample.
        noise_level: SmoothGrad's noise standard deviation, as a fraction of the input's range.
        window: Occlusion's square window in pixels (``None``: an eighth of the shorter side,
            at least 2).
        stride: Occlusion's stride (``None``: half the window, at least 1).
        layer: Grad-CAM's layer (``None``: the last convolution, or ``model.gradcam_layer``).
        seed: the seed of SmoothGrad's noise.
    """

    method: str = "saliency"
    n_steps: int = 50
    baseline: Baseline = "black"
    nt_samples: int = 20
    noise_level: float = 0.15
    window: int | None = None
    stride: int | None = None
    layer: str | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        known = (*IMAGE_METHODS, "feature_ablation")
        if self.method not in known:
            raise ProjectError(
                f"Expected the attribution method to be one of {', '.join(known)}, but got "
                f"{self.method!r}."
            )
        for name in ("n_steps", "nt_samples"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ProjectError(
                    f"Expected `{name}` to be a positive integer, but got {value!r}."
                )
        if self.baseline not in ("black", "blurred", "training_mean"):
            raise ProjectError(
                "Expected `baseline` to be 'black', 'blurred' or 'training_mean', but got "
                f"{self.baseline!r}."
            )
        if not (math.isfinite(self.noise_level) and self.noise_level > 0):
            raise ProjectError(
                f"Expected `noise_level` to be a positive number, but got {self.noise_level!r}."
            )
        for name in ("window", "stride"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or value < 1):
                raise ProjectError(
                    f"Expected `{name}` to be a positive integer, but got {value!r}."
                )

    @property
    def signed(self) -> bool:
        """Whether the maps carry a sign (positive: evidence for the class)."""
        return self.method in SIGNED_METHODS


@dataclass(frozen=True)
class GradCamLayer:
    """The layer Grad-CAM reads, and why that one."""

    module: nn.Module
    name: str
    note: str


class MapStore(Protocol):
    """What :func:`cached_maps` needs of a cache (:class:`~gengap_dash.store.cache.ArrayCache`)."""

    def load(self, key: str, *, what: str = "") -> dict[str, np.ndarray] | None: ...

    def store(
        self, key: str, arrays: dict[str, np.ndarray], *, info: dict[str, Any] | None = None
    ) -> Any: ...

    def lock(self, key: str) -> Any: ...


# -- the layer Grad-CAM reads ------------------------------------------------------------------


def find_gradcam_layer(model: nn.Module, name: str | None = None) -> GradCamLayer:
    """The named layer, or the last convolution of the model (in module order).

    Raises:
        ProjectError: the named layer does not exist, or the model has no convolution (the
            message says what to do instead).
    """
    modules = dict(model.named_modules())
    if name is not None:
        if name not in modules or not name:
            candidates = [n for n, m in modules.items() if n and _is_convolution(m)]
            candidates = candidates or [n for n in modules if n][:15]
            raise ProjectError(
                f"model.gradcam_layer {name!r} is not a layer of the model; its layers include "
                f"{', '.join(candidates[-15:]) or 'none'}."
            )
        return GradCamLayer(
            modules[name],
            name,
            f"Grad-CAM reads layer {name!r} (set in the project file, model.gradcam_layer).",
        )
    convolutions = [(n, m) for n, m in modules.items() if _is_convolution(m)]
    if not convolutions:
        raise ProjectError(
            "Grad-CAM needs a convolutional layer, and this model has none (it has no "
            "nn.Conv1d/2d/3d); set model.gradcam_layer to a layer with a spatial output, or use "
            "another method (saliency, integrated_gradients, occlusion)."
        )
    layer_name, layer = convolutions[-1]
    return GradCamLayer(
        layer,
        layer_name,
        f"Grad-CAM reads {layer_name!r}, the last convolution of the model ({_describe(layer)}); "
        "set model.gradcam_layer in the project file to choose another.",
    )


def _is_convolution(module: nn.Module) -> bool:
    return isinstance(module, nn.Conv1d | nn.Conv2d | nn.Conv3d)


def _describe(module: nn.Module) -> str:
    if isinstance(module, nn.Conv1d | nn.Conv2d | nn.Conv3d):
        kernel = "x".join(str(k) for k in module.kernel_size)
        return f"{type(module).__name__} {module.in_channels}->{module.out_channels}, {kernel}"
    return type(module).__name__


# -- the parameters chosen from the input ------------------------------------------------------


def occlusion_window(shape: Sequence[int], settings: AttributionSettings) -> tuple[int, int]:
    """``(window, stride)`` for an input of ``shape`` ``(C, H, W)``: an eighth of the shorter
    side (at least 2, at most the side) and half of it, unless the settings give them."""
    side = min(int(shape[-1]), int(shape[-2]))
    window = settings.window or max(2, round(side / 8))
    window = min(window, side)
    stride = settings.stride or max(1, window // 2)
    return int(window), int(stride)


def blurred(inputs: torch.Tensor, *, sigma: float | None = None) -> torch.Tensor:
    """A Gaussian blur of images ``(n, C, H, W)`` over H and W (the blurred-input baseline);
    ``sigma`` defaults to an eighth of the shorter side (at least 1 pixel)."""
    side = min(inputs.shape[-2:])
    sigma = float(sigma if sigma is not None else max(1.0, side / 8))
    radius = max(1, math.ceil(3 * sigma))
    offsets = torch.arange(-radius, radius + 1, dtype=inputs.dtype, device=inputs.device)
    kernel = torch.exp(-(offsets**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    n, channels, height, width = inputs.shape
    flat = inputs.reshape(n * channels, 1, height, width)
    flat = nn.functional.conv2d(
        nn.functional.pad(flat, (radius, radius, 0, 0), mode="replicate"),
        kernel.view(1, 1, 1, -1),
    )
    flat = nn.functional.conv2d(
        nn.functional.pad(flat, (0, 0, radius, radius), mode="replicate"),
        kernel.view(1, 1, -1, 1),
    )
    return flat.reshape(n, channels, height, width)


# -- running a method --------------------------------------------------------------------------


def attribute(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: np.ndarray | Sequence[int],
    *,
    settings: AttributionSettings,
    inference: InferenceSpec | None = None,
    training_mean: torch.Tensor | None = None,
    gradcam_layer: str | None = None,
    progress: ProgressCallback | None = None,
    where: str = "split",
    first_row: int = 0,
) -> np.ndarray:
    """The maps of ``settings.method`` for ``inputs``, batched.

    Args:
        model: the classifier (set to eval mode and moved to the device here).
        inputs: ``(n, C, H, W)`` images or ``(n, F)`` features, as the inference engine feeds
            them (after the project's transform).
        targets: ``(n,)`` the class each map explains.
        settings: the method and its parameters.
        inference: batch size, device and ``channels_last`` (the project's ``inference``).
        training_mean: ``(C, H, W)`` or ``(F,)`` the mean training input (the ``training_mean``
            baseline of Integrated Gradients, and of tabular methods).
        gradcam_layer: the project's ``model.gradcam_layer`` (``settings.layer`` wins).
        progress: called after each batch.
        where: the split, for messages.
        first_row: the position of ``inputs[0]`` in the whole set being explained (a chunk of
            it on a Ray worker): random draws depend on each batch's position, so a set cut into
            chunks of whole batches gets the maps of one call on the whole set.

    Returns:
        ``float32`` maps of the input's shape (Grad-CAM: ``(n, 1, H, W)``).

    Raises:
        ProjectError: the model gives no gradients, a layer does not exist, the targets do not
            match the inputs, or the method does not fit the inputs.
    """
    function = method_function(
        model,
        settings,
        input_shape=tuple(inputs.shape[1:]),
        training_mean=training_mean,
        gradcam_layer=gradcam_layer,
    )
    return attribute_with(
        model,
        inputs,
        targets,
        function,
        inference=inference,
        progress=progress,
        where=where,
        seed=settings.seed,
        first_row=first_row,
    )


def method_function(
    model: nn.Module,
    settings: AttributionSettings,
    *,
    input_shape: tuple[int, ...],
    training_mean: torch.Tensor | None = None,
    gradcam_layer: str | None = None,
) -> AttributeFunction:
    """The captum call of one method as ``(model, inputs, targets) -> maps`` for one batch.

    Raises:
        ProjectError: the method does not fit inputs of ``input_shape``, or a layer is missing.
    """
    from captum.attr import (
        FeatureAblation,
        IntegratedGradients,
        LayerAttribution,
        LayerGradCam,
        NoiseTunnel,
        Occlusion,
        Saliency,
    )

    method = settings.method
    is_image = len(input_shape) == 3
    if not is_image and method not in TABULAR_METHODS:
        raise ProjectError(
            f"Attribution method {method!r} needs image inputs (C, H, W); for features use "
            f"{' or '.join(TABULAR_METHODS)}."
        )
    if is_image and method == "feature_ablation":
        raise ProjectError(
            "Attribution method 'feature_ablation' is for tabular inputs; for images use occlusion."
        )
    if method == "gradcam":
        layer = find_gradcam_layer(model, settings.layer or gradcam_layer)
    forward = _Forward(model)

    def run(model_: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        forward.model = model_
        if method == "saliency":
            return Saliency(forward).attribute(x, target=target)
        if method == "smoothgrad":
            spread = float((x.max() - x.min()).item()) or 1.0
            return NoiseTunnel(Saliency(forward)).attribute(
                x,
                nt_type="smoothgrad",
                nt_samples=settings.nt_samples,
                stdevs=settings.noise_level * spread,
                target=target,
                nt_samples_batch_size=x.shape[0],
            )
        if method == "integrated_gradients":
            return IntegratedGradients(forward).attribute(
                x,
                baselines=_baseline(x, settings, training_mean, is_image=is_image),
                target=target,
                n_steps=settings.n_steps,
                internal_batch_size=ig_internal_batch_size(x.shape, settings.n_steps),
            )
        if method == "gradcam":
            module = dict(model_.named_modules())[layer.name]
            maps = LayerGradCam(forward, module).attribute(x, target=target, relu_attributions=True)
            return LayerAttribution.interpolate(maps, tuple(x.shape[-2:]), "bilinear")
        if method == "occlusion":
            window, stride = occlusion_window(x.shape[1:], settings)
            channels = int(x.shape[1])
            return Occlusion(forward).attribute(
                x,
                sliding_window_shapes=(channels, window, window),
                strides=(channels, stride, stride),
                baselines=0.0,
                target=target,
                perturbations_per_eval=1,
            )
        baseline = _baseline(x, settings, training_mean, is_image=False)
        return FeatureAblation(forward).attribute(x, baselines=baseline, target=target)

    return run


IG_BATCH_ELEMENTS = 1 << 24
"""Input elements Integrated Gradients puts through the model at once (16.8 M floats, 64 MiB of
inputs; the activations of a mid-sized CNN stay within a few GiB)."""


def ig_internal_batch_size(shape: Sequence[int], n_steps: int) -> int:
    """Integrated Gradients' ``internal_batch_size`` (samples x steps per forward pass): all the
    batch's steps at once when they fit :data:`IG_BATCH_ELEMENTS`, else as many as fit (at least
    one)."""
    per_input = int(np.prod(shape[1:])) if len(shape) > 1 else 1
    wanted = int(shape[0]) * int(n_steps)
    return max(1, min(wanted, IG_BATCH_ELEMENTS // max(1, per_input)))


class _Forward:
    """The model's logits (a tuple or dict output gives its logits), as captum's forward_func."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return _first_tensor(self.model(x))


def _baseline(
    x: torch.Tensor,
    settings: AttributionSettings,
    training_mean: torch.Tensor | None,
    *,
    is_image: bool,
) -> torch.Tensor | float:
    kind = settings.baseline if is_image else "training_mean"
    if kind == "black":
        return 0.0
    if kind == "blurred":
        return blurred(x)
    if training_mean is None:
        raise ProjectError(
            "The training-mean baseline needs the mean training input; the project has no split "
            "with role train to take it from."
        )
    return training_mean.to(x.device, x.dtype).unsqueeze(0).expand_as(x).contiguous()


def attribute_with(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: np.ndarray | Sequence[int],
    function: AttributeFunction,
    *,
    inference: InferenceSpec | None = None,
    progress: ProgressCallback | None = None,
    where: str = "split",
    seed: int = 0,
    first_row: int = 0,
) -> np.ndarray:
    """Run ``function`` over ``inputs`` in batches, in eval mode, on the inference device.

    The global random state is left as it was. SmoothGrad's noise for each batch is drawn from
    ``seed`` and the batch's position in the whole set (``first_row`` + its start), so the
    maps of a row do not depend on how the set was cut into calls of whole batches.

    Raises:
        ProjectError: the model gives no gradients, or the targets do not match the inputs.
    """
    settings = inference or InferenceSpec()
    targets = np.array(targets, dtype=np.int64).reshape(-1)  # a copy: Ray's arrays are read-only
    if targets.shape[0] != inputs.shape[0]:
        raise ProjectError(
            f"Expected one target per sample, but got {targets.shape[0]} targets for "
            f"{inputs.shape[0]} samples."
        )
    if inputs.shape[0] == 0:
        return np.zeros((0, *inputs.shape[1:]), dtype=np.float32)
    device = resolve_device(settings.device)
    model, channels_last = prepare_model(model, device, settings)
    parts: list[np.ndarray] = []
    done = 0
    with _seeded(seed, device):
        for start in range(0, inputs.shape[0], settings.batch_size):
            batch = inputs[start : start + settings.batch_size].to(device).float()
            if channels_last and batch.ndim == 4:
                batch = batch.contiguous(memory_format=torch.channels_last)
            target = torch.as_tensor(targets[start : start + settings.batch_size], device=device)
            if start == 0 and not getattr(model, "_gengap_gradients_checked", False):
                check_gradients(model, batch, where=where)
                _mark_checked(model)
            try:
                with warnings.catch_warnings():  # captum sets requires_grad itself, and says so
                    warnings.filterwarnings("ignore", message=r"Input Tensor \d+ did not already")
                    torch.manual_seed(batch_seed(seed, first_row + start))
                    maps = function(model, batch, target)
            except ProjectError:
                raise
            except Exception as error:  # noqa: BLE001 - the model failed on the user's data
                raise ProjectError(
                    f"Attribution failed on split {where!r} (batch starting at row {start}): "
                    f"{type(error).__name__}: {_first_line(error)}"
                ) from None
            parts.append(maps.detach().float().cpu().contiguous().numpy())
            done += batch.shape[0]
            if progress is not None:
                progress(done, int(inputs.shape[0]))
    return np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)


def prepare_model(
    model: nn.Module, device: torch.device, settings: InferenceSpec
) -> tuple[nn.Module, bool]:
    """The model in eval mode on ``device`` (in ``channels_last`` where the inference engine
    uses it), and whether inputs go ``channels_last`` too."""
    is_script = isinstance(model, torch.jit.ScriptModule)
    channels_last = (
        settings.channels_last
        if settings.channels_last is not None
        else device.type == "cuda" and not is_script and has_convolutions(model)
    )
    model = model.to(device).eval()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model, bool(channels_last)


def check_gradients(model: nn.Module, batch: torch.Tensor, *, where: str = "split") -> None:
    """Whether the model's outputs carry gradients back to its inputs.

    Raises:
        ProjectError: they do not (a TorchScript model traced or frozen without autograd, or a
            model that detaches its input).
    """
    probe = batch[:1].detach().clone().requires_grad_(True)
    try:
        with torch.enable_grad():
            output = _first_tensor(model(probe))
    except Exception as error:  # noqa: BLE001 - the model failed on the user's data
        raise ProjectError(
            f"The model failed on split {where!r} while checking its gradients: "
            f"{type(error).__name__}: {_first_line(error)}"
        ) from None
    gradient = None
    if output.requires_grad:
        (gradient,) = torch.autograd.grad(output.sum(), probe, allow_unused=True)
    if gradient is None:
        kind = "TorchScript model" if isinstance(model, torch.jit.ScriptModule) else "model"
        raise ProjectError(
            f"The {kind} gives no gradients with respect to its input (its forward runs under "
            "torch.no_grad or detaches the input), so attributions cannot be computed. Give the "
            "model as a factory + state_dict, or export it with a forward that keeps autograd."
        )


def _mark_checked(model: nn.Module) -> None:
    """Remember that ``model`` gives gradients (the probe runs once per model, not per call)."""
    with contextlib.suppress(AttributeError, TypeError, RuntimeError):  # e.g. TorchScript
        object.__setattr__(model, "_gengap_gradients_checked", True)


def batch_seed(seed: int, position: int) -> int:
    """The seed of the random draws of the batch that starts at ``position`` of the set."""
    return int(np.random.SeedSequence([int(seed), int(position)]).generate_state(1)[0])


@contextmanager
def _seeded(seed: int, device: torch.device):
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:300] if text else type(error).__name__


# -- the model-parameter randomization test (Adebayo et al., 2018) ----------------------------


def parametric_layers(model: nn.Module) -> list[str]:
    """Names of the modules that hold parameters of their own, from the input to the output."""
    return [
        name
        for name, module in model.named_modules()
        if name and any(True for _ in module.parameters(recurse=False))
    ]


def randomized_copy(model: nn.Module, *, n_top: int, seed: int = 0) -> nn.Module:
    """A copy of ``model`` whose top ``n_top`` parametric layers hold random weights.

    Each randomized layer is re-initialised with ``reset_parameters`` (its own initialiser) from
    a generator seeded by ``seed``; a layer without one gets normal weights of its own weights'
    standard deviation.

    Raises:
        ProjectError: ``n_top`` is not positive, or the model has no parameters (TorchScript
            models cannot be copied and re-initialised).
    """
    if isinstance(n_top, bool) or not isinstance(n_top, int) or n_top < 1:
        raise ProjectError(f"Expected `n_top` to be a positive integer, but got {n_top!r}.")
    try:
        clone = copy.deepcopy(model)
    except Exception as error:  # noqa: BLE001
        raise ProjectError(
            f"The model cannot be copied for the randomization test ({type(error).__name__})."
        ) from None
    layers = parametric_layers(clone)
    if not layers:
        raise ProjectError("The model has no layers with parameters to randomize.")
    modules = dict(clone.named_modules())
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        # a stream of its own (not ``seed`` itself, which a model's constructor may also use)
        torch.manual_seed(int(np.random.SeedSequence([seed, 7919, n_top]).generate_state(1)[0]))
        for name in reversed(layers[-n_top:]):  # from the top, as the cascade goes
            module = modules[name]
            reset = getattr(module, "reset_parameters", None)
            if callable(reset):
                reset()
                continue
            for parameter in module.parameters(recurse=False):
                std = float(parameter.std()) if parameter.numel() > 1 else 1.0
                parameter.normal_(0.0, std or 1.0)
    return clone.eval()


def cascade_steps(n_layers: int) -> list[int]:
    """How many top layers each step of the cascade randomizes: 1, 2, half, all (distinct)."""
    steps = sorted({min(n_layers, 1), min(n_layers, 2), max(1, n_layers // 2), n_layers})
    return [step for step in steps if step >= 1]


# -- deletion curves ---------------------------------------------------------------------------


def deletion_confidences(
    model: nn.Module,
    inputs: torch.Tensor,
    orders: np.ndarray,
    targets: np.ndarray,
    *,
    fractions: np.ndarray,
    inference: InferenceSpec | None = None,
    fill: float | torch.Tensor = 0.0,
) -> np.ndarray:
    """The model's probability of ``targets`` as the first pixels of ``orders`` are removed.

    Args:
        inputs: ``(n, C, H, W)`` images or ``(n, F)`` features.
        orders: ``(n, P)`` pixel (or feature) indices, most attributed first (``P = H * W``;
            removing a pixel sets every channel of it to ``fill``).
        targets: ``(n,)`` classes.
        fractions: ``(K,)`` fractions of the pixels removed at each step, in [0, 1].
        fill: the value removed pixels take (a number, or a ``(C, H, W)`` / ``(F,)`` tensor).

    Returns:
        ``(n, K)`` probabilities.
    """
    settings = inference or InferenceSpec()
    device = resolve_device(settings.device)
    model, channels_last = prepare_model(model, device, settings)
    n = inputs.shape[0]
    spatial = inputs.shape[-2:] if inputs.ndim == 4 else inputs.shape[-1:]
    n_pixels = int(np.prod(spatial))
    counts = np.rint(np.asarray(fractions, dtype=np.float64) * n_pixels).astype(np.int64)
    ranks = np.empty_like(orders)
    np.put_along_axis(ranks, orders, np.arange(n_pixels)[None, :], axis=1)
    out = np.zeros((n, len(counts)), dtype=np.float64)
    fill_tensor = torch.as_tensor(fill, dtype=torch.float32, device=device)
    with torch.inference_mode():
        for start in range(0, n, settings.batch_size):
            stop = min(n, start + settings.batch_size)
            batch = inputs[start:stop].to(device).float()
            rank = torch.as_tensor(ranks[start:stop], device=device).view(
                stop - start, *([1] if batch.ndim == 4 else []), *spatial
            )
            target = torch.as_tensor(targets[start:stop], device=device)
            for column, count in enumerate(counts):
                removed = rank < int(count)
                x = torch.where(removed, fill_tensor, batch)
                if channels_last and x.ndim == 4:
                    x = x.contiguous(memory_format=torch.channels_last)
                probs = torch.softmax(_first_tensor(model(x)).float(), dim=1)
                out[start:stop, column] = probs.gather(1, target[:, None])[:, 0].cpu().numpy()
    return out


# -- the cache ---------------------------------------------------------------------------------


def cached_maps(
    cache: MapStore | None,
    key: str,
    compute: Callable[[], dict[str, np.ndarray]],
    *,
    info: dict[str, Any] | None = None,
    n_rows: int | None = None,
) -> tuple[dict[str, np.ndarray], bool]:
    """The arrays of ``key`` from ``cache``, or computed (once across processes) and stored.

    An entry whose ``maps`` do not have ``n_rows`` rows is treated as a miss.

    Returns:
        The arrays, and whether they came from the cache.
    """
    if cache is None:
        return compute(), False
    what = (
        f"attributions {info.get('method', '')} of split {info.get('split', '')!r}" if info else ""
    )
    found = cache.load(key, what=what)
    if found is not None and (n_rows is None or found["maps"].shape[0] == n_rows):
        return found, True
    with cache.lock(key):
        found = cache.load(key, what=what)
        if found is not None and (n_rows is None or found["maps"].shape[0] == n_rows):
            return found, True
        arrays = compute()
        cache.store(key, arrays, info=info or {})
    return arrays, False
