"""Build the user's model: a factory plus a state_dict, or a TorchScript file.

Weights are loaded with ``torch.load(weights_only=True)`` or safetensors: nothing is unpickled.
"""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import torch
from torch import nn

from gengap_dash.project.code_references import load_callable
from gengap_dash.project.errors import ProjectError
from gengap_dash.project.spec import ModelSpec

__all__ = [
    "build_model",
    "find_embedding_layer",
    "has_convolutions",
    "load_callable",
    "load_state_dict",
    "weights_digest",
]


def build_model(spec: ModelSpec, *, base: Path) -> nn.Module:
    """Build the model on the CPU in eval mode.

    Raises:
        ProjectError: the factory fails or returns no ``nn.Module``, or the weights do not load.
    """
    if spec.torchscript is not None:
        if not spec.torchscript.is_file():
            raise ProjectError(f"model.torchscript: file {spec.torchscript} does not exist.")
        try:
            model = torch.jit.load(str(spec.torchscript), map_location="cpu")
        except Exception as error:  # noqa: BLE001
            raise ProjectError(
                f"model.torchscript: {spec.torchscript.name} is not a TorchScript model "
                f"({_first_line(error)})."
            ) from None
        return model.eval()
    factory = load_callable(spec.factory or "", base=base, key="model.factory")
    try:
        model = factory(**dict(spec.kwargs))
    except Exception as error:  # noqa: BLE001
        raise ProjectError(
            f"model.factory {spec.factory} raised {type(error).__name__}: {error}"
        ) from None
    if not isinstance(model, nn.Module):
        raise ProjectError(
            f"model.factory {spec.factory} returned {type(model).__name__}; expected a "
            "torch.nn.Module."
        )
    if spec.weights is not None:
        state = load_state_dict(spec.weights)
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as error:
            raise ProjectError(
                f"model.weights {spec.weights.name} does not fit {spec.factory}: "
                f"{_summarise_state_dict_error(str(error))}"
            ) from None
    return model.eval()


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Load a state_dict safely (``weights_only=True`` or safetensors)."""
    if not path.is_file():
        raise ProjectError(f"model.weights: file {path} does not exist.")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise ProjectError(
            f"model.weights: {path.name} could not be loaded as a state_dict: it holds pickled "
            "Python objects, which are never unpickled (unpickling can run code). Save the "
            "weights with torch.save(model.state_dict(), path) or as .safetensors."
        ) from None
    except Exception as error:  # noqa: BLE001
        raise ProjectError(
            f"model.weights: {path.name} could not be loaded as a state_dict "
            f"({_first_line(error)})."
        ) from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ProjectError(
            f"model.weights: {path.name} holds {type(state).__name__}; expected a state_dict "
            "(a mapping of parameter names to tensors, as saved by torch.save(model.state_dict()))."
        )
    return state


def weights_digest(spec: ModelSpec) -> str:
    """A content hash of the model's weights (or TorchScript file)."""
    path = spec.torchscript or spec.weights
    digest = hashlib.blake2b(digest_size=16)
    if path is not None and path.is_file():
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def find_embedding_layer(model: nn.Module, name: str | None) -> tuple[nn.Module, str, bool]:
    """The module whose features are the embedding.

    Returns:
        ``(module, name, use_input)``: the named module's output, or by default the input of the
        last ``nn.Linear`` (``use_input`` is True then).

    Raises:
        ProjectError: the named layer does not exist, or the model has no ``nn.Linear``.
    """
    modules = dict(model.named_modules())
    if name is not None:
        if name not in modules:
            candidates = [n for n in modules if n][:15]
            raise ProjectError(
                f"model.embedding_layer {name!r} is not a layer of the model; layers include "
                f"{', '.join(candidates)}."
            )
        return modules[name], name, False
    linear = [(n, m) for n, m in modules.items() if isinstance(m, nn.Linear)]
    if not linear:
        raise ProjectError(
            "The model has no nn.Linear layer, so no default embedding; set model.embedding_layer."
        )
    layer_name, layer = linear[-1]
    return layer, layer_name, True


def has_convolutions(model: nn.Module) -> bool:
    """Whether the model has 2-D convolutions (where ``channels_last`` can help)."""
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


def _summarise_state_dict_error(message: str) -> str:
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    return " ".join(lines[1:3])[:400] if len(lines) > 1 else message[:400]


def _first_line(error: BaseException) -> str:
    """The first line of an error, never torch's advice to load with ``weights_only=False``
    (which would unpickle, i.e. run, whatever the file holds)."""
    text = str(error).strip().splitlines()
    if not text or "weights_only" in str(error):
        return type(error).__name__
    return text[0][:300]
