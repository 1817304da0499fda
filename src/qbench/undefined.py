"""Numbers that cannot be computed are ``null`` with a reason, never a bare NaN.

JSON has no NaN (``json.dumps`` writes an invalid ``NaN`` token that many readers reject), and a bare null
does not say why. Metrics keep NaN in memory; when they are written, each NaN becomes ``null`` and the
metrics gain ``undefined: {key: reason}``. A task that knows the reason (constant scores, no items of a kind)
puts it into ``metrics["undefined"]`` first; otherwise the reason comes from the key's kind. Reports show
such a cell as ``n/a (reason)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

UNDEFINED = "undefined"


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float (NaN, inf) as None, for a record line (JSON has neither).

    The record keeps its reason beside: the A1 rule (``bad-loss``), the A3 ``score_form``
    (``non-finite-logits``). Readers take None as NaN (:func:`number`).
    """
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def number(value: Any) -> float:
    """A stored number as a float; None (a NaN written as null) is NaN again."""
    return math.nan if value is None else float(value)


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def default_reason(key: str) -> str:
    """Why a metric of this kind is undefined when the task gave no reason."""
    name = key.rsplit("/", 1)[-1]
    if key.endswith("_ci"):
        return "too few values for an interval"
    if key.startswith("judged/"):
        return "no judge verdicts"
    if key.startswith("accuracy/") or key == "accuracy":
        return "no items of this kind"
    if name in {"srcc", "plcc", "krcc", "plcc_logistic"}:
        return "correlation undefined"
    if key.startswith("judge_"):
        return "no judge rounds"
    return "not computable from these records"


def without_nan(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """``metrics`` with every NaN (also inside intervals) replaced by None and its reason recorded."""
    given = metrics.get(UNDEFINED)
    reasons: dict[str, str] = dict(given) if isinstance(given, Mapping) else {}
    out: dict[str, Any] = {}
    for key, value in metrics.items():
        if key == UNDEFINED:
            continue
        if _is_nan(value) or (isinstance(value, (list, tuple)) and any(_is_nan(v) for v in value)):
            out[key] = None
            reasons.setdefault(key, default_reason(key))
        else:
            out[key] = value
    reasons = {k: v for k, v in reasons.items() if k in out and out[k] is None}
    if reasons:
        out[UNDEFINED] = reasons
    return out


def reason(metrics: Mapping[str, Any], key: str) -> str:
    """The recorded reason ``key`` is undefined (or the default for its kind)."""
    given = metrics.get(UNDEFINED)
    if isinstance(given, Mapping) and key in given:
        return str(given[key])
    return default_reason(key)


def na(metrics: Mapping[str, Any], key: str) -> str:
    """The report text of an undefined metric: ``n/a (reason)``."""
    return f"n/a ({reason(metrics, key)})"
