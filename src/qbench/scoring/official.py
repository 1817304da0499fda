"""The official A3 score: the two-way softmax of the authors' notebook, in its own float operations.

It lives in the scoring layer, not in tasks/, because the A3 task, the importer of official outputs and the
other scoring modes (Q-Bench+ ensembles) all compute it, and none of them should reach into another's module.
"""

from __future__ import annotations

import math

A3_SCORE_VERSION = "a3-score-official-ops-v1"  # in each A3 run's task info: a change of form is a new run


def two_way_softmax(positive: float, negative: float, temperature: float) -> float:
    """The official A3 score exp(p/T) / (exp(p/T) + exp(n/T)); see :func:`a3_score`."""
    return a3_score(positive, negative, temperature)[0]


def a3_score(positive: float, negative: float, temperature: float) -> tuple[float, str]:
    """The A3 score and the form that computed it: ``"official"`` or ``"stable"`` (protocol.md 8.3), or NaN
    and ``"non-finite-logits"`` when a logit is NaN or infinite.

    The official notebook divides each logit by T, then computes ``np.exp(a) / (np.exp(a) + np.exp(b))`` in
    float64. Algebraically that is ``1 / (1 + exp((b - a) / T))``, but not in floats: with coarse logits many
    images share one ``a - b``; the stable form makes them exact ties and the official form does not, which
    moves SRCC at the third decimal. So the official operations are used, in the same order, and the stable
    form only where they cannot give a number (exp overflows, or both underflow to 0).
    """
    import numpy as np

    if not (math.isfinite(positive) and math.isfinite(negative)):
        return math.nan, "non-finite-logits"  # no score; the run's health check counts these
    a = positive / temperature
    b = negative / temperature
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        ea, eb = np.exp(a), np.exp(b)
        score = ea / (ea + eb)
    if math.isfinite(ea) and math.isfinite(eb) and math.isfinite(score):
        return float(score), "official"
    diff = (negative - positive) / temperature
    stable = 0.0 if diff > 709 else 1.0 / (1.0 + math.exp(diff))
    return stable, "stable"
