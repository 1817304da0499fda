"""The 4-parameter logistic fit before SRCC/PLCC, initialised the DeQA-Score way (protocol.md 9.1).

DeQA-Score (``src/evaluate/cal_plcc_srcc.py``) maps predictions onto the MOS scale with VQEG's logistic

    yhat = (b1 - b2) / (1 + exp(-(x - b3) / b4)) + b2

fitted by ``scipy.optimize.curve_fit`` from ``[max(y), min(y), mean(x), std(x) / 4]`` with ``maxfev=10000``,
and then reports SRCC and PLCC of the *fitted* values. This module does exactly that (same formula, same start,
same solver and limit) and returns the parameters, so that a run records them. A fit that does not converge
gives NaN and a reason instead of an exception.

``qbench``'s older ``-T logistic=1`` (``metrics.plcc_logistic``) starts from ``std(x)`` and guards ``b4``; it
stays as it is (old numbers do not move); presets use this one.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

FIT_VERSION = "logistic4-deqa-v1"
MAXFEV = 10000


@dataclass(frozen=True)
class LogisticFit:
    """The fitted parameters (b1..b4), the start they came from, and the fitted SRCC/PLCC."""

    params: tuple[float, ...]
    init: tuple[float, ...]
    srcc: float
    plcc: float
    error: str = ""  # why there is no fit ("" when it converged)

    def describe(self) -> dict[str, Any]:
        return {
            "type": FIT_VERSION,
            "params": [_finite(p) for p in self.params],
            "init": [_finite(p) for p in self.init],
            **({"error": self.error} if self.error else {}),
        }


def logistic4(x: Any, b1: float, b2: float, b3: float, b4: float) -> Any:
    """VQEG's 4-parameter logistic, exactly as DeQA-Score writes it."""
    import numpy as np

    return (b1 - b2) / (1 + np.exp(-(x - b3) / b4)) + b2


def deqa_init(pred: Sequence[float] | Any, gt: Sequence[float] | Any) -> tuple[float, float, float, float]:
    """DeQA's start: ``[max(y), min(y), mean(x), std(x) / 4]`` (numpy's population std)."""
    import numpy as np

    x = np.asarray(pred, dtype=float)
    y = np.asarray(gt, dtype=float)
    return (float(np.max(y)), float(np.min(y)), float(np.mean(x)), float(np.std(x) / 4.0))


def fit_logistic4(pred: Sequence[float] | Any, gt: Sequence[float] | Any) -> LogisticFit:
    """Fit, then SRCC and PLCC of the fitted predictions against ``gt`` (both as DeQA computes them)."""
    import numpy as np
    from scipy import optimize, stats

    x = np.asarray(pred, dtype=float)
    y = np.asarray(gt, dtype=float)
    init = deqa_init(x, y)
    nan4 = (math.nan,) * 4
    if len(x) < 4:
        return LogisticFit(nan4, init, math.nan, math.nan, f"only {len(x)} values for 4 parameters")
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return LogisticFit(nan4, init, math.nan, math.nan, "constant predictions or opinion scores")
    try:
        with warnings.catch_warnings(), np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            warnings.simplefilter("ignore")
            params, _ = optimize.curve_fit(logistic4, x, y, p0=list(init), maxfev=MAXFEV)
            fitted = logistic4(x, *params)
            if not np.all(np.isfinite(fitted)) or np.ptp(fitted) == 0:
                return LogisticFit(tuple(map(float, params)), init, math.nan, math.nan, "degenerate fit")
            srcc = float(stats.spearmanr(fitted, y).statistic)
            plcc = float(stats.pearsonr(fitted, y).statistic)
    except (RuntimeError, ValueError, TypeError) as exc:
        return LogisticFit(nan4, init, math.nan, math.nan, f"the fit failed: {exc}")
    return LogisticFit(tuple(float(p) for p in params), init, srcc, plcc)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
