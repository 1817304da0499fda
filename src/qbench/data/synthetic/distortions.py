"""Distortions with physical parameters, and recipes of them applied in the order of the imaging chain.

Each distortion maps a float RGB image in [0, 1] and a strength in [0, 1] to a new array; strength 0 returns a
copy. The constants name the physical value at full strength (sigma, EV, JPEG quality, block size).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from qbench.data.synthetic.files import _to_uint8

TINTS: tuple[str, ...] = ("red", "green", "blue", "yellow")


# --------------------------------------------------------------------------------------------------------
# Colour helpers
# --------------------------------------------------------------------------------------------------------


def _srgb_to_linear(img: np.ndarray) -> np.ndarray:
    """IEC 61966-2-1 sRGB decoding: exposure and white balance act on light, not on encoded values."""
    return np.where(img <= 0.04045, img / 12.92, ((img + 0.055) / 1.055) ** 2.4)


def _linear_to_srgb(lin: np.ndarray) -> np.ndarray:
    lin = np.clip(lin, 0.0, 1.0)
    return np.where(lin <= 0.0031308, lin * 12.92, 1.055 * lin ** (1 / 2.4) - 0.055)


_LUMA = np.array([0.2126, 0.7152, 0.0722])  # Rec. 709 weights


def _luma(img: np.ndarray) -> np.ndarray:
    """Luma Y' of the encoded values: what "bright" and "contrast" mean to a viewer of the file."""
    return img @ _LUMA


def _as_float(img: np.ndarray) -> np.ndarray:
    arr = np.asarray(img, dtype=np.float64)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"expected an RGB array of shape (H, W, 3), got {arr.shape}")
    return arr


# --------------------------------------------------------------------------------------------------------
# Distortions: (img float RGB in [0, 1], strength in [0, 1]) -> new array; strength 0 returns a copy.
# --------------------------------------------------------------------------------------------------------

BLUR_MAX_SIGMA = 5.0
NOISE_MAX_SIGMA = 0.20
JPEG_QUALITY_RANGE = (90, 5)
OVEREXPOSURE_MAX_EV = 3.0
UNDEREXPOSURE_MAX_EV = 5.0
LOW_CONTRAST_MAX_LOSS = 0.8
COLOUR_CAST_MAX_STOPS = 2.0
PIXELATION_MAX_BLOCK = 16


def blur(img: np.ndarray, strength: float) -> np.ndarray:
    """Gaussian (defocus-like) blur: standard deviation ``sigma = 5.0 * strength`` pixels.

    At the 384-px working size, sigma >= 4 (strength >= 0.8) wipes out texture: that is the range used when
    a question says "blurry". Separable SciPy filter truncated at 4 sigma, mirror borders (no dark frame
    creeping in), channels filtered independently.
    """
    from scipy.ndimage import gaussian_filter

    img = _as_float(img)
    sigma = BLUR_MAX_SIGMA * float(strength)
    if sigma <= 0:
        return img.copy()
    return gaussian_filter(img, sigma=(sigma, sigma, 0.0), mode="reflect", truncate=4.0)


def noise(img: np.ndarray, strength: float, *, rng: np.random.Generator | None = None) -> np.ndarray:
    """Additive white Gaussian noise, independent per pixel and channel (sensor read noise).

    Standard deviation ``0.20 * strength`` of full scale (51/255 at strength 1), clipped to [0, 1]. ``rng``
    supplies the noise; without one a fixed ``default_rng(0)`` is used so the function stays deterministic.
    """
    img = _as_float(img)
    sd = NOISE_MAX_SIGMA * float(strength)
    if sd <= 0:
        return img.copy()
    gen = rng if rng is not None else np.random.default_rng(0)
    return np.clip(img + gen.normal(0.0, sd, size=img.shape), 0.0, 1.0)


def jpeg_quality(strength: float) -> int:
    """Pillow JPEG quality for a strength: linear from 90 (strength -> 0) to 5 (strength 1)."""
    hi, lo = JPEG_QUALITY_RANGE
    return round(hi - (hi - lo) * float(strength))


def jpeg(img: np.ndarray, strength: float) -> np.ndarray:
    """JPEG compression artifacts: encode/decode with Pillow at quality ``round(90 - 85 * strength)``.

    Chroma subsampling is fixed at 4:2:0 (what cameras and the web use, and what gives colour bleeding),
    no optimisation passes, so the result depends only on the pixels and the libjpeg build.
    """
    from PIL import Image

    img = _as_float(img)
    if strength <= 0:
        return img.copy()
    buf = io.BytesIO()
    Image.fromarray(_to_uint8(img), mode="RGB").save(
        buf, format="JPEG", quality=jpeg_quality(strength), subsampling=2, optimize=False
    )
    buf.seek(0)
    with Image.open(buf) as decoded:
        return np.asarray(decoded.convert("RGB"), dtype=np.float64) / 255.0


def overexposure(img: np.ndarray, strength: float) -> np.ndarray:
    """Over-exposure by ``+3.0 * strength`` EV: linear light times ``2**ev``, saturating at full scale.

    Clipping in linear light is what a sensor does; highlights burn out to white and lose detail.
    """
    img = _as_float(img)
    ev = OVEREXPOSURE_MAX_EV * float(strength)
    if ev <= 0:
        return img.copy()
    return _linear_to_srgb(_srgb_to_linear(img) * 2.0**ev)


def underexposure(img: np.ndarray, strength: float) -> np.ndarray:
    """Under-exposure by ``-5.0 * strength`` EV: linear light times ``2**-ev`` (5 stops = 1/32 the light)."""
    img = _as_float(img)
    ev = UNDEREXPOSURE_MAX_EV * float(strength)
    if ev <= 0:
        return img.copy()
    return _linear_to_srgb(_srgb_to_linear(img) * 2.0**-ev)


def low_contrast(img: np.ndarray, strength: float) -> np.ndarray:
    """Veiling haze: ``t * img + (1 - t) * A`` with transmission ``t = 1 - 0.8 * strength``.

    The Koschmieder haze model with a grey airlight ``A`` equal to the image's mean luma, applied to the
    displayed values, so the mean brightness is kept and the RMS contrast is multiplied by exactly ``t``
    (down to 20 %); colours desaturate by the same factor.
    """
    img = _as_float(img)
    t = 1.0 - LOW_CONTRAST_MAX_LOSS * float(strength)
    if t >= 1:
        return img.copy()
    airlight = float(_luma(img).mean())
    return t * img + (1.0 - t) * airlight


_TINT_DIRECTIONS: dict[str, tuple[float, float, float]] = {
    "red": (1.0, -0.5, -0.5),
    "green": (-0.5, 1.0, -0.5),
    "blue": (-0.5, -0.5, 1.0),
    "yellow": (0.5, 0.5, -1.0),
}


def colour_cast(img: np.ndarray, strength: float, *, tint: str = "blue") -> np.ndarray:
    """Wrong white balance: per-channel gains in linear light, ``log2(gain) = 2.0 * strength * d``.

    ``d`` is the tint direction (red (1, -.5, -.5), green, blue, yellow (.5, .5, -1)); the gains are then
    scaled so a neutral grey keeps its luminance, so the cast changes hue, not brightness. At strength 1 the
    favoured channel gets 8x the light of the others (3 stops apart), enough to dominate a colourful scene.
    """
    if tint not in _TINT_DIRECTIONS:
        raise ValueError(f"unknown tint {tint!r}; expected one of {', '.join(TINTS)}")
    img = _as_float(img)
    stops = COLOUR_CAST_MAX_STOPS * float(strength)
    if stops <= 0:
        return img.copy()
    gains = 2.0 ** (stops * np.array(_TINT_DIRECTIONS[tint]))
    gains /= float(gains @ _LUMA)
    return _linear_to_srgb(_srgb_to_linear(img) * gains)


def pixelation_block(strength: float) -> int:
    """Block edge in pixels for a strength: ``1 + round(15 * strength)`` (1 = untouched, 16 at most)."""
    return 1 + round((PIXELATION_MAX_BLOCK - 1) * float(strength))


def pixelation(img: np.ndarray, strength: float) -> np.ndarray:
    """Pixelation (mosaic): each ``b x b`` block replaced by its mean, ``b = 1 + round(15 * strength)``.

    Equivalent to box down-sampling by ``b`` and nearest-neighbour up-sampling; edge blocks are averaged over
    the pixels they really contain.
    """
    img = _as_float(img)
    b = pixelation_block(strength)
    if b <= 1:
        return img.copy()
    h, w, _ = img.shape
    hb, wb = -(-h // b), -(-w // b)
    padded = np.zeros((hb * b, wb * b, 3))
    padded[:h, :w] = img
    weight = np.zeros((hb * b, wb * b, 1))
    weight[:h, :w] = 1.0
    sums = padded.reshape(hb, b, wb, b, 3).sum(axis=(1, 3))
    counts = weight.reshape(hb, b, wb, b, 1).sum(axis=(1, 3))
    means = sums / counts
    return np.repeat(np.repeat(means, b, axis=0), b, axis=1)[:h, :w]


Distortion = Callable[[np.ndarray, float], np.ndarray]

#: Every distortion by name. ``noise`` and ``colour_cast`` also take a keyword (``rng`` / ``tint``).
DISTORTIONS: dict[str, Distortion] = {
    "blur": blur,
    "noise": noise,
    "jpeg": jpeg,
    "overexposure": overexposure,
    "underexposure": underexposure,
    "low_contrast": low_contrast,
    "colour_cast": colour_cast,
    "pixelation": pixelation,
}


#: The order in which combined distortions are applied, following the imaging chain: optics (blur), exposure,
#: sensor noise, white balance, veiling, resampling, storage.
PIPELINE_ORDER: tuple[str, ...] = (
    "blur",
    "overexposure",
    "underexposure",
    "noise",
    "colour_cast",
    "low_contrast",
    "pixelation",
    "jpeg",
)


@dataclass(frozen=True)
class Step:
    """One distortion of a recipe: its name, strength in [0, 1] and, for ``colour_cast``, the tint."""

    name: str
    strength: float
    tint: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "strength": round(self.strength, 4)}
        if self.tint is not None:
            out["tint"] = self.tint
        return out


def apply_steps(
    img: np.ndarray, steps: Sequence[Step], *, rng: np.random.Generator | None = None
) -> np.ndarray:
    """Apply ``steps`` in :data:`PIPELINE_ORDER` (not in list order) so a recipe means one thing only."""
    out = _as_float(img)
    for step in sorted(steps, key=lambda s: PIPELINE_ORDER.index(s.name)):
        if step.name == "noise":
            out = noise(out, step.strength, rng=rng)
        elif step.name == "colour_cast":
            out = colour_cast(out, step.strength, tint=step.tint or "blue")
        else:
            out = DISTORTIONS[step.name](out, step.strength)
    return out
