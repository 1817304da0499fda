"""Leaderboards in the official column layouts (protocol.md 1.4, 2.3, 3, 4.5).

A leaderboard is a list of columns and a list of rows (model -> cell values), built from report rows, so
that every renderer (terminal table, markdown, CSV, HTML) shows the same numbers in the same order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from qbench.data.databases import DATABASES, display_name
from qbench.undefined import na, reason

A1_SINGLE_COLUMNS = [
    ("accuracy/yes-no", "Yes-or-No"),
    ("accuracy/what", "What"),
    ("accuracy/how", "How"),
    ("accuracy/distortion", "Distortion"),
    ("accuracy/other", "Other"),
    ("accuracy/in-context-distortion", "In-context Distortion"),
    ("accuracy/in-context-other", "In-context Other"),
    ("accuracy", "Overall"),
]
A1_PAIR_COLUMNS = [
    ("accuracy/yes-no", "Yes-or-No"),
    ("accuracy/what", "What"),
    ("accuracy/how", "How"),
    ("accuracy/distortion", "Distortion"),
    ("accuracy/other", "Other"),
    ("accuracy/compare", "Compare"),
    ("accuracy/joint", "Joint"),
    ("accuracy", "Overall"),
]
# Not an official column: the share of answers no rule could read (counted wrong), shown after Overall.
UNREADABLE = ("invalid_rate", "Unreadable")
# Not an official column either: Overall by the 5-round judge (majority), beside the rule-based Overall.
JUDGED = ("judged/accuracy", "Overall (judged)")
# A3 details: every correlation measured, per run, and the number of images.
A3_DETAIL_COLUMNS = [("srcc", "SRCC"), ("plcc", "PLCC"), ("krcc", "KRCC")]
PLCC_LOGISTIC = ("plcc_logistic", "PLCC (logistic)")
A2_COLUMNS = [
    ("completeness", "Completeness"),
    ("precision", "Precision"),
    ("relevance", "Relevance"),
    ("sum", "Sum"),
]


@dataclass
class Board:
    title: str
    columns: list[str]
    rows: list[tuple[str, list[Any]]] = field(default_factory=list)  # (label, cells)
    notes: list[str] = field(default_factory=list)


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "NaN" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def _undefined(metrics: dict[str, Any], key: str) -> bool:
    """A metric that was computed but has no value (null with a reason, or NaN); absent keys are not."""
    value = metrics.get(key, 0.0)
    return value is None or (isinstance(value, float) and math.isnan(value))


def _pair_cell(m: dict[str, Any]) -> str:
    """``SRCC/PLCC``; when both are undefined for one reason, that reason once."""
    if _undefined(m, "srcc") and _undefined(m, "plcc") and reason(m, "srcc") == reason(m, "plcc"):
        return na(m, "srcc")
    return "/".join(na(m, k) if _undefined(m, k) else _fmt(m.get(k)) for k in ("srcc", "plcc"))


def a3_board(rows: Sequence[dict[str, Any]]) -> Board:
    """Model rows, one SRCC/PLCC cell per database in the official order, and the average."""
    datasets = sorted(
        {r["dataset"] for r in rows}, key=lambda d: (list(DATABASES).index(d) if d in DATABASES else 99, d)
    )
    board = Board(
        "A3 assessment (SRCC/PLCC)",
        [a3_column(d, rows) for d in datasets] + (["Average"] if len(datasets) > 1 else []),
    )
    labels = list(dict.fromkeys(row_label(r, with_dataset=False) for r in rows))
    partial: list[str] = []
    for model in labels:
        cells: list[Any] = []
        srcc_of: list[float] = []
        plcc_of: list[float] = []
        for dataset in datasets:
            match = [r for r in rows if row_label(r, with_dataset=False) == model and r["dataset"] == dataset]
            m = match[-1]["metrics"] if match else {}
            srcc_of.append(float(m.get("srcc", math.nan) if m.get("srcc") is not None else math.nan))
            plcc_of.append(float(m.get("plcc", math.nan) if m.get("plcc") is not None else math.nan))
            cells.append(_pair_cell(m) if match else "-")
        if len(datasets) > 1:
            official = [d for d in datasets if d in DATABASES]
            have = [i for i, d in enumerate(datasets) if d in DATABASES and not math.isnan(srcc_of[i])]
            if have:
                avg = (
                    f"{_fmt(sum(srcc_of[i] for i in have) / len(have))}/"
                    f"{_fmt(sum(plcc_of[i] for i in have) / len(have))}"
                )
                cells.append(avg if len(have) == len(official) else f"{avg}*")
                if len(have) < len(official):
                    partial.append(model)
            else:
                cells.append("-")
        board.rows.append((model, cells))
    if partial:
        board.notes.append("* averaged over the official databases present: " + ", ".join(partial))
    board.notes += partial_notes(rows)
    return board


def a3_column(dataset: str, rows: Sequence[dict[str, Any]]) -> str:
    """The database's name, marked ``(partial n/N)`` when a run used a partial install of it."""
    parts = {
        f"{r['partial']['n']}/{r['partial']['of']}"
        for r in rows
        if r["dataset"] == dataset and isinstance(r.get("partial"), dict)
    }
    return display_name(dataset) + (f" (partial {', '.join(sorted(parts))})" if parts else "")


def partial_notes(rows: Sequence[dict[str, Any]]) -> list[str]:
    """One line per dataset run on a partial install (``qbench data add --partial``): its n of N items."""
    notes = [
        f"partial: {display_name(str(r['dataset']))} {r['partial']['n']} of {r['partial']['of']} items"
        for r in rows
        if isinstance(r.get("partial"), dict)
    ]
    return list(dict.fromkeys(notes))


def metric_board(
    title: str,
    columns: list[tuple[str, str]],
    rows: Sequence[dict[str, Any]],
    *,
    percent: bool,
    digits: int | None = None,
) -> Board:
    board = Board(title, [label for _, label in columns] + ["n"])
    for row in rows:
        metrics = row["metrics"]
        cells: list[Any] = []
        for key, _ in columns:
            value = metrics.get(key)
            if _undefined(metrics, key):
                cells.append(na(metrics, key))
            elif isinstance(value, float) and percent:
                cells.append(f"{100 * value:.2f}")
            else:
                cells.append(_fmt(value, digits or (2 if not percent else 3)))
        cells.append(row.get("n"))
        board.rows.append((row_label(row), cells))
    board.notes += partial_notes(rows)
    return board


def is_pair(row: dict[str, Any]) -> bool:
    """A pair (Q-Bench2) row: said by the run's task info, or recognisable by its pair-only columns."""
    return bool(row.get("pair")) or "accuracy/compare" in row.get("metrics", {})


def row_label(row: dict[str, Any], *, with_dataset: bool = True) -> str:
    """The model, marked when the row is a published reference, with the judge when there is one."""
    label = str(row["model"])
    if row.get("judge"):
        label += f" [judge {row['judge']}]"
    if with_dataset:
        label += f" ({row['dataset']}{', ' + row['split'] if row.get('split') else ''})"
    if row.get("reference"):
        label += " — published"
    return label


def a1_columns(rows: Sequence[dict[str, Any]], official: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """The official columns, then the judged Overall when any run was judged, then Unreadable."""
    judged = any(r.get("metrics", {}).get(JUDGED[0]) is not None for r in rows)
    return [*official, *([JUDGED] if judged else []), UNREADABLE]


def a3_detail_columns(rows: Sequence[dict[str, Any]]) -> list[tuple[str, str]]:
    """SRCC, PLCC, KRCC, and the logistic PLCC when any run computed it (``-T logistic=true``)."""
    logistic = any(PLCC_LOGISTIC[0] in r.get("metrics", {}) for r in rows)
    return [*A3_DETAIL_COLUMNS, *([PLCC_LOGISTIC] if logistic else [])]


def a3_details(rows: Sequence[dict[str, Any]]) -> Board:
    """One line per run and database with every correlation measured and ``n``."""
    own = [r for r in rows if not r.get("reference")]
    board = metric_board("A3 details", a3_detail_columns(own), own, percent=False, digits=4)
    board.notes = [n for n in board.notes if n not in partial_notes(own)]  # said once, under the A3 table
    return board


def boards(rows: Sequence[dict[str, Any]]) -> list[Board]:
    """One board per task (A1 single and pair separately), in the official layouts; then the A3 details."""
    out = []
    a1 = [r for r in rows if r["task"] == "a1"]
    pair = [r for r in a1 if is_pair(r)]
    single = [r for r in a1 if not is_pair(r)]
    if single:
        out.append(
            metric_board(
                "A1 perception, single images (accuracy %)",
                a1_columns(single, A1_SINGLE_COLUMNS),
                single,
                percent=True,
            )
        )
    if pair:
        out.append(
            metric_board(
                "A1 perception, image pairs (accuracy %)",
                a1_columns(pair, A1_PAIR_COLUMNS),
                pair,
                percent=True,
            )
        )
    a2 = [r for r in rows if r["task"] == "a2"]
    if a2:
        out.append(metric_board("A2 description (0-2 each, sum 0-6)", A2_COLUMNS, a2, percent=False))
    a3 = [r for r in rows if r["task"] == "a3"]
    if a3:
        out.append(a3_board(a3))
        if any(not r.get("reference") for r in a3):
            out.append(a3_details(a3))
    return out
