"""Leaderboards: a list of columns and a list of rows (model -> cell values), the building blocks.

Every renderer (terminal table, markdown, CSV, HTML) shows the same boards, so the same numbers in the same
order. Which boards a task has, in which official column layout (protocol.md 1.4, 2.3, 3, 4.5), is the task's
own business (its :class:`qbench.report.spec.TaskReport`); this module only builds boards from report rows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from qbench.data.databases import display_name
from qbench.report.rows import ReportRow
from qbench.undefined import na


@dataclass
class Board:
    title: str
    columns: list[str]
    rows: list[tuple[str, list[Any]]] = field(default_factory=list)  # (label, cells)
    notes: list[str] = field(default_factory=list)


def fmt(value: Any, digits: int = 3) -> str:
    """A cell's text: a dash for None, NaN as "NaN", floats to ``digits`` places."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return "NaN" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def undefined(metrics: Mapping[str, Any], key: str) -> bool:
    """A metric that was computed but has no value (null with a reason, or NaN); absent keys are not."""
    value = metrics.get(key, 0.0)
    return value is None or (isinstance(value, float) and math.isnan(value))


def dataset_column(dataset: str, rows: Sequence[ReportRow]) -> str:
    """The dataset's display name, marked ``(partial n/N)`` when a run used a partial install of it."""
    parts = {f"{r.partial['n']}/{r.partial['of']}" for r in rows if r.dataset == dataset and r.partial}
    return display_name(dataset) + (f" (partial {', '.join(sorted(parts))})" if parts else "")


def partial_notes(rows: Sequence[ReportRow]) -> list[str]:
    """One line per dataset run on a partial install (``qbench data add --partial``): its n of N items."""
    notes = [
        f"partial: {display_name(str(r.dataset))} {r.partial['n']} of {r.partial['of']} items"
        for r in rows
        if r.partial
    ]
    return list(dict.fromkeys(notes))


def metric_board(
    title: str,
    columns: Sequence[tuple[str, str]],
    rows: Sequence[ReportRow],
    *,
    percent: bool,
    digits: int | None = None,
) -> Board:
    """One line per row: the ``(metric key, column name)`` columns, then ``n``; shares x100 if ``percent``."""
    board = Board(title, [label for _, label in columns] + ["n"])
    for row in rows:
        metrics = row.metrics
        cells: list[Any] = []
        for key, _ in columns:
            value = metrics.get(key)
            if undefined(metrics, key):
                cells.append(na(metrics, key))
            elif isinstance(value, float) and percent:
                cells.append(f"{100 * value:.2f}")
            else:
                cells.append(fmt(value, digits or (2 if not percent else 3)))
        cells.append(row.n)
        board.rows.append((row_label(row), cells))
    board.notes += partial_notes(rows)
    return board


def row_label(row: ReportRow, *, with_dataset: bool = True) -> str:
    """The model (its label already says what differs from other runs of it), marked when published."""
    label = str(row.model)
    if with_dataset:
        label += f" ({row.dataset}{', ' + row.split if row.split else ''})"
    if row.reference:
        label += " — published"
    return label
