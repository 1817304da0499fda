"""A-Bench's report spec: its board (the category columns of :func:`qbench.tasks.abench.columns`, in the authors'
grouping), the paired accuracy comparison (the A1 one: records say ``correct``), the submission JSONL of the test
answers, and the published rows of the README version whose table is well formed, marked as published.
"""

from __future__ import annotations

from collections.abc import Sequence

from qbench.report.leaderboard import Board, metric_board
from qbench.report.rows import ReportRow
from qbench.report.spec import ReferenceQuery, TaskReport
from qbench.tasks.abench import (
    GROUP_LABELS,
    REFERENCE_ROWS,
    REFERENCE_SOURCE,
    TREE,
    columns,
    write_run_submission,
)
from qbench.tasks.perception_report import compare_a1

__all__ = ["REPORT", "abench_boards", "reference_rows"]

UNREADABLE = ("invalid_rate", "Unreadable")


def abench_boards(rows: Sequence[ReportRow]) -> list[Board]:
    """One board: the category leaves and part averages the rows have, Overall, then Unreadable (%)."""
    present = {key: None for row in rows for key in row.metrics}
    keys = columns(present)
    if any(UNREADABLE[0] in row.metrics for row in rows):
        keys.append(UNREADABLE)
    return [metric_board("A-Bench (accuracy %)", keys, rows, percent=True)]


def label_key(label: str) -> str | None:
    """The metric key of a README column label (a leaf under its first known spelling, or a P2 group)."""
    for part, groups in TREE.items():
        for group, leaves in groups.items():
            if not leaves and GROUP_LABELS.get(group) == label:
                return f"accuracy/{part}/{group}"
            for spellings, leaf_label in leaves:
                if leaf_label == label:
                    return f"accuracy/{part}/{group}/{spellings[0]}"
    return None


def reference_rows(query: ReferenceQuery) -> list[ReportRow]:
    """The README's published rows (closed models and humans), on the leaf columns."""
    out = []
    for model, values in REFERENCE_ROWS.items():
        metrics = {key: value for label, value in values.items() if (key := label_key(label)) is not None}
        out.append(
            ReportRow(
                task="abench",
                model=model,
                dataset="abench",
                metrics=metrics,
                status="reference",
                reference=True,
                source=REFERENCE_SOURCE,
            )
        )
    return out


REPORT = TaskReport(
    boards=abench_boards,
    headline="accuracy",
    compare=compare_a1,
    submission=write_run_submission,
    references=reference_rows,
    unreadable=(("invalid_rate", "unreadable answers"),),
    unreadable_note="A-Bench: replies no A1 rule could read (counted wrong).",
    method="A-Bench accuracy by the A1 letter rules, per node of the authors' category tree",
)
