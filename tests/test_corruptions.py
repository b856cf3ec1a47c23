"""Image corruptions and tabular perturbations: identity at severity 0, distortion growing with
severity, determinism, reference implementations and error messages."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage
from sklearn.datasets import load_digits

from gengap_dash.analysis.robustness.corruptions import (
    IMAGE_CORRUPTIONS,
    SEVERITIES,
    corrupt_images,
    motion_kernel,
    parameter,
    rmse,
)
from gengap_dash.analysis.robustness.tabular import (
    MISSING_SHARES,
    NOISE_SCALES,
    QUANTILE_SHIFTS,
    TABULAR_PERTURBATIONS,
    FeatureReference,
    perturb_features,
)

RANDOM = ("gaussian_noise", "shot_noise", "motion_blur", "rotate")


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    """100 of scikit-learn's 8 x 8 digits on 0..255, as the sample project stores them."""
    return np.rint(load_digits().images[:100] * 255 / 16).astype(np.uint8)


@pytest.fixture(scope="module")
def colour(digits: np.ndarray) -> np.ndarray:
    """32 x 32 RGB images made from the digits (bilinear enlargement, channels differ)."""
    big = np.stack(
        [np.asarray(Image.fromarray(d).resize((32, 32), Image.Resampling.BILINEAR)) for d in digits]
    )
    return np.stack([big, np.roll(big, 3, axis=1), big // 2 + 60], axis=-1)


@pytest.mark.parametrize("name", IMAGE_CORRUPTIONS)
def test_severity_zero_is_the_identity(name: str, digits: np.ndarray, colour: np.ndarray) -> None:
    for images in (digits, colour):
        out = corrupt_images(images, name, 0, seed=3)
        assert out.dtype == np.uint8
        np.testing.assert_array_equal(out, images)
        assert out is not images


@pytest.mark.parametrize("name", IMAGE_CORRUPTIONS)
def test_distortion_grows_with_severity(name: str, digits: np.ndarray, colour: np.ndarray) -> None:
    for images in (digits, colour):
        distortion = [rmse(images, corrupt_images(images, name, s)) for s in (0, *SEVERITIES)]
        assert distortion[0] == 0.0
        assert np.all(np.diff(distortion) > 0), (name, images.shape, distortion)


@pytest.mark.parametrize("name", IMAGE_CORRUPTIONS)
def test_same_seed_same_output_and_shape_kept(name: str, colour: np.ndarray) -> None:
    first = corrupt_images(colour, name, 3, seed=7)
    again = corrupt_images(colour, name, 3, seed=7)
    np.testing.assert_array_equal(first, again)
    assert first.shape == colour.shape and first.dtype == np.uint8
    if name in RANDOM:
        assert not np.array_equal(first, corrupt_images(colour, name, 3, seed=8))


def test_a_list_of_images_of_different_sizes_is_corrupted_one_by_one(digits) -> None:
    images = [digits[0], np.asarray(Image.fromarray(digits[1]).resize((12, 10)))]
    out = corrupt_images(images, "gaussian_blur", 2)
    assert [o.shape for o in out] == [(8, 8), (10, 12)]
    np.testing.assert_array_equal(out[0], corrupt_images(digits[:1], "gaussian_blur", 2)[0])


def test_contrast_and_brightness_by_hand() -> None:
    image = np.array([[[0, 100], [200, 100]]], dtype=np.uint8)  # mean 100
    # contrast keeps 0.4 of the distance to the image's mean at severity 1
    np.testing.assert_array_equal(corrupt_images(image, "contrast", 1), [[[60, 100], [140, 100]]])
    # brightness adds 0.1 x 255 = 25.5 to a grey image (then rounded), clipped at 255
    bright = np.array([[[0, 100], [240, 255]]], dtype=np.uint8)
    np.testing.assert_allclose(
        corrupt_images(bright, "brightness", 1), [[[25.5, 125.5], [255, 255]]], atol=0.51
    )


def test_brightness_keeps_the_hue_of_colour_pixels() -> None:
    pixel = np.array([[[[100, 50, 0]]]], dtype=np.uint8)  # value 100
    out = corrupt_images(pixel, "brightness", 2)[0, 0, 0].astype(float)  # value 100 + 51
    np.testing.assert_allclose(out, [151, 75.5, 0], atol=0.51)


def test_gaussian_blur_matches_scipy_at_the_documented_sigma(digits: np.ndarray) -> None:
    sigma = parameter("gaussian_blur", 3, side=8)
    assert sigma == 0.8  # the small-image floor, since 3 x 8 / 224 is smaller
    assert parameter("gaussian_blur", 3, side=448) == pytest.approx(6.0)
    expected = ndimage.gaussian_filter(
        digits.astype(float), sigma=(0, sigma, sigma), mode="nearest"
    )
    np.testing.assert_array_equal(
        corrupt_images(digits, "gaussian_blur", 3), np.clip(np.rint(expected), 0, 255)
    )


def test_jpeg_matches_a_pillow_round_trip(digits: np.ndarray) -> None:
    buffer = io.BytesIO()
    Image.fromarray(digits[5]).save(buffer, format="JPEG", quality=15)
    expected = np.asarray(Image.open(io.BytesIO(buffer.getvalue())))
    np.testing.assert_array_equal(corrupt_images(digits[5:6], "jpeg", 3)[0], expected)


def test_motion_kernel_is_normalised_and_one_sided() -> None:
    kernel = motion_kernel(1.5, 0.0)
    assert kernel.sum() == pytest.approx(1.0)
    centre = kernel.shape[0] // 2
    assert kernel[:, :centre].sum() == pytest.approx(0.0)  # nothing behind the motion
    rows, cols = np.indices(kernel.shape)
    assert (kernel * cols).sum() > centre + 0.5  # the trail points along +x (0 degrees)
    assert (kernel * rows).sum() == pytest.approx(centre)


def test_shot_noise_is_poisson_at_the_documented_photon_count() -> None:
    flat = np.full((4000, 2, 2), 51, dtype=np.uint8)  # 0.2: clipping at 255 is negligible
    out = corrupt_images(flat, "shot_noise", 4).astype(float) / 255.0  # 5 photons per unit
    photons = 5.0
    assert out.mean() == pytest.approx(0.2, abs=0.01)
    assert out.var() == pytest.approx(0.2 / photons, rel=0.1)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("fog", 1), "Expected `corruption` to be one of gaussian_noise"),
        (("rotate", 6), r"Expected `severity` to be an integer 0\.\.5, but got 6"),
        (("rotate", 1.5), r"Expected `severity` to be an integer 0\.\.5, but got 1\.5"),
    ],
)
def test_bad_corruption_arguments(args, match: str, digits: np.ndarray) -> None:
    with pytest.raises(ValueError, match=match):
        corrupt_images(digits, *args)


def test_bad_images_are_refused() -> None:
    with pytest.raises(ValueError, match=r"Expected `images` of shape \(n, H, W\)"):
        corrupt_images(np.zeros((8, 8), np.uint8), "rotate", 1)
    with pytest.raises(ValueError, match=r"values 0\.\.255"):
        corrupt_images(np.full((1, 4, 4), 300.0), "rotate", 1)


# -- tabular perturbations ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reference() -> tuple[np.ndarray, FeatureReference]:
    rng = np.random.default_rng(0)
    data = rng.normal(size=(4000, 3)) * np.array([1.0, 5.0, 0.1]) + np.array([0.0, 10.0, -2.0])
    return data, FeatureReference.from_data(data)


@pytest.mark.parametrize("kind", TABULAR_PERTURBATIONS)
def test_tabular_severity_zero_identity_growth_and_determinism(kind: str, reference) -> None:
    data, ref = reference
    x = data[:2000].astype(np.float32)
    np.testing.assert_array_equal(perturb_features(x, kind, 0, ref), x)
    distortion = [rmse(x, perturb_features(x, kind, s, ref, seed=1)) for s in (0, *SEVERITIES)]
    assert np.all(np.diff(distortion) > 0), distortion
    one = perturb_features(x, kind, 3, ref, columns=[1], seed=4)
    np.testing.assert_array_equal(one, perturb_features(x, kind, 3, ref, columns=[1], seed=4))
    np.testing.assert_array_equal(one[:, [0, 2]], x[:, [0, 2]])  # only the chosen column moves
    assert one.dtype == np.float32


def test_noise_is_scaled_by_the_reference_spread(reference) -> None:
    data, ref = reference
    out = perturb_features(data, "noise", 4, ref, seed=0)
    np.testing.assert_allclose(
        (out - data).std(axis=0), NOISE_SCALES[3] * data.std(axis=0), rtol=0.05
    )


def test_missing_values_are_imputed_with_the_reference_mean(reference) -> None:
    data, ref = reference
    out = perturb_features(data, "missing", 2, ref, columns=[1], seed=0)
    changed = out[:, 1] != data[:, 1]
    assert changed.mean() == pytest.approx(MISSING_SHARES[1], abs=0.03)
    np.testing.assert_allclose(out[changed, 1], data[:, 1].mean())
    np.testing.assert_allclose(perturb_features(data, "missing", 5, ref)[0], data.mean(axis=0))


def test_quantile_shift_moves_values_up_in_reference_quantiles(reference) -> None:
    data, ref = reference
    median = np.median(data, axis=0)[None, :]
    out = perturb_features(median, "quantile_shift", 3, ref)
    np.testing.assert_allclose(
        out[0], np.quantile(data, 0.5 + QUANTILE_SHIFTS[2], axis=0), rtol=1e-3
    )
    top = data.max(axis=0)[None, :]
    np.testing.assert_allclose(perturb_features(top, "quantile_shift", 5, ref), top)


def test_bad_perturbation_arguments(reference) -> None:
    data, ref = reference
    with pytest.raises(ValueError, match="Expected `perturbation` to be one of noise"):
        perturb_features(data, "blur", 1, ref)
    with pytest.raises(ValueError, match=r"Expected `features` of shape \(n, 3\)"):
        perturb_features(data[:, :2], "noise", 1, ref)
    with pytest.raises(ValueError, match="at least 2 rows"):
        FeatureReference.from_data(data[:1])
