"""Measurements that check every generated claim on the pixels, and the thresholds that turn them into words."""

from __future__ import annotations

import numpy as np

from qbench.data.synthetic.distortions import TINTS, _as_float, _luma

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
