"""Render report rows as a terminal table, markdown, CSV or JSON."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from qbench.report.leaderboard import Board
from qbench.report.rows import ReportRow, as_rows
from qbench.report.spec import boards
from qbench.undefined import UNDEFINED, na

Rows = Sequence[ReportRow | Mapping[str, Any]]

FORMATS = ("table", "md", "csv", "json", "html")


def _clean(value: Any) -> Any:
    """NaN is not JSON: it becomes null."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def to_json(rows: Rows) -> str:
    return json.dumps([_clean(row.to_json()) for row in as_rows(rows)], indent=2)


def to_markdown(rows: Rows) -> str:
    parts = []
    for board in boards(as_rows(rows)):
        parts.append(f"### {board.title}\n")
        parts.append("| Model | " + " | ".join(board.columns) + " |")
        parts.append("|---|" + "---|" * len(board.columns))
        parts.extend(
            f"| {label} | " + " | ".join(str(c) for c in cells) + " |" for label, cells in board.rows
        )
        parts.extend(f"\n{note}" for note in board.notes)
        parts.append("")
    return "\n".join(parts)


def to_csv(rows: Rows) -> str:
    """Long format: one line per (run, metric), easy to load anywhere."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["task", "model", "dataset", "split", "n", "metric", "value"])
    for row in as_rows(rows):
        metrics = row.metrics
        for key, value in metrics.items():
            if key == UNDEFINED:
                continue
            if value is None or (isinstance(value, float) and math.isnan(value)):
                value = na(metrics, key)
            elif isinstance(value, (list, tuple)):
                value = "/".join(f"{v:.6g}" if isinstance(v, float) else str(v) for v in value)
            writer.writerow([row.task, row.model, row.dataset, row.split or "", row.n, key, value])
    return buffer.getvalue()


def console() -> Any:
    """A rich console; not on a terminal (logs, CI, pipes) it is wide enough for the official layouts."""
    from rich.console import Console

    con = Console()
    return con if con.is_terminal else Console(width=160)


def rich_tables(rows: Rows) -> list[Any]:
    from rich.table import Table

    tables = []
    for board in boards(as_rows(rows)):
        table = Table(title=board.title, title_justify="left")
        table.add_column("Model", style="bold")
        for column in board.columns:
            table.add_column(column, justify="right")
        for label, cells in board.rows:
            table.add_row(label, *(str(c) for c in cells))
        if board.notes:
            table.caption = "\n".join(board.notes)
        tables.append(table)
    return tables


def render(rows: Rows, fmt: str) -> str:
    if fmt == "json":
        return to_json(rows)
    if fmt == "md":
        return to_markdown(rows)
    if fmt == "csv":
        return to_csv(rows)
    if fmt == "html":
        from qbench.report.html import to_html

        return to_html(rows)
    raise ValueError(fmt)


__all__ = ["FORMATS", "Board", "render", "rich_tables"]
