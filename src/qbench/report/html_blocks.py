"""Building blocks of the HTML report that tasks' report code shares: table lines, intervals, legends.

The page itself is assembled by :mod:`qbench.report.html`; each task's sections (its tables and plots) are
made by the task's report spec from these blocks, so every table looks and sorts the same.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any, TypeGuard

from qbench.report.leaderboard import Board
from qbench.report.rows import ReportRow

__all__ = [
    "Line",
    "by_headline",
    "cell_text",
    "ci_text",
    "finite",
    "legend_note",
    "metric_lines",
    "table",
    "wilson_interval",
]


@dataclass
class Line:
    """One table row: its label, cell texts, sort values, interval lines and whether it is published."""

    label: str
    cells: list[str]
    sort: list[float | None]
    cis: list[str | None] = field(default_factory=list)
    reference: bool = False
    source: str = ""


def finite(value: Any) -> TypeGuard[float]:
    """A real number (not bool), not NaN or infinite."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def cell_text(value: Any) -> str:
    """Board cells as text; NaN stays "NaN" (a real outcome: undefined correlation), None becomes a dash."""
    if value is None or value in ("None", "-"):
        return "–"
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    return str(value)


def ci_text(interval: Any, *, percent: bool = False) -> str | None:
    """``[0.40, 0.49]`` (or ``[56.1, 61.2]`` in percent), or None when there is no usable interval."""
    if not isinstance(interval, (list, tuple)) or len(interval) != 2 or not all(map(finite, interval)):
        return None
    lo, hi = interval
    return f"[{100 * lo:.1f}, {100 * hi:.1f}]" if percent else f"[{lo:.2f}, {hi:.2f}]"


def wilson_interval(p: float, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion: the fallback when a run stored no bootstrap interval.

    Wilson rather than the normal approximation because it stays inside [0, 1] and is honest near 0 or 1.
    """
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def by_headline(rows: Sequence[ReportRow], key: str | None) -> list[ReportRow]:
    """Best first by the headline metric; NaN and missing values last, order kept on ties."""

    def rank(row: ReportRow) -> float:
        value = row.metrics.get(key) if key else None
        return -value if finite(value) else math.inf

    return sorted(rows, key=rank)


def table(board: Board, lines: Sequence[Line], *, css: str = "") -> str:
    """A sortable HTML table of ``board`` with ``lines`` as its rows (own rows highlighted, published grey)."""
    head = "".join(f'<th scope="col" title="sort">{escape(c)}</th>' for c in ["Model", *board.columns])
    body = []
    for line in lines:
        label = escape(line.label)
        if line.reference:  # the tag says it, more visibly than the board's " — published"
            tip = f' title="{escape(line.source)}"' if line.source else ""
            label = escape(line.label.removesuffix(" — published"))
            label += f' <span class="tag"{tip}>published</span>'
        cells = []
        for i, text in enumerate(line.cells):
            sort = line.sort[i] if i < len(line.sort) else None
            attr = f' data-v="{sort!r}"' if finite(sort) else ' data-v="NaN"'
            ci = line.cis[i] if i < len(line.cis) else None
            extra = f'<span class="ci">{"<br>".join(map(escape, ci.splitlines()))}</span>' if ci else ""
            cells.append(f"<td{attr}>{escape(text)}{extra}</td>")
        kind = "ref" if line.reference else "own"
        body.append(f'<tr class="{kind}"><th scope="row">{label}</th>{"".join(cells)}</tr>')
    notes = f'<p class="note">{" · ".join(map(escape, board.notes))}</p>' if board.notes else ""
    return (
        f'<div class="scroll"><table class="board sortable {css}"><caption>{escape(board.title)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>{notes}"
    )


def metric_lines(
    board: Board,
    rows: Sequence[ReportRow],
    columns: Sequence[tuple[str, str]],
    *,
    percent: bool,
    wilson: Mapping[str, str | None] | None = None,
) -> list[Line]:
    """Lines for a board made by :func:`qbench.report.leaderboard.metric_board` (same row order).

    Each column's interval is the run's stored ``<key>_ci``; shares in ``wilson`` without one get a Wilson
    interval over the count in the metric ``wilson[key]`` (the row's ``n`` when that is None or absent).
    """
    lines = []
    for (label, cells), row in zip(board.rows, rows):
        metrics = row.metrics
        sort = [metrics.get(key) for key, _ in columns] + [row.n]
        cis = [ci_text(metrics.get(f"{key}_ci"), percent=percent) for key, _ in columns] + [None]
        n = row.n
        for i, (key, _) in enumerate(columns):
            if not percent or cis[i] is not None or row.reference or key not in (wilson or {}):
                continue
            count_key = (wilson or {})[key]
            count = metrics.get(count_key, n) if count_key else n
            if finite(metrics.get(key)) and count:
                cis[i] = ci_text(wilson_interval(float(metrics[key]), int(count)), percent=True)
        lines.append(
            Line(label, [cell_text(c) for c in cells], sort, cis, row.reference, str(row.source or ""))
        )
    return lines


def legend_note(rows: Sequence[ReportRow], extra: str = "") -> str:
    """The line above a table: what published rows are, what the cells mean, that headers sort."""
    parts = []
    if any(r.reference for r in rows):
        parts.append(
            '<span class="tag">published</span> rows are the numbers of the Q-Bench papers and official '
            "leaderboard, not computed here."
        )
    if extra:
        parts.append(extra)
    parts.append("Click a column header to sort.")
    return f'<p class="legend">{" ".join(parts)}</p>'
