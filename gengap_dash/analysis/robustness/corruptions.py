"""Image corruptions in the spirit of ImageNet-C (Hendrycks and Dietterich, 2019).

Nine corruptions at five severities each, written with numpy, scipy.ndimage and Pillow (no
corruption library is installed, and the published ones assume 224 or 32 px RGB). They act on
images as stored (``uint8``, 0..255, ``(H, W)`` or ``(H, W, C)``), before the project's own
transform, so that "brightness" means brightness; each result is rounded and clipped back to
``uint8`` (as ImageNet-C stores its corrupted images). Severity 0 is the identity.

Parameters (the table is ``SEVERITY_PARAMETERS``; docs/robustness.md explains the choices):

- noise, contrast, brightness and JPEG use ImageNet-C's values (they do not depend on size);
- spatial parameters (blur widths) are ImageNet-C's 224-px values scaled to the image's short
  side, but never below a floor in pixels (close to CIFAR-10-C's values), so that an 8 x 8 image
  still blurs: ``sigma = max(sigma_224 * side / 224, floor)``;
- pixelation shrinks to a share of the side and back, with shares chosen so that five severities
  stay distinct down to 8 px; rotation turns by 5 to 30 degrees, left or right at random.

Every draw comes from ``numpy.random.default_rng([seed, crc32(name), severity])``: the same
seed, corruption and severity give the same output, whatever else runs.
"""

from __future__ import annotations

import io
import math
import zlib
from collections.abc import Callable, Sequence
from typing import Literal, get_args

import numpy as np

CORRUPTION_VERSION = 1
"""Bumped whenever a corruption's output changes (it is part of every cached sweep's key)."""

SEVERITIES: tuple[int, ...] = (1, 2, 3, 4, 5)

CorruptionName = Literal[
    "gaussian_noise",
    "shot_noise",
    "gaussian_blur",
    "motion_blur",
    "contrast",
    "brightness",
    "jpeg",
    "pixelate",
    "rotate",
]

IMAGE_CORRUPTIONS: tuple[str, ...] = get_args(CorruptionName)
"""Every image corruption, in display order."""

# people's names of the corruptions and their families: gengap_dash.findings.robustness

SEVERITY_PARAMETERS: dict[str, tuple[float, ...]] = {
    # standard deviation on the [0, 1] scale (ImageNet-C)
    "gaussian_noise": (0.08, 0.12, 0.18, 0.26, 0.38),
    # photons per unit intensity: fewer photons, more noise (ImageNet-C)
    "shot_noise": (60.0, 25.0, 12.0, 5.0, 3.0),
    # sigma in pixels at 224 px (ImageNet-C); see GAUSSIAN_BLUR_FLOOR
    "gaussian_blur": (1.0, 2.0, 3.0, 4.0, 6.0),
    # sigma of the motion trail in pixels at 224 px (ImageNet-C); see MOTION_BLUR_FLOOR
    "motion_blur": (3.0, 5.0, 8.0, 12.0, 15.0),
    # contrast kept: (x - mean) * c + mean (ImageNet-C)
    "contrast": (0.4, 0.3, 0.2, 0.1, 0.05),
    # added to the value channel on the [0, 1] scale (ImageNet-C)
    "brightness": (0.1, 0.2, 0.3, 0.4, 0.5),
    # JPEG quality (ImageNet-C)
    "jpeg": (25.0, 18.0, 15.0, 10.0, 7.0),
    # the side kept, as a share of the image's side (distinct and monotone down to 8 px)
    "pixelate": (0.875, 0.625, 0.5, 0.375, 0.25),
    # degrees, turned left or right at random per image
    "rotate": (5.0, 10.0, 15.0, 22.5, 30.0),
}
"""The parameter of each corruption at severities 1..5."""

GAUSSIAN_BLUR_FLOOR: tuple[float, ...] = (0.4, 0.6, 0.8, 1.0, 1.3)
"""Smallest Gaussian blur sigma in pixels per severity (CIFAR-10-C-like), for small images."""

MOTION_BLUR_FLOOR: tuple[float, ...] = (0.5, 0.8, 1.1, 1.5, 2.0)
"""Smallest motion-blur sigma in pixels per severity, for small images."""

Corruption = Callable[[np.ndarray, int, np.random.Generator], np.ndarray]
"""``(images (n, H, W, C) float64 on 0..255, severity 1..5, rng) -> images`` (same shape)."""


# -- the public entry points --------------------------------------------------------------------


def corruption_rng(name: str, severity: int, seed: int) -> np.random.Generator:
    """The random stream of one corruption at one severity (independent of every other)."""
    return np.random.default_rng([int(seed), zlib.crc32(name.encode()), int(severity)])


def corrupt_images(
    images: np.ndarray | Sequence[np.ndarray], name: str, severity: int, *, seed: int = 0
) -> np.ndarray | list[np.ndarray]:
    """Corrupt stored images with one corruption at one severity.

    Args:
        images: ``(n, H, W)`` or ``(n, H, W, C)`` ``uint8`` images (0..255), or a list of such
            images of different sizes (each corrupted on its own).
        name: one of :data:`IMAGE_CORRUPTIONS`.
        severity: 0 (the identity) to 5.
        seed: the seed of the corruption's random draws.

    Returns:
        The corrupted images, ``uint8``, in the same shape (a list for a list).

    Raises:
        ValueError: an unknown corruption, a severity outside 0..5, or images that are not
            ``uint8``-valued 2-D or 3-D arrays.
    """
    check_corruption(name, severity)
    if isinstance(images, list | tuple):
        rng = corruption_rng(name, severity, seed)
        return [_corrupt_stack(np.asarray(image)[None], name, severity, rng)[0] for image in images]
    stack = np.asarray(images)
    if stack.ndim not in (3, 4):
        raise ValueError(
            f"Expected `images` of shape (n, H, W) or (n, H, W, C), but got shape {stack.shape}."
        )
    return _corrupt_stack(stack, name, severity, corruption_rng(name, severity, seed))


def check_corruption(name: str, severity: int) -> None:
    """Raises ValueError for an unknown corruption name or a severity outside 0..5."""
    if name not in CORRUPTIONS:
        raise ValueError(
            f"Expected `corruption` to be one of {', '.join(IMAGE_CORRUPTIONS)}, but got {name!r}."
        )
    if (
        isinstance(severity, bool)
        or not isinstance(severity, int | np.integer)
        or not 0 <= severity <= 5
    ):
        raise ValueError(f"Expected `severity` to be an integer 0..5, but got {severity!r}.")


def rmse(clean: np.ndarray, corrupted: np.ndarray) -> float:
    """Root-mean-square difference on the 0..255 scale (the tests' distortion measure)."""
    a = np.asarray(clean, dtype=np.float64)
    b = np.asarray(corrupted, dtype=np.float64)
    return float(np.sqrt(np.mean((a - b) ** 2)))


def parameter(name: str, severity: int, side: int | None = None) -> float:
    """The parameter of ``name`` at ``severity`` for images whose short side is ``side``."""
    value = SEVERITY_PARAMETERS[name][severity - 1]
    if name == "gaussian_blur" and side is not None:
        return max(value * side / 224.0, GAUSSIAN_BLUR_FLOOR[severity - 1])
    if name == "motion_blur" and side is not None:
        return max(value * side / 224.0, MOTION_BLUR_FLOOR[severity - 1])
    return value


# -- the corruptions ---------------------------------------------------------------------------


def _corrupt_stack(
    images: np.ndarray, name: str, severity: int, rng: np.random.Generator
) -> np.ndarray:
    if images.dtype != np.uint8 and (
        not np.issubdtype(images.dtype, np.number)
        or images.min(initial=0) < 0
        or images.max(initial=0) > 255
    ):
        raise ValueError("Expected `images` with values 0..255 (uint8).")
    if severity == 0:
        return images.astype(np.uint8, copy=True)
    grey = images.ndim == 3
    stack = images[..., None] if grey else images
    out = CORRUPTIONS[name](stack.astype(np.float64), severity, rng)
    out = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return out[..., 0] if grey else out


def _side(images: np.ndarray) -> int:
    return int(min(images.shape[1], images.shape[2]))


def _gaussian_noise(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    std = parameter("gaussian_noise", severity) * 255.0
    return images + rng.normal(0.0, std, size=images.shape)


def _shot_noise(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    photons = parameter("shot_noise", severity)
    return rng.poisson(images / 255.0 * photons) / photons * 255.0


def _gaussian_blur(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    from scipy import ndimage

    sigma = parameter("gaussian_blur", severity, _side(images))
    return ndimage.gaussian_filter(images, sigma=(0.0, sigma, sigma, 0.0), mode="nearest")


def motion_kernel(sigma: float, angle: float) -> np.ndarray:
    """A one-sided motion-blur kernel: Gaussian weights ``exp(-t²/(2 sigma²))`` along a line
    from the centre in direction ``angle`` (degrees), for ``t`` up to ``3 sigma``, spread
    bilinearly over the grid and normalised to sum 1. Shape ``(2r + 1, 2r + 1)``."""
    reach = max(1, math.ceil(3.0 * sigma))
    size = 2 * reach + 1
    kernel = np.zeros((size, size))
    theta = math.radians(angle)
    steps = np.linspace(0.0, 3.0 * sigma, 8 * reach + 1)
    weights = np.exp(-(steps**2) / (2.0 * sigma**2))
    rows = reach - steps * math.sin(theta)
    cols = reach + steps * math.cos(theta)
    for row, col, weight in zip(rows, cols, weights, strict=True):
        r0, c0 = math.floor(row), math.floor(col)
        fr, fc = row - r0, col - c0
        for dr, wr in ((0, 1 - fr), (1, fr)):
            for dc, wc in ((0, 1 - fc), (1, fc)):
                r, c = r0 + dr, c0 + dc
                if 0 <= r < size and 0 <= c < size:
                    kernel[r, c] += weight * wr * wc
    return kernel / kernel.sum()


def _motion_blur(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    from scipy import ndimage

    sigma = parameter("motion_blur", severity, _side(images))
    angles = rng.uniform(-45.0, 45.0, size=images.shape[0])
    out = np.empty_like(images)
    for index, angle in enumerate(angles):
        kernel = motion_kernel(sigma, float(angle))[:, :, None]
        out[index] = ndimage.convolve(images[index], kernel, mode="nearest")
    return out


def _contrast(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    kept = parameter("contrast", severity)
    means = images.mean(axis=(1, 2, 3), keepdims=True)
    return (images - means) * kept + means


def _brightness(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Raise the HSV value channel by ``c`` (on [0, 1]) keeping hue and saturation: every
    channel is scaled by ``min(1, v + c) / v`` (for grey images: ``x + 255 c``, clipped)."""
    shift = parameter("brightness", severity) * 255.0
    value = images.max(axis=3, keepdims=True)
    target = np.minimum(255.0, value + shift)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(value > 0, target / value, 0.0)
    lifted = images * scale
    # a black pixel has no hue: it becomes grey at the target value
    return np.where(value > 0, lifted, target)


def _jpeg(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    from PIL import Image

    quality = int(parameter("jpeg", severity))
    out = np.empty_like(images)
    pixels = np.clip(np.rint(images), 0, 255).astype(np.uint8)
    for index in range(images.shape[0]):
        channels = pixels.shape[3]
        if channels in (1, 3):
            planes = [pixels[index, :, :, 0] if channels == 1 else pixels[index]]
        else:  # other channel counts: each channel as its own grey image
            planes = [pixels[index, :, :, c] for c in range(channels)]
        decoded = []
        for plane in planes:
            buffer = io.BytesIO()
            Image.fromarray(plane).save(buffer, format="JPEG", quality=quality)
            buffer.seek(0)
            with Image.open(buffer) as image:
                decoded.append(np.asarray(image, dtype=np.float64))
        if channels == 3:
            out[index] = decoded[0]
        else:
            out[index] = np.stack(decoded, axis=-1)
    return out


def _pixelate(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Shrink with box filtering to a share of the size and enlarge back (ImageNet-C's recipe:
    box filter both ways)."""
    from PIL import Image

    share = parameter("pixelate", severity)
    height, width = images.shape[1], images.shape[2]
    small = (max(1, round(width * share)), max(1, round(height * share)))
    out = np.empty_like(images)
    for index in range(images.shape[0]):
        for channel in range(images.shape[3]):
            plane = Image.fromarray(images[index, :, :, channel].astype(np.float32), mode="F")
            reduced = plane.resize(small, Image.Resampling.BOX)
            out[index, :, :, channel] = np.asarray(
                reduced.resize((width, height), Image.Resampling.BOX)
            )
    return out


def _rotate(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Turn each image about its centre (bilinear), left or right at random; the corners that
    come in are black (0)."""
    from scipy import ndimage

    degrees = parameter("rotate", severity)
    signs = rng.choice([-1.0, 1.0], size=images.shape[0])
    out = np.empty_like(images)
    for index, sign in enumerate(signs):
        out[index] = ndimage.rotate(
            images[index], sign * degrees, axes=(1, 0), reshape=False, order=1,
            mode="constant", cval=0.0,
        )  # fmt: skip
    return out


CORRUPTIONS: dict[str, Corruption] = {
    "gaussian_noise": _gaussian_noise,
    "shot_noise": _shot_noise,
    "gaussian_blur": _gaussian_blur,
    "motion_blur": _motion_blur,
    "contrast": _contrast,
    "brightness": _brightness,
    "jpeg": _jpeg,
    "pixelate": _pixelate,
    "rotate": _rotate,
}
