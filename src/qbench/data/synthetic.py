"""A seeded, offline, contamination-free low-level benchmark: the default data of ``qbench demo``.

Why synthetic: every public Q-Bench image may sit in some model's training data, and the real sets are
gigabytes behind a download. Here a handful of public-domain / CC0 photographs shipped with the package
(``qbench/data/images``, see ``LICENSES.md`` there) are degraded by known, physically parameterised
distortions, so every answer and every pseudo-MOS *follows from the generation* rather than from a human
label. The three builders write files in the official formats (protocol.md 1.2, 2.2, 4.2), so the demo runs
the very same loaders, prompts and scorers as the real benchmark:

* :func:`build_iqa` - A3: distorted images plus a MOS json (``[{"img_path", "gt_score"}]``), the pseudo-MOS a
  monotone function of the distortion strengths (:func:`pseudo_mos`).
* :func:`build_a1` - A1 single images: LLVisionQA json (type 0/1/2 x concern 0..3), including in-context
  questions about regions that were distorted on their own.
* :func:`build_a1_pairs` - A1 pairs: Q-Bench2 raw jsonl, with the concatenated pair image and both originals.

Unambiguous by construction. A question is only asked about a manipulation that is either strong or absent,
never borderline, and every claim is *checked on the generated pixels* (high-frequency energy for blur,
mean luma for brightness, channel means for tints, luma spread for contrast). A draw that fails its check is
discarded and redrawn from the same seeded stream, so the answers are certain and the output still fixed.

Deterministic. All randomness comes from ``numpy.random.default_rng`` seeded with ``[seed, stream, item]``,
images are written with fixed encoder settings (PNG ``compress_level=1``; pair images JPEG quality 95, 4:4:4)
and no metadata, JSON with fixed formatting and ``\\n`` newlines. The same seed gives byte-identical files on
the same platform and library versions (numpy, Pillow, zlib, libjpeg); another platform may differ in a rare
last-bit rounding of a pixel. :data:`SYNTHETIC_VERSION` names the recipe; any change of output bumps it.

Nothing here writes outside ``out_dir``; the only other file access is reading the packaged source images.
"""

from __future__ import annotations

import functools
import io
import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "A1_JSON",
    "DISTORTIONS",
    "IQA_JSON",
    "IQA_META_JSON",
    "PAIRS_JSONL",
    "PAIR_ORIGINALS_DIR",
    "PAIR_PREFIX",
    "PIPELINE_ORDER",
    "SEVERITY",
    "SOURCE_IMAGES",
    "SYNTHETIC_VERSION",
    "TINTS",
    "Step",
    "apply_steps",
    "blur",
    "build_a1",
    "build_a1_pairs",
    "build_all",
    "build_iqa",
    "colour_cast",
    "jpeg",
    "jpeg_quality",
    "load_sources",
    "low_contrast",
    "noise",
    "overexposure",
    "pixelation",
    "pixelation_block",
    "pseudo_mos",
    "sharpness",
    "underexposure",
]

SYNTHETIC_VERSION = "synthetic-v1"

#: Packaged source photographs, in the fixed order every builder uses (never a directory listing, whose
#: order is platform dependent). Long side 384 px; licences in ``images/LICENSES.md``.
SOURCE_IMAGES: tuple[str, ...] = (
    "astronaut.jpg",
    "chelsea.jpg",
    "coffee.jpg",
    "rocket.jpg",
    "camera.jpg",
    "brick.jpg",
    "grass.jpg",
)

IQA_JSON = "synthetic_a3_mos.json"
IQA_META_JSON = "synthetic_a3_meta.json"
A1_JSON = "synthetic_a1_dev.json"
PAIRS_JSONL = "synthetic_a1_pairs_dev.jsonl"
#: Folder of concatenated pair images and of the pair originals, as in the official Q-Bench2 release.
PAIR_PREFIX = "llvisionqa_compare_dev"
PAIR_ORIGINALS_DIR = "all_single_images"

TINTS: tuple[str, ...] = ("red", "green", "blue", "yellow")

# Random streams: one per builder, so adding items to one never shifts another.
_STREAM_IQA, _STREAM_A1, _STREAM_PAIRS = 1, 2, 3
_PNG_LEVEL = 1  # zlib level: fixed for identical bytes; 1 is 3x faster than 6 for ~10 % more size
_MAX_TRIES = 200


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

#: The share of the quality range (MOS - 1) that each distortion removes at full strength.
#: Ordered like typical subjective studies (KADID-10k, TID2013): loss of detail (blur, pixelation,
#: heavy compression) and noise hurt most; global tone and colour changes least.
SEVERITY: dict[str, float] = {
    "blur": 0.95,
    "pixelation": 0.90,
    "jpeg": 0.85,
    "noise": 0.80,
    "overexposure": 0.75,
    "underexposure": 0.70,
    "low_contrast": 0.60,
    "colour_cast": 0.50,
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

MOS_GAMMA = 0.8
MOS_NOISE_SD = 0.08


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


def pseudo_mos(strengths: Mapping[str, float]) -> float:
    """Noise-free pseudo-MOS on 1..5: ``1 + 4 * prod_k (1 - SEVERITY[k] * s_k ** 0.8)``.

    Each factor is the fraction of quality that survives distortion ``k``; multiplying them makes two
    distortions worse than either alone and keeps the score in range. The exponent 0.8 < 1 makes the first
    steps of a distortion count more than the last (viewers notice onset more than escalation). Strictly
    decreasing in every strength; a pristine image scores 5. :func:`build_iqa` adds small seeded noise.
    """
    quality = 1.0
    for name, s in strengths.items():
        s = min(max(float(s), 0.0), 1.0)
        quality *= 1.0 - SEVERITY[name] * s**MOS_GAMMA
    return 1.0 + 4.0 * quality


# --------------------------------------------------------------------------------------------------------
# Measurements used to check every generated claim
# --------------------------------------------------------------------------------------------------------


def sharpness(img: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean absolute 4-neighbour Laplacian of luma: high-frequency energy, what blur removes."""
    y = _luma(_as_float(img))
    lap = np.abs(4 * y[1:-1, 1:-1] - y[:-2, 1:-1] - y[2:, 1:-1] - y[1:-1, :-2] - y[1:-1, 2:])
    if mask is None:
        return float(lap.mean())
    return float(lap[mask[1:-1, 1:-1]].mean())


def _mean_luma(img: np.ndarray, mask: np.ndarray | None = None) -> float:
    y = _luma(img)
    return float(y.mean() if mask is None else y[mask].mean())


def _luma_sd(img: np.ndarray, mask: np.ndarray | None = None) -> float:
    y = _luma(img)
    return float(y.std() if mask is None else y[mask].std())


def _clipped_fraction(img: np.ndarray) -> float:
    return float((img.max(axis=2) >= 0.99).mean())


TINT_MARGIN = 0.08


def _tint_score(img: np.ndarray, tint: str, mask: np.ndarray | None = None) -> float:
    """How far the mean colour leans to ``tint`` (> TINT_MARGIN: clearly tinted; <= 0: not at all)."""
    px = img if mask is None else img[mask]
    r, g, b = (float(v) for v in px.reshape(-1, 3).mean(axis=0))
    if tint == "red":
        return r - max(g, b)
    if tint == "green":
        return g - max(r, b)
    if tint == "blue":
        return b - max(r, g)
    # yellow: red and green both above blue, and neither far above the other (else it reads as red/green)
    return min(r, g) - b - max(0.0, abs(r - g) - TINT_MARGIN / 2)


def _clearly_tinted(img: np.ndarray, tint: str, mask: np.ndarray | None = None) -> bool:
    return _tint_score(img, tint, mask) >= TINT_MARGIN and all(
        _tint_score(img, other, mask) <= TINT_MARGIN / 4 for other in TINTS if other != tint
    )


def _neutral(img: np.ndarray, mask: np.ndarray | None = None) -> bool:
    """Near-grey mean colour: no tint could be claimed."""
    return all(_tint_score(img, t, mask) < TINT_MARGIN / 4 for t in TINTS)


# Thresholds that turn measurements into words; calibrated on the source photos so that every claim made
# has a wide margin (e.g. "very dark" images have mean luma below 0.15, "normal" ones between 0.3 and 0.6).
DARK_MAX, BRIGHT_MIN = 0.15, 0.72
NORMAL_LUMA = (0.30, 0.60)
BLUR_RATIO_MAX = 0.15  # a "blurry" region keeps at most 15 % of its high-frequency energy
TEXTURE_MIN = 0.03  # a region needs this much HF energy for its blur to be visible
GRAIN_MAX = 0.15  # above this HF energy (the grass photo) fine texture could pass for noise
LOW_CONTRAST_SD_MAX = 0.09
HIGH_CONTRAST_SD_MIN = 0.16
REGION_LUMA_GAP = 0.20


# --------------------------------------------------------------------------------------------------------
# Source images and file writing
# --------------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _load_sources_cached() -> tuple[tuple[str, np.ndarray], ...]:
    from PIL import Image

    folder = resources.files("qbench.data") / "images"
    out = []
    for name in SOURCE_IMAGES:
        with (folder / name).open("rb") as fh, Image.open(fh) as im:
            arr = np.asarray(im.convert("RGB"), dtype=np.float64) / 255.0
        arr.setflags(write=False)
        out.append((name, arr))
    return tuple(out)


def load_sources() -> dict[str, np.ndarray]:
    """The packaged source photos as read-only float RGB arrays in [0, 1], in :data:`SOURCE_IMAGES` order."""
    return dict(_load_sources_cached())


def _is_grey(img: np.ndarray) -> bool:
    return bool(np.array_equal(img[..., 0], img[..., 1]) and np.array_equal(img[..., 1], img[..., 2]))


@functools.lru_cache(maxsize=1)
def _grey_sources() -> frozenset[str]:
    """Names of the black-and-white sources (all channels equal): the truth behind colour questions."""
    return frozenset(name for name, img in _load_sources_cached() if _is_grey(img))


def _to_uint8(img: np.ndarray) -> np.ndarray:
    return np.round(np.clip(img, 0.0, 1.0) * 255.0).astype(np.uint8)


def _write_png(path: Path, img: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray(_to_uint8(img), mode="RGB").save(path, format="PNG", compress_level=_PNG_LEVEL)


def _write_jpeg(path: Path, img: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray(_to_uint8(img), mode="RGB").save(
        path, format="JPEG", quality=95, subsampling=0, optimize=False
    )


class _Writer:
    """Encodes and writes image files on a small thread pool while the next item is generated.

    Pillow releases the GIL while it compresses, so this roughly halves a build on two cores. Every file is
    encoded on its own with fixed settings, so the bytes never depend on scheduling. Leaving the ``with``
    block waits for all writes and re-raises the first error.
    """

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1))
        self._futures: list[Future[None]] = []

    def png(self, path: Path, img: np.ndarray) -> None:
        self._futures.append(self._pool.submit(_write_png, path, img))

    def jpeg(self, path: Path, img: np.ndarray) -> None:
        self._futures.append(self._pool.submit(_write_jpeg, path, img))

    def __enter__(self) -> _Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True)
        for future in self._futures:
            future.result()


def _write_json(path: Path, obj: Any) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        json.dump(obj, fh, indent=2, ensure_ascii=False)
        fh.write("\n")


def _rng(seed: int, stream: int, item: int = 0) -> np.random.Generator:
    return np.random.default_rng([int(seed), stream, item])


def _pick(rng: np.random.Generator, seq: Sequence[Any]) -> Any:
    return seq[int(rng.integers(len(seq)))]


def _uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return round(float(rng.uniform(lo, hi)), 4)


# --------------------------------------------------------------------------------------------------------
# A3: IQA with pseudo-MOS
# --------------------------------------------------------------------------------------------------------

_INCOMPATIBLE = {frozenset(("overexposure", "underexposure"))}


def _iqa_recipe(rng: np.random.Generator) -> list[Step]:
    names = list(DISTORTIONS)
    first = _pick(rng, names)
    chosen = [first]
    if rng.random() < 0.25:
        others = [n for n in names if n != first and frozenset((first, n)) not in _INCOMPATIBLE]
        chosen.append(_pick(rng, others))
    steps = []
    for name in chosen:
        tint = _pick(rng, TINTS) if name == "colour_cast" else None
        steps.append(Step(name, _uniform(rng, 0.1, 1.0), tint))
    return steps


def build_iqa(out_dir: Path, *, seed: int = 0, per_image: int = 10) -> Path:
    """Write an A3 set: ``per_image`` versions of each source photo and a MOS json; return the json path.

    Per source: version 0 is pristine, the others carry one random distortion (a quarter of them two) at a
    strength drawn uniformly from [0.1, 1]. ``gt_score = clip(pseudo_mos(strengths) + N(0, 0.08), 1, 5)``,
    rounded to 3 decimals (the noise stands in for rater disagreement; it is seeded per image). The json is
    the official A3 shape, ``[{"img_path": "images/iqa_000.png", "gt_score": 4.93}, ...]`` with paths
    relative to the json's folder; a side file ``synthetic_a3_meta.json`` records each image's source,
    recipe and noise-free MOS. 7 sources x 10 = 70 images by default.
    """
    if per_image < 1:
        raise ValueError("per_image must be at least 1")
    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    items: list[dict[str, Any]] = []
    meta: list[dict[str, Any]] = []
    index = 0
    with _Writer() as writer:
        for src_name, src in load_sources().items():
            for k in range(per_image):
                rng = _rng(seed, _STREAM_IQA, index)
                steps = [] if k == 0 else _iqa_recipe(rng)
                img = apply_steps(src, steps, rng=rng)
                clean = pseudo_mos({s.name: s.strength for s in steps})
                score = round(min(5.0, max(1.0, clean + float(rng.normal(0.0, MOS_NOISE_SD)))), 3)
                rel = f"images/iqa_{index:03d}.png"
                writer.png(out_dir / rel, img)
                items.append({"img_path": rel, "gt_score": score})
                meta.append(
                    {
                        "img_path": rel,
                        "source": src_name,
                        "steps": [s.as_dict() for s in steps],
                        "mos_clean": round(clean, 4),
                        "version": SYNTHETIC_VERSION,
                    }
                )
                index += 1
    path = out_dir / IQA_JSON
    _write_json(path, items)
    _write_json(out_dir / IQA_META_JSON, meta)
    return path


# --------------------------------------------------------------------------------------------------------
# Regions (in-context questions)
# --------------------------------------------------------------------------------------------------------

_HALVES = ("left", "right", "top", "bottom")
_OPPOSITE = {"left": "right", "right": "left", "top": "bottom", "bottom": "top"}


def _region_mask(shape: tuple[int, ...], region: str) -> np.ndarray:
    h, w = shape[:2]
    mask = np.zeros((h, w), dtype=bool)
    if region == "left":
        mask[:, : w // 2] = True
    elif region == "right":
        mask[:, w // 2 :] = True
    elif region == "top":
        mask[: h // 2] = True
    elif region == "bottom":
        mask[h // 2 :] = True
    elif region in ("centre", "border"):
        mask[h // 4 : h - h // 4, w // 4 : w - w // 4] = True
        if region == "border":
            mask = ~mask
    else:
        raise ValueError(f"unknown region {region!r}")
    return mask


def _composite(base: np.ndarray, distorted: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``distorted`` inside ``mask``, ``base`` elsewhere: a hard edge, so the region is unmistakable."""
    return np.where(mask[..., None], distorted, base)


def _half(region: str) -> str:
    return f"the {region} half of the image"


# --------------------------------------------------------------------------------------------------------
# Question machinery
# --------------------------------------------------------------------------------------------------------

YES, NO = "Yes", "No"

_LABEL = {
    "blur": "Blur",
    "noise": "Noise",
    "jpeg": "JPEG compression artifacts",
    "pixelation": "Pixelation",
    "overexposure": "Overexposure",
    "underexposure": "Underexposure",
}
# Distortions that could be mistaken for one another at high strength are never offered side by side
# (heavy JPEG is blocky *and* smooth; pixelation is blocky; dark or washed-out images look low in contrast).
_CONFUSABLE = {
    "blur": {"jpeg", "pixelation"},
    "jpeg": {"blur", "pixelation", "noise"},
    "pixelation": {"jpeg", "blur"},
    "noise": {"jpeg"},
    "overexposure": set(),
    "underexposure": {"noise"},
}
# Strengths that make a distortion unmistakable (see each function for the physical values).
_STRONG = {
    "blur": (0.8, 1.0),
    "noise": (0.7, 1.0),
    "jpeg": (0.92, 1.0),
    "pixelation": (0.7, 1.0),
    "overexposure": (0.8, 1.0),
    "underexposure": (0.8, 1.0),
    "low_contrast": (0.9, 1.0),
    "colour_cast": (0.8, 1.0),
}
_TINT_WORD = {"red": "Reddish", "green": "Greenish", "blue": "Bluish", "yellow": "Yellowish"}


class _Retry(Exception):
    """A draw whose check failed; the builder draws again from the same seeded stream."""


def _check(ok: bool) -> None:
    if not ok:
        raise _Retry


@dataclass
class _Draft:
    """A question before its candidates are ordered: images, text, the answer and the wrong options."""

    images: list[np.ndarray]
    question: str
    correct: str
    wrong: list[str] = field(default_factory=list)


class _Gen:
    """Seeded drawing helpers shared by the question templates."""

    def __init__(self, rng: np.random.Generator, sources: Mapping[str, np.ndarray]) -> None:
        self.rng = rng
        self.sources = sources
        grey = _grey_sources()
        self.colour = [n for n in sources if n not in grey]
        self.grey = [n for n in sources if n in grey]

    def source(self, names: Sequence[str] | None = None) -> np.ndarray:
        return self.sources[_pick(self.rng, list(names or self.sources))]

    def strong(self, name: str) -> float:
        return _uniform(self.rng, *_STRONG[name])

    def distort(
        self, img: np.ndarray, name: str, strength: float | None = None, tint: str | None = None
    ) -> np.ndarray:
        s = self.strong(name) if strength is None else strength
        return apply_steps(img, [Step(name, s, tint)], rng=self.rng)

    def choice(self, seq: Sequence[Any]) -> Any:
        return _pick(self.rng, seq)

    def sample(self, seq: Sequence[Any], k: int) -> list[Any]:
        idx = self.rng.permutation(len(seq))[:k]
        return [seq[int(i)] for i in idx]


def _is_blurred(orig: np.ndarray, img: np.ndarray, mask: np.ndarray | None = None) -> bool:
    before = sharpness(orig, mask)
    return before >= TEXTURE_MIN and sharpness(img, mask) <= BLUR_RATIO_MAX * before


def _is_sharp(img: np.ndarray, mask: np.ndarray | None = None) -> bool:
    return sharpness(img, mask) >= TEXTURE_MIN


def _distortion_visible(name: str, orig: np.ndarray, img: np.ndarray, mask: np.ndarray | None = None) -> bool:
    """The check behind any claim that ``name`` is (strongly) present."""
    if name == "blur":
        return _is_blurred(orig, img, mask)
    if name == "overexposure":
        return (
            _mean_luma(img, mask) >= BRIGHT_MIN - 0.05
            and _mean_luma(img, mask) - _mean_luma(orig, mask) > 0.25
        )
    if name == "underexposure":
        return _mean_luma(img, mask) <= DARK_MAX
    if name in ("pixelation", "jpeg"):
        return _is_sharp(orig, mask)  # blocks only show on detail
    return True


def _quiet(img: np.ndarray, mask: np.ndarray | None = None) -> bool:
    """Not busy with fine grain: only such content may be called noise-free (a lawn is not, to the eye)."""
    return sharpness(img, mask) <= GRAIN_MAX


def _pristine_ok(img: np.ndarray) -> bool:
    """A pristine photo offered as "no distortion": textured, not grainy, neither dark nor blown out."""
    return (
        _is_sharp(img)
        and _quiet(img)
        and NORMAL_LUMA[0] - 0.05 <= _mean_luma(img)
        and _clipped_fraction(img) < 0.1
    )


# ---- A1 single-image templates. Each takes the generator and, for Yes/No, the answer to produce. -------

Template = Callable[..., _Draft]


def _t_yn_blurry(g: _Gen, answer: str) -> _Draft:
    src = g.source()
    if answer == YES:
        img = g.distort(src, "blur")
        _check(_is_blurred(src, img))
    else:
        img = src.copy()
        _check(_is_sharp(img))
    return _Draft([img], g.choice(["Is this image blurry?", "Is this image out of focus?"]), answer)


def _t_yn_noisy(g: _Gen, answer: str) -> _Draft:
    src = g.source()
    img = g.distort(src, "noise") if answer == YES else src.copy()
    _check(answer == YES or _quiet(img))
    return _Draft([img], g.choice(["Is there obvious noise in this image?", "Is this image noisy?"]), answer)


def _t_yn_clean(g: _Gen, answer: str) -> _Draft:
    src = g.source()
    if answer == YES:
        img = src.copy()
        _check(_pristine_ok(img))
    else:
        name = g.choice(["blur", "noise", "jpeg", "pixelation"])
        img = g.distort(src, name)
        _check(_distortion_visible(name, src, img))
    return _Draft([img], "Is this image free of visible distortions?", answer)


def _t_yn_pixelated(g: _Gen, answer: str) -> _Draft:
    src = g.source()
    img = g.distort(src, "pixelation") if answer == YES else src.copy()
    _check(_is_sharp(src))
    return _Draft([img], "Is this image pixelated, with visible square blocks?", answer)


def _t_yn_overexposed(g: _Gen, answer: str) -> _Draft:
    src = g.source()
    if answer == YES:
        img = g.distort(src, "overexposure")
        _check(_distortion_visible("overexposure", src, img))
    else:
        img = src.copy()
        _check(NORMAL_LUMA[0] <= _mean_luma(img) <= NORMAL_LUMA[1] and _clipped_fraction(img) < 0.05)
    return _Draft([img], "Is this image overexposed?", answer)


def _t_what_distortion(g: _Gen) -> _Draft:
    name = g.choice(list(_LABEL))
    src = g.source()
    img = g.distort(src, name)
    _check(_distortion_visible(name, src, img))
    wrong = [_LABEL[n] for n in _LABEL if n != name and n not in _CONFUSABLE[name]]
    q = g.choice(
        ["What is the most obvious distortion in this image?", "What distortion does this image suffer from?"]
    )
    return _Draft([img], q, _LABEL[name], g.sample(wrong, 3))


def _t_what_exposure(g: _Gen) -> _Draft:
    kind = g.choice(["overexposure", "underexposure", "none"])
    src = g.source()
    if kind == "none":
        img = src.copy()
        _check(NORMAL_LUMA[0] <= _mean_luma(img) <= NORMAL_LUMA[1] and _clipped_fraction(img) < 0.05)
    else:
        img = g.distort(src, kind)
        _check(_distortion_visible(kind, src, img))
    options = {"overexposure": "Overexposed", "underexposure": "Underexposed", "none": "Properly exposed"}
    wrong = [v for k, v in options.items() if k != kind]
    return _Draft([img], "What is the exposure problem of this image, if any?", options[kind], wrong)


def _t_how_clarity(g: _Gen) -> _Draft:
    src = g.source()
    if g.rng.random() < 0.5:
        img = g.distort(src, "blur")
        _check(_is_blurred(src, img))
        return _Draft([img], "How is the clarity of this image?", "Low", ["High", "Medium"])
    img = src.copy()
    _check(_is_sharp(img) and sharpness(img) >= 2 * TEXTURE_MIN)
    return _Draft([img], "How is the clarity of this image?", "High", ["Low", "Medium"])


def _t_how_noise(g: _Gen) -> _Draft:
    src = g.source()
    options = ["Severe", "Moderate", "Hardly any"]
    if g.rng.random() < 0.5:
        img = g.distort(src, "noise", _uniform(g.rng, 0.85, 1.0))
        return _Draft([img], "How severe is the noise in this image?", "Severe", options[1:])
    _check(_quiet(src))
    return _Draft([src.copy()], "How severe is the noise in this image?", "Hardly any", options[:2])


def _t_yn_greyscale(g: _Gen, answer: str) -> _Draft:
    img = g.source(g.grey if answer == YES else g.colour).copy()
    if answer == NO:
        _check(not _neutral(img) or float(np.abs(img - img.mean(axis=2, keepdims=True)).mean()) > 0.03)
    q = g.choice(["Is this a black-and-white image?", "Is this image in greyscale?"])
    return _Draft([img], q, answer)


def _t_yn_dark(g: _Gen, answer: str) -> _Draft:
    src = g.source()
    if answer == YES:
        img = g.distort(src, "underexposure")
        _check(_mean_luma(img) <= DARK_MAX)
    else:
        img = g.distort(src, "overexposure") if g.rng.random() < 0.5 else src.copy()
        _check(_mean_luma(img) >= NORMAL_LUMA[0])
    return _Draft([img], "Is this image very dark overall?", answer)


def _t_yn_tint(g: _Gen, answer: str) -> _Draft:
    tint = g.choice(TINTS)
    if answer == YES:
        src = g.source()
        img = g.distort(src, "colour_cast", tint=tint)
        _check(_clearly_tinted(img, tint))
    elif g.rng.random() < 0.5:
        img = g.source(g.grey).copy()
    else:
        other = g.choice([t for t in TINTS if t != tint])
        img = g.distort(g.source(), "colour_cast", tint=other)
        _check(_clearly_tinted(img, other) and _tint_score(img, tint) < 0)
    return _Draft([img], f"Does this image have a strong {tint} tint?", answer)


def _t_yn_low_contrast(g: _Gen, answer: str) -> _Draft:
    src = g.source()
    if answer == YES:
        img = g.distort(src, "low_contrast")
        _check(_luma_sd(img) <= LOW_CONTRAST_SD_MAX)
    else:
        img = src.copy()
        _check(_luma_sd(img) >= HIGH_CONTRAST_SD_MIN)
    return _Draft([img], "Is the contrast of this image low?", answer)


def _t_what_tone(g: _Gen) -> _Draft:
    tint = g.choice(TINTS)
    img = g.distort(g.source(), "colour_cast", tint=tint)
    _check(_clearly_tinted(img, tint))
    wrong = [_TINT_WORD[t] for t in TINTS if t != tint]
    return _Draft([img], "What is the dominant colour tone of this image?", _TINT_WORD[tint], wrong)


def _t_what_colour_mode(g: _Gen) -> _Draft:
    options = ["Full colour", "Black and white", "Infrared false colour"]
    if g.rng.random() < 0.5:
        return _Draft(
            [g.source(g.grey).copy()],
            "What is the colour mode of this image?",
            options[1],
            [options[0], options[2]],
        )
    img = g.source(g.colour).copy()
    return _Draft([img], "What is the colour mode of this image?", options[0], options[1:])


def _t_how_brightness(g: _Gen) -> _Draft:
    src = g.source()
    kind = g.choice(["overexposure", "underexposure", "none"])
    options = {"overexposure": "Very bright", "underexposure": "Very dark", "none": "Moderate"}
    if kind == "none":
        img = src.copy()
        _check(NORMAL_LUMA[0] <= _mean_luma(img) <= NORMAL_LUMA[1])
    else:
        img = g.distort(src, kind)
        lum = _mean_luma(img)
        _check(lum >= BRIGHT_MIN if kind == "overexposure" else lum <= DARK_MAX)
    wrong = [v for k, v in options.items() if k != kind]
    return _Draft([img], "How is the brightness of this image?", options[kind], wrong)


def _t_how_colourfulness(g: _Gen) -> _Draft:
    options = ["Vivid", "Muted", "No colour at all"]
    if g.rng.random() < 0.5:
        img = g.source(g.grey).copy()
        return _Draft([img], "How colourful is this image?", options[2], options[:2])
    src = g.source(g.colour)
    img = g.distort(src, "low_contrast", 1.0)
    _check(_luma_sd(img) <= LOW_CONTRAST_SD_MAX)
    return _Draft([img], "How colourful is this image?", options[1], [options[0], options[2]])


def _t_how_contrast(g: _Gen) -> _Draft:
    src = g.source()
    img = g.distort(src, "low_contrast")
    _check(_luma_sd(img) <= LOW_CONTRAST_SD_MAX and _luma_sd(src) >= HIGH_CONTRAST_SD_MIN * 0.75)
    return _Draft([img], "How is the contrast of this image?", "Low", ["High", "Medium"])


# ---- in-context (region) templates ----------------------------------------------------------------------


def _distort_half(g: _Gen, src: np.ndarray, name: str, region: str, **kw: Any) -> np.ndarray:
    return _composite(src, g.distort(src, name, **kw), _region_mask(src.shape, region))


def _t_yn_region_blur(g: _Gen, answer: str) -> _Draft:
    src = g.source()
    blurred = g.choice(_HALVES)
    img = _distort_half(g, src, "blur", blurred)
    m_blur, m_other = _region_mask(src.shape, blurred), _region_mask(src.shape, _OPPOSITE[blurred])
    _check(_is_blurred(src, img, m_blur) and _is_sharp(img, m_other))
    asked = blurred if answer == YES else _OPPOSITE[blurred]
    return _Draft([img], f"Is {_half(asked)} blurrier than {_half(_OPPOSITE[asked])}?", answer)


def _t_yn_region_noise(g: _Gen, answer: str) -> _Draft:
    src = g.source()
    noisy = g.choice(_HALVES)
    img = _distort_half(g, src, "noise", noisy)
    asked = noisy if answer == YES else _OPPOSITE[noisy]
    _check(answer == YES or _quiet(img, _region_mask(img.shape, asked)))
    return _Draft([img], f"Is {_half(asked)} affected by noise?", answer)


def _t_yn_region_pixelated(g: _Gen, answer: str) -> _Draft:
    src = g.source()
    region = g.choice(_HALVES)
    img = _distort_half(g, src, "pixelation", region)
    _check(_is_sharp(src, _region_mask(src.shape, region)))
    asked = region if answer == YES else _OPPOSITE[region]
    return _Draft([img], f"Is {_half(asked)} pixelated?", answer)


def _t_what_region_blurred(g: _Gen) -> _Draft:
    src = g.source()
    region = g.choice(_HALVES)
    img = _distort_half(g, src, "blur", region)
    _check(
        _is_blurred(src, img, _region_mask(src.shape, region))
        and _is_sharp(img, _region_mask(src.shape, _OPPOSITE[region]))
    )
    wrong = [f"The {_OPPOSITE[region]} half", "The whole image", "No part of it"]
    return _Draft([img], "Which part of this image is blurred?", f"The {region} half", wrong)


def _t_what_region_distortion(g: _Gen) -> _Draft:
    name = g.choice(["blur", "noise", "pixelation", "overexposure", "underexposure"])
    src = g.source()
    region = g.choice(_HALVES)
    img = _distort_half(g, src, name, region)
    _check(_distortion_visible(name, src, img, _region_mask(src.shape, region)))
    wrong = [_LABEL[n] for n in _LABEL if n != name and n not in _CONFUSABLE[name]]
    return _Draft([img], f"What distortion affects {_half(region)}?", _LABEL[name], g.sample(wrong, 3))


def _t_what_focus(g: _Gen) -> _Draft:
    """A shallow depth of field, or its inverse: only the centre (or only the border) stays sharp."""
    src = g.source()
    sharp = g.choice(["centre", "border"])
    blurred = "border" if sharp == "centre" else "centre"
    img = _composite(src, g.distort(src, "blur"), _region_mask(src.shape, blurred))
    _check(
        _is_blurred(src, img, _region_mask(src.shape, blurred))
        and _is_sharp(img, _region_mask(src.shape, sharp))
    )
    options = {"centre": "The centre", "border": "The outer border area"}
    wrong = [options[blurred], "No part of it"]
    return _Draft([img], "Which part of this image is in sharp focus?", options[sharp], wrong)


def _t_how_region_clarity(g: _Gen) -> _Draft:
    src = g.source()
    blurred = g.choice(_HALVES)
    img = _distort_half(g, src, "blur", blurred)
    m_blur, m_sharp = _region_mask(src.shape, blurred), _region_mask(src.shape, _OPPOSITE[blurred])
    _check(_is_blurred(src, img, m_blur) and sharpness(img, m_sharp) >= 2 * TEXTURE_MIN)
    if g.rng.random() < 0.5:
        return _Draft([img], f"How is the clarity of {_half(blurred)}?", "Low", ["High", "Medium"])
    return _Draft([img], f"How is the clarity of {_half(_OPPOSITE[blurred])}?", "High", ["Low", "Medium"])


def _t_how_region_sharper(g: _Gen) -> _Draft:
    src = g.source()
    blurred = g.choice(_HALVES)
    img = _distort_half(g, src, "blur", blurred)
    m_blur, m_sharp = _region_mask(src.shape, blurred), _region_mask(src.shape, _OPPOSITE[blurred])
    _check(_is_blurred(src, img, m_blur) and _is_sharp(img, m_sharp))
    asked = g.choice([blurred, _OPPOSITE[blurred]])
    correct = "Blurrier" if asked == blurred else "Sharper"
    wrong = [w for w in ("Sharper", "Blurrier", "About the same") if w != correct]
    q = f"Compared to {_half(_OPPOSITE[asked])}, how sharp is {_half(asked)}?"
    return _Draft([img], q, correct, wrong)


def _t_how_region_noise(g: _Gen) -> _Draft:
    src = g.source()
    noisy = g.choice(_HALVES)
    img = _distort_half(g, src, "noise", noisy, strength=_uniform(g.rng, 0.85, 1.0))
    options = ["Severe", "Moderate", "Hardly any"]
    if g.rng.random() < 0.5:
        return _Draft([img], f"How severe is the noise in {_half(noisy)}?", "Severe", options[1:])
    _check(_quiet(img, _region_mask(img.shape, _OPPOSITE[noisy])))
    return _Draft([img], f"How severe is the noise in {_half(_OPPOSITE[noisy])}?", "Hardly any", options[:2])


def _brightness_split(g: _Gen) -> tuple[np.ndarray, str]:
    """An image whose ``brighter`` half is clearly brighter than the opposite one; returns (img, brighter)."""
    src = g.source()
    region = g.choice(_HALVES)
    name = g.choice(["overexposure", "underexposure"])
    img = _distort_half(g, src, name, region)
    other = _OPPOSITE[region]
    brighter = region if name == "overexposure" else other
    darker = _OPPOSITE[brighter]
    gap = _mean_luma(img, _region_mask(img.shape, brighter)) - _mean_luma(
        img, _region_mask(img.shape, darker)
    )
    _check(gap >= REGION_LUMA_GAP)
    return img, brighter


def _t_yn_region_brighter(g: _Gen, answer: str) -> _Draft:
    img, brighter = _brightness_split(g)
    asked = brighter if answer == YES else _OPPOSITE[brighter]
    return _Draft([img], f"Is {_half(asked)} brighter than {_half(_OPPOSITE[asked])}?", answer)


def _t_yn_region_tint(g: _Gen, answer: str) -> _Draft:
    src = g.source(g.grey)
    region = g.choice(_HALVES)
    tint = g.choice(TINTS)
    img = _distort_half(g, src, "colour_cast", region, tint=tint)
    _check(_clearly_tinted(img, tint, _region_mask(img.shape, region)))
    asked = region if answer == YES else _OPPOSITE[region]
    return _Draft([img], f"Does {_half(asked)} have a {tint} tint?", answer)


def _t_what_region_darker(g: _Gen) -> _Draft:
    img, brighter = _brightness_split(g)
    darker = _OPPOSITE[brighter]
    wrong = [f"The {brighter} half", "Neither, the lighting is even"]
    return _Draft([img], "Which part of this image is darker?", f"The {darker} half", wrong)


def _t_what_region_tint(g: _Gen) -> _Draft:
    src = g.source()
    region = g.choice(_HALVES)
    tint = g.choice(TINTS)
    img = _distort_half(g, src, "colour_cast", region, tint=tint)
    _check(_clearly_tinted(img, tint, _region_mask(img.shape, region)))
    wrong = [_TINT_WORD[t] for t in TINTS if t != tint]
    return _Draft([img], f"What colour tint does {_half(region)} have?", _TINT_WORD[tint], wrong)


def _t_how_region_brightness(g: _Gen) -> _Draft:
    img, brighter = _brightness_split(g)
    asked = g.choice([brighter, _OPPOSITE[brighter]])
    correct = "Brighter" if asked == brighter else "Darker"
    wrong = [w for w in ("Brighter", "Darker", "About the same") if w != correct]
    q = f"Compared to {_half(_OPPOSITE[asked])}, how is the brightness of {_half(asked)}?"
    return _Draft([img], q, correct, wrong)


def _t_how_region_contrast(g: _Gen) -> _Draft:
    src = g.source()
    region = g.choice(_HALVES)
    img = _distort_half(g, src, "low_contrast", region, strength=1.0)
    m_low, m_other = _region_mask(img.shape, region), _region_mask(img.shape, _OPPOSITE[region])
    _check(_luma_sd(img, m_low) <= 0.4 * _luma_sd(img, m_other))
    asked = g.choice([region, _OPPOSITE[region]])
    correct = "Lower" if asked == region else "Higher"
    wrong = [w for w in ("Higher", "Lower", "About the same") if w != correct]
    q = f"Compared to {_half(_OPPOSITE[asked])}, how is the contrast of {_half(asked)}?"
    return _Draft([img], q, correct, wrong)


#: (type, concern) -> templates. Types: 0 Yes-or-No, 1 What, 2 How. Concerns: 0 distortion, 1 other,
#: 2 in-context distortion, 3 in-context other (protocol.md 1.2).
_A1_TEMPLATES: dict[tuple[int, int], tuple[Template, ...]] = {
    (0, 0): (_t_yn_blurry, _t_yn_noisy, _t_yn_clean, _t_yn_pixelated, _t_yn_overexposed),
    (1, 0): (_t_what_distortion, _t_what_exposure),
    (2, 0): (_t_how_clarity, _t_how_noise),
    (0, 1): (_t_yn_greyscale, _t_yn_dark, _t_yn_tint, _t_yn_low_contrast),
    (1, 1): (_t_what_tone, _t_what_colour_mode),
    (2, 1): (_t_how_brightness, _t_how_colourfulness, _t_how_contrast),
    (0, 2): (_t_yn_region_blur, _t_yn_region_noise, _t_yn_region_pixelated),
    (1, 2): (_t_what_region_blurred, _t_what_region_distortion, _t_what_focus),
    (2, 2): (_t_how_region_clarity, _t_how_region_sharper, _t_how_region_noise),
    (0, 3): (_t_yn_region_brighter, _t_yn_region_tint),
    (1, 3): (_t_what_region_darker, _t_what_region_tint),
    (2, 3): (_t_how_region_brightness, _t_how_region_contrast),
}


# --------------------------------------------------------------------------------------------------------
# Shared planning: which template and which Yes/No answer each item gets
# --------------------------------------------------------------------------------------------------------

NO_SHARE = 0.4  # as in the official data (protocol.md 1.1): about 40 % of Yes/No questions answer "No"


@dataclass(frozen=True)
class _Plan:
    qtype: int
    concern: int
    template: Template
    answer: str | None


def _plan(
    templates: Mapping[tuple[int, int], Sequence[Template]], per_cell: int, rng: np.random.Generator
) -> list[_Plan]:
    """Every (type, concern) cell gets ``per_cell`` items, its templates used in turn (in a seeded order), and
    exactly ``round(0.4 * n)`` of the ``n`` Yes/No items answer "No"; the item order is then shuffled."""
    cells = sorted(templates)
    n_yn = per_cell * sum(1 for t, _ in cells if t == 0)
    answers = [NO] * round(NO_SHARE * n_yn) + [YES] * (n_yn - round(NO_SHARE * n_yn))
    answers = [answers[int(i)] for i in rng.permutation(n_yn)]
    plans = []
    for qtype, concern in cells:
        order = [
            templates[(qtype, concern)][int(i)] for i in rng.permutation(len(templates[(qtype, concern)]))
        ]
        for j in range(per_cell):
            answer = answers.pop() if qtype == 0 else None
            plans.append(_Plan(qtype, concern, order[j % len(order)], answer))
    return [plans[int(i)] for i in rng.permutation(len(plans))]


def _realise(plan: _Plan, g: _Gen) -> _Draft:
    for _ in range(_MAX_TRIES):
        try:
            return plan.template(g, plan.answer) if plan.qtype == 0 else plan.template(g)
        except _Retry:
            continue
    raise RuntimeError(f"{plan.template.__name__}: no draw passed its check in {_MAX_TRIES} tries (a bug)")


def _candidates(draft: _Draft, qtype: int, rng: np.random.Generator) -> list[str]:
    """Yes/No: both words in a seeded order. Others: the answer among the wrong options at a seeded place."""
    options = [YES, NO] if qtype == 0 else [draft.correct, *draft.wrong]
    if len(set(options)) != len(options) or not 2 <= len(options) <= 4:
        raise RuntimeError(f"bad options for {draft.question!r}: {options}")
    return [options[int(i)] for i in rng.permutation(len(options))]


def _draft_items(
    templates: Mapping[tuple[int, int], Sequence[Template]], per_cell: int, seed: int, stream: int
) -> Iterator[tuple[_Plan, _Draft, list[str]]]:
    sources = load_sources()
    plans = _plan(templates, per_cell, _rng(seed, stream, 0))
    for i, plan in enumerate(plans, start=1):
        rng = _rng(seed, stream, i)
        draft = _realise(plan, _Gen(rng, sources))
        yield plan, draft, _candidates(draft, plan.qtype, rng)


def build_a1(out_dir: Path, *, seed: int = 0, per_cell: int = 7) -> Path:
    """Write A1 single-image questions in the LLVisionQA json format; return the json path.

    ``per_cell`` questions for each of the 12 (type, concern) cells (84 by default), each with its own PNG
    under ``out_dir/images`` (``img_path`` = ``images/a1_000.png``, relative to the json's folder). Items
    carry exactly the official keys, in the official order: type, concern, question, img_path, candidates,
    correct_ans. About 40 % of Yes/No answers are "No"; Yes/No candidates come in a seeded order and other
    answers sit at a seeded position, so neither the letter nor the word order gives the answer away.
    """
    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    items = []
    with _Writer() as writer:
        for i, (plan, draft, candidates) in enumerate(
            _draft_items(_A1_TEMPLATES, per_cell, seed, _STREAM_A1)
        ):
            rel = f"images/a1_{i:03d}.png"
            writer.png(out_dir / rel, draft.images[0])
            items.append(
                {
                    "type": plan.qtype,
                    "concern": plan.concern,
                    "question": draft.question,
                    "img_path": rel,
                    "candidates": candidates,
                    "correct_ans": draft.correct,
                }
            )
    path = out_dir / A1_JSON
    _write_json(path, items)
    return path


# --------------------------------------------------------------------------------------------------------
# A1 pairs
# --------------------------------------------------------------------------------------------------------

FIRST, SECOND = "The first image", "The second image"


def _same_source_pair(
    g: _Gen, name: str, *, names: Sequence[str] | None = None
) -> tuple[np.ndarray, np.ndarray, int]:
    """One source twice, one copy strongly distorted: a comparison whose only difference is the distortion.
    Returns (first, second, index of the distorted one)."""
    src = g.source(names)
    img = g.distort(src, name)
    _check(_distortion_visible(name, src, img))
    which = int(g.rng.integers(2))
    pair = (img, src.copy()) if which == 0 else (src.copy(), img)
    return pair[0], pair[1], which


def _two_sources(g: _Gen, names: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    a, b = g.sample(list(names or g.sources), 2)
    return g.sources[a], g.sources[b]


_DIST_NOUN = {"blur": "blurrier", "noise": "noisier", "pixelation": "more pixelated"}


def _p_yn_compare(g: _Gen, answer: str) -> _Draft:
    name = g.choice(list(_DIST_NOUN))
    first, second, which = _same_source_pair(g, name)
    asked = which if answer == YES else 1 - which
    a, b = ("first", "second") if asked == 0 else ("second", "first")
    return _Draft([first, second], f"Is the {a} image {_DIST_NOUN[name]} than the {b} image?", answer)


def _p_what_which(g: _Gen) -> _Draft:
    name = g.choice(["blur", "noise", "jpeg", "overexposure"])
    first, second, which = _same_source_pair(g, name)
    q = {
        "blur": "Which image is blurrier?",
        "noise": "Which image has more noise?",
        "jpeg": "Which image suffers more from compression artifacts?",
        "overexposure": "Which image is more severely affected by overexposure?",
    }[name]
    return _Draft([first, second], q, [FIRST, SECOND][which], [[FIRST, SECOND][1 - which]])


def _p_what_extra_distortion(g: _Gen) -> _Draft:
    name = g.choice(list(_LABEL))
    first, second, which = _same_source_pair(g, name)
    a, b = ("first", "second") if which == 0 else ("second", "first")
    wrong = [_LABEL[n] for n in _LABEL if n != name and n not in _CONFUSABLE[name]]
    q = f"What distortion does the {a} image have that the {b} image does not?"
    return _Draft([first, second], q, _LABEL[name], g.sample(wrong, 3))


def _p_how_compare(g: _Gen) -> _Draft:
    name = g.choice(["blur", "noise"])
    words = {"blur": ("clarity", "More blurry", "Clearer"), "noise": ("noise level", "Higher", "Lower")}[name]
    attr, worse, better = words
    if g.rng.random() < 0.25:  # identical twins: "About the same" is then certain
        src = g.source()
        first = second = g.distort(src, name) if g.rng.random() < 0.5 else src.copy()
        correct = "About the same"
    else:
        first, second, which = _same_source_pair(g, name)
        correct = worse if which == 1 else better
    wrong = [w for w in (worse, better, "About the same") if w != correct]
    return _Draft(
        [first, second],
        f"Compared to the first image, how is the {attr} of the second image?",
        correct,
        wrong,
    )


_JOINT_Q = {
    "blur": "Are both images blurry?",
    "noise": "Are both images noisy?",
    "pixelation": "Are both images pixelated?",
}


def _p_yn_joint(g: _Gen, answer: str) -> _Draft:
    kind = g.choice(["blur", "noise", "pixelation", "clean"])
    a, b = _two_sources(g)
    if kind == "clean":
        if answer == YES:
            first, second = a.copy(), b.copy()
            _check(_pristine_ok(first) and _pristine_ok(second))
        else:
            name = g.choice(["blur", "noise", "pixelation"])
            first, second = g.distort(a, name), b.copy()
            _check(_distortion_visible(name, a, first) and _pristine_ok(second))
            if g.rng.random() < 0.5:
                first, second = second, first
        return _Draft([first, second], "Are both images free of visible distortions?", answer)
    first = g.distort(a, kind)
    second = g.distort(b, kind) if answer == YES else b.copy()
    _check(_distortion_visible(kind, a, first) and (answer == NO or _distortion_visible(kind, b, second)))
    if answer == NO:
        _check(_is_sharp(second) if kind == "blur" else kind != "noise" or _quiet(second))
    if g.rng.random() < 0.5:
        first, second = second, first
    return _Draft([first, second], _JOINT_Q[kind], answer)


def _p_what_common(g: _Gen) -> _Draft:
    name = g.choice(list(_LABEL))
    a, b = _two_sources(g)
    first, second = g.distort(a, name), g.distort(b, name)
    _check(_distortion_visible(name, a, first) and _distortion_visible(name, b, second))
    wrong = [_LABEL[n] for n in _LABEL if n != name and n not in _CONFUSABLE[name]]
    return _Draft([first, second], "What distortion do both images have?", _LABEL[name], g.sample(wrong, 3))


def _p_what_which_blurry(g: _Gen) -> _Draft:
    a, b = _two_sources(g)
    blurred = [bool(g.rng.integers(2)), bool(g.rng.integers(2))]
    pair = []
    for src, is_blurred in zip((a, b), blurred, strict=True):
        img = g.distort(src, "blur") if is_blurred else src.copy()
        _check(_is_blurred(src, img) if is_blurred else _is_sharp(img))
        pair.append(img)
    options = {
        (True, True): "Both images",
        (False, False): "Neither image",
        (True, False): "Only the first image",
        (False, True): "Only the second image",
    }
    correct = options[(blurred[0], blurred[1])]
    return _Draft(
        pair, "Which of the two images are blurry?", correct, [v for v in options.values() if v != correct]
    )


def _p_how_joint(g: _Gen) -> _Draft:
    name = g.choice(["blur", "noise"])
    a, b = _two_sources(g)
    state = g.choice(["both", "none", "one"])
    first = g.distort(a, name) if state in ("both", "one") else a.copy()
    second = g.distort(b, name) if state == "both" else b.copy()
    if name == "blur":
        _check(_is_blurred(a, first) if state != "none" else _is_sharp(first))
        _check(_is_blurred(b, second) if state == "both" else _is_sharp(second))
    else:
        _check(state != "none" or _quiet(first))
        _check(state == "both" or _quiet(second))
    if state == "one" and g.rng.random() < 0.5:
        first, second = second, first
    if name == "blur":
        options = {
            "both": "Both are blurry",
            "none": "Both are clear",
            "one": "One is clear and one is blurry",
        }
        q = "How is the clarity of the two images?"
    else:
        options = {"both": "Both are noisy", "none": "Neither is noisy", "one": "Only one of them is noisy"}
        q = "How noisy are the two images?"
    correct = options[state]
    return _Draft([first, second], q, correct, [v for v in options.values() if v != correct])


def _exposure_pair(g: _Gen) -> tuple[np.ndarray, np.ndarray, int]:
    """Same source, one copy re-exposed; returns (first, second, index of the brighter one)."""
    src = g.source()
    name = g.choice(["overexposure", "underexposure"])
    img = g.distort(src, name)
    _check(abs(_mean_luma(img) - _mean_luma(src)) >= REGION_LUMA_GAP)
    which = int(g.rng.integers(2))
    first, second = (img, src.copy()) if which == 0 else (src.copy(), img)
    brighter = which if name == "overexposure" else 1 - which
    return first, second, brighter


def _contrast_pair(g: _Gen) -> tuple[np.ndarray, np.ndarray, int]:
    """Same source, one copy hazed; returns (first, second, index of the low-contrast one)."""
    src = g.source()
    img = g.distort(src, "low_contrast")
    _check(_luma_sd(img) <= 0.4 * _luma_sd(src))
    which = int(g.rng.integers(2))
    first, second = (img, src.copy()) if which == 0 else (src.copy(), img)
    return first, second, which


def _p_yn_other_compare(g: _Gen, answer: str) -> _Draft:
    if g.rng.random() < 0.5:
        first, second, brighter = _exposure_pair(g)
        asked = brighter if answer == YES else 1 - brighter
        a, b = ("first", "second") if asked == 0 else ("second", "first")
        return _Draft([first, second], f"Is the {a} image brighter than the {b} image?", answer)
    first, second, low = _contrast_pair(g)
    asked = 1 - low if answer == YES else low  # the question asks about *higher* contrast
    a, b = ("first", "second") if asked == 0 else ("second", "first")
    return _Draft([first, second], f"Does the {a} image have higher contrast than the {b} image?", answer)


def _p_what_other_compare(g: _Gen) -> _Draft:
    kind = g.choice(["bright", "contrast", "tint"])
    if kind == "bright":
        first, second, brighter = _exposure_pair(g)
        return _Draft(
            [first, second],
            "Which image is brighter?",
            [FIRST, SECOND][brighter],
            [[FIRST, SECOND][1 - brighter]],
        )
    if kind == "contrast":
        first, second, low = _contrast_pair(g)
        return _Draft(
            [first, second],
            "Which image has lower contrast?",
            [FIRST, SECOND][low],
            [[FIRST, SECOND][1 - low]],
        )
    tint = g.choice(TINTS)
    src = g.source()
    img = g.distort(src, "colour_cast", tint=tint)
    _check(_clearly_tinted(img, tint) and _tint_score(img, tint) - _tint_score(src, tint) >= TINT_MARGIN)
    which = int(g.rng.integers(2))
    first, second = (img, src.copy()) if which == 0 else (src.copy(), img)
    return _Draft(
        [first, second],
        f"Which image has a stronger {tint} tint?",
        [FIRST, SECOND][which],
        [[FIRST, SECOND][1 - which]],
    )


def _p_how_other_compare(g: _Gen) -> _Draft:
    kind = g.choice(["brightness", "contrast"])
    same = g.rng.random() < 0.25
    if kind == "brightness":
        up, down = "Brighter", "Darker"
        if same:
            first = second = g.source().copy()
            correct = "About the same"
        else:
            first, second, brighter = _exposure_pair(g)
            correct = up if brighter == 1 else down
    else:
        up, down = "Higher", "Lower"
        if same:
            first = second = g.source().copy()
            correct = "About the same"
        else:
            first, second, low = _contrast_pair(g)
            correct = down if low == 1 else up
    wrong = [w for w in (up, down, "About the same") if w != correct]
    return _Draft(
        [first, second],
        f"Compared to the first image, how is the {kind} of the second image?",
        correct,
        wrong,
    )


def _p_yn_other_joint(g: _Gen, answer: str) -> _Draft:
    kind = g.choice(["grey", "dark", "tint"])
    if kind == "grey":
        if answer == YES:
            a, b = _two_sources(g, g.grey)
        else:
            a, b = g.sources[g.choice(g.grey)], g.sources[g.choice(g.colour)]
            if g.rng.random() < 0.5:
                a, b = b, a
        return _Draft([a.copy(), b.copy()], "Are both images black and white?", answer)
    if kind == "dark":
        a, b = _two_sources(g)
        first = g.distort(a, "underexposure")
        second = g.distort(b, "underexposure") if answer == YES else b.copy()
        _check(_mean_luma(first) <= DARK_MAX)
        _check(_mean_luma(second) <= DARK_MAX if answer == YES else _mean_luma(second) >= NORMAL_LUMA[0])
        if g.rng.random() < 0.5:
            first, second = second, first
        return _Draft([first, second], "Are both images very dark?", answer)
    tint = g.choice(TINTS)
    a, b = _two_sources(g, g.grey)
    first = g.distort(a, "colour_cast", tint=tint)
    second = g.distort(b, "colour_cast", tint=tint) if answer == YES else b.copy()
    _check(
        _clearly_tinted(first, tint)
        and (_clearly_tinted(second, tint) if answer == YES else _neutral(second))
    )
    if g.rng.random() < 0.5:
        first, second = second, first
    return _Draft([first, second], f"Do both images have a {tint} tint?", answer)


def _p_what_other_joint(g: _Gen) -> _Draft:
    if g.rng.random() < 0.5:
        tint = g.choice(TINTS)
        a, b = _two_sources(g)
        first, second = g.distort(a, "colour_cast", tint=tint), g.distort(b, "colour_cast", tint=tint)
        _check(_clearly_tinted(first, tint) and _clearly_tinted(second, tint))
        wrong = [_TINT_WORD[t] for t in TINTS if t != tint]
        return _Draft([first, second], "What colour tint do both images share?", _TINT_WORD[tint], wrong)
    options = {
        "dark": "Both are very dark",
        "bright": "Both are very bright",
        "grey": "Both are black and white",
    }
    kind = g.choice(list(options))
    if kind == "grey":
        a, b = _two_sources(g, g.grey)
        first, second = a.copy(), b.copy()
    else:
        a, b = _two_sources(g, g.colour)  # colour, so "black and white" is clearly wrong
        name = "underexposure" if kind == "dark" else "overexposure"
        first, second = g.distort(a, name), g.distort(b, name)
        if kind == "dark":
            _check(_mean_luma(first) <= DARK_MAX and _mean_luma(second) <= DARK_MAX)
        else:
            _check(_mean_luma(first) >= BRIGHT_MIN and _mean_luma(second) >= BRIGHT_MIN)
    correct = options[kind]
    return _Draft(
        [first, second],
        "What do the two images have in common?",
        correct,
        [v for v in options.values() if v != correct],
    )


def _p_how_other_joint(g: _Gen) -> _Draft:
    if g.rng.random() < 0.5:
        options = {
            "grey": "Both are black and white",
            "colour": "Both are in colour",
            "mixed": "One is in colour and one is black and white",
        }
        kind = g.choice(list(options))
        if kind == "grey":
            a, b = _two_sources(g, g.grey)
        elif kind == "colour":
            a, b = _two_sources(g, g.colour)
        else:
            a, b = g.sources[g.choice(g.colour)], g.sources[g.choice(g.grey)]
            if g.rng.random() < 0.5:
                a, b = b, a
        correct = options[kind]
        q = "How is the colour of the two images?"
        return _Draft([a.copy(), b.copy()], q, correct, [v for v in options.values() if v != correct])
    options = {"dark": "Both are dark", "bright": "Both are bright", "mixed": "One is dark and one is bright"}
    kind = g.choice(list(options))
    a, b = _two_sources(g)
    names = {
        "dark": ("underexposure",) * 2,
        "bright": ("overexposure",) * 2,
        "mixed": ("underexposure", "overexposure"),
    }
    first, second = g.distort(a, names[kind][0]), g.distort(b, names[kind][1])
    for img, name in ((first, names[kind][0]), (second, names[kind][1])):
        _check(_mean_luma(img) <= DARK_MAX if name == "underexposure" else _mean_luma(img) >= BRIGHT_MIN)
    if kind == "mixed" and g.rng.random() < 0.5:
        first, second = second, first
    correct = options[kind]
    q = "How is the brightness of the two images?"
    return _Draft([first, second], q, correct, [v for v in options.values() if v != correct])


#: Pair cells. Concern codes (protocol.md 8.7): 0 distortion/compare, 1 distortion/joint, 2 other/compare,
#: 3 other/joint.
_PAIR_TEMPLATES: dict[tuple[int, int], tuple[Template, ...]] = {
    (0, 0): (_p_yn_compare,),
    (1, 0): (_p_what_which, _p_what_extra_distortion),
    (2, 0): (_p_how_compare,),
    (0, 1): (_p_yn_joint,),
    (1, 1): (_p_what_common, _p_what_which_blurry),
    (2, 1): (_p_how_joint,),
    (0, 2): (_p_yn_other_compare,),
    (1, 2): (_p_what_other_compare,),
    (2, 2): (_p_how_other_compare,),
    (0, 3): (_p_yn_other_joint,),
    (1, 3): (_p_what_other_joint,),
    (2, 3): (_p_how_other_joint,),
}

_LETTERS = "ABCD"


def _concatenate(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Side by side, top-aligned; a shorter image is padded below with mid grey (neutral to all questions)."""
    h = max(first.shape[0], second.shape[0])
    canvas = np.full((h, first.shape[1] + second.shape[1], 3), 0.5)
    canvas[: first.shape[0], : first.shape[1]] = first
    canvas[: second.shape[0], first.shape[1] :] = second
    return canvas


def build_a1_pairs(out_dir: Path, *, seed: int = 0, per_cell: int = 4) -> Path:
    """Write A1 pair questions in the Q-Bench2 raw jsonl format; return the jsonl path.

    ``per_cell`` items per (type, concern) cell, 48 by default. For each pair the two originals are written
    lossless to ``out_dir/all_single_images/img_000.png`` and ``img_001.png``, and the side-by-side image to
    ``out_dir/llvisionqa_compare_dev/img_000.png_cat_img_001.png.jpg`` (JPEG q95, 4:4:4); ``img_path`` is the
    official ``"llvisionqa_compare_dev\\\\img_000.png_cat_img_001.png.jpg"`` with a literal backslash, which
    splits back into the two originals (protocol.md 2.2). Keys, in order: type, concern, question, img_path,
    candidates, correct_ans, correct_choice (the answer's letter).
    """
    out_dir = Path(out_dir)
    singles, pairs_dir = out_dir / PAIR_ORIGINALS_DIR, out_dir / PAIR_PREFIX
    singles.mkdir(parents=True, exist_ok=True)
    pairs_dir.mkdir(parents=True, exist_ok=True)
    lines = []
    with _Writer() as writer:
        for i, (plan, draft, candidates) in enumerate(
            _draft_items(_PAIR_TEMPLATES, per_cell, seed, _STREAM_PAIRS)
        ):
            first, second = draft.images
            names = (f"img_{2 * i:03d}.png", f"img_{2 * i + 1:03d}.png")
            writer.png(singles / names[0], first)
            writer.png(singles / names[1], second)
            cat_name = f"{names[0]}_cat_{names[1]}.jpg"
            writer.jpeg(pairs_dir / cat_name, _concatenate(first, second))
            item = {
                "type": plan.qtype,
                "concern": plan.concern,
                "question": draft.question,
                "img_path": f"{PAIR_PREFIX}\\{cat_name}",
                "candidates": candidates,
                "correct_ans": draft.correct,
                "correct_choice": _LETTERS[candidates.index(draft.correct)],
            }
            lines.append(json.dumps(item, ensure_ascii=False))
    path = out_dir / PAIRS_JSONL
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write("\n".join(lines) + "\n")
    return path


def build_all(out_dir: Path, *, seed: int = 0) -> dict[str, Path]:
    """All three sets in one folder (what ``qbench demo`` uses): ``{"a1", "a1_pairs", "a3"}`` -> data file."""
    out_dir = Path(out_dir)
    return {
        "a1": build_a1(out_dir, seed=seed),
        "a1_pairs": build_a1_pairs(out_dir, seed=seed),
        "a3": build_iqa(out_dir, seed=seed),
    }
