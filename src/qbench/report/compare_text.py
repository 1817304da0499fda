"""How a paired comparison reads: its title, cells, verdict and caption, the same in every format.

Shared by the text renderers (:mod:`qbench.report.compare`) and the HTML page (:mod:`qbench.report.html`),
which is why it is a module of its own: neither of those imports the other for it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from qbench.data.databases import display_name

ALPHA = 0.05
COLUMNS = ("Metric", "A", "B", "A - B", "95% CI", "p", "Verdict")

__all__ = ["ALPHA", "COLUMNS", "caption", "cells", "format_p", "title", "verdict"]


def verdict(metric: Mapping[str, Any], alpha: float = ALPHA) -> str:
    """Plain words for one difference: who is better, or that the data cannot tell."""
    p, diff = metric.get("p"), metric.get("diff")
    if p is None or diff is None or not math.isfinite(p) or not math.isfinite(diff):
        return "undefined"
    if p < alpha and diff != 0:
        return "A better" if diff > 0 else "B better"
    return "not significant"


def _fmt_value(value: Any, unit: str, signed: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "NaN"
    if unit == "percent":
        return f"{100 * value:+.2f}" if signed else f"{100 * value:.2f}"
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def _fmt_ci(ci: Sequence[float], unit: str) -> str:
    return f"[{_fmt_value(ci[0], unit, True)}, {_fmt_value(ci[1], unit, True)}]"


def format_p(p: float | None) -> str:
    if p is None or math.isnan(p):
        return "NaN"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def title(result: Mapping[str, Any]) -> str:
    """``A3 LIVE-itw: llava_v1.5 (A) vs idefics (B)``."""
    where = display_name(str(result.get("dataset")))
    if result.get("split"):
        where += f" ({result['split']})"
    return f"{str(result['task']).upper()} {where}: {result['a']['model']} (A) vs {result['b']['model']} (B)"


def caption(result: Mapping[str, Any]) -> list[str]:
    """What the numbers rest on: how many items were paired, the method, and any caveats."""
    lines = [
        f"{result['n_shared']} shared finished samples ({result['n_only_a']} only in A, "
        f"{result['n_only_b']} only in B); {int(result['level'] * 100)}% intervals from "
        f"{result['resamples']} paired resamples (seed {result['seed']}); verdict at p < {ALPHA:g}.",
    ]
    if any(m["unit"] == "percent" for m in result["metrics"]):
        lines.append("Accuracies and differences in percentage points.")
    lines.extend(result["notes"])
    return lines


def cells(metric: Mapping[str, Any]) -> list[str]:
    """One metric's row: label, A, B, A - B, interval, p, verdict."""
    unit = metric["unit"]
    return [
        metric["label"],
        _fmt_value(metric["a"], unit),
        _fmt_value(metric["b"], unit),
        _fmt_value(metric["diff"], unit, True),
        _fmt_ci(metric["ci"], unit),
        format_p(metric["p"]),
        verdict(metric),
    ]
