"""The attribution engine: each method equals captum called directly, IG completeness, Grad-CAM
by hand, the layer finder, the randomization test, deletion curves, the cache, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from captum.attr import (
    FeatureAblation,
    IntegratedGradients,
    LayerAttribution,
    LayerGradCam,
    NoiseTunnel,
    Occlusion,
    Saliency,
)
from scipy import ndimage
from torch import nn

from gengap_dash.analysis.attribution.findings import sanity_verdict
from gengap_dash.analysis.attribution.sanity import randomization_check
from gengap_dash.engine.attribution import (
    AttributionSettings,
    attribute,
    attribute_with,
    batch_seed,
    blurred,
    cached_maps,
    cascade_steps,
    check_gradients,
    deletion_confidences,
    find_gradcam_layer,
    ig_internal_batch_size,
    occlusion_window,
    parametric_layers,
    randomized_copy,
)
from gengap_dash.project.errors import ProjectError
from gengap_dash.project.spec import InferenceSpec
from gengap_dash.store.cache import ArrayCache

CPU = InferenceSpec(batch_size=3, device="cpu")


class SmallCNN(nn.Module):
    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.features = nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 6, 3, padding=1), nn.ReLU()
        )
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(6 * 8 * 8, 16), nn.ReLU(), nn.Linear(16, 3)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class MLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.body = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


@pytest.fixture
def images() -> tuple[torch.Tensor, np.ndarray]:
    generator = torch.Generator().manual_seed(3)
    return torch.rand(7, 1, 8, 8, generator=generator), np.array([0, 1, 2, 0, 1, 2, 0])


def direct(model: nn.Module, x: torch.Tensor, targets: np.ndarray, method: str) -> np.ndarray:
    """captum called directly on the whole input in eval mode."""
    model = model.eval()
    target = torch.as_tensor(targets)
    if method == "saliency":
        maps = Saliency(model).attribute(x, target=target)
    elif method == "integrated_gradients":
        maps = IntegratedGradients(model).attribute(x, baselines=0.0, target=target, n_steps=50)
    elif method == "gradcam":
        maps = LayerGradCam(model, model.features[2]).attribute(
            x, target=target, relu_attributions=True
        )
        maps = LayerAttribution.interpolate(maps, (8, 8), "bilinear")
    elif method == "occlusion":
        maps = Occlusion(model).attribute(
            x, sliding_window_shapes=(1, 2, 2), strides=(1, 1, 1), baselines=0.0, target=target
        )
    else:
        raise AssertionError(method)
    return maps.detach().numpy()


@pytest.mark.parametrize("method", ["saliency", "integrated_gradients", "gradcam", "occlusion"])
def test_each_image_method_equals_captum_called_directly(images, method: str) -> None:
    x, targets = images
    model = SmallCNN()
    model.train()  # the engine must switch to eval mode itself
    ours = attribute(model, x, targets, settings=AttributionSettings(method=method), inference=CPU)
    expected = direct(SmallCNN(), x, targets, method)
    assert ours.shape == expected.shape
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-6)
    assert not model.training


def test_smoothgrad_equals_noise_tunnel_with_the_same_seed(images) -> None:
    x, targets = images
    settings = AttributionSettings(method="smoothgrad", nt_samples=8, noise_level=0.2, seed=5)
    ours = attribute(
        SmallCNN(),
        x,
        targets,
        settings=settings,
        inference=InferenceSpec(batch_size=16, device="cpu"),
    )
    model = SmallCNN().eval()  # (its constructor seeds torch: build it before seeding)
    torch.manual_seed(batch_seed(5, 0))  # one batch, at position 0 of the set
    expected = NoiseTunnel(Saliency(model)).attribute(
        x,
        nt_type="smoothgrad",
        nt_samples=8,
        stdevs=0.2 * float(x.max() - x.min()),
        target=torch.as_tensor(targets),
        nt_samples_batch_size=len(x),
    )
    np.testing.assert_allclose(ours, expected.detach().numpy(), rtol=1e-4, atol=1e-6)
    again = SmallCNN()
    before = torch.get_rng_state()
    attribute(again, x, targets, settings=settings, inference=CPU)
    assert torch.equal(before, torch.get_rng_state())  # the global stream is left alone


def test_channels_last_and_batching_change_nothing(images) -> None:
    x, targets = images
    settings = AttributionSettings(method="gradcam")
    plain = attribute(
        SmallCNN(),
        x,
        targets,
        settings=settings,
        inference=InferenceSpec(batch_size=64, device="cpu"),
    )
    channels_last = attribute(
        SmallCNN(),
        x,
        targets,
        settings=settings,
        inference=InferenceSpec(batch_size=2, device="cpu", channels_last=True),
    )
    np.testing.assert_allclose(channels_last, plain, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("method", ["integrated_gradients", "feature_ablation"])
def test_tabular_methods_use_the_training_mean_and_equal_captum(method: str) -> None:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(6, 5, generator=generator)
    mean = torch.tensor([0.5, -0.2, 0.0, 1.0, 0.3])
    targets = np.array([0, 1, 2, 0, 1, 2])
    ours = attribute(
        MLP(),
        x,
        targets,
        settings=AttributionSettings(method=method),
        inference=CPU,
        training_mean=mean,
    )
    baseline = mean.expand_as(x)
    model = MLP().eval()
    if method == "integrated_gradients":
        expected = IntegratedGradients(model).attribute(
            x, baselines=baseline, target=torch.as_tensor(targets), n_steps=50
        )
    else:
        expected = FeatureAblation(model).attribute(
            x, baselines=baseline, target=torch.as_tensor(targets)
        )
    np.testing.assert_allclose(ours, expected.detach().numpy(), rtol=1e-4, atol=1e-6)


def test_integrated_gradients_completeness(images) -> None:
    x, targets = images
    model = SmallCNN().eval()
    settings = AttributionSettings(method="integrated_gradients", n_steps=300)
    maps = attribute(model, x, targets, settings=settings, inference=CPU)
    _, delta = IntegratedGradients(model).attribute(
        x,
        baselines=0.0,
        target=torch.as_tensor(targets),
        n_steps=300,
        return_convergence_delta=True,
    )
    with torch.no_grad():
        logits = model(x)[np.arange(len(x)), targets] - model(torch.zeros_like(x))[0, targets]
    sums = maps.reshape(len(x), -1).sum(axis=1)
    np.testing.assert_allclose(sums, logits.numpy(), atol=5e-3 * float(logits.abs().max()))
    assert float(delta.abs().max()) < 5e-3 * float(logits.abs().max())


def test_integrated_gradients_baselines(images) -> None:
    x, targets = images
    model = SmallCNN().eval()
    ours = attribute(
        model,
        x,
        targets,
        inference=CPU,
        settings=AttributionSettings(method="integrated_gradients", baseline="blurred"),
    )
    expected = IntegratedGradients(model).attribute(
        x, baselines=blurred(x), target=torch.as_tensor(targets), n_steps=50
    )
    np.testing.assert_allclose(ours, expected.detach().numpy(), rtol=1e-4, atol=1e-6)
    with pytest.raises(ProjectError, match="training-mean baseline needs the mean training"):
        attribute(
            model,
            x,
            targets,
            inference=CPU,
            settings=AttributionSettings(method="integrated_gradients", baseline="training_mean"),
        )


def test_the_blurred_baseline_is_a_gaussian_blur() -> None:
    image = np.random.default_rng(0).random((9, 10))
    ours = blurred(torch.tensor(image)[None, None], sigma=1.0)[0, 0].numpy()
    expected = ndimage.gaussian_filter(image, sigma=1.0, mode="nearest", truncate=3.0)
    np.testing.assert_allclose(ours, expected, atol=1e-10)
    constant = torch.full((1, 2, 8, 8), 0.7)
    np.testing.assert_allclose(blurred(constant).numpy(), 0.7, atol=1e-6)


class HandGradCam(nn.Module):
    """A 1x1 convolution with weights w, global average pooling and a linear head V: Grad-CAM of
    class c is ReLU(sum_k V[c, k] / (H W) * w_k * x)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 1, bias=False)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(2, 2, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.tensor([2.0, -1.0]).view(2, 1, 1, 1))
            self.head.weight.copy_(torch.tensor([[1.0, 3.0], [-2.0, 0.5]]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.conv(x)).flatten(1))


def test_gradcam_on_a_hand_built_model_gives_the_hand_computed_map() -> None:
    x = torch.tensor([[1.0, -2.0, 0.5], [3.0, 0.0, -1.0], [2.0, 1.0, -0.5]]).view(1, 1, 3, 3)
    x = torch.cat([x, x])
    targets = np.array([0, 1])
    maps = attribute(
        HandGradCam(), x, targets, settings=AttributionSettings(method="gradcam"), inference=CPU
    )
    weights = np.array([2.0, -1.0])
    head = np.array([[1.0, 3.0], [-2.0, 0.5]])
    for row, c in enumerate(targets):
        alpha = head[c] / 9.0
        expected = np.maximum(0.0, (alpha * weights).sum() * x[row, 0].numpy())
        np.testing.assert_allclose(maps[row, 0], expected, rtol=1e-5, atol=1e-7)


def test_the_layer_finder_picks_the_last_convolution_and_explains_itself() -> None:
    layer = find_gradcam_layer(SmallCNN())
    assert layer.name == "features.2"
    assert "last convolution" in layer.note and "Conv2d 4->6, 3x3" in layer.note
    assert "model.gradcam_layer" in layer.note
    assert find_gradcam_layer(SmallCNN(), "features.0").name == "features.0"
    with pytest.raises(ProjectError, match=r"needs a convolutional layer, and this model has none"):
        find_gradcam_layer(MLP())
    with pytest.raises(
        ProjectError,
        match=r"model.gradcam_layer 'features.9' is not a layer.*"
        r"features.0, features.2",
    ):
        find_gradcam_layer(SmallCNN(), "features.9")


def test_method_and_input_mismatches_are_explained(images) -> None:
    x, targets = images
    with pytest.raises(ProjectError, match="'gradcam' needs image inputs"):
        attribute(MLP(), torch.zeros(2, 5), [0, 1], settings=AttributionSettings(method="gradcam"))
    with pytest.raises(ProjectError, match="'feature_ablation' is for tabular inputs"):
        attribute(SmallCNN(), x, targets, settings=AttributionSettings(method="feature_ablation"))
    with pytest.raises(ProjectError, match="Expected one target per sample, but got 2 targets"):
        attribute(SmallCNN(), x, [0, 1], settings=AttributionSettings(), inference=CPU)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"method": "lime"}, "Expected the attribution method to be one of saliency"),
        ({"n_steps": 0}, "Expected `n_steps` to be a positive integer, but got 0."),
        ({"nt_samples": True}, "Expected `nt_samples` to be a positive integer, but got True."),
        ({"baseline": "white"}, "Expected `baseline` to be 'black', 'blurred' or"),
        ({"noise_level": -1.0}, "Expected `noise_level` to be a positive number, but got -1.0."),
        ({"window": 0}, "Expected `window` to be a positive integer, but got 0."),
    ],
)
def test_settings_are_checked(changes: dict, message: str) -> None:
    with pytest.raises(ProjectError, match=message.replace("(", r"\(")):
        AttributionSettings(**changes)


def test_occlusion_window_follows_the_input_size() -> None:
    settings = AttributionSettings(method="occlusion")
    assert occlusion_window((1, 8, 8), settings) == (2, 1)
    assert occlusion_window((3, 224, 224), settings) == (28, 14)
    assert occlusion_window((1, 3, 3), settings) == (2, 1)
    assert occlusion_window((1, 32, 32), AttributionSettings(window=5, stride=3)) == (5, 3)


def test_ig_internal_batch_fits_the_memory_budget() -> None:
    assert ig_internal_batch_size((64, 1, 8, 8), 50) == 64 * 50
    big = ig_internal_batch_size((256, 3, 224, 224), 50)
    assert big * 3 * 224 * 224 <= 1 << 24 and big >= 1


class Detaching(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(5, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.detach())


class NoGrad(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(5, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.linear(x)


@pytest.mark.parametrize(
    ("model", "kind"), [(Detaching(), "model"), (torch.jit.script(NoGrad()), "TorchScript model")]
)
def test_a_model_without_gradients_is_refused_with_a_reason(model, kind: str) -> None:
    with pytest.raises(ProjectError, match=f"The {kind} gives no gradients with respect to its"):
        check_gradients(model, torch.zeros(2, 5))
    with pytest.raises(ProjectError, match="attributions cannot be computed"):
        attribute(
            model,
            torch.zeros(2, 5),
            [0, 1],
            inference=CPU,
            settings=AttributionSettings(method="integrated_gradients"),
            training_mean=torch.zeros(5),
        )


def test_a_scripted_model_with_gradients_works(images) -> None:
    x, targets = images
    scripted = torch.jit.script(SmallCNN().eval())
    ours = attribute(scripted, x, targets, settings=AttributionSettings(), inference=CPU)
    np.testing.assert_allclose(
        ours, direct(SmallCNN(), x, targets, "saliency"), rtol=1e-4, atol=1e-6
    )


def sobel(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """An input-only "method": the edge magnitude of the image, whatever the model."""
    kernel = torch.tensor([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])
    gx = nn.functional.conv2d(x, kernel.view(1, 1, 3, 3), padding=1)
    gy = nn.functional.conv2d(x, kernel.t().reshape(1, 1, 3, 3), padding=1)
    return torch.sqrt(gx**2 + gy**2)


def gradient(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return Saliency(model).attribute(x, target=target)


def test_the_randomization_test_fails_an_edge_detector_and_passes_the_gradient(images) -> None:
    x, targets = images
    model = SmallCNN()
    layers = parametric_layers(model)
    assert layers == ["features.0", "features.2", "head.1", "head.3"]
    steps = cascade_steps(len(layers))
    assert steps == [1, 2, 4]
    verdicts = {}
    for name, function in (("edges", sobel), ("gradient", gradient)):
        original = attribute_with(model, x, targets, function, inference=CPU)
        randomized = [
            attribute_with(
                randomized_copy(model, n_top=n, seed=0), x, targets, function, inference=CPU
            )
            for n in steps
        ]
        check = randomization_check(
            original, randomized, method=name, steps=steps, n_layers=len(layers), n_resamples=200
        )
        verdicts[name] = (check.final.value, sanity_verdict(check.final.value))
    assert verdicts["edges"][0] == pytest.approx(1.0)
    assert verdicts["edges"][1] is False
    assert verdicts["gradient"][0] < 0.5
    assert verdicts["gradient"][1] is True


def test_randomized_copy_changes_only_the_top_layers() -> None:
    model = SmallCNN()
    clone = randomized_copy(model, n_top=2, seed=0)
    for name, parameter in model.named_parameters():
        same = torch.equal(parameter, dict(clone.named_parameters())[name])
        assert same == name.startswith("features"), name
    again = randomized_copy(model, n_top=2, seed=0)
    assert all(
        torch.equal(a, b) for a, b in zip(clone.parameters(), again.parameters(), strict=True)
    )
    with pytest.raises(ProjectError, match=r"Expected `n_top` to be a positive integer, but got 0"):
        randomized_copy(model, n_top=0)


def test_deletion_confidences_remove_pixels_in_the_given_order(images) -> None:
    x, targets = images
    model = SmallCNN().eval()
    orders = np.tile(np.arange(64), (len(x), 1))
    fractions = np.array([0.0, 0.25, 1.0])
    found = deletion_confidences(model, x, orders, targets, fractions=fractions, inference=CPU)
    with torch.no_grad():
        probs = torch.softmax(model(x), 1)[np.arange(len(x)), targets]
        masked = x.clone()
        masked[:, :, :2, :] = 0.0  # the first 16 pixels in reading order
        probs_quarter = torch.softmax(model(masked), 1)[np.arange(len(x)), targets]
        probs_empty = torch.softmax(model(torch.zeros_like(x)), 1)[np.arange(len(x)), targets]
    np.testing.assert_allclose(found[:, 0], probs.numpy(), rtol=1e-5)
    np.testing.assert_allclose(found[:, 1], probs_quarter.numpy(), rtol=1e-5)
    np.testing.assert_allclose(found[:, 2], probs_empty.numpy(), rtol=1e-5)


def test_cached_maps_store_once_and_recompute_a_broken_entry(tmp_path) -> None:
    cache = ArrayCache(tmp_path / "cache")
    calls = []

    def compute() -> dict[str, np.ndarray]:
        calls.append(1)
        return {"maps": np.ones((3, 1, 2, 2), dtype=np.float32)}

    info = {"split": "test", "method": "saliency"}
    first, hit = cached_maps(cache, "ab" * 32, compute, info=info, n_rows=3)
    second, hit_again = cached_maps(cache, "ab" * 32, compute, info=info, n_rows=3)
    assert (hit, hit_again, len(calls)) == (False, True, 1)
    np.testing.assert_array_equal(first["maps"], second["maps"])
    (cache.entry_path("ab" * 32) / "maps.npy").write_bytes(b"broken")
    _, hit_third = cached_maps(cache, "ab" * 32, compute, info=info, n_rows=3)
    assert hit_third is False and len(calls) == 2
    assert any("attributions saliency of split 'test'" in note for note in cache.notes)
