"""Building the user's model: factories, safe weights, TorchScript, the embedding layer."""

from __future__ import annotations

import pickle
import textwrap
import uuid
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from gengap_dash.data.samples import SampleSource
from gengap_dash.engine.inference import run_inference
from gengap_dash.engine.model_loading import (
    build_model,
    find_embedding_layer,
    load_callable,
    load_state_dict,
    weights_digest,
)
from gengap_dash.project.errors import ProjectError
from gengap_dash.project.spec import InferenceSpec, ModelSpec

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.*is deprecated:DeprecationWarning")

MODEL_SOURCE = """
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, n_in: int = 4, n_out: int = 3, hidden: int = 5):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU())
        self.out = nn.Linear(hidden, n_out)

    def forward(self, x):
        return self.out(self.body(x))


class WithEmbed(Net):
    @torch.jit.export
    def embed(self, x):
        return self.body(x)


def boom(**kwargs):
    raise RuntimeError("no GPU on this laptop")


def not_a_module():
    return {"weights": 1}


NOT_CALLABLE = 3
"""


class _Net(nn.Module):
    """The same architecture as ``Net`` in MODEL_SOURCE, for references."""

    def __init__(self, n_in: int = 4, n_out: int = 3, hidden: int = 5) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU())
        self.out = nn.Linear(hidden, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.body(x))


class _WithEmbed(_Net):
    @torch.jit.export
    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class _WritesAFile:
    """Unpickling this would write a file: a weights file must never be unpickled like this."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (Path.write_text, (self.target, "executed"))


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "model.py").write_text(MODEL_SOURCE)
    return folder


@pytest.fixture
def reference() -> _Net:
    torch.manual_seed(1)
    return _Net(n_in=4, n_out=3, hidden=5).eval()


def _x(n: int = 10) -> torch.Tensor:
    return torch.randn(n, 4, generator=torch.Generator().manual_seed(0))


def test_factory_from_file_with_kwargs_and_torch_save_weights(
    model_dir: Path, reference: _Net
) -> None:
    torch.save(reference.state_dict(), model_dir / "w.pt")
    spec = ModelSpec(
        factory="model.py:Net",
        kwargs={"n_in": 4, "n_out": 3, "hidden": 5},
        weights=model_dir / "w.pt",
    )
    model = build_model(spec, base=model_dir)
    assert not model.training
    assert model.out.out_features == 3
    with torch.no_grad():
        torch.testing.assert_close(model(_x()), reference(_x()))


def test_checkpoint_with_state_dict_key(model_dir: Path, reference: _Net) -> None:
    torch.save({"state_dict": reference.state_dict(), "epoch": 3}, model_dir / "ckpt.pth")
    model = build_model(
        ModelSpec(factory="model.py:Net", weights=model_dir / "ckpt.pth"), base=model_dir
    )
    with torch.no_grad():
        torch.testing.assert_close(model(_x()), reference(_x()))


def test_safetensors_weights(model_dir: Path, reference: _Net) -> None:
    save_file(reference.state_dict(), str(model_dir / "w.safetensors"))
    model = build_model(
        ModelSpec(factory="model.py:Net", weights=model_dir / "w.safetensors"), base=model_dir
    )
    with torch.no_grad():
        torch.testing.assert_close(model(_x()), reference(_x()))


def test_factory_from_an_importable_module(tmp_path: Path, monkeypatch) -> None:
    package = f"gengap_test_pkg_{uuid.uuid4().hex[:8]}"
    (tmp_path / package).mkdir()
    (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / package / "models.py").write_text(MODEL_SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("GENGAP_FACTORY_MODULES", package)  # the operator's allow-list
    model = build_model(
        ModelSpec(factory=f"{package}.models:Net", kwargs={"n_out": 7}), base=tmp_path
    )
    assert isinstance(model, nn.Module)
    assert model(_x()).shape == (10, 7)


def test_factory_from_an_installed_library(tmp_path: Path) -> None:
    model = build_model(
        ModelSpec(factory="torch.nn:Linear", kwargs={"in_features": 4, "out_features": 2}),
        base=tmp_path,
    )
    assert isinstance(model, nn.Linear)
    assert model.out_features == 2


def test_factory_that_raises(model_dir: Path) -> None:
    with pytest.raises(
        ProjectError,
        match=r"model\.factory model\.py:boom raised RuntimeError: no GPU on this laptop",
    ):
        build_model(ModelSpec(factory="model.py:boom"), base=model_dir)


def test_factory_with_wrong_kwargs(model_dir: Path) -> None:
    with pytest.raises(
        ProjectError, match=r"model\.factory model\.py:Net raised TypeError: .*depth"
    ):
        build_model(ModelSpec(factory="model.py:Net", kwargs={"depth": 3}), base=model_dir)


def test_factory_returning_a_non_module(model_dir: Path) -> None:
    with pytest.raises(
        ProjectError,
        match=r"model\.factory model\.py:not_a_module returned dict; expected a torch\.nn\.Module",
    ):
        build_model(ModelSpec(factory="model.py:not_a_module"), base=model_dir)


def test_factory_file_missing(model_dir: Path) -> None:
    with pytest.raises(ProjectError, match=r"model\.factory: file .*nets\.py does not exist"):
        build_model(ModelSpec(factory="nets.py:Net"), base=model_dir)


def test_factory_name_missing_or_not_callable(model_dir: Path) -> None:
    with pytest.raises(ProjectError, match=r"model\.py has no callable named 'Nett'"):
        build_model(ModelSpec(factory="model.py:Nett"), base=model_dir)
    with pytest.raises(ProjectError, match=r"model\.py has no callable named 'NOT_CALLABLE'"):
        build_model(ModelSpec(factory="model.py:NOT_CALLABLE"), base=model_dir)


def test_factory_file_that_fails_to_import(model_dir: Path) -> None:
    (model_dir / "broken.py").write_text("import not_a_real_module_xyz\n")
    with pytest.raises(
        ProjectError,
        match=r"model\.factory: importing broken\.py raised ModuleNotFoundError: .*not_a_real",
    ):
        build_model(ModelSpec(factory="broken.py:Net"), base=model_dir)


def test_factory_module_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENGAP_FACTORY_MODULES", "no_such_pkg_xyz")  # allowed, not installed
    with pytest.raises(
        ProjectError, match=r"model\.factory: module 'no_such_pkg_xyz\.models' cannot be imported"
    ):
        load_callable("no_such_pkg_xyz.models:Net", base=tmp_path, key="model.factory")


def test_factory_file_does_not_leak_onto_sys_path(model_dir: Path) -> None:
    import sys

    before = list(sys.path)
    build_model(ModelSpec(factory="model.py:Net"), base=model_dir)
    assert sys.path == before


@pytest.mark.filterwarnings("ignore:Detected pickle protocol:UserWarning")
def test_pickled_object_weights_are_refused_not_executed(model_dir: Path) -> None:
    target = model_dir / "pwned.txt"
    with (model_dir / "evil.pt").open("wb") as handle:
        pickle.dump(_WritesAFile(target), handle)
    spec = ModelSpec(factory="model.py:Net", weights=model_dir / "evil.pt")
    with pytest.raises(ProjectError, match=r"model\.weights: evil\.pt could not be loaded as a"):
        build_model(spec, base=model_dir)
    assert not target.exists()
    # the same object saved through torch.save is refused too
    torch.save(_WritesAFile(target), model_dir / "evil2.pt")
    with pytest.raises(ProjectError, match=r"evil2\.pt could not be loaded as a state_dict"):
        load_state_dict(model_dir / "evil2.pt")
    assert not target.exists()


def test_a_whole_pickled_model_is_refused(model_dir: Path, reference: _Net) -> None:
    torch.save(reference, model_dir / "whole.pt")
    with pytest.raises(ProjectError, match=r"whole\.pt could not be loaded as a state_dict"):
        load_state_dict(model_dir / "whole.pt")


def test_weights_that_are_not_a_state_dict(model_dir: Path) -> None:
    torch.save([torch.zeros(2)], model_dir / "list.pt")
    with pytest.raises(
        ProjectError, match=r"model\.weights: list\.pt holds list; expected a state_dict"
    ):
        load_state_dict(model_dir / "list.pt")


def test_weights_file_missing(model_dir: Path) -> None:
    with pytest.raises(ProjectError, match=r"model\.weights: file .*gone\.pt does not exist"):
        build_model(
            ModelSpec(factory="model.py:Net", weights=model_dir / "gone.pt"), base=model_dir
        )


def test_garbage_weights_file(model_dir: Path) -> None:
    (model_dir / "w.safetensors").write_bytes(b"\x00garbage")
    with pytest.raises(ProjectError, match=r"w\.safetensors could not be loaded as a state_dict"):
        load_state_dict(model_dir / "w.safetensors")


def test_mismatched_state_dict(model_dir: Path, reference: _Net) -> None:
    torch.save(reference.state_dict(), model_dir / "w.pt")
    spec = ModelSpec(factory="model.py:Net", kwargs={"hidden": 6}, weights=model_dir / "w.pt")
    with pytest.raises(
        ProjectError, match=r"model\.weights w\.pt does not fit model\.py:Net: .*size mismatch"
    ):
        build_model(spec, base=model_dir)
    state = reference.state_dict()
    del state["out.bias"]
    torch.save(state, model_dir / "missing.pt")
    spec = ModelSpec(factory="model.py:Net", weights=model_dir / "missing.pt")
    with pytest.raises(ProjectError, match=r"does not fit model\.py:Net: .*out\.bias"):
        build_model(spec, base=model_dir)


def test_weights_digest_follows_the_content(model_dir: Path, reference: _Net) -> None:
    torch.save(reference.state_dict(), model_dir / "w.pt")
    spec = ModelSpec(factory="model.py:Net", weights=model_dir / "w.pt")
    first = weights_digest(spec)
    assert weights_digest(spec) == first
    with torch.no_grad():
        reference.out.bias.add_(1.0)
    torch.save(reference.state_dict(), model_dir / "w.pt")
    assert weights_digest(spec) != first


# -- TorchScript ---------------------------------------------------------------------------------


def _run(model: nn.Module, x: torch.Tensor):
    return run_inference(
        model, SampleSource(len(x), tensor=x), settings=InferenceSpec(batch_size=4, device="cpu")
    )


@pytest.mark.parametrize("export", ["script", "trace"])
def test_torchscript_predicts_but_has_no_embeddings(
    tmp_path: Path, reference: _Net, export: str
) -> None:
    scripted = (
        torch.jit.script(reference) if export == "script" else torch.jit.trace(reference, _x(2))
    )
    torch.jit.save(scripted, str(tmp_path / "model.ts"))
    model = build_model(ModelSpec(torchscript=tmp_path / "model.ts"), base=tmp_path)
    assert isinstance(model, torch.jit.ScriptModule)
    assert not model.training
    outputs = _run(model, _x())
    with torch.no_grad():
        np.testing.assert_allclose(outputs.logits, reference(_x()).numpy(), rtol=1e-5, atol=1e-6)
    assert outputs.embeddings is None
    assert "TorchScript" in outputs.embedding_note
    assert "hooks" in outputs.embedding_note
    assert "embed(x)" in outputs.embedding_note


def test_torchscript_with_an_embed_method_gives_embeddings(tmp_path: Path) -> None:
    torch.manual_seed(2)
    eager = _WithEmbed().eval()
    torch.jit.save(torch.jit.script(eager), str(tmp_path / "model.ts"))
    model = build_model(ModelSpec(torchscript=tmp_path / "model.ts"), base=tmp_path)
    outputs = _run(model, _x())
    assert outputs.embedding_note == ""
    assert outputs.embeddings is not None
    with torch.no_grad():
        np.testing.assert_allclose(outputs.embeddings, eager.embed(_x()).numpy(), rtol=1e-5)
        np.testing.assert_allclose(outputs.logits, eager(_x()).numpy(), rtol=1e-5, atol=1e-6)


def test_torchscript_file_missing_or_corrupt(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match=r"model\.torchscript: file .*none\.ts does not exist"):
        build_model(ModelSpec(torchscript=tmp_path / "none.ts"), base=tmp_path)
    (tmp_path / "bad.ts").write_bytes(b"not a zip archive")
    with pytest.raises(
        ProjectError, match=r"model\.torchscript: bad\.ts is not a TorchScript model"
    ):
        build_model(ModelSpec(torchscript=tmp_path / "bad.ts"), base=tmp_path)


# -- the embedding layer -------------------------------------------------------------------------


def test_default_embedding_layer_is_the_last_linear(reference: _Net) -> None:
    layer, name, use_input = find_embedding_layer(reference, None)
    assert (name, use_input) == ("out", True)
    assert layer is reference.out


def test_named_embedding_layer(reference: _Net) -> None:
    layer, name, use_input = find_embedding_layer(reference, "body.0")
    assert (name, use_input) == ("body.0", False)
    assert layer is reference.body[0]


def test_unknown_embedding_layer(reference: _Net) -> None:
    with pytest.raises(
        ProjectError,
        match=r"model\.embedding_layer 'head' is not a layer of the model; layers include body",
    ):
        find_embedding_layer(reference, "head")


def test_model_without_linear_has_no_default_embedding() -> None:
    with pytest.raises(ProjectError, match=r"no nn\.Linear layer.*set model\.embedding_layer"):
        find_embedding_layer(nn.Sequential(nn.Identity()), None)


def test_factory_source_with_relative_imports(tmp_path: Path) -> None:
    (tmp_path / "layers.py").write_text("from torch import nn\nWIDTH = 6\n")
    (tmp_path / "net.py").write_text(
        textwrap.dedent(
            """
            from torch import nn
            import layers

            def make():
                return nn.Linear(layers.WIDTH, 2)
            """
        )
    )
    model = build_model(ModelSpec(factory="net.py:make"), base=tmp_path)
    assert model.in_features == 6
