"""BRISQUE, the Blind/Referenceless Image Spatial Quality Evaluator (Mittal, Moorthy & Bovik, 2012).

BRISQUE measures 18 natural-scene statistics of the mean-subtracted contrast-normalised (MSCN) luminance
at two scales (36 features: the shape and variance of the MSCN distribution, and shape, mean and left/right
variances of the four neighbour-product distributions), scales them to [-1, 1] with fixed ranges, and maps
them to a quality score with an RBF support-vector regressor trained on the LIVE IQA database.
**Lower is better**: about 0 for pristine photos, up to ~100 for heavily distorted ones (values slightly
outside 0..100 happen). :func:`brisque` returns the raw value; the caller negates it when needed.

The regressor and the scaling ranges (``params/brisque_svr.npz``) are the standard LIVE model that the
authors' C++ release, OpenCV's ``quality`` module and the ``brisque`` PyPI package ship; the SVR is
evaluated here in numpy, so libsvm is not needed. The features follow the C++ release, which is what
that model was trained on (the float32-accumulated shape grid in its scaling ranges, e.g. 0.336999,
gives it away):

- MSCN with a 7x7 Gaussian window (sigma 7/6, edge pixels replicated) and ``C = 1`` grey level;
- the MSCN shape is also fitted with the *asymmetric* generalized Gaussian, and its variance feature is
  ``(sigma_l**2 + sigma_r**2) / 2``;
- neighbour products use a zero-filled (not wrapped) shift; zeros count in the moment ratio but in
  neither side's variance;
- the shape parameter is the nearest point of the grid 0.2, 0.201, ... < 10 stepped in float32;
- the second scale is a half-size cubic resize (a = -0.75, no antialiasing, edge replicated), i.e.
  OpenCV's ``INTER_CUBIC``, of the full-resolution luminance.

Colour is reduced to luminance exactly as for NIQE (0.2989 R + 0.5870 G + 0.1140 B, as MATLAB). The
``brisque`` PyPI package (used as a cross-check in the tests) differs slightly: Rec. 709 luminance,
zero-padded Gaussian, cropped products and a continuous root-find for the shape.

Only numpy, scipy and Pillow are used (via :func:`qbench.models.niqe.to_luminance`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np
import scipy.ndimage
import scipy.special

from qbench.models.niqe import ImageLike, to_luminance

__all__ = ["MIN_SIDE", "brisque", "brisque_features"]

#: Smallest accepted image side: the 7x7 window must fit in the image at the half-resolution scale.
MIN_SIDE = 14

_PARAMS_DIR = Path(__file__).resolve().parent / "params"


def _shape_grid() -> np.ndarray:
    """Candidate shape parameters as the C++ release enumerates them: ``for (float g = 0.2; g < 10; g += 0.001)``.

    The float32 accumulation drifts (the last value is 9.999411, not 9.999), and the trained scaling ranges
    contain those drifted values, so the drift is reproduced rather than "fixed".
    """
    values = []
    g = np.float32(0.2)
    step = np.float32(0.001)
    while g < 10:
        values.append(g)
        g = np.float32(g + step)
    return np.array(values, dtype=np.float64)


_SHAPES = _shape_grid()
# Gamma(2/a)^2 / (Gamma(1/a) Gamma(3/a)); increasing in a, so the nearest grid point is a binary search.
_RATIOS = scipy.special.gamma(2.0 / _SHAPES) ** 2 / (
    scipy.special.gamma(1.0 / _SHAPES) * scipy.special.gamma(3.0 / _SHAPES)
)
assert np.all(np.diff(_RATIOS) > 0)


class _SVR(NamedTuple):
    support_vectors: np.ndarray  # (n_sv, 36), features already scaled to [-1, 1]
    dual_coef: np.ndarray  # (n_sv,)
    rho: float
    gamma: float
    feature_min: np.ndarray  # (36,)
    feature_max: np.ndarray  # (36,)


@functools.lru_cache(maxsize=1)
def _model() -> _SVR:
    """The standard LIVE BRISQUE SVR (see params/README.md for its provenance and licence)."""
    with np.load(_PARAMS_DIR / "brisque_svr.npz") as d:
        return _SVR(
            support_vectors=d["support_vectors"].copy(),
            dual_coef=d["dual_coef"].copy(),
            rho=float(d["rho"]),
            gamma=float(d["gamma"]),
            feature_min=d["feature_min"].copy(),
            feature_max=d["feature_max"].copy(),
        )


def _gaussian_blur(image: np.ndarray) -> np.ndarray:
    """7x7 Gaussian (sigma 7/6) with replicated edges, done as two 1-D passes (the kernel is separable)."""
    x = np.arange(-3, 4, dtype=np.float64)
    win = np.exp(-(x * x) / (2.0 * (7.0 / 6.0) ** 2))
    win /= win.sum()
    tmp = scipy.ndimage.correlate1d(image, win, axis=0, mode="nearest")
    return scipy.ndimage.correlate1d(tmp, win, axis=1, mode="nearest")


def _mscn(image: np.ndarray) -> np.ndarray:
    """Mean-subtracted contrast-normalised coefficients of a 0..255 luminance image (C = 1 grey level)."""
    mu = _gaussian_blur(image)
    sigma = _gaussian_blur(image * image)
    sigma -= mu * mu
    np.sqrt(np.abs(sigma, out=sigma), out=sigma)
    sigma += 1.0
    mu -= image
    mu /= sigma
    return np.negative(mu, out=mu)  # (image - mu) / (sigma + 1), in place to spare large-image memory


def _cubic_weights_and_indices(n_src: int, n_dst: int) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV ``INTER_CUBIC`` taps for one axis: (n_dst, 4) weights and clamped source indices."""
    scale = n_src / n_dst
    pos = (np.arange(n_dst) + 0.5) * scale - 0.5
    base = np.floor(pos)
    t = (pos - base).astype(np.float32)  # OpenCV computes the coefficients in float
    a = np.float32(-0.75)
    w0 = ((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a
    w1 = ((a + 2) * t - (a + 3)) * t * t + 1
    w2 = ((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1
    w3 = 1 - w0 - w1 - w2
    weights = np.stack([w0, w1, w2, w3], axis=1).astype(np.float64)
    idx = np.clip(base.astype(np.int64)[:, None] + np.arange(-1, 3)[None, :], 0, n_src - 1)
    return weights, idx


def _half_size(image: np.ndarray) -> np.ndarray:
    """Half-size cubic resize without antialiasing (OpenCV ``INTER_CUBIC``), sizes rounded down."""
    weights, idx = _cubic_weights_and_indices(image.shape[0], image.shape[0] // 2)
    rows = sum(weights[:, k, None] * image[idx[:, k], :] for k in range(4))
    weights, idx = _cubic_weights_and_indices(image.shape[1], image.shape[1] // 2)
    return sum(weights[None, :, k] * rows[:, idx[:, k]] for k in range(4))


def _aggd_fit(x: np.ndarray) -> tuple[float, float, float]:
    """Asymmetric generalized Gaussian fit by moment matching: (shape alpha, sigma_left, sigma_right)."""
    x = x.ravel()
    neg = np.minimum(x, 0.0)  # zeros belong to neither side, as in the reference
    pos = np.maximum(x, 0.0)
    n_neg = int(np.count_nonzero(neg))
    n_pos = int(np.count_nonzero(pos))
    if n_neg == 0 or n_pos == 0:
        raise ValueError(
            "BRISQUE is undefined for this image: it has (almost) no texture, so its normalised "
            "coefficients are not spread on both sides of zero (is it a constant image?)"
        )
    sq_neg = float(np.dot(neg, neg))
    sq_pos = float(np.dot(pos, pos))
    abs_sum = float(pos.sum() - neg.sum())
    sigma_l = np.sqrt(sq_neg / n_neg)
    sigma_r = np.sqrt(sq_pos / n_pos)
    gamma_hat = sigma_l / sigma_r
    r_hat = (abs_sum / x.size) ** 2 / ((sq_neg + sq_pos) / x.size)
    r_norm = r_hat * (gamma_hat**3 + 1) * (gamma_hat + 1) / (gamma_hat**2 + 1) ** 2
    hi = int(np.clip(np.searchsorted(_RATIOS, r_norm), 1, _RATIOS.size - 1))
    best = hi if abs(_RATIOS[hi] - r_norm) < abs(r_norm - _RATIOS[hi - 1]) else hi - 1
    return float(_SHAPES[best]), float(sigma_l), float(sigma_r)


def _shifted_products(mscn: np.ndarray) -> Iterator[np.ndarray]:
    """``mscn * mscn shifted by (dy, dx)`` for (0, 1), (1, 0), (1, 1), (-1, 1), zero outside the image.

    Yielded one at a time so that only one product image is alive on large photos.
    """
    h, w = mscn.shape
    for dy, dx in ((0, 1), (1, 0), (1, 1), (-1, 1)):
        product = np.zeros_like(mscn)
        ys, yd = (slice(dy, h), slice(0, h - dy)) if dy >= 0 else (slice(0, h + dy), slice(-dy, h))
        np.multiply(mscn[yd, : w - dx], mscn[ys, dx:], out=product[yd, : w - dx])
        yield product


def _scale_features(gray: np.ndarray) -> list[float]:
    """The 18 features of one scale."""
    mscn = _mscn(gray)
    alpha, sigma_l, sigma_r = _aggd_fit(mscn)
    feats = [alpha, (sigma_l**2 + sigma_r**2) / 2.0]
    for prod in _shifted_products(mscn):
        alpha, sigma_l, sigma_r = _aggd_fit(prod)
        g1, g2, g3 = (scipy.special.gamma(k / alpha) for k in (1.0, 2.0, 3.0))
        mean = (sigma_r - sigma_l) * (g2 / g1) * np.sqrt(g1 / g3)
        feats += [alpha, float(mean), sigma_l**2, sigma_r**2]
    return feats


def brisque_features(image: ImageLike) -> np.ndarray:
    """The 36 unscaled BRISQUE features (18 at full, 18 at half resolution), mainly for inspection."""
    gray = to_luminance(image)
    h, w = gray.shape
    if min(h, w) < MIN_SIDE:
        raise ValueError(
            f"image of {w}x{h} pixels is too small for BRISQUE: both sides must be at least {MIN_SIDE} "
            f"pixels so that its 7x7 window fits at half resolution"
        )
    return np.array(_scale_features(gray) + _scale_features(_half_size(gray)))


def brisque(image: ImageLike) -> float:
    """The BRISQUE score of an image (lower = better quality; roughly 0..100).

    ``image`` is a PIL image or a numpy array (gray or RGB, uint8 or float on the 0..255 scale); see
    :func:`qbench.models.niqe.to_luminance`. Raises :class:`ValueError` for images with a side shorter
    than :data:`MIN_SIDE` pixels or without texture (e.g. constant).

    The regressor output is returned unclamped (clean photos can score a little below 0). OpenCV's
    implementation clamps to [0, 100]; that would tie all very clean images at 0 and lose their ranking.
    """
    model = _model()
    feats = brisque_features(image)
    scaled = -1.0 + 2.0 * (feats - model.feature_min) / (model.feature_max - model.feature_min)
    sq_dist = np.sum((model.support_vectors - scaled) ** 2, axis=1)
    return float(model.dual_coef @ np.exp(-model.gamma * sq_dist) - model.rho)
