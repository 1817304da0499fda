"""Accuracy, correlations and bootstrap intervals: pure functions over arrays.

Correlations are scipy's, exactly as the official A3 notebook computes them (plain Spearman, Pearson and
Kendall on the raw scores, no logistic fitting unless asked). Degenerate input (constant or fewer than three
values) gives NaN and a warning instead of an exception, so one bad database never sinks a report.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence

import numpy as np

log = logging.getLogger("qbench")

CORRELATIONS = ("srcc", "plcc", "krcc")


def degenerate(pred: np.ndarray, gt: np.ndarray) -> str | None:
    """Why no correlation of ``pred`` and ``gt`` is defined (too few values, a constant side), or None."""
    if len(pred) < 3:
        return f"only {len(pred)} values"
    if np.ptp(pred) == 0:
        return "the predicted scores are constant"
    if np.ptp(gt) == 0:
        return "the opinion scores are constant"
    return None


def correlations(
    pred: np.ndarray | Sequence[float],
    gt: np.ndarray | Sequence[float],
    *,
    logistic: bool = False,
    label: str = "",
) -> dict[str, float]:
    """SRCC, PLCC, KRCC (and optionally PLCC after the 4-parameter logistic fit) of pred against gt."""
    from scipy import stats

    p = np.asarray(pred, dtype=float)
    g = np.asarray(gt, dtype=float)
    if p.shape != g.shape:
        raise ValueError(f"pred and gt differ in length: {p.shape} vs {g.shape}")
    keys = [*CORRELATIONS, "plcc_logistic"] if logistic else list(CORRELATIONS)
    why = degenerate(p, g)
    if why:
        log.warning("%scorrelation is undefined: %s; reporting NaN", f"{label}: " if label else "", why)
        return dict.fromkeys(keys, math.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = {
            "srcc": float(stats.spearmanr(g, p).statistic),
            "plcc": float(stats.pearsonr(g, p).statistic),
            "krcc": float(stats.kendalltau(g, p).statistic),
        }
    if logistic:
        out["plcc_logistic"] = plcc_logistic(p, g)
    return out


def plcc_logistic(pred: np.ndarray, gt: np.ndarray) -> float:
    """PLCC after the monotonic 4-parameter logistic mapping common in IQA papers (VQEG)."""
    from scipy import optimize, stats

    def logistic4(x: np.ndarray, b1: float, b2: float, b3: float, b4: float) -> np.ndarray:
        return (b1 - b2) / (1 + np.exp(-(x - b3) / (abs(b4) + 1e-12))) + b2

    p0 = [float(gt.max()), float(gt.min()), float(np.mean(pred)), float(np.std(pred) or 1.0)]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            params, _ = optimize.curve_fit(logistic4, pred, gt, p0=p0, maxfev=20000)
        fitted = logistic4(pred, *params)
        return float(stats.pearsonr(gt, fitted).statistic)
    except (RuntimeError, ValueError):
        log.warning("logistic fit did not converge; plcc_logistic is NaN")
        return math.nan


def grouped_correlations(
    pred: np.ndarray | Sequence[float],
    gt: np.ndarray | Sequence[float],
    groups: np.ndarray | Sequence[str] | None,
    *,
    logistic: bool = False,
    label: str = "",
) -> dict[str, float]:
    """Correlations, or, when ``groups`` is given, the mean of each group's correlations (CGIQA-6K halves)."""
    if groups is None:
        return correlations(pred, gt, logistic=logistic, label=label)
    p, g, k = np.asarray(pred, float), np.asarray(gt, float), np.asarray(groups)
    parts = [
        correlations(p[k == name], g[k == name], logistic=logistic, label=f"{label} {name}")
        for name in sorted(set(groups))
    ]
    return {key: float(np.mean([part[key] for part in parts])) for key in parts[0]}


#: Resample matrices are built in chunks of about this many indices (32 MB of int64).
RESAMPLE_CELLS = 4_000_000


def resample_indices(strata: Sequence[np.ndarray], resamples: int, seed: int) -> Iterator[np.ndarray]:
    """Bootstrap index matrices (resamples x n), drawn within each stratum, in memory-bounded chunks.

    The one resampler of qbench: run metrics (:func:`bootstrap_interval`) and paired comparisons
    (``qbench.report.compare``) draw through it. With one stratum, row ``i`` is exactly what the ``i``-th of
    ``resamples`` calls ``rng.integers(0, n, size=n)`` draws (the generator's stream does not depend on the
    chunking), so an interval never depends on the chunk size.
    """
    rng = np.random.default_rng(seed)
    n = sum(len(s) for s in strata)
    chunk = max(1, min(resamples, RESAMPLE_CELLS // max(n, 1)))
    done = 0
    while done < resamples:
        k = min(chunk, resamples - done)
        yield np.concatenate([s[rng.integers(0, len(s), size=(k, len(s)))] for s in strata], axis=1)
        done += k


def percentile_interval(values: np.ndarray | Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """The percentile interval of the finite ``values`` (NaN, NaN when none is finite)."""
    array = np.asarray(values, dtype=float)
    finite = array[np.isfinite(array)]
    if not len(finite):
        return (math.nan, math.nan)
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(finite, [tail, 100 - tail])
    return (float(lo), float(hi))


def bootstrap_interval(
    statistic: Callable[[np.ndarray], float],
    n: int,
    *,
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """A seeded percentile bootstrap interval of ``statistic(indices)`` over ``n`` items.

    The statistic receives resampled indices so the same function serves accuracies and correlations.
    """
    if n < 3:
        return (math.nan, math.nan)
    values: list[float] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for rows in resample_indices([np.arange(n)], resamples, seed):
            values.extend(statistic(row) for row in rows)
    return percentile_interval(values, level)


def fast_srcc(pred: np.ndarray, gt: np.ndarray) -> float:
    """Spearman via ranks and Pearson, for bootstrap loops (scipy's per-call overhead dominates there)."""
    from scipy.stats import rankdata

    return fast_plcc(rankdata(pred), rankdata(gt))


def fast_plcc(pred: np.ndarray, gt: np.ndarray) -> float:
    p = pred - pred.mean()
    g = gt - gt.mean()
    denom = math.sqrt(float((p * p).sum() * (g * g).sum()))
    return float((p * g).sum() / denom) if denom > 0 else math.nan


def accuracy(correct: Sequence[bool]) -> float:
    return float(np.mean(correct)) if len(correct) else math.nan


def grouped_accuracy(
    correct: Sequence[bool], labels: Sequence[object], names: Mapping[object, str]
) -> dict[str, float]:
    """Accuracy per label value, keyed by ``names[value]``; labels not in ``names`` are ignored."""
    c = np.asarray(correct, dtype=bool)
    lab = np.asarray(labels, dtype=object)
    out = {}
    for value, name in names.items():
        mask = lab == value
        out[name] = float(c[mask].mean()) if mask.any() else math.nan
    return out
