"""NIQE and BRISQUE, the classical no-reference IQA baselines: what they return and how they behave.

Both return the raw standard value, where **lower means better quality**.

Reference values were computed once (Python 3.11, numpy 2.4, scipy 1.17, Pillow 13) and are hard-coded:

- NIQE: scikit-video 1.1.11 ``skvideo.measure.niqe`` on ``skvideo.utils.rgb2gray(image)``, patched only
  to run on current libraries (``np.int = int``; ``scipy.misc.imresize(img, 0.5, interp='bicubic',
  mode='F')`` re-created with its original Pillow call ``Image.frombytes('F', ...).resize(size, 3)``).
  scikit-video returns float32, so it only has ~7 significant digits.
- BRISQUE: the 36 features from OpenCV-contrib 5.0's ``cv2.quality.QualityBRISQUE_computeFeatures``
  (a port of the LIVE authors' C++ release, the features the standard model was trained with), given
  the same luminance as qbench, then scaled with the standard ranges and scored by libsvm 3.37
  (``svm_predict_values``) with the standard model ``svm.txt`` of the ``brisque`` 0.2.0 package.
  OpenCV computes in float32, hence the looser tolerance.

  The ``brisque`` package's own ``BRISQUE().score`` is *not* used as the reference: it departs from the
  release the model was trained with (zeros counted on the right side of the AGGD fit, zero-padded
  instead of edge-replicated Gaussian, products cropped instead of zero-filled, Rec. 709 luminance,
  rounded half size) and differs from it by up to 6.5 points on these images. For the record, its
  scores (on its own luminance) were astronaut 10.7949, camera -7.8794, coffee 3.0479, chelsea 2.8708,
  synthetic 35.2138.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import scipy.ndimage
from PIL import Image

import qbench.models.niqe
from qbench.models.brisque import MIN_SIDE, brisque
from qbench.models.niqe import PATCH_SIZE, niqe, to_luminance

# name -> (NIQE by scikit-video, BRISQUE by OpenCV features + libsvm)
REFERENCE = {
    "astronaut": (8.817454, 4.2281),
    "camera": (9.070684, -8.8252),
    "coffee": (8.340661, 4.9512),
    "chelsea": (11.701718, 3.2956),
    "synthetic": (31.245058, 34.1386),
}
NIQE_TOL = 2e-3  # observed: <= 3e-6 (float32 rounding; rarely one 0.001 step of the shape grid, ~2e-4)
BRISQUE_TOL = 0.15  # observed: <= 0.09 (astronaut, whose saturated flat areas make float32 vs float64 matter)


def _hash_uniform(idx: np.ndarray) -> np.ndarray:
    """Uniform [0, 1) numbers from integers (splitmix64 finaliser): fully deterministic, unlike an RNG stream."""
    z = idx.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    z ^= z >> np.uint64(30)
    z *= np.uint64(0xBF58476D1CE4E5B9)
    z ^= z >> np.uint64(27)
    z *= np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    return (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def synthetic_image(h: int = 288, w: int = 384) -> np.ndarray:
    """A deterministic 8-bit gray test image: smooth noise at four scales (so it works without scikit-image)."""
    out = np.full((h, w), 128.0)
    for k, (cell, amp) in enumerate(((32, 120.0), (8, 60.0), (2, 25.0), (1, 6.0))):
        gh, gw = h // cell + 2, w // cell + 2
        idx = np.arange(gh * gw, dtype=np.uint64).reshape(gh, gw) + np.uint64((k + 1) << 40)
        out += amp * scipy.ndimage.zoom(_hash_uniform(idx) - 0.5, cell, order=3)[:h, :w]
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def load(name: str) -> np.ndarray:
    if name == "synthetic":
        return synthetic_image()
    data = pytest.importorskip("skimage.data", reason="natural test images come from scikit-image")
    return getattr(data, name)()


# --- 1. agreement with the reference implementations --------------------------------------------------


@pytest.mark.parametrize("name", list(REFERENCE))
def test_niqe_matches_scikit_video(name: str) -> None:
    assert niqe(load(name)) == pytest.approx(REFERENCE[name][0], abs=NIQE_TOL)


@pytest.mark.parametrize("name", list(REFERENCE))
def test_brisque_matches_live_reference_features_and_libsvm(name: str) -> None:
    assert brisque(load(name)) == pytest.approx(REFERENCE[name][1], abs=BRISQUE_TOL)


# --- 2. monotonic in distortion --------------------------------------------------------------------------


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    img = image.astype(np.float64)
    return img if sigma == 0 else scipy.ndimage.gaussian_filter(img, (sigma, sigma, 0)[: img.ndim])


def _noise(image: np.ndarray, sigma: float) -> np.ndarray:
    noise = np.random.default_rng(0).normal(0.0, sigma, image.shape)
    return np.clip(image.astype(np.float64) + noise, 0, 255)


@pytest.mark.parametrize("name", ["astronaut", "camera"])
@pytest.mark.parametrize(
    ("metric", "distort", "levels"),
    [
        # NIQE is known to saturate (even dip) for very strong blur, hence the moderate levels.
        (niqe, _blur, (0, 1, 2)),
        (niqe, _noise, (0, 10, 20, 40)),
        (brisque, _blur, (0, 1, 2, 4)),
        (brisque, _noise, (0, 10, 20, 40)),
    ],
    ids=["niqe-blur", "niqe-noise", "brisque-blur", "brisque-noise"],
)
def test_more_distortion_scores_worse(
    name: str,
    metric: Callable[[np.ndarray], float],
    distort: Callable[[np.ndarray, float], np.ndarray],
    levels: tuple[float, ...],
) -> None:
    image = load(name)
    scores = [metric(distort(image, level)) for level in levels]
    assert scores == sorted(scores), f"{metric.__name__} not increasing with {distort.__name__}: {scores}"
    assert scores[-1] > scores[0] + 2


# --- 3. input types -----------------------------------------------------------------------------------


@pytest.mark.parametrize("metric", [niqe, brisque])
def test_accepts_pil_and_arrays(metric: Callable[..., float]) -> None:
    rgb = load("astronaut")[:288, :384]
    expected = metric(rgb)
    assert isinstance(expected, float)
    # The same RGB pixels give the same score whatever the container.
    assert metric(Image.fromarray(rgb)) == expected
    assert metric(rgb.astype(np.float32)) == pytest.approx(expected, abs=1e-6)
    assert metric(rgb.astype(np.float64)) == expected
    assert metric(np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])) == expected  # alpha ignored
    assert metric(Image.fromarray(rgb).convert("RGBA")) == expected
    # Gray: PIL "L", 2-D uint8 / float arrays and (H, W, 1) all agree.
    gray = np.asarray(Image.fromarray(rgb).convert("L"))
    expected_gray = metric(gray)
    assert metric(Image.fromarray(gray)) == expected_gray
    assert metric(gray.astype(np.float64)) == expected_gray
    assert metric(gray[:, :, None]) == expected_gray
    # PIL's L conversion rounds to integers; ours does not, so the two differ only slightly.
    assert expected_gray == pytest.approx(expected, abs=0.05 * abs(expected) + 1.0)


def test_luminance_is_scikit_videos() -> None:
    rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30]]], dtype=np.uint8)
    np.testing.assert_allclose(to_luminance(rgb), [[0.2989 * 255, 0.5870 * 255, 0.1140 * 255, 18.149]])


@pytest.mark.parametrize("metric", [niqe, brisque])
def test_rejects_what_is_not_an_image(metric: Callable[..., float]) -> None:
    with pytest.raises(TypeError):
        metric([[1, 2], [3, 4]])
    with pytest.raises(ValueError, match="shape"):
        metric(np.zeros((2, 300, 300, 3)))
    bad = np.full((300, 300), 100.0)
    bad[5, 5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        metric(bad)


# --- 4. too-small images ------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(95, 400), (400, 95), (96, 96), (150, 150), (20, 20, 3)])
def test_niqe_needs_two_patches(shape: tuple[int, ...]) -> None:
    image = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    with pytest.raises(ValueError, match=rf"too small for NIQE.*two {PATCH_SIZE}x{PATCH_SIZE} patches"):
        niqe(image)


def test_niqe_smallest_accepted_image() -> None:
    image = load("synthetic")[:PATCH_SIZE, : 2 * PATCH_SIZE]
    assert np.isfinite(niqe(image))


@pytest.mark.parametrize("shape", [(MIN_SIDE - 1, 400), (400, MIN_SIDE - 1), (5, 5, 3)])
def test_brisque_rejects_tiny_images(shape: tuple[int, ...]) -> None:
    image = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    with pytest.raises(ValueError, match="too small for BRISQUE"):
        brisque(image)
    assert np.isfinite(brisque(load("synthetic")[:MIN_SIDE, :MIN_SIDE]))


def test_constant_image() -> None:
    flat = np.full((300, 400), 128, dtype=np.uint8)
    assert np.isfinite(niqe(flat))  # every patch gets the same (degenerate) features
    with pytest.raises(ValueError, match="no texture"):
        brisque(flat)  # its moment-matching fit divides by zero


# --- large images and dependencies ----------------------------------------------------------------------


@pytest.mark.slow
def test_six_megapixel_photo() -> None:
    big = np.asarray(Image.fromarray(load("synthetic")).resize((3000, 2000), Image.Resampling.BICUBIC))
    rgb = np.dstack([big, big[::-1], big[:, ::-1]])
    assert np.isfinite(niqe(rgb))  # ~0.5 s
    assert np.isfinite(brisque(rgb))  # ~1 s


def test_runtime_needs_only_numpy_scipy_pillow() -> None:
    code = (
        "import sys; import qbench.models.niqe, qbench.models.brisque; "
        "bad = sorted(m for m in ('torch', 'skvideo', 'brisque', 'libsvm', 'cv2', 'skimage') if m in sys.modules); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    src = Path(qbench.models.niqe.__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(src), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
