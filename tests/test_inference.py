"""The batched inference engine: same numbers as a bare loop, embeddings, progress, bad outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import cache_entries, edit_yaml
from PIL import Image
from torch import nn
from torch.utils.data import Dataset

from gengap_dash.data.samples import SampleSource, build_sample_source
from gengap_dash.engine.inference import resolve_device, run_inference
from gengap_dash.project.errors import ProjectError
from gengap_dash.project.spec import InferenceSpec, parse_project
from gengap_dash.workspace import Workspace


class _Mlp(nn.Module):
    def __init__(self, n_in: int = 6, hidden: int = 8, n_out: int = 3) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(nn.Linear(n_in, hidden), nn.Tanh())
        self.head = nn.Sequential(nn.Linear(hidden, 5), nn.ReLU(), nn.Linear(5, n_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class _Rows(Dataset):
    def __init__(self, x: torch.Tensor) -> None:
        self.x = x

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.x[index]


def _x(n: int = 37, d: int = 6) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(3))


def _settings(**changes) -> InferenceSpec:
    return InferenceSpec(**{"batch_size": 8, "device": "cpu", **changes})


def _bare_loop(model: nn.Module, x: torch.Tensor, batch_size: int = 8) -> np.ndarray:
    with torch.inference_mode():
        return torch.cat(
            [model(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
        ).numpy()


@pytest.mark.parametrize("kind", ["tensor", "dataset"])
def test_logits_match_a_bare_loop(kind: str) -> None:
    model, x = _Mlp().eval(), _x()
    source = (
        SampleSource(len(x), tensor=x)
        if kind == "tensor"
        else SampleSource(len(x), dataset=_Rows(x))
    )
    outputs = run_inference(model, source, settings=_settings())
    assert outputs.logits.dtype == np.float32
    assert outputs.logits.shape == (37, 3)
    np.testing.assert_allclose(outputs.logits, _bare_loop(model, x), rtol=1e-6, atol=1e-6)


def test_default_embedding_is_the_input_of_the_last_linear() -> None:
    model, x = _Mlp().eval(), _x()
    outputs = run_inference(model, SampleSource(len(x), tensor=x), settings=_settings())
    with torch.inference_mode():
        expected = model.head[1](model.head[0](model.body(x)))  # what enters head[2]
    assert outputs.embeddings is not None
    assert outputs.embeddings.shape == (37, 5)
    assert outputs.embedding_note == ""
    np.testing.assert_allclose(outputs.embeddings, expected.numpy(), rtol=1e-6, atol=1e-6)


def test_named_embedding_layer_gives_its_output() -> None:
    model, x = _Mlp().eval(), _x()
    outputs = run_inference(
        model, SampleSource(len(x), tensor=x), settings=_settings(), embedding_layer="body"
    )
    with torch.inference_mode():
        expected = model.body(x)
    assert outputs.embeddings is not None
    np.testing.assert_allclose(outputs.embeddings, expected.numpy(), rtol=1e-6, atol=1e-6)


def test_embeddings_can_be_switched_off() -> None:
    model, x = _Mlp().eval(), _x()
    outputs = run_inference(
        model, SampleSource(len(x), tensor=x), settings=_settings(), capture_embeddings=False
    )
    assert outputs.embeddings is None


def test_the_hook_is_removed_afterwards() -> None:
    model, x = _Mlp().eval(), _x()
    run_inference(model, SampleSource(len(x), tensor=x), settings=_settings())
    assert all(not m._forward_pre_hooks and not m._forward_hooks for m in model.modules())


def test_model_without_linear_still_predicts() -> None:
    model = nn.Sequential(nn.Flatten()).eval()
    x = _x(5, 3)
    outputs = run_inference(model, SampleSource(5, tensor=x), settings=_settings())
    np.testing.assert_allclose(outputs.logits, x.numpy())
    assert outputs.embeddings is None
    assert "nn.Linear" in outputs.embedding_note
    assert "model.embedding_layer" in outputs.embedding_note


def test_unknown_embedding_layer_is_an_error() -> None:
    with pytest.raises(ProjectError, match=r"model\.embedding_layer 'neck' is not a layer"):
        run_inference(
            _Mlp(), SampleSource(4, tensor=_x(4)), settings=_settings(), embedding_layer="neck"
        )


@pytest.mark.parametrize("batch_size", [1, 5, 37, 500])
def test_batch_size_does_not_change_results(batch_size: int) -> None:
    model, x = _Mlp().eval(), _x()
    reference = run_inference(model, SampleSource(len(x), tensor=x), settings=_settings())
    outputs = run_inference(
        model, SampleSource(len(x), tensor=x), settings=_settings(batch_size=batch_size)
    )
    np.testing.assert_allclose(outputs.logits, reference.logits, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(outputs.embeddings, reference.embeddings, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["tensor", "dataset"])
def test_progress_counts_increase_to_n(kind: str) -> None:
    x = _x()
    source = (
        SampleSource(len(x), tensor=x)
        if kind == "tensor"
        else SampleSource(len(x), dataset=_Rows(x))
    )
    calls: list[tuple[int, int]] = []
    run_inference(
        _Mlp(),
        source,
        settings=_settings(),
        progress=lambda done, total: calls.append((done, total)),
    )
    assert [done for done, _ in calls] == [8, 16, 24, 32, 37]
    assert {total for _, total in calls} == {37}


def test_model_in_train_mode_is_evaluated() -> None:
    model = nn.Sequential(nn.Linear(6, 6), nn.Dropout(0.9), nn.Linear(6, 2))
    model.train()
    x = _x()
    first = run_inference(model, SampleSource(len(x), tensor=x), settings=_settings())
    second = run_inference(model, SampleSource(len(x), tensor=x), settings=_settings())
    np.testing.assert_array_equal(first.logits, second.logits)


class _Outputs(nn.Module):
    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self.linear = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor):
        out = self.linear(x)
        if self.kind == "tuple":
            return out, x
        if self.kind == "dict":
            return {"logits": out}
        if self.kind == "flat":
            return out[:, 0]
        if self.kind == "string":
            return "oops"
        if self.kind == "raise":
            raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")
        return out


@pytest.mark.parametrize("kind", ["tuple", "dict"])
def test_tuple_and_dict_outputs(kind: str) -> None:
    model, x = _Outputs(kind).eval(), _x()
    outputs = run_inference(model, SampleSource(len(x), tensor=x), settings=_settings())
    with torch.inference_mode():
        np.testing.assert_allclose(outputs.logits, model.linear(x).numpy(), rtol=1e-6, atol=1e-6)


def test_output_not_two_dimensional() -> None:
    with pytest.raises(
        ProjectError, match=r"returned shape \(8,\) on split 'val'; expected logits of shape"
    ):
        run_inference(
            _Outputs("flat"), SampleSource(37, tensor=_x()), settings=_settings(), where="val"
        )


def test_output_not_a_tensor() -> None:
    with pytest.raises(ProjectError, match="The model returned str; expected a tensor of logits"):
        run_inference(_Outputs("string"), SampleSource(37, tensor=_x()), settings=_settings())


def test_model_that_fails_on_the_inputs() -> None:
    with pytest.raises(
        ProjectError,
        match=r"The model failed on split 'test' \(batch starting at row 0\): RuntimeError: mat1",
    ):
        run_inference(
            _Outputs("raise"), SampleSource(37, tensor=_x()), settings=_settings(), where="test"
        )


class _NaNForSomeRows(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.linear(x)
        return torch.where(x[:, :1] > 1.0, torch.full_like(out, float("nan")), out)


def test_nan_logits_are_an_error() -> None:
    x = _x()
    bad = int((x[:, 0] > 1.0).sum())
    first = int(torch.nonzero(x[:, 0] > 1.0)[0])
    assert bad > 0
    with pytest.raises(
        ProjectError,
        match=rf"NaN or infinite logits for {bad} of 37 samples of split 'noisy' "
        rf"\(first: row {first}\).*nothing was cached",
    ):
        run_inference(
            _NaNForSomeRows(), SampleSource(37, tensor=x), settings=_settings(), where="noisy"
        )


def test_empty_split_is_an_error() -> None:
    with pytest.raises(ProjectError, match="split 'deploy' has no rows"):
        run_inference(
            _Mlp(), SampleSource(0, tensor=torch.empty(0, 6)), settings=_settings(), where="deploy"
        )


def test_bfloat16_on_cpu_is_close_to_float32() -> None:
    model, x = _Mlp().eval(), _x()
    outputs = run_inference(
        model, SampleSource(len(x), tensor=x), settings=_settings(precision="bfloat16")
    )
    assert outputs.logits.dtype == np.float32
    np.testing.assert_allclose(outputs.logits, _bare_loop(model, x), atol=0.05)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_float16_needs_a_gpu() -> None:
    with pytest.raises(
        ProjectError, match="precision float16 needs a GPU; use bfloat16 or float32"
    ):
        run_inference(
            _Mlp(), SampleSource(4, tensor=_x(4)), settings=_settings(precision="float16")
        )


# -- devices -------------------------------------------------------------------------------------


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_auto_device_is_cpu_here() -> None:
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.parametrize("request_", ["gpu", "cuda:x", "5", "", "meta", "xpu"])
def test_bad_device_string(request_: str) -> None:
    with pytest.raises(
        ProjectError, match=rf"inference\.device is '{request_}'; expected auto, cpu, cuda"
    ):
        resolve_device(request_)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_cuda_without_a_gpu() -> None:
    with pytest.raises(ProjectError, match=r"inference\.device is 'cuda', but no CUDA GPU"):
        resolve_device("cuda")


def test_mps_where_there_is_none() -> None:
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        pytest.skip("MPS is available here")
    with pytest.raises(ProjectError, match=r"inference\.device is 'mps', but"):
        resolve_device("mps")


def test_a_device_index_that_does_not_exist() -> None:
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    with pytest.raises(ProjectError, match=rf"inference\.device is 'cuda:{count}'"):
        resolve_device(f"cuda:{count}")


# -- per-sample inputs through the DataLoader ----------------------------------------------------


def _image_spec(tmp_path: Path, **inference):
    raw = {
        "name": "imgs",
        "model": {"factory": "m.py:f"},
        "inputs": {"kind": "image", "column": "path"},
        "label": "label",
        "splits": {"train": {"path": "t.csv", "role": "train"}},
        "inference": inference or None,
    }
    return parse_project(raw, path=tmp_path / "project.yaml")


def _image_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2, 2)
    ).eval()


@pytest.mark.parametrize("workers", [0, 1])
def test_corrupt_image_through_the_loader_is_a_clean_error(tmp_path: Path, workers: int) -> None:
    rng = np.random.default_rng(0)
    for index in range(3):
        Image.fromarray(rng.integers(0, 256, (5, 5), dtype=np.uint8)).save(
            tmp_path / f"{index}.png"
        )
    (tmp_path / "bad.png").write_bytes(b"garbage bytes")
    frame = pd.DataFrame({"path": ["0.png", "1.png", "bad.png", "2.png"], "label": 0})
    spec = _image_spec(tmp_path, num_workers=workers, batch_size=2)
    source = build_sample_source(frame, spec, table_path=tmp_path / "t.csv")
    with pytest.raises(ProjectError) as info:
        run_inference(_image_model(), source, settings=spec.inference)
    message = str(info.value)
    assert message.startswith("Table t.csv: image bad.png (row 2) is corrupt or not an image")
    assert "Traceback" not in message
    assert "\n" not in message


def test_images_of_different_sizes_are_a_clean_error(tmp_path: Path) -> None:
    Image.new("L", (5, 5)).save(tmp_path / "a.png")
    Image.new("L", (6, 4)).save(tmp_path / "b.png")
    frame = pd.DataFrame({"path": ["a.png", "b.png"], "label": 0})
    spec = _image_spec(tmp_path, batch_size=4)
    source = build_sample_source(frame, spec, table_path=tmp_path / "t.csv")
    with pytest.raises(ProjectError, match=r"different shapes.*\(1, 5, 5\).*\(1, 4, 6\)"):
        run_inference(_image_model(), source, settings=spec.inference)


# -- through the workspace: nothing cached for a failed split -----------------------------------

NAN_MODEL = """
import torch
from model import WineMLP


class NaNWine(WineMLP):
    def forward(self, x):
        out = super().forward(x)
        return torch.where(x[:, :1] > 1.0, torch.full_like(out, float("nan")), out)
"""


def test_nan_logits_leave_the_cache_empty(tabular_project: Path, cache_dir: Path) -> None:
    (tabular_project.parent / "nan_model.py").write_text(NAN_MODEL)
    edit_yaml(tabular_project, lambda p: p["model"].update(factory="nan_model.py:NaNWine"))
    workspace = Workspace.from_file(tabular_project)
    with pytest.raises(ProjectError, match=r"NaN or infinite logits .* split 'train'"):
        workspace.predictions()
    assert cache_entries(cache_dir) == []
    assert not workspace.is_cached("train")


def test_output_width_not_matching_classes(tabular_project: Path, cache_dir: Path) -> None:
    edit_yaml(tabular_project, lambda p: p.update(classes=["a", "b", "c", "d"]))
    workspace = Workspace.from_file(tabular_project)
    with pytest.raises(
        ProjectError,
        match=r"The model outputs 3 values per sample, but `classes` lists 4; they must match",
    ):
        workspace.compute()
    assert cache_entries(cache_dir) == []


# -- default throughput: the channels_last probe and the torch.compile opt-in ------------------


class _Cnn(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )  # fmt: skip
        self.head = nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _images(n: int = 40) -> torch.Tensor:
    return torch.rand(n, 3, 12, 12, generator=torch.Generator().manual_seed(1))


@pytest.fixture
def fresh_probes(monkeypatch: pytest.MonkeyPatch):
    """An empty probe memo and probes on any run length; yields the list of timed passes."""
    from gengap_dash.engine import inference

    monkeypatch.setattr(inference, "_probes", {})
    monkeypatch.setattr(inference, "PROBE_MIN_BATCHES", 1)
    monkeypatch.setattr(inference, "PROBE_MIN_SECONDS", 0.0)
    return inference


@pytest.mark.parametrize("channels_last", [True, False])
def test_channels_last_gives_the_plain_outputs(channels_last: bool) -> None:
    x = _images()
    plain = _bare_loop(_Cnn().eval(), x)
    outputs = run_inference(
        _Cnn().eval(),
        SampleSource(len(x), tensor=x),
        settings=_settings(channels_last=channels_last),
    )
    assert outputs.channels_last is channels_last
    np.testing.assert_allclose(outputs.logits, plain, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("times", "chosen"),
    [((1.0, 0.5), True), ((1.0, 0.95), False), ((0.5, 1.0), False)],
    ids=["faster", "within-margin", "slower"],
)
def test_the_probe_picks_channels_last_only_when_clearly_faster(
    fresh_probes, monkeypatch: pytest.MonkeyPatch, times, chosen: bool
) -> None:
    calls: list[bool] = []

    def timed(model, batch, repeats=2):
        calls.append(batch.is_contiguous(memory_format=torch.channels_last))
        return times[(len(calls) - 1) % 2]

    monkeypatch.setattr(fresh_probes, "_best_time", timed)
    model, x = _Cnn().eval(), _images()
    outputs = run_inference(model, SampleSource(len(x), tensor=x), settings=_settings())
    assert calls == [False, True]  # the default layout first, then channels_last
    assert outputs.channels_last is chosen
    np.testing.assert_allclose(outputs.logits, _bare_loop(_Cnn().eval(), x), rtol=1e-5, atol=1e-6)
    # remembered for this model, device and batch shape: the next split is not probed again
    again = run_inference(model, SampleSource(len(x), tensor=x), settings=_settings())
    assert len(calls) == 2 and again.channels_last is chosen
    # another batch shape is probed again
    run_inference(model, SampleSource(len(x), tensor=x), settings=_settings(batch_size=16))
    assert len(calls) == 4


def test_short_runs_and_explicit_settings_are_not_probed(monkeypatch: pytest.MonkeyPatch) -> None:
    from gengap_dash.engine import inference

    monkeypatch.setattr(inference, "_probes", {})

    def refuse(*args, **kwargs):
        raise AssertionError("probed")

    monkeypatch.setattr(inference, "_best_time", refuse)
    x = _images(40)  # 5 batches of 8: fewer than PROBE_MIN_BATCHES
    outputs = run_inference(_Cnn().eval(), SampleSource(len(x), tensor=x), settings=_settings())
    assert outputs.channels_last is False
    monkeypatch.setattr(inference, "PROBE_MIN_BATCHES", 1)
    for setting in (True, False):
        outputs = run_inference(
            _Cnn().eval(), SampleSource(len(x), tensor=x), settings=_settings(channels_last=setting)
        )
        assert outputs.channels_last is setting
    # models without 2-D convolutions are never probed
    mlp = run_inference(_Mlp().eval(), SampleSource(37, tensor=_x()), settings=_settings())
    assert mlp.channels_last is False
    assert not inference._probes


def test_a_real_probe_runs_and_is_remembered(fresh_probes) -> None:
    model, x = _Cnn().eval(), _images()
    outputs = run_inference(model, SampleSource(len(x), tensor=x), settings=_settings())
    (probe,) = fresh_probes._probes.values()
    assert probe.default_seconds > 0 and probe.channels_last_seconds > 0
    assert outputs.channels_last is probe.channels_last
    # the model is left in the layout the run used, its outputs the plain path's
    assert model.features[0].weight.is_contiguous(memory_format=torch.channels_last) is (
        probe.channels_last
    )
    np.testing.assert_allclose(outputs.logits, _bare_loop(_Cnn().eval(), x), rtol=1e-5, atol=1e-6)


def test_compile_is_opt_in_and_reports_its_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """The plumbing of ``inference.compile`` (the eager backend: inductor takes ~50 s here)."""
    compiled: list[nn.Module] = []
    real_compile = torch.compile

    def eager_compile(model, **kwargs):
        compiled.append(model)
        return real_compile(model, backend="eager")

    monkeypatch.setattr(torch, "compile", eager_compile)
    model, x = _Cnn().eval(), _images()
    plain = run_inference(model, SampleSource(len(x), tensor=x), settings=_settings())
    assert plain.compile_seconds is None and compiled == []
    outputs = run_inference(model, SampleSource(len(x), tensor=x), settings=_settings(compile=True))
    assert compiled == [model]
    assert outputs.compile_seconds is not None and outputs.compile_seconds > 0
    np.testing.assert_allclose(outputs.logits, plain.logits, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(outputs.embeddings, plain.embeddings, rtol=1e-5, atol=1e-6)
    run_inference(model, SampleSource(len(x), tensor=x), settings=_settings(compile=True))
    assert compiled == [model]  # compiled once per model object


def test_compile_setting_is_validated(tmp_path: Path) -> None:
    assert _image_spec(tmp_path, compile=True).inference.compile is True
    assert _image_spec(tmp_path).inference.compile is False
    with pytest.raises(ProjectError, match=r"inference\.compile is 'yes'; expected true or false"):
        _image_spec(tmp_path, compile="yes")
    with pytest.raises(ProjectError, match=r"inference\.compile is 1; expected true or false"):
        _image_spec(tmp_path, compile=1)
