"""Paired statistics for comparing two models on the same items: the methods tasks' comparisons use.

Both models answered the *same* items, so item difficulty is shared and a paired analysis removes it: the
bootstrap draws items (both models' statistics computed on the same draw), and the tests flip or swap within
items. Everything is seeded: the same inputs always give the same intervals and p-values. Which statistic a
task compares is the task's own (its ``TaskReport.compare``); the methods are here.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np

from qbench.metrics import percentile_interval, resample_indices
from qbench.report.spec import ComparedMetric

LEVEL = 0.95

__all__ = [
    "LEVEL",
    "bootstrap_p",
    "correlation_diffs",
    "index_chunks",
    "interval",
    "paired_accuracy",
    "resample_counts",
    "sign_flip_p_binary",
    "weighted_corr",
    "weighted_ranks",
]


# -- resampling --------------------------------------------------------------------------------------------
def index_chunks(strata: Sequence[np.ndarray], resamples: int, seed: int) -> Iterator[np.ndarray]:
    """Bootstrap index matrices (resamples x n), drawn within each stratum: qbench's one resampler."""
    return resample_indices(strata, resamples, seed)


def interval(values: np.ndarray) -> list[float]:
    """The percentile interval at :data:`LEVEL` of the finite ``values`` (NaN, NaN when none is)."""
    return list(percentile_interval(values, LEVEL))


def bootstrap_p(diffs: np.ndarray) -> float:
    """Two-sided bootstrap p-value for "the difference is zero": twice the smaller tail beyond zero.

    The +1 terms keep it from reaching 0 with finitely many resamples (the smallest is about 2/resamples).
    """
    finite = diffs[np.isfinite(diffs)]
    if not len(finite):
        return math.nan
    below = (np.count_nonzero(finite <= 0) + 1) / (len(finite) + 1)
    above = (np.count_nonzero(finite >= 0) + 1) / (len(finite) + 1)
    return float(min(1.0, 2 * min(below, above)))


def sign_flip_p_binary(a_only: int, b_only: int) -> float:
    """Exact two-sided sign-flip p-value for paired 0/1 outcomes (= the exact McNemar test).

    Only discordant items (one model right, the other wrong) have a non-zero difference; under "no
    difference" each one's sign is a fair coin, so the flipped sum is 2*Binomial(k, 1/2) - k.
    """
    k = a_only + b_only
    if k == 0:
        return 1.0
    from scipy.stats import binomtest

    return float(binomtest(a_only, k, 0.5).pvalue)


# -- accuracy (paired 0/1 outcomes) ------------------------------------------------------------------------
def paired_accuracy(
    known: Sequence[tuple[bool | None, bool | None]], metric: str, label: str, resamples: int, seed: int
) -> tuple[ComparedMetric, int, int]:
    """One accuracy difference over the items both sides scored; also (A-only, B-only) correct counts.

    The interval is the paired bootstrap's; the p-value the exact sign-flip test (McNemar).
    """
    usable = [(x, y) for x, y in known if x is not None and y is not None]
    ca = np.array([x for x, _ in usable], dtype=float)
    cb = np.array([y for _, y in usable], dtype=float)
    d = ca - cb
    diffs = np.concatenate(
        [d[idx].mean(axis=1) for idx in index_chunks([np.arange(len(d))], resamples, seed)]
    )
    a_only, b_only = int(np.count_nonzero(d > 0)), int(np.count_nonzero(d < 0))
    return (
        {
            "metric": metric,
            "label": label,
            "a": float(ca.mean()),
            "b": float(cb.mean()),
            "diff": float(d.mean()),
            "ci": interval(diffs),
            "p": sign_flip_p_binary(a_only, b_only),
            "test": "paired bootstrap CI; exact sign-flip test (McNemar)",
            "unit": "percent",
            "n": len(usable),
        },
        a_only,
        b_only,
    )


# -- correlations ------------------------------------------------------------------------------------------
def resample_counts(idx: np.ndarray, n: int) -> np.ndarray:
    """How often each of ``n`` items is drawn in each resample row of ``idx`` (resamples x n, float)."""
    k = idx.shape[0]
    flat = (np.arange(k)[:, None] * n + idx).ravel()
    return np.bincount(flat, minlength=k * n).reshape(k, n).astype(float)


def weighted_ranks(x: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The average rank (ties averaged, as scipy's) each item has in each resample that ``weights`` counts.

    A resample is a multiset of the original items, so ranks follow from counts: an item's rank is the
    number of drawn values below it plus half its own tie group. No sorting per resample is needed, which
    makes the SRCC bootstrap several times faster than ranking every resample.
    """
    uniq, inv = np.unique(x, return_inverse=True)
    k, u = weights.shape[0], len(uniq)
    groups = np.bincount(
        (np.arange(k)[:, None] * u + inv[None, :]).ravel(), weights=weights.ravel(), minlength=k * u
    ).reshape(k, u)
    rank = np.cumsum(groups, axis=1) - groups + (groups + 1) / 2
    return rank[:, inv]


def weighted_corr(x: np.ndarray, y: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Pearson correlation per resample row, each item counted ``weights`` times (NaN when constant).

    ``x`` and ``y`` are one value per item (a vector, the same in every resample: BLAS matrix-vector
    products) or one row per resample (ranks). They are shifted to mean zero first, which changes no
    correlation but keeps the one-pass sums below free of cancellation.
    """
    x = x - x.mean()
    y = y - y.mean()

    def wsum(v: np.ndarray) -> np.ndarray:
        return weights @ v if v.ndim == 1 else np.einsum("ij,ij->i", weights, v)

    total = weights.sum(axis=1)
    sx, sy, sxx, syy = wsum(x), wsum(y), wsum(x * x), wsum(y * y)
    cov = wsum(x * y) - sx * sy / total
    vx, vy = sxx - sx * sx / total, syy - sy * sy / total
    constant = (vx <= 1e-12 * sxx) | (vy <= 1e-12 * syy)  # only rounding noise left: a constant resample
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(constant, np.nan, cov / np.sqrt(np.abs(vx * vy)))


def correlation_diffs(
    pa: np.ndarray, pb: np.ndarray, gt: np.ndarray, weights: np.ndarray, strata: Sequence[np.ndarray]
) -> dict[str, np.ndarray]:
    """Per resample row: SRCC(A) - SRCC(B) and PLCC(A) - PLCC(B), each the mean over strata."""
    srcc, plcc = [], []
    for items in strata:
        w, a, b, g = weights[:, items], pa[items], pb[items], gt[items]
        g_rank = weighted_ranks(g, w)
        srcc.append(
            weighted_corr(weighted_ranks(a, w), g_rank, w) - weighted_corr(weighted_ranks(b, w), g_rank, w)
        )
        plcc.append(weighted_corr(a, g, w) - weighted_corr(b, g, w))
    return {"srcc": np.mean(srcc, axis=0), "plcc": np.mean(plcc, axis=0)}
